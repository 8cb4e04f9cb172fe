//! Finding where good records go on after a damaged one: a damaged length field is repaired when
//! the checksum matches a body that decodes to its own end; otherwise the next record is where the
//! damaged one's length field says, if a record is there, or else the first later offset that holds
//! a good record followed by another (so a chance checksum match inside damaged bytes, or a
//! record-like key, is not taken for a record).

use super::record::{read_body, read_record, Record, RECORD_HEADER};

/// The longest body a damaged length field is repaired for (larger records are lost instead).
const REPAIR_MAX: usize = 64 << 10;

/// The length and checksum fields at the start of `bytes`, if they are there.
pub(super) fn header(bytes: &[u8]) -> Option<(usize, u32)> {
    let word = |i: usize| -> Option<u32> {
        let b = bytes.get(i..i + 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    Some((word(0)? as usize, word(4)?))
}

/// Whether a record that checks out (or has only its length field damaged) starts at `q`, or the
/// file ends there.
fn starts_record(bytes: &[u8], q: usize) -> bool {
    q == bytes.len() || read_record(&bytes[q..]).is_ok() || repair_length(&bytes[q..]).is_some()
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
pub(super) fn next_good(bytes: &[u8], at: usize) -> Option<usize> {
    match chained_end(bytes, at) {
        Some(end) if end == bytes.len() => None,
        Some(end) => Some(end),
        None => (at + 1..bytes.len()).find(|&q| good_pair(bytes, q)),
    }
}

/// Whether a good record starts at `q` and is followed by the end of the file, another good
/// record (or one with only its length damaged), or a damaged one whose length field leads to a
/// record (so a chance checksum match
/// inside damaged bytes, or a record-like key, is not taken for a record).
fn good_pair(bytes: &[u8], q: usize) -> bool {
    match read_record(&bytes[q..]) {
        Ok((_, used)) => {
            let after = q + used;
            starts_record(bytes, after) || predicted_end(bytes, after).is_some()
        }
        Err(_) => false,
    }
}
