//! Reading a log back: replay every record that checks out, step over damaged ones.
//!
//! A record is `length | crc32 | body`. When one fails (an impossible length, a bad checksum, a
//! body that does not decode), [`recover`] first tries to mend it (repair its length field, or
//! correct one damaged byte by the checksum), then looks for the next good record
//! ([`super::resync`]). Only the bytes between
//! are lost; what they held, as far as it can be read without the checksum, is reported as a
//! [`Damage`]. Bad bytes up to the end of the file that look like an interrupted write (a record
//! cut short, or zeros) are a [`Torn`] tail: the normal trace of a crash, not a loss.

use std::collections::BTreeSet;

use super::record::{apply, read_body, read_record, Record, FILE_MAGIC, RECORD_HEADER};
use super::resync::{correct_byte, header, next_good, repair};
use crate::error::{Error, Result};
use crate::store::Store;

/// Where and why the readable part of a log ends early (an interrupted write).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Torn {
    /// The offset of the first byte dropped.
    pub offset: u64,
    /// How many bytes from there to the end of the file are dropped.
    pub dropped: u64,
    /// What was wrong there.
    pub reason: String,
}

/// A damaged region of a log: bytes that could not be replayed, with good records after them (or
/// a complete record that fails its checksum at the end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// The offset of its first byte.
    pub offset: u64,
    /// Its length in bytes.
    pub bytes: u64,
    /// What was wrong with its first record.
    pub reason: String,
    /// How many records it held, as far as they can be read without their checksums (bytes that
    /// cannot be read as records count as one).
    pub records: usize,
    /// How many of its bytes could not be read as records at all (their keys are unknown).
    pub unreadable: u64,
}

/// What a log holds.
#[derive(Debug, Default)]
pub struct Recovered {
    /// The counters and hints the log rebuilds.
    pub store: Store,
    /// The last incarnation recorded, if any.
    pub incarnation: Option<u32>,
    /// How many records were replayed.
    pub records: usize,
    /// Damaged records that were mended (a length field repaired, or one byte corrected by the
    /// checksum) and replayed.
    pub repaired: usize,
    /// The damaged regions that were stepped over, in file order.
    pub damage: Vec<Damage>,
    /// Keys of counter records in damaged regions with no later good record of the key: the key
    /// is lost if the store lacks it, and may miss its last updates otherwise.
    pub damaged_keys: BTreeSet<String>,
    /// The interrupted write at the end that was not replayed, if any.
    pub torn: Option<Torn>,
}

impl Recovered {
    /// The damaged keys the log no longer holds at all.
    pub fn lost_keys(&self) -> Vec<&str> {
        let gone = |k: &&String| self.store.counter(k).is_none();
        self.damaged_keys
            .iter()
            .filter(gone)
            .map(String::as_str)
            .collect()
    }

    /// The damaged keys an older record still holds (their last updates may be lost).
    pub fn behind_keys(&self) -> usize {
        self.damaged_keys.len() - self.lost_keys().len()
    }

    /// How many records the damaged regions held, at least.
    pub fn lost_records(&self) -> usize {
        self.damage.iter().map(|d| d.records).sum()
    }

    /// How many damaged bytes could not be read as records.
    pub fn unreadable(&self) -> u64 {
        self.damage.iter().map(|d| d.unreadable).sum()
    }
}

/// Replays the log in `bytes` (a whole file). An empty input is an empty log.
///
/// # Errors
/// [`Error::Storage`] if the file does not start with [`FILE_MAGIC`] (it is not a ringkv log).
pub fn recover(bytes: &[u8]) -> Result<Recovered> {
    let mut out = Recovered::default();
    let Some(at) = body_start(bytes, &mut out)? else {
        return Ok(out);
    };
    replay_slice(bytes, at, 0, &mut out);
    Ok(out)
}

/// Replays the records of `bytes` from `at` on into `out`, mending or stepping over damaged ones.
/// `bytes` run to the end of the log and start at offset `base` of its file (the offsets reported
/// are the file's).
pub(super) fn replay_slice(bytes: &[u8], mut at: usize, base: u64, out: &mut Recovered) {
    while at < bytes.len() {
        let (record, used) = match read_record(&bytes[at..]) {
            Ok(found) => found,
            Err(reason) => match repair(bytes, at).or_else(|| correct_byte(&bytes[at..])) {
                Some(found) => {
                    out.repaired += 1;
                    found
                }
                None => {
                    at = step_over(bytes, at, base, reason, out);
                    continue;
                }
            },
        };
        replay(out, record);
        at += used;
    }
}

/// Checks the file header; `None` when there is nothing after it.
pub(super) fn body_start(bytes: &[u8], out: &mut Recovered) -> Result<Option<usize>> {
    if bytes.len() < FILE_MAGIC.len() {
        if !bytes.is_empty() {
            out.torn = Some(Torn {
                offset: 0,
                dropped: bytes.len() as u64,
                reason: "the file header is incomplete".into(),
            });
        }
        return Ok(None);
    }
    if bytes[..FILE_MAGIC.len()] != FILE_MAGIC {
        return Err(Error::Storage(
            "not a ringkv log (wrong magic bytes)".into(),
        ));
    }
    Ok(Some(FILE_MAGIC.len()))
}

pub(super) fn replay(out: &mut Recovered, record: Record) {
    if let Record::Put(entry) = &record {
        out.damaged_keys.remove(&entry.key);
    }
    if let Record::Remove(key) = &record {
        out.damaged_keys.remove(key);
    }
    apply(&mut out.store, &mut out.incarnation, record);
    out.records += 1;
}

/// Steps over the bad record at `at` (offset `base + at` of the file): notes a torn tail or a
/// damaged region, returns where replay goes on.
fn step_over(bytes: &[u8], at: usize, base: u64, reason: String, out: &mut Recovered) -> usize {
    let next = next_good(bytes, at);
    let end = next.unwrap_or(bytes.len());
    if next.is_none() && looks_torn(&bytes[at..]) {
        out.torn = Some(Torn {
            offset: base + at as u64,
            dropped: (bytes.len() - at) as u64,
            reason,
        });
        return end;
    }
    let (records, keys, unreadable) = read_damaged(&bytes[at..end]);
    out.damaged_keys.extend(keys);
    out.damage.push(Damage {
        offset: base + at as u64,
        bytes: (end - at) as u64,
        reason,
        records,
        unreadable: unreadable as u64,
    });
    end
}

/// A bad record at the end is an interrupted write if it is cut short or its body is zeros.
fn looks_torn(tail: &[u8]) -> bool {
    let Some((len, _)) = header(tail) else {
        return true;
    };
    let body = &tail[RECORD_HEADER..];
    body.len() < len || body.iter().all(|&b| b == 0)
}

/// Reads a damaged region without checksums: how many records it held, the keys of its counter
/// records, and how many of its bytes could not be read as records.
fn read_damaged(region: &[u8]) -> (usize, Vec<String>, usize) {
    let (mut at, mut records, mut keys, mut unreadable) = (0, 0, Vec::new(), 0);
    while let Some((record, used)) = guess_record(&region[at..]) {
        records += 1;
        match record {
            Some(Record::Put(entry)) => keys.push(entry.key),
            Some(_) => {}
            None => unreadable += used,
        }
        at += used;
    }
    // Bytes at the end that are no record at all held at least one.
    let tail = region.len() - at;
    (records + usize::from(tail > 0), keys, unreadable + tail)
}

/// The record at the start of `bytes` (`None` if it cannot be read) and its length, checksum
/// ignored, if its length field fits in `bytes`.
fn guess_record(bytes: &[u8]) -> Option<(Option<Record>, usize)> {
    let (len, _) = header(bytes)?;
    let exact = bytes.get(RECORD_HEADER..RECORD_HEADER.checked_add(len)?)?;
    Some((read_body(exact).ok(), RECORD_HEADER + len))
}

/// The good records of a log with the offsets where each starts and ends, in file order (for
/// tools and tests that need to know which bytes belong to which record).
///
/// # Errors
/// As [`recover`].
pub fn index(bytes: &[u8]) -> Result<Vec<(u64, u64, Record)>> {
    let mut out = Recovered::default();
    let Some(mut at) = body_start(bytes, &mut out)? else {
        return Ok(Vec::new());
    };
    let mut found = Vec::new();
    while let Ok((record, used)) = read_record(&bytes[at..]) {
        found.push((at as u64, (at + used) as u64, record));
        at += used;
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counter::Counter;
    use crate::persist::record::frame;
    use crate::store::Entry;

    fn put(key: &str, n: u64) -> Record {
        Record::Put(Entry {
            key: key.into(),
            counter: Counter::with_count(7, n),
        })
    }

    /// A log of `n` puts `key0..`, and where each record starts.
    fn log(n: usize) -> (Vec<u8>, Vec<usize>) {
        let (mut out, mut starts) = (FILE_MAGIC.to_vec(), Vec::new());
        for i in 0..n {
            starts.push(out.len());
            out.extend(frame(&put(&format!("key{i}"), i as u64 + 1)).unwrap());
        }
        (out, starts)
    }

    #[test]
    fn a_flipped_byte_is_corrected_by_the_checksum() {
        for at in [RECORD_HEADER + 3, RECORD_HEADER - 2, RECORD_HEADER + 8] {
            let (mut bytes, starts) = log(10);
            bytes[starts[5] + at] ^= 0x5a;
            let got = recover(&bytes).unwrap();
            assert_eq!((got.records, got.repaired), (10, 1), "byte {at}");
            assert_eq!(got.store.get("key5"), 6);
            assert!(got.damage.is_empty());
        }
    }

    #[test]
    fn two_damaged_bytes_lose_only_their_record() {
        let (mut bytes, starts) = log(10);
        bytes[starts[5] + RECORD_HEADER + 3] ^= 0x40;
        bytes[starts[5] + RECORD_HEADER + 5] ^= 0x01;
        let got = recover(&bytes).unwrap();
        assert_eq!((got.records, got.store.len()), (9, 9));
        assert_eq!(got.store.get("key9"), 10);
        assert!(got.torn.is_none());
        let damage = &got.damage[..];
        assert_eq!(damage.len(), 1);
        assert_eq!(damage[0].offset, starts[5] as u64);
        assert_eq!(damage[0].bytes, (starts[6] - starts[5]) as u64);
        assert_eq!((got.lost_records(), got.lost_keys().len()), (1, 1));
    }

    #[test]
    fn a_flipped_length_field_is_repaired() {
        for (record, byte) in [(0, 3), (4, 0), (9, 1)] {
            let (mut bytes, starts) = log(10);
            bytes[starts[record] + byte] ^= 0x10;
            let got = recover(&bytes).unwrap();
            assert_eq!((got.records, got.repaired), (10, 1), "record {record}");
            assert!(got.damage.is_empty() && got.torn.is_none());
        }
    }

    #[test]
    fn a_flip_in_the_length_and_the_body_loses_that_record_only() {
        let (mut bytes, starts) = log(10);
        bytes[starts[2] + 1] ^= 0x01;
        bytes[starts[2] + RECORD_HEADER + 4] ^= 0x01;
        let got = recover(&bytes).unwrap();
        assert_eq!(got.records, 9);
        assert_eq!(got.damage.len(), 1);
        assert_eq!(got.damage[0].bytes, (starts[3] - starts[2]) as u64);
    }

    #[test]
    fn a_damaged_last_record_is_damage_but_a_cut_one_is_torn() {
        let (bytes, starts) = log(5);
        let mut flipped = bytes.clone();
        let end = flipped.len();
        flipped[end - 1] ^= 0x02;
        flipped[end - 3] ^= 0x02;
        let got = recover(&flipped).unwrap();
        assert_eq!((got.records, got.damage.len()), (4, 1));
        assert!(got.torn.is_none());
        let cut = recover(&bytes[..bytes.len() - 2]).unwrap();
        assert_eq!((cut.records, cut.damage.len()), (4, 0));
        assert_eq!(cut.torn.unwrap().offset, starts[4] as u64);
        let mut zeros = bytes.clone();
        zeros[starts[4] + RECORD_HEADER..].fill(0);
        assert!(recover(&zeros).unwrap().torn.is_some());
    }

    #[test]
    fn garbage_in_the_middle_is_stepped_over() {
        let (bytes, starts) = log(40);
        let mut damaged = bytes[..starts[10]].to_vec();
        damaged.extend((0..3000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
        damaged.extend(&bytes[starts[20]..]);
        let got = recover(&damaged).unwrap();
        assert_eq!(got.records, 30);
        assert_eq!(got.damage.len(), 1);
        assert!(got.damage[0].unreadable > 0);
        assert!(got.store.get("key39") == 40 && got.store.get("key10") == 0);
    }

    #[test]
    fn a_later_record_of_a_damaged_key_makes_it_whole() {
        let mut bytes = FILE_MAGIC.to_vec();
        let first = bytes.len();
        bytes.extend(frame(&put("a", 1)).unwrap());
        bytes.extend(frame(&put("b", 1)).unwrap());
        bytes.extend(frame(&put("a", 2)).unwrap());
        bytes[first + RECORD_HEADER + 5] ^= 0x01;
        bytes[first + RECORD_HEADER + 3] ^= 0x01;
        let got = recover(&bytes).unwrap();
        assert_eq!(got.store.get("a"), 2);
        assert_eq!(got.lost_records(), 1);
        assert!(got.damaged_keys.is_empty(), "{:?}", got.damaged_keys);
    }

    #[test]
    fn index_lists_every_record_with_its_offsets() {
        let (bytes, starts) = log(3);
        let found = index(&bytes).unwrap();
        let got: Vec<u64> = found.iter().map(|(at, _, _)| *at).collect();
        let want: Vec<u64> = starts.iter().map(|&s| s as u64).collect();
        assert_eq!(got, want);
        assert_eq!(found[2].1, bytes.len() as u64);
    }
}
