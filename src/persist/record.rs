//! The records of a node's log and their framing: `length (u32 LE) | crc32 (u32 LE) | bincode`.
//!
//! A log file starts with [`FILE_MAGIC`]. Every record carries a key's full state (not a delta), so
//! replaying a log is a sequence of merges and removals, and replaying a record twice is harmless.
//! [`recover`] reads a log back and stops at the first record that is short, fails its checksum or
//! does not decode: a torn tail, reported with its offset so the caller can warn and truncate.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::protocol::codec::{decode, encode};
use crate::ring::NodeId;
use crate::store::{Entry, Store};

/// The first bytes of every log file: `RGKVLOG` and a format version.
pub const FILE_MAGIC: [u8; 8] = *b"RGKVLOG\x01";
/// Bytes before each record's body: its length and its crc32.
pub const RECORD_HEADER: usize = 8;
/// The largest record body accepted on load (a larger length field is damage).
const MAX_RECORD: usize = 64 << 20;

/// One change to a node's durable state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Record {
    /// A key's full counter state after a change.
    Put(Entry),
    /// The key left this node (its range moved away).
    Remove(String),
    /// The full state of a hint kept for a down node.
    Hint(NodeId, Entry),
    /// The hints kept for a node were handed over.
    DropHints(NodeId),
    /// The node counts in this incarnation from now on.
    Incarnation(u32),
}

/// Encodes `record` with its header, ready to append.
///
/// # Errors
/// [`Error::Protocol`] if the record cannot be encoded.
pub fn frame(record: &Record) -> Result<Vec<u8>> {
    let body = encode(record)?;
    let len = u32::try_from(body.len())
        .map_err(|_| Error::Protocol("a log record is larger than 4 GiB".into()))?;
    let mut out = Vec::with_capacity(RECORD_HEADER + body.len());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// The records that rebuild `store` in `incarnation`, framed: the body of a compacted log.
///
/// # Errors
/// [`Error::Protocol`] if a record cannot be encoded.
pub fn snapshot(store: &Store, incarnation: u32) -> Result<Vec<u8>> {
    let mut out = FILE_MAGIC.to_vec();
    out.extend(frame(&Record::Incarnation(incarnation))?);
    for entry in store.entries_where(|_| true) {
        out.extend(frame(&Record::Put(entry))?);
    }
    for (node, entry) in store.all_hints() {
        out.extend(frame(&Record::Hint(node, entry))?);
    }
    Ok(out)
}

/// Where and why the readable part of a log ends early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Torn {
    /// The offset of the first byte dropped.
    pub offset: u64,
    /// How many bytes from there to the end of the file are dropped.
    pub dropped: u64,
    /// What was wrong there.
    pub reason: String,
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
    /// The damaged tail that was not replayed, if any.
    pub torn: Option<Torn>,
}

/// Replays the log in `bytes` (a whole file). An empty input is an empty log.
///
/// # Errors
/// [`Error::Storage`] if the file does not start with [`FILE_MAGIC`] (it is not a ringkv log).
pub fn recover(bytes: &[u8]) -> Result<Recovered> {
    let mut out = Recovered::default();
    if bytes.len() < FILE_MAGIC.len() {
        if !bytes.is_empty() {
            out.torn = Some(torn(0, bytes.len(), "the file header is incomplete"));
        }
        return Ok(out);
    }
    if bytes[..FILE_MAGIC.len()] != FILE_MAGIC {
        return Err(Error::Storage(
            "not a ringkv log (wrong magic bytes)".into(),
        ));
    }
    let mut at = FILE_MAGIC.len();
    while at < bytes.len() {
        match read_record(&bytes[at..]) {
            Ok((record, used)) => {
                apply(&mut out, record);
                out.records += 1;
                at += used;
            }
            Err(reason) => {
                out.torn = Some(torn(at, bytes.len() - at, &reason));
                break;
            }
        }
    }
    Ok(out)
}

fn torn(offset: usize, dropped: usize, reason: &str) -> Torn {
    Torn {
        offset: offset as u64,
        dropped: dropped as u64,
        reason: reason.to_owned(),
    }
}

/// One record at the start of `bytes` and the bytes it used, or why it cannot be read.
fn read_record(bytes: &[u8]) -> std::result::Result<(Record, usize), String> {
    if bytes.len() < RECORD_HEADER {
        return Err("a record header is cut short".into());
    }
    let word = |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    let (len, crc) = (word(0) as usize, word(4));
    if len > MAX_RECORD {
        return Err(format!("a record claims {len} bytes"));
    }
    let Some(body) = bytes.get(RECORD_HEADER..RECORD_HEADER + len) else {
        return Err("a record is cut short".into());
    };
    if crc32fast::hash(body) != crc {
        return Err("a record fails its checksum".into());
    }
    let record = decode::<Record>(body).map_err(|e| format!("a record does not decode: {e}"))?;
    Ok((record, RECORD_HEADER + len))
}

fn apply(out: &mut Recovered, record: Record) {
    let store = &mut out.store;
    match record {
        Record::Put(entry) => {
            store.merge(&entry);
        }
        Record::Remove(key) => {
            store.remove(&key);
        }
        Record::Hint(node, entry) => store.add_hint(node, &entry),
        Record::DropHints(node) => {
            store.take_hints(node);
        }
        Record::Incarnation(n) => out.incarnation = Some(out.incarnation.map_or(n, |m| m.max(n))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counter::Counter;

    fn put(key: &str, n: u64) -> Record {
        Record::Put(Entry {
            key: key.into(),
            counter: Counter::with_count(7, n),
        })
    }

    fn log(records: &[Record]) -> Vec<u8> {
        let mut out = FILE_MAGIC.to_vec();
        for r in records {
            out.extend(frame(r).unwrap());
        }
        out
    }

    #[test]
    fn replays_puts_removes_hints_and_incarnations() {
        let hint = Entry {
            key: "h".into(),
            counter: Counter::with_count(9, 4),
        };
        let bytes = log(&[
            Record::Incarnation(2),
            put("a", 1),
            put("a", 3),
            put("b", 5),
            Record::Remove("b".into()),
            Record::Hint(3, hint),
        ]);
        let got = recover(&bytes).unwrap();
        assert_eq!(got.records, 6);
        assert_eq!(got.incarnation, Some(2));
        assert_eq!(got.store.list(), vec![("a".to_owned(), 3)]);
        assert_eq!(got.store.hint(3, "h").map(|c| c.value()), Some(4));
        assert!(got.torn.is_none());
    }

    #[test]
    fn every_truncation_keeps_the_whole_records_before_it() {
        let records: Vec<Record> = (0..20).map(|i| put(&format!("k{i}"), i + 1)).collect();
        let bytes = log(&records);
        for cut in FILE_MAGIC.len()..bytes.len() {
            let got = recover(&bytes[..cut]).unwrap();
            let whole = log(&records[..got.records]).len();
            assert!(whole <= cut);
            assert_eq!(got.torn.is_some(), whole < cut, "cut at {cut}");
            assert_eq!(got.store.len(), got.records);
        }
    }

    #[test]
    fn a_flipped_byte_drops_from_its_record_on() {
        let records: Vec<Record> = (0..10).map(|i| put(&format!("k{i}"), 1)).collect();
        let mut bytes = log(&records);
        let fifth = log(&records[..5]).len();
        bytes[fifth + RECORD_HEADER + 2] ^= 0x40;
        let got = recover(&bytes).unwrap();
        assert_eq!(got.records, 5);
        let torn = got.torn.unwrap();
        assert_eq!(torn.offset, fifth as u64);
        assert_eq!(torn.dropped, (bytes.len() - fifth) as u64);
    }

    #[test]
    fn a_foreign_file_is_an_error_and_an_empty_one_is_empty() {
        assert!(recover(b"hello, world").is_err());
        assert_eq!(recover(b"").unwrap().records, 0);
    }

    #[test]
    fn a_snapshot_rebuilds_the_store() {
        let mut store = Store::new();
        store.increment("x", 1, 5).unwrap();
        store.add_hint(
            2,
            &Entry {
                key: "y".into(),
                counter: Counter::with_count(3, 2),
            },
        );
        let got = recover(&snapshot(&store, 4).unwrap()).unwrap();
        assert_eq!(got.store.list(), store.list());
        assert_eq!(got.store.hint(2, "y"), store.hint(2, "y"));
        assert_eq!(got.incarnation, Some(4));
    }
}
