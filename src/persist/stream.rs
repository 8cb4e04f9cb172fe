//! Reading a log file back in a bounded amount of memory: records stream through one buffer of
//! [`BUFFER`] bytes (larger only while a single record is larger), and a key's state is merged
//! into the store straight from the buffer, without an allocation per record.
//!
//! The first record that does not check out (a bad length, checksum or body, or one cut short at
//! the end) hands over to [`super::scan`]'s mending and stepping over, which needs to look ahead:
//! from there on the rest of the file is read whole. A sound log, the normal case, never gets
//! there; a damaged one costs what it did before this module, from its first damage on.

use std::io::{ErrorKind, Read};

use serde::Deserialize;

use super::dump::PUT_TAG;
use super::record::{FILE_MAGIC, MAX_RECORD, RECORD_HEADER};
use super::scan::{body_start, replay, replay_slice, Recovered};
use crate::counter::Counter;
use crate::error::{Error, Result};
use crate::protocol::codec::{decode_borrowed, BORROWED_MAX};

/// Bytes read from the file at a time.
pub const BUFFER: usize = 1 << 20;

/// A key's state as a `Put` body holds it, with the key borrowed from the buffer.
#[derive(Deserialize)]
struct PutRef<'a> {
    #[serde(borrow)]
    key: &'a str,
    counter: Counter,
}

/// A window on a file: `buf[start..end]` are the bytes from file offset `offset` on.
struct Window<R> {
    reader: R,
    buf: Vec<u8>,
    /// The buffer's size when no record is larger.
    size: usize,
    start: usize,
    end: usize,
    offset: u64,
    eof: bool,
}

impl<R: Read> Window<R> {
    fn new(reader: R, size: usize) -> Self {
        Window {
            reader,
            buf: vec![0; size.max(RECORD_HEADER)],
            size: size.max(RECORD_HEADER),
            start: 0,
            end: 0,
            offset: 0,
            eof: false,
        }
    }

    fn held(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Reads until at least `need` bytes are held or the file ends.
    fn fill(&mut self, need: usize) -> std::io::Result<()> {
        if self.end - self.start >= need || self.eof {
            return Ok(());
        }
        self.buf.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        if self.buf.len() < need {
            self.buf.resize(need, 0);
        } else if self.buf.len() > self.size && need.max(self.end) <= self.size {
            // The large record is behind: back to the usual size.
            self.buf.truncate(self.size);
            self.buf.shrink_to_fit();
        }
        while self.end < need && !self.eof {
            match self.reader.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        self.offset += n as u64;
    }

    /// The length of the whole record held at the start, if one is (it may still fail its
    /// checksum); `None` at the end of the file or where the log needs mending.
    fn next_record(&mut self) -> std::io::Result<Option<usize>> {
        self.fill(RECORD_HEADER)?;
        let head = self.held();
        if head.len() < RECORD_HEADER {
            return Ok(None);
        }
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        if len > MAX_RECORD {
            return Ok(None);
        }
        self.fill(RECORD_HEADER + len)?;
        Ok((self.end - self.start >= RECORD_HEADER + len).then_some(RECORD_HEADER + len))
    }

    /// The bytes held and the rest of the file.
    fn rest(mut self) -> std::io::Result<Vec<u8>> {
        let mut rest = self.held().to_vec();
        self.reader.read_to_end(&mut rest)?;
        Ok(rest)
    }
}

/// Log bytes per key assumed to size the store before a replay: a compacted log spends about 30
/// bytes on a short key's record, and a log grows to about twice its compacted size before it is
/// compacted again, so this stays at or under one key per key held (the index is never made
/// larger than the keys call for; it only skips most of its growth steps).
const BYTES_PER_KEY: u64 = 64;

/// Replays the log read from `reader` (a whole file of `len` bytes; an empty one is an empty log)
/// through a buffer of [`BUFFER`] bytes. `what` names the file in I/O errors.
///
/// # Errors
/// [`Error::Storage`] if it cannot be read or does not start with [`FILE_MAGIC`].
pub fn recover_from(reader: impl Read, len: u64, what: &str) -> Result<Recovered> {
    let keys = usize::try_from(len / BYTES_PER_KEY).unwrap_or(0);
    recover_buffered(reader, BUFFER, keys, what)
}

/// [`recover_from`] with a buffer of `size` bytes and room made for `keys` keys.
pub(super) fn recover_buffered(
    reader: impl Read,
    size: usize,
    keys: usize,
    what: &str,
) -> Result<Recovered> {
    let io = |e: std::io::Error| Error::Storage(format!("{what}: {e}"));
    let mut out = Recovered::default();
    out.store.reserve(keys);
    let mut window = Window::new(reader, size);
    window.fill(FILE_MAGIC.len()).map_err(io)?;
    let head = window.held();
    let Some(at) = body_start(&head[..head.len().min(FILE_MAGIC.len())], &mut out)? else {
        return Ok(out);
    };
    window.consume(at);
    while let Some(len) = window.next_record().map_err(io)? {
        let record = &window.buf[window.start..window.start + len];
        if !replay_fast(record, &mut out) {
            break;
        }
        window.consume(len);
    }
    if window.held().is_empty() && window.eof {
        return Ok(out);
    }
    let base = window.offset;
    let rest = window.rest().map_err(io)?;
    replay_slice(&rest, 0, base, &mut out);
    Ok(out)
}

/// Replays the whole record `bytes` if it checks out; `false` if it does not (nothing changed).
fn replay_fast(bytes: &[u8], out: &mut Recovered) -> bool {
    let word = |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    let body = &bytes[RECORD_HEADER..];
    if crc32fast::hash(body) != word(4) {
        return false;
    }
    if body.first() == Some(&PUT_TAG) && body.len() <= BORROWED_MAX {
        if let Ok(put) = decode_borrowed::<PutRef<'_>>(&body[1..]) {
            if !out.damaged_keys.is_empty() {
                out.damaged_keys.remove(put.key);
            }
            out.store.merge_counter(put.key, &put.counter);
            out.records += 1;
            return true;
        }
    }
    match super::record::read_body(body) {
        Ok(record) => {
            replay(out, record);
            true
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persist::record::{frame, recover, Record};
    use crate::store::Entry;

    fn put(key: &str, n: u64) -> Record {
        Record::Put(Entry {
            key: key.into(),
            counter: Counter::with_count(7, n),
        })
    }

    /// A log of an incarnation and `n` puts of 500 keys, each key counted up several times.
    fn log(n: usize) -> Vec<u8> {
        let mut out = FILE_MAGIC.to_vec();
        out.extend(frame(&Record::Incarnation(3)).unwrap());
        for i in 0..n {
            out.extend(frame(&put(&format!("key:{}", i % 500), i as u64)).unwrap());
        }
        out
    }

    fn same(a: &Recovered, b: &Recovered) {
        assert_eq!(a.store.list(), b.store.list());
        assert_eq!(
            (a.records, a.repaired, a.incarnation),
            (b.records, b.repaired, b.incarnation)
        );
        assert_eq!(
            (&a.damage, &a.torn, &a.damaged_keys),
            (&b.damage, &b.torn, &b.damaged_keys)
        );
    }

    #[test]
    fn a_put_body_is_its_tag_then_the_entry() {
        let bytes = frame(&put("abc", 9)).unwrap();
        assert_eq!(bytes[RECORD_HEADER], PUT_TAG);
        let got: PutRef<'_> = decode_borrowed(&bytes[RECORD_HEADER + 1..]).unwrap();
        assert_eq!((got.key, got.counter.value()), ("abc", 9));
    }

    #[test]
    fn a_state_with_expiry_is_written_under_the_put_tag_and_read_back() {
        let mut counter = Counter::with_count(7, 4);
        counter.set_deadline(crate::counter::Stamp { ms: 5, tie: 1 }, Some(u64::MAX));
        let entry = Entry {
            key: "t".into(),
            counter,
        };
        let bytes = frame(&Record::Put(entry.clone())).unwrap();
        assert_eq!(bytes[RECORD_HEADER], PUT_TAG);
        let mut log = FILE_MAGIC.to_vec();
        log.extend(bytes);
        let back = recover(&log).unwrap();
        assert_eq!(back.store.counter("t"), Some(entry.counter));
    }

    #[test]
    fn a_log_larger_than_the_buffer_replays_exactly() {
        let bytes = log(5000);
        let whole = recover(&bytes).unwrap();
        assert_eq!(whole.records, 5001);
        for size in [1, 7, 64, 4096] {
            assert!(bytes.len() > 20 * size);
            let got = recover_buffered(&bytes[..], size, 100, "test").unwrap();
            same(&got, &whole);
            assert_eq!(got.store.get("key:499"), 4999);
        }
    }

    #[test]
    fn a_log_of_several_full_buffers_replays_exactly_from_a_file() {
        let bytes = log(150_000);
        assert!(bytes.len() > 3 * BUFFER, "{} bytes", bytes.len());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, &bytes).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let got = recover_from(file, bytes.len() as u64, "log").unwrap();
        same(&got, &recover(&bytes).unwrap());
        assert_eq!((got.records, got.store.len()), (150_001, 500));
    }

    #[test]
    fn damage_and_torn_tails_past_the_buffer_are_reported_as_from_memory() {
        let bytes = log(2000);
        let mut cases = vec![bytes[..bytes.len() - 5].to_vec(), bytes[..11].to_vec()];
        for at in [9_000, bytes.len() / 2, bytes.len() - 30] {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x21;
            damaged[at + 2] ^= 0x42;
            cases.push(damaged);
        }
        let mut garbage = bytes[..20_000].to_vec();
        garbage.extend((0..3000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
        garbage.extend(&bytes[30_000..]);
        cases.push(garbage);
        for case in &cases {
            same(
                &recover_buffered(&case[..], 256, 0, "test").unwrap(),
                &recover(case).unwrap(),
            );
        }
    }

    #[test]
    fn a_foreign_or_short_file_is_read_as_from_memory() {
        assert!(recover_buffered(&b"hello, world"[..], 4, 0, "test").is_err());
        for short in [&b""[..], &b"RGKV"[..], &FILE_MAGIC[..]] {
            same(
                &recover_buffered(short, 4, 0, "test").unwrap(),
                &recover(short).unwrap(),
            );
        }
    }
}
