//! The records of a node's log and their framing: `length (u32 LE) | crc32 (u32 LE) | bincode`.
//!
//! A log file starts with [`FILE_MAGIC`]. Every record carries a key's full state (not a delta), so
//! replaying a log is a sequence of merges and removals, and replaying a record twice is harmless.
//! Reading a log back, and stepping over damaged records, is [`super::scan`]'s.
//!
//! # Migration from grow-only counters
//! Logs written before counters were signed hold states as `(replica, count)` slots, under record
//! tags 0 (a key's state) and 2 (a hint). Those tags are still read, as counters that never counted
//! down; new states are written under tags 5 and 6, as `(replica, p, n)` slots. A data directory
//! written by an older ringkv therefore opens as it is, and its records convert as they are read;
//! the next compaction rewrites the log in the new form.
//!
//! # Migration to counters that can be reset
//! Since counters can be reset and deleted, a state also carries the parts its last reset observed
//! (its base). States are written under tags 7 and 8 as `(slots, base)`; tags 5 and 6, states of
//! signed counters without a base, are still read, as counters never reset.
//!
//! # Migration to counters that remember tokens
//! Since updates can carry idempotency tokens, a state also carries the tokens it remembers
//! (`crate::counter::tokens`). States are written under tags 9 and 10 as `(slots, base, tokens)`;
//! tags 7 and 8, states without tokens, are still read, as counters that remember none.
//!
//! Going back is not supported: an older ringkv cannot decode the new tags and treats those
//! records as damage (it keeps the file aside and reports their keys).

use serde::{Deserialize, Serialize};

use crate::counter::{Counter, ReplicaId, Slot};
use crate::error::{Error, Result};
use crate::protocol::codec::{decode, encode};
use crate::ring::NodeId;
use crate::store::{Entry, Store};

pub use super::scan::{index, recover, Damage, Recovered, Torn};

/// The first bytes of every log file: `RGKVLOG` and a format version.
pub const FILE_MAGIC: [u8; 8] = *b"RGKVLOG\x01";
/// Bytes before each record's body: its length and its crc32.
pub const RECORD_HEADER: usize = 8;
/// The largest record body accepted on load (a larger length field is damage).
pub(super) const MAX_RECORD: usize = 64 << 20;

/// One change to a node's durable state. On disk it is a [`Stored`] record.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// A key's state as logs of grow-only counters hold it: `(replica, count)` slots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryV1 {
    /// The key.
    pub key: String,
    /// Its slots.
    pub slots: Vec<(ReplicaId, u64)>,
}

/// A key's state as logs of signed counters without resets hold it: `(replica, p, n)` slots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryV2 {
    /// The key.
    pub key: String,
    /// Its slots.
    pub slots: Vec<Slot>,
}

/// A key's state as logs of counters without tokens hold it: slots and base.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryV3 {
    /// The key.
    pub key: String,
    /// Its slots.
    pub slots: Vec<Slot>,
    /// The parts its last reset observed.
    pub base: Vec<Slot>,
}

impl EntryV3 {
    /// The same state as a counter that remembers no token.
    pub fn upgrade(self) -> Entry {
        Entry {
            key: self.key,
            counter: Counter::from_slots_and_base(self.slots, self.base),
        }
    }
}

impl EntryV2 {
    /// The same state as a counter never reset.
    pub fn upgrade(self) -> Entry {
        Entry {
            key: self.key,
            counter: Counter::from_slots(self.slots),
        }
    }
}

impl EntryV1 {
    /// The same state as a signed counter: every slot added its count and took nothing away.
    pub fn upgrade(self) -> Entry {
        let slots = self
            .slots
            .into_iter()
            .map(|(replica, p)| Slot { replica, p, n: 0 });
        Entry {
            key: self.key,
            counter: Counter::from_slots(slots),
        }
    }
}

/// A record as the log holds it: the variant order gives the tags, so never reorder; tags 0, 2, 5,
/// 6, 7 and 8 are only read (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stored {
    /// A key's grow-only state. Tag 0, read only.
    PutV1(EntryV1),
    /// [`Record::Remove`]. Tag 1.
    Remove(String),
    /// A grow-only hint. Tag 2, read only.
    HintV1(NodeId, EntryV1),
    /// [`Record::DropHints`]. Tag 3.
    DropHints(NodeId),
    /// [`Record::Incarnation`]. Tag 4.
    Incarnation(u32),
    /// A key's state without a base. Tag 5, read only.
    PutV2(EntryV2),
    /// A hint without a base. Tag 6, read only.
    HintV2(NodeId, EntryV2),
    /// A key's state without tokens. Tag 7, read only.
    PutV3(EntryV3),
    /// A hint without tokens. Tag 8, read only.
    HintV3(NodeId, EntryV3),
    /// [`Record::Put`]. Tag 9.
    Put(Entry),
    /// [`Record::Hint`]. Tag 10.
    Hint(NodeId, Entry),
}

/// [`Stored`] by reference, to encode without a copy: the same variants in the same order.
#[derive(Serialize)]
enum StoredRef<'a> {
    PutV1(&'a EntryV1),
    Remove(&'a str),
    HintV1(NodeId, &'a EntryV1),
    DropHints(NodeId),
    Incarnation(u32),
    PutV2(&'a EntryV2),
    HintV2(NodeId, &'a EntryV2),
    PutV3(&'a EntryV3),
    HintV3(NodeId, &'a EntryV3),
    Put(&'a Entry),
    Hint(NodeId, &'a Entry),
}

impl From<Stored> for Record {
    fn from(stored: Stored) -> Record {
        match stored {
            Stored::PutV1(entry) => Record::Put(entry.upgrade()),
            Stored::Remove(key) => Record::Remove(key),
            Stored::HintV1(node, entry) => Record::Hint(node, entry.upgrade()),
            Stored::DropHints(node) => Record::DropHints(node),
            Stored::Incarnation(n) => Record::Incarnation(n),
            Stored::PutV2(entry) => Record::Put(entry.upgrade()),
            Stored::HintV2(node, entry) => Record::Hint(node, entry.upgrade()),
            Stored::PutV3(entry) => Record::Put(entry.upgrade()),
            Stored::HintV3(node, entry) => Record::Hint(node, entry.upgrade()),
            Stored::Put(entry) => Record::Put(entry),
            Stored::Hint(node, entry) => Record::Hint(node, entry),
        }
    }
}

impl Record {
    /// The record as it is written.
    fn stored(&self) -> StoredRef<'_> {
        match self {
            Record::Put(entry) => StoredRef::Put(entry),
            Record::Remove(key) => StoredRef::Remove(key),
            Record::Hint(node, entry) => StoredRef::Hint(*node, entry),
            Record::DropHints(node) => StoredRef::DropHints(*node),
            Record::Incarnation(n) => StoredRef::Incarnation(*n),
        }
    }
}

/// Encodes `stored` with its header, ready to append (any record, the read-only tags too: tests
/// write old logs with it).
///
/// # Errors
/// [`Error::Protocol`] if the record cannot be encoded.
pub fn frame_stored(stored: &Stored) -> Result<Vec<u8>> {
    let stored = match stored {
        Stored::PutV1(entry) => StoredRef::PutV1(entry),
        Stored::Remove(key) => StoredRef::Remove(key),
        Stored::HintV1(node, entry) => StoredRef::HintV1(*node, entry),
        Stored::DropHints(node) => StoredRef::DropHints(*node),
        Stored::Incarnation(n) => StoredRef::Incarnation(*n),
        Stored::PutV2(entry) => StoredRef::PutV2(entry),
        Stored::HintV2(node, entry) => StoredRef::HintV2(*node, entry),
        Stored::PutV3(entry) => StoredRef::PutV3(entry),
        Stored::HintV3(node, entry) => StoredRef::HintV3(*node, entry),
        Stored::Put(entry) => StoredRef::Put(entry),
        Stored::Hint(node, entry) => StoredRef::Hint(*node, entry),
    };
    frame_body(encode(&stored)?)
}

/// Encodes `record` with its header, ready to append.
///
/// # Errors
/// [`Error::Protocol`] if the record cannot be encoded.
pub fn frame(record: &Record) -> Result<Vec<u8>> {
    frame_body(encode(&record.stored())?)
}

/// `body` with its header.
fn frame_body(body: Vec<u8>) -> Result<Vec<u8>> {
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
    let mut out = Vec::new();
    super::dump::write_snapshot(&mut out, store, incarnation)?;
    Ok(out)
}

/// One record at the start of `bytes` and the bytes it used, or why it cannot be read.
pub(super) fn read_record(bytes: &[u8]) -> std::result::Result<(Record, usize), String> {
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
    let record = read_body(body).map_err(|e| format!("a record does not decode: {e}"))?;
    Ok((record, RECORD_HEADER + len))
}

/// Decodes a record's body (which must be used up exactly), converting an old form.
pub(super) fn read_body(body: &[u8]) -> Result<Record> {
    decode::<Stored>(body).map(Record::from)
}

/// Replays one record into `store` and the highest `incarnation` seen.
pub(super) fn apply(store: &mut Store, incarnation: &mut Option<u32>, record: Record) {
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
        Record::Incarnation(n) => *incarnation = Some(incarnation.map_or(n, |m| m.max(n))),
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
    fn a_log_written_before_signed_counters_opens_with_its_counts() {
        // A node's log as ringkv wrote it before this change (`update a 3`, `update b 7`, then a
        // restart that counted both again in a new incarnation).
        let bytes = include_bytes!("../../tests/fixtures/data_format1/node-1/log");
        let got = recover(bytes).unwrap();
        assert!(got.torn.is_none() && got.damage.is_empty());
        assert_eq!(
            got.store.list(),
            vec![("a".to_owned(), 6), ("b".to_owned(), 14)]
        );
        let a = got.store.counter("a").unwrap();
        assert_eq!(a.slots().len(), 2);
        assert!(a.slots().iter().all(|s| s.n == 0));
    }

    #[test]
    fn old_records_mixed_with_new_ones_replay_in_order() {
        let old = |key: &str, slots: Vec<(u64, u64)>| EntryV1 {
            key: key.into(),
            slots,
        };
        let mut bytes = FILE_MAGIC.to_vec();
        for stored in [
            Stored::Incarnation(1),
            Stored::PutV1(old("a", vec![(7, 5)])),
            Stored::HintV1(3, old("h", vec![(9, 2), (10, 1)])),
            Stored::PutV1(old("big", vec![(7, u64::MAX)])),
        ] {
            bytes.extend(frame_stored(&stored).unwrap());
        }
        let mut a = Counter::with_count(7, 5);
        a.increment(7, -8).unwrap();
        bytes.extend(
            frame(&Record::Put(Entry {
                key: "a".into(),
                counter: a,
            }))
            .unwrap(),
        );
        let got = recover(&bytes).unwrap();
        assert_eq!(got.records, 5);
        assert_eq!(got.store.get("a"), -3);
        assert_eq!(
            got.store.get("big"),
            i64::MAX,
            "a grow-only count past i64 saturates"
        );
        assert_eq!(got.store.hint(3, "h").map(|c| c.value()), Some(3));
    }

    #[test]
    fn signed_records_without_a_base_open_and_a_tombstone_replays() {
        let slots = vec![Slot {
            replica: 7,
            p: 9,
            n: 2,
        }];
        let v2 = EntryV2 {
            key: "a".into(),
            slots,
        };
        let mut bytes = FILE_MAGIC.to_vec();
        bytes.extend(frame_stored(&Stored::PutV2(v2.clone())).unwrap());
        bytes.extend(frame_stored(&Stored::HintV2(3, v2)).unwrap());
        let mut gone = Counter::with_count(7, 4);
        gone.reset();
        bytes.extend(frame(&put_counter("d", gone.clone())).unwrap());
        let got = recover(&bytes).unwrap();
        assert_eq!(got.records, 3);
        assert_eq!(got.store.get("a"), 7);
        assert_eq!(got.store.hint(3, "a").map(|c| c.value()), Some(7));
        assert_eq!(got.store.value_of("d"), None, "the delete replays");
        assert_eq!(got.store.counter("d"), Some(gone), "with its base");
    }

    fn put_counter(key: &str, counter: Counter) -> Record {
        Record::Put(Entry {
            key: key.into(),
            counter,
        })
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
