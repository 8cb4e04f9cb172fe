//! A node's append-only log: open and replay it, then hand records to its writer thread.
//!
//! The node hands framed records to [`NodeLog::append`]; one writer thread per node takes every
//! record waiting in its queue, writes them with one `write`, and under [`FsyncPolicy::Always`]
//! makes them durable with one `fdatasync` before it answers them all (group commit). Under
//! `EverySecond` it syncs at most a second after a write; under `Never` only at close and after a
//! compaction. A write or sync error fails the waiting appends and every later one until the
//! writer's retry (after a back-off) writes again.
//!
//! Opening replays the log ([`super::scan`]): a torn tail is dropped with a warning, damaged
//! records in the middle are stepped over, and a damaged file is kept aside as
//! `log.damaged-<unix time>` before the log is rewritten ([`super::damage`]).

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use super::damage::settle;
use super::dump::write_snapshot_file;
use super::record::{frame, snapshot, Record, Recovered};
use super::stream::recover_from;
use super::writer::{Cmd, Owner, Shared, Writer};
use super::{fresh_incarnation, io_error, FsyncPolicy};
use crate::error::{Error, Result};
use crate::ring::NodeId;
use crate::store::Store;

/// The log's file name inside the node's directory.
pub const LOG_FILE: &str = "log";
/// A log is compacted once it is larger than this and twice its size after the last compaction.
const COMPACT_MIN: u64 = 8 << 20;

/// An answer from the writer thread.
pub type Ack<T> = oneshot::Receiver<Result<T>>;

/// A node's durable state as found at open.
pub struct Opened {
    /// The log, ready for appends.
    pub log: Arc<NodeLog>,
    /// The counters and hints it held.
    pub store: Store,
    /// The incarnation the node counts in now (one past the last recorded).
    pub incarnation: u32,
}

/// The handle to one node's log and its writer thread.
pub struct NodeLog {
    node: NodeId,
    policy: FsyncPolicy,
    tx: mpsc::Sender<Cmd>,
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The smallest log that is compacted.
    compact_min: u64,
}

impl NodeLog {
    /// Opens (or creates) the log of `node` in `dir`, replays it, drops a torn tail with a warning,
    /// steps over damaged records (keeping the damaged file aside and reporting the loss),
    /// rewrites it compacted with a new incarnation, syncs it, and starts its writer thread.
    /// Damage is reported as an error, as if no other replica could repair it.
    ///
    /// # Errors
    /// [`Error::Storage`] if the directory or file cannot be read or written, or holds a file that
    /// is not a ringkv log.
    pub fn open(dir: &Path, node: NodeId, policy: FsyncPolicy) -> Result<Opened> {
        NodeLog::open_from(dir, node, policy, 0, 1)
    }

    /// [`NodeLog::open`], with an incarnation of at least `floor`, for a cluster of `replicas`
    /// replicas per key (with more than one, damage is a warning: the others repair it).
    ///
    /// # Errors
    /// As [`NodeLog::open`].
    pub fn open_from(
        dir: &Path,
        node: NodeId,
        policy: FsyncPolicy,
        floor: u32,
        replicas: usize,
    ) -> Result<Opened> {
        std::fs::create_dir_all(dir).map_err(|e| io_error(dir, &e))?;
        let path = dir.join(LOG_FILE);
        let got = load(&path, node)?;
        let damaged = settle(&path, node, replicas, &got)?;
        let incarnation = next_incarnation(&got, floor, damaged);
        let len = write_snapshot_file(&path, &got.store, incarnation)?;
        let file = open_append(&path)?;
        let owner = Owner {
            node,
            path,
            replicas,
        };
        let log = NodeLog::start(owner, file, policy, len)?;
        Ok(Opened {
            log: Arc::new(log),
            store: got.store,
            incarnation,
        })
    }

    /// Starts the writer thread appending to `file` (the owner's log, `len` bytes long).
    fn start(owner: Owner, file: File, policy: FsyncPolicy, len: u64) -> Result<Self> {
        let node = owner.node;
        let shared = Arc::new(Shared::default());
        shared.len.store(len, Ordering::SeqCst);
        shared.base.store(len, Ordering::SeqCst);
        let (tx, rx) = mpsc::channel();
        let writer = Writer::new(owner, file, policy, shared.clone());
        let thread = std::thread::Builder::new()
            .name(format!("ringkv-log-{node}"))
            .spawn(move || writer.run(rx))
            .map_err(|e| Error::Storage(format!("cannot start the log writer: {e}")))?;
        Ok(NodeLog {
            node,
            policy,
            tx,
            shared,
            thread: Mutex::new(Some(thread)),
            compact_min: COMPACT_MIN,
        })
    }

    /// The fsync policy.
    pub fn policy(&self) -> FsyncPolicy {
        self.policy
    }

    /// Fails while the log cannot be written (a write or sync failed and no retry has succeeded
    /// since): the node must refuse updates then.
    ///
    /// # Errors
    /// [`Error::Storage`] naming the node and the failure.
    pub fn check(&self) -> Result<()> {
        match self.shared.error() {
            Some(e) => Err(self.failed(&e)),
            None => Ok(()),
        }
    }

    fn failed(&self, why: &str) -> Error {
        Error::Storage(format!("node {}: {why}", self.node))
    }

    fn send(&self, cmd: Cmd) -> Result<()> {
        self.tx
            .send(cmd)
            .map_err(|_| self.failed("the log is closed"))
    }

    /// Queues `records` for writing. Under [`FsyncPolicy::Always`] returns an [`Ack`] that
    /// answers once they are on disk; otherwise they count as written at once.
    ///
    /// # Errors
    /// [`Error::Storage`] if the log failed earlier or is closed.
    pub fn append(&self, records: &[Record]) -> Result<Option<Ack<()>>> {
        self.check()?;
        let mut bytes = Vec::new();
        for record in records {
            bytes.extend(frame(record)?);
        }
        if self.policy != FsyncPolicy::Always {
            self.send(Cmd::Append(bytes, None))?;
            return Ok(None);
        }
        let (ack, rx) = oneshot::channel();
        self.send(Cmd::Append(bytes, Some(ack)))?;
        Ok(Some(rx))
    }

    /// Starts a compaction to the state of `store` if the log has grown enough since the last one.
    ///
    /// # Errors
    /// [`Error::Storage`] if the log is closed; a compaction that fails later fails the log.
    pub fn compact_if_due(&self, store: &Store, incarnation: u32) -> Result<()> {
        let (len, base) = (
            self.shared.len.load(Ordering::Relaxed),
            self.shared.base.load(Ordering::Relaxed),
        );
        let resync = self.shared.resync.swap(false, Ordering::SeqCst);
        if (!resync && len < self.compact_min.max(base.saturating_mul(2)))
            || self.shared.compacting.swap(true, Ordering::SeqCst)
        {
            return Ok(());
        }
        self.send(Cmd::Compact(snapshot(store, incarnation)?))
    }

    /// Reads the log back (after a simulated crash), starts an incarnation at least `floor` and
    /// past every recorded one, and syncs that. Answers the state and the new incarnation.
    ///
    /// # Errors
    /// [`Error::Storage`] if the log is closed.
    pub fn reload(&self, floor: u32) -> Result<Ack<(Store, u32)>> {
        let (tx, rx) = oneshot::channel();
        self.send(Cmd::Reload(floor, tx))?;
        Ok(rx)
    }

    /// Writes and syncs everything queued so far.
    ///
    /// # Errors
    /// [`Error::Storage`] if the log is closed.
    pub fn sync(&self) -> Result<Ack<()>> {
        let (tx, rx) = oneshot::channel();
        self.send(Cmd::Sync(tx))?;
        Ok(rx)
    }

    /// Writes and syncs everything queued, then stops the writer thread and waits for it.
    pub fn close(&self) {
        let _ = self.tx.send(Cmd::Close);
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

impl Drop for NodeLog {
    fn drop(&mut self) {
        self.close();
    }
}

/// The incarnation a node counts in after reading `got`: past every recorded one and at least
/// `floor`; when the log was damaged, also past the clock's (a lost incarnation record must not
/// let the node reuse a slot).
pub(super) fn next_incarnation(got: &Recovered, floor: u32, damaged: bool) -> u32 {
    let floor = if damaged {
        floor.max(fresh_incarnation())
    } else {
        floor
    };
    got.incarnation
        .map_or(floor, |i| floor.max(i.saturating_add(1)))
}

/// Replays the log at `path` (a missing file is an empty log) through a fixed buffer, warning
/// about a torn tail.
pub(super) fn load(path: &Path, node: NodeId) -> Result<Recovered> {
    let got = match File::open(path) {
        Ok(file) => {
            let len = file.metadata().map_or(0, |m| m.len());
            recover_from(file, len, &path.display().to_string())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Recovered::default()),
        Err(e) => return Err(io_error(path, &e)),
    };
    let got = got.map_err(|e| Error::Storage(format!("node {node}: {}: {e}", path.display())))?;
    if let Some(torn) = &got.torn {
        tracing::warn!(
            "node {node}: dropped a torn tail of {} bytes at offset {} of {}: {}",
            torn.dropped,
            torn.offset,
            path.display(),
            torn.reason
        );
    }
    Ok(got)
}

pub(super) fn open_append(path: &Path) -> Result<File> {
    OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|e| io_error(path, &e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Entry;
    use std::path::PathBuf;

    /// A log whose every write fails as on a full disk (`/dev/full`).
    fn full_disk(policy: FsyncPolicy) -> NodeLog {
        let path = PathBuf::from("/dev/full");
        let file = OpenOptions::new().append(true).open(&path).unwrap();
        let owner = Owner {
            node: 4,
            path,
            replicas: 1,
        };
        NodeLog::start(owner, file, policy, 0).unwrap()
    }

    fn put() -> Vec<Record> {
        let counter = crate::counter::Counter::with_count(1, 1);
        let key = "k".to_owned();
        vec![Record::Put(Entry { key, counter })]
    }

    #[test]
    fn compaction_shrinks_the_log_to_the_live_state() {
        let dir = tempfile::tempdir().unwrap();
        let opened = NodeLog::open(dir.path(), 1, FsyncPolicy::Never).unwrap();
        let mut log = Arc::into_inner(opened.log).unwrap();
        log.compact_min = 0;
        let mut store = Store::new();
        for _ in 0..1000 {
            let counter = store.increment("k", 1, 1).unwrap();
            let key = "k".to_owned();
            log.append(&[Record::Put(Entry { key, counter })]).unwrap();
        }
        log.sync().unwrap().blocking_recv().unwrap().unwrap();
        let path = dir.path().join(LOG_FILE);
        let before = std::fs::metadata(&path).unwrap().len();
        log.compact_if_due(&store, 0).unwrap();
        log.sync().unwrap().blocking_recv().unwrap().unwrap();
        let after = std::fs::metadata(&path).unwrap().len();
        assert!(after * 100 < before, "{before} -> {after}");
        log.close();
        let again = NodeLog::open(dir.path(), 1, FsyncPolicy::Never).unwrap();
        assert_eq!(again.store.get("k"), 1000);
    }

    #[test]
    fn a_write_error_fails_the_waiting_update_and_every_later_one() {
        let log = full_disk(FsyncPolicy::Always);
        let ack = log.append(&put()).unwrap().unwrap();
        let err = ack.blocking_recv().unwrap().unwrap_err().to_string();
        assert!(err.contains("node 4") && err.contains("/dev/full"), "{err}");
        assert!(log.check().is_err());
        assert!(log.append(&put()).is_err());
    }

    #[test]
    fn under_every_second_a_write_error_refuses_the_updates_after_it() {
        let log = full_disk(FsyncPolicy::EverySecond);
        assert!(log.append(&put()).unwrap().is_none());
        assert!(log.sync().unwrap().blocking_recv().unwrap().is_err());
        let err = log.append(&put()).unwrap_err().to_string();
        assert!(err.contains("storage error: node 4: cannot write"), "{err}");
    }
}
