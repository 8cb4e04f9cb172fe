//! Writing a snapshot (the records that rebuild a store: the body of a compacted log) as it is
//! made: each record is framed in one scratch buffer reused for all of them, and goes straight to
//! the writer (a buffered file), so a snapshot of millions of keys costs no copy of the store and
//! no buffer of the whole file.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use super::record::{frame, Record, FILE_MAGIC, RECORD_HEADER};
use super::write_atomically_with;
use crate::counter::Counter;
use crate::error::{Error, Result};
use crate::protocol::codec::encode_into;
use crate::store::Store;

/// The tag of a key's state ([`super::record::Stored::Put`]), as the first byte of its body.
pub(super) const PUT_TAG: u8 = 9;

/// A key's state as a `Put` body holds it, by reference.
#[derive(Serialize)]
struct PutOut<'a> {
    key: &'a str,
    counter: &'a Counter,
}

/// Frames the `Put` of `key` and `counter` into `scratch` (cleared first).
fn frame_put(key: &str, counter: &Counter, scratch: &mut Vec<u8>) -> Result<()> {
    scratch.clear();
    scratch.extend_from_slice(&[0; RECORD_HEADER]);
    scratch.push(PUT_TAG);
    encode_into(&PutOut { key, counter }, scratch)?;
    let body = &scratch[RECORD_HEADER..];
    let len = u32::try_from(body.len())
        .map_err(|_| Error::Protocol("a log record is larger than 4 GiB".into()))?;
    let crc = crc32fast::hash(body);
    scratch[..4].copy_from_slice(&len.to_le_bytes());
    scratch[4..RECORD_HEADER].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// Writes the records that rebuild `store` in `incarnation` to `out`, with the file's magic
/// bytes first; returns how many bytes were written.
///
/// # Errors
/// [`Error::Storage`] if `out` fails, [`Error::Protocol`] if a record cannot be encoded.
pub fn write_snapshot(out: &mut dyn Write, store: &Store, incarnation: u32) -> Result<u64> {
    let io = |e: std::io::Error| Error::Storage(format!("cannot write a snapshot: {e}"));
    let mut written = 0u64;
    let mut put = |bytes: &[u8]| {
        written += bytes.len() as u64;
        out.write_all(bytes).map_err(io)
    };
    put(&FILE_MAGIC)?;
    put(&frame(&Record::Incarnation(incarnation))?)?;
    let mut scratch = Vec::with_capacity(256);
    store.try_for_each(|key, counter| {
        frame_put(key, counter, &mut scratch)?;
        put(&scratch)
    })?;
    for (node, entry) in store.all_hints() {
        put(&frame(&Record::Hint(node, entry))?)?;
    }
    Ok(written)
}

/// Replaces the file at `path` with a snapshot of `store` in `incarnation`, atomically (see
/// [`super::write_atomically`]); returns its length.
///
/// # Errors
/// [`Error::Storage`] if it cannot be written (the old file is then untouched).
pub fn write_snapshot_file(path: &Path, store: &Store, incarnation: u32) -> Result<u64> {
    let mut failed = None;
    let written = write_atomically_with(path, |w| {
        write_snapshot(w, store, incarnation).map_err(|e| {
            let text = e.to_string();
            failed = Some(e);
            std::io::Error::other(text)
        })
    });
    match (written, failed) {
        (_, Some(e)) => Err(e),
        (written, None) => written,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persist::record::recover;
    use crate::store::Entry;

    #[test]
    fn a_put_is_framed_as_frame_frames_it() {
        let mut store = Store::new();
        store.increment("key:1", 3, 41).unwrap();
        store.increment("two", 3, 1).unwrap();
        store.increment("two", 4, -2).unwrap();
        let mut scratch = Vec::new();
        for key in ["key:1", "two"] {
            let counter = store.counter(key).unwrap();
            frame_put(key, &counter, &mut scratch).unwrap();
            let key = key.to_owned();
            assert_eq!(
                scratch,
                frame(&Record::Put(Entry { key, counter })).unwrap()
            );
        }
    }

    #[test]
    fn a_snapshot_file_rebuilds_the_store_and_its_hints() {
        let mut store = Store::new();
        for i in 0..3000 {
            store
                .increment(&format!("k{i}"), 1 + i as u64 % 3, i)
                .unwrap();
        }
        let hint = Entry {
            key: "h".into(),
            counter: Counter::with_count(9, 4),
        };
        store.add_hint(2, &hint);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let len = write_snapshot_file(&path, &store, 7).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(len, bytes.len() as u64);
        let got = recover(&bytes).unwrap();
        assert_eq!((got.store.list(), got.incarnation), (store.list(), Some(7)));
        assert_eq!(got.store.hint(2, "h"), store.hint(2, "h"));
    }
}
