//! Mending a damaged record, or finding where good records go on after it: a damaged length field
//! is repaired when the checksum matches a body that decodes to its own end; one damaged byte of a
//! small record is corrected when the checksum matches the body with that byte changed; otherwise the next record is where the
//! damaged one's length field says, if a record is there, or else the first later offset that holds
//! a good record followed by another (so a chance checksum match inside damaged bytes, or a
//! record-like key, is not taken for a record).

use super::record::{read_body, read_record, Record, RECORD_HEADER};

/// The longest body a damaged length field is repaired for (larger records are lost instead).
const REPAIR_MAX: usize = 64 << 10;
/// The longest body whose one damaged byte is corrected (the search costs 255 checksums of the
/// body per byte).
const CORRECT_MAX: usize = 128;
/// The longest record looked for byte by byte after damage: checking a random length field
/// against the checksum costs that many bytes, at every offset of the damaged bytes. (A larger
/// good record just after damage is lost with it.)
const SCAN_MAX: usize = 64 << 10;
/// How far after damage the byte scan also looks for a record with a damaged length field (of at
/// most this many bytes of body).
const NEAR: usize = 512;
/// How far after a record found by the byte scan a confirming pair of records may start.
const FOLLOW_WITHIN: usize = 4096;

/// The length and checksum fields at the start of `bytes`, if they are there.
pub(super) fn header(bytes: &[u8]) -> Option<(usize, u32)> {
    let word = |i: usize| -> Option<u32> {
        let b = bytes.get(i..i + 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    Some((word(0)? as usize, word(4)?))
}

/// A record that checks out at the start of `bytes`, or one that can be mended; with its length.
fn sound(bytes: &[u8]) -> Option<usize> {
    let used = |(_, used): (Record, usize)| used;
    read_record(bytes)
        .ok()
        .or_else(|| repair_length(bytes))
        .or_else(|| correct_byte(bytes))
        .map(used)
}

/// Whether a record that checks out (or can be mended) starts at `q`, or the file ends there.
fn starts_record(bytes: &[u8], q: usize) -> bool {
    q == bytes.len() || sound(&bytes[q..]).is_some()
}

/// Where the record at `at` ends by its length field, if a record or the end of the file is
/// there.
fn predicted_end(bytes: &[u8], at: usize) -> Option<usize> {
    let (len, _) = header(&bytes[at..])?;
    let end = at.saturating_add(RECORD_HEADER).saturating_add(len);
    (end <= bytes.len() && starts_record(bytes, end)).then_some(end)
}

/// [`predicted_end`], or where the record at `at` ends by its length field if the next one's
/// length field leads to a record in turn (two damaged records in a row).
fn chained_end(bytes: &[u8], at: usize) -> Option<usize> {
    predicted_end(bytes, at).or_else(|| {
        let (len, _) = header(&bytes[at..])?;
        let end = at.saturating_add(RECORD_HEADER).saturating_add(len);
        (end < bytes.len() && predicted_end(bytes, end).is_some()).then_some(end)
    })
}

/// The bad record at `at` read with a repaired length field, unless its length is right (it
/// ends where a good record starts and its body decodes: then its body or checksum is damaged).
pub(super) fn repair(bytes: &[u8], at: usize) -> Option<(Record, usize)> {
    let decodes = |end: usize| read_body(&bytes[at + RECORD_HEADER..end]).is_ok();
    match predicted_end(bytes, at) {
        Some(end) if decodes(end) => None,
        _ => repair_length(&bytes[at..]),
    }
}

/// A record whose length field is damaged: the shortest body whose crc32 matches the checksum
/// field and that decodes; with the bytes it uses.
fn repair_length(bytes: &[u8]) -> Option<(Record, usize)> {
    let (_, crc) = header(bytes)?;
    let body = &bytes[RECORD_HEADER..];
    let mut hasher = crc32fast::Hasher::new();
    for (i, byte) in body.iter().take(REPAIR_MAX).enumerate() {
        hasher.update(std::slice::from_ref(byte));
        if hasher.clone().finalize() == crc {
            if let Ok(record) = read_body(&body[..=i]) {
                return Some((record, RECORD_HEADER + i + 1));
            }
        }
    }
    None
}

/// Where the next good record after the bad one at `at` starts, if any.
///
/// A damaged length field can lead to a real record further on, so the bytes before the end it
/// leads to are searched first.
pub(super) fn next_good(bytes: &[u8], at: usize) -> Option<usize> {
    let scan = |end: usize| {
        (at + 1..end).find(|&q| good_pair(bytes, q) || (q - at <= NEAR && near_repair(bytes, q)))
    };
    match chained_end(bytes, at) {
        Some(end) => scan(end).or((end < bytes.len()).then_some(end)),
        None => scan(bytes.len()),
    }
}

/// Whether a good (or one-byte correctable) record of at most [`SCAN_MAX`] bytes starts at `q`
/// and the log goes on after it: with the end of the file, a record, a damaged one whose length
/// field leads to a record, or a good record followed by another within [`FOLLOW_WITHIN`] bytes
/// (so a chance checksum match inside damaged bytes, or a record-like key, is not taken for a
/// record, while a good record between two damaged ones is kept).
fn good_pair(bytes: &[u8], q: usize) -> bool {
    let Some(after) = good_at(bytes, q) else {
        return false;
    };
    let far = bytes.len().min(after + FOLLOW_WITHIN);
    follows(bytes, after)
        || (after + 1..far).any(|r| good_at(bytes, r).is_some_and(|end| follows(bytes, end)))
}

/// Where the good (or one-byte correctable) record at `q` ends, if there is one of at most
/// [`SCAN_MAX`] bytes.
fn good_at(bytes: &[u8], q: usize) -> Option<usize> {
    let (len, _) = header(&bytes[q..])?;
    if len > SCAN_MAX {
        return None;
    }
    let found = read_record(&bytes[q..])
        .ok()
        .or_else(|| correct_byte(&bytes[q..]));
    found.map(|(_, used)| q + used)
}

/// Whether a record with only its length field damaged (and a body of at most [`NEAR`] bytes)
/// starts at `q`, followed as [`good_pair`] wants: the byte scan tries this just after damage.
fn near_repair(bytes: &[u8], q: usize) -> bool {
    let end = (q + RECORD_HEADER + NEAR).min(bytes.len());
    let Some((_, used)) = repair_length(&bytes[q..end]) else {
        return false;
    };
    follows(bytes, q + used)
}

/// Whether the log goes on at `at`: the end, a record, or a length field leading to one.
fn follows(bytes: &[u8], at: usize) -> bool {
    starts_record(bytes, at) || predicted_end(bytes, at).is_some()
}

/// The record at the start of `bytes` with one damaged byte corrected: its length field is taken
/// as right, and the checksum must match the body with one byte changed (or differ from the
/// body's in one byte: then the checksum field is what was damaged). Bodies of at most
/// [`CORRECT_MAX`] bytes only (the search tries every value of every byte).
pub(super) fn correct_byte(bytes: &[u8]) -> Option<(Record, usize)> {
    let (len, crc) = header(bytes)?;
    if len > CORRECT_MAX {
        return None;
    }
    let body = bytes.get(RECORD_HEADER..RECORD_HEADER + len)?;
    let used = RECORD_HEADER + len;
    let diff = (crc32fast::hash(body) ^ crc).to_le_bytes();
    if diff.iter().filter(|&&b| b != 0).count() == 1 {
        return read_body(body).ok().map(|r| (r, used));
    }
    let mut fixed = body.to_vec();
    for i in 0..len {
        let was = fixed[i];
        for value in (0..=255u8).filter(|&v| v != was) {
            fixed[i] = value;
            if crc32fast::hash(&fixed) == crc {
                if let Ok(record) = read_body(&fixed) {
                    return Some((record, used));
                }
            }
        }
        fixed[i] = was;
    }
    None
}
