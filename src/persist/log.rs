//! A node's append-only log and the thread that writes it.
//!
//! The node hands framed records to [`NodeLog::append`]; one writer thread per node takes every
//! record waiting in its queue, writes them with one `write`, and under [`FsyncPolicy::Always`]
//! makes them durable with one `fdatasync` before it answers them all (group commit). Under
//! `EverySecond` it syncs at most a second after a write; under `Never` only at close and after a
//! compaction. A write or sync error is sticky: it fails the waiting appends and every later one.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::record::{frame, recover, snapshot, Record};
use super::{io_error, write_atomically, FsyncPolicy};
use crate::error::{Error, Result};
use crate::ring::NodeId;
use crate::store::Store;

/// The log's file name inside the node's directory.
pub const LOG_FILE: &str = "log";
/// A log is compacted once it is larger than this and twice its size after the last compaction.
const COMPACT_MIN: u64 = 8 << 20;
/// How often an idle writer wakes up to sync under `EverySecond`.
const TICK: Duration = Duration::from_millis(100);
/// The longest a write may stay unsynced under `EverySecond`.
const SYNC_EVERY: Duration = Duration::from_secs(1);

/// An answer from the writer thread.
pub type Ack<T> = oneshot::Receiver<Result<T>>;

enum Cmd {
    Append(Vec<u8>, Option<oneshot::Sender<Result<()>>>),
    Compact(Vec<u8>),
    Reload(u32, oneshot::Sender<Result<(Store, u32)>>),
    Sync(oneshot::Sender<Result<()>>),
    Close,
}

#[derive(Default)]
struct Shared {
    failed: Mutex<Option<String>>,
    len: AtomicU64,
    base: AtomicU64,
    compacting: AtomicBool,
}

impl Shared {
    fn error(&self) -> Option<String> {
        self.failed.lock().ok().and_then(|f| f.clone())
    }
}

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
}

impl NodeLog {
    /// Opens (or creates) the log of `node` in `dir`, replays it, drops a torn tail with a warning,
    /// rewrites it compacted with a new incarnation, syncs it, and starts its writer thread.
    ///
    /// # Errors
    /// [`Error::Storage`] if the directory or file cannot be read or written, or holds a file that
    /// is not a ringkv log.
    pub fn open(dir: &Path, node: NodeId, policy: FsyncPolicy) -> Result<Opened> {
        std::fs::create_dir_all(dir).map_err(|e| io_error(dir, &e))?;
        let path = dir.join(LOG_FILE);
        let (store, stored) = load(&path, node)?;
        let incarnation = stored.map_or(0, |i| i.saturating_add(1));
        let snap = snapshot(&store, incarnation)?;
        write_atomically(&path, &snap)?;
        let file = open_append(&path)?;
        let shared = Arc::new(Shared::default());
        shared.len.store(snap.len() as u64, Ordering::SeqCst);
        shared.base.store(snap.len() as u64, Ordering::SeqCst);
        let (tx, rx) = mpsc::channel();
        let writer = Writer::new(node, path, file, policy, shared.clone());
        let thread = std::thread::Builder::new()
            .name(format!("ringkv-log-{node}"))
            .spawn(move || writer.run(rx))
            .map_err(|e| Error::Storage(format!("cannot start the log writer: {e}")))?;
        let log = NodeLog {
            node,
            policy,
            tx,
            shared,
            thread: Mutex::new(Some(thread)),
        };
        Ok(Opened {
            log: Arc::new(log),
            store,
            incarnation,
        })
    }

    /// The fsync policy.
    pub fn policy(&self) -> FsyncPolicy {
        self.policy
    }

    /// Fails if an earlier write or sync failed: the node must refuse updates then.
    ///
    /// # Errors
    /// [`Error::Storage`] naming the node and the first failure.
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
        if len < COMPACT_MIN.max(base.saturating_mul(2))
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

/// Replays the log at `path` (a missing file is an empty log), warning about a torn tail.
fn load(path: &Path, node: NodeId) -> Result<(Store, Option<u32>)> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io_error(path, &e)),
    };
    let got = recover(&bytes)
        .map_err(|e| Error::Storage(format!("node {node}: {}: {e}", path.display())))?;
    if let Some(torn) = &got.torn {
        tracing::warn!(
            "node {node}: dropped a torn tail of {} bytes at offset {} of {}: {}",
            torn.dropped,
            torn.offset,
            path.display(),
            torn.reason
        );
    }
    Ok((got.store, got.incarnation))
}

fn open_append(path: &Path) -> Result<File> {
    OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|e| io_error(path, &e))
}

/// The writer thread's state.
struct Writer {
    node: NodeId,
    path: PathBuf,
    file: BufWriter<File>,
    policy: FsyncPolicy,
    shared: Arc<Shared>,
    /// Written since the last sync.
    dirty: bool,
    last_sync: Instant,
    /// Appends written but not yet answered.
    waiting: Vec<oneshot::Sender<Result<()>>>,
}

impl Writer {
    fn new(
        node: NodeId,
        path: PathBuf,
        file: File,
        policy: FsyncPolicy,
        shared: Arc<Shared>,
    ) -> Self {
        Writer {
            node,
            path,
            file: BufWriter::with_capacity(1 << 20, file),
            policy,
            shared,
            dirty: false,
            last_sync: Instant::now(),
            waiting: Vec::new(),
        }
    }

    fn run(mut self, rx: mpsc::Receiver<Cmd>) {
        loop {
            let first = match rx.recv_timeout(TICK) {
                Ok(cmd) => cmd,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    self.tick();
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            let mut open = true;
            for cmd in std::iter::once(first).chain(rx.try_iter().take(4096)) {
                open = open && self.handle(cmd);
            }
            self.answer_appends();
            self.tick();
            if !open {
                break;
            }
        }
        let _ = self.sync();
    }

    /// Handles one command; `false` on `Close`.
    fn handle(&mut self, cmd: Cmd) -> bool {
        match cmd {
            Cmd::Append(bytes, ack) => self.write(&bytes, ack),
            Cmd::Compact(bytes) => {
                self.answer_appends();
                if let Err(e) = self.compact(&bytes) {
                    self.fail(&e.to_string());
                }
                self.shared.compacting.store(false, Ordering::SeqCst);
            }
            Cmd::Reload(floor, reply) => {
                self.answer_appends();
                let _ = reply.send(self.reload(floor));
            }
            Cmd::Sync(reply) => {
                self.answer_appends();
                let _ = reply.send(self.sync());
            }
            Cmd::Close => return false,
        }
        true
    }

    fn write(&mut self, bytes: &[u8], ack: Option<oneshot::Sender<Result<()>>>) {
        if self.shared.error().is_none() {
            match self.file.write_all(bytes) {
                Ok(()) => {
                    self.dirty = true;
                    self.shared
                        .len
                        .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                }
                Err(e) => self.fail(&format!("cannot write {}: {e}", self.path.display())),
            }
        }
        if let Some(ack) = ack {
            self.waiting.push(ack);
        }
    }

    /// Hands the written appends to the OS (and to the disk under `Always`), then answers them.
    fn answer_appends(&mut self) {
        let result = match self.policy {
            FsyncPolicy::Always if !self.waiting.is_empty() => self.sync(),
            _ => self.flush(),
        };
        for ack in self.waiting.drain(..) {
            let _ = ack.send(result.clone());
        }
    }

    fn flush(&mut self) -> Result<()> {
        if let Some(e) = self.shared.error() {
            return Err(Error::Storage(format!("node {}: {e}", self.node)));
        }
        if let Err(e) = self.file.flush() {
            self.fail(&format!("cannot write {}: {e}", self.path.display()));
            return self.flush();
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        self.flush()?;
        if self.dirty {
            if let Err(e) = self.file.get_ref().sync_data() {
                self.fail(&format!("cannot sync {}: {e}", self.path.display()));
                return self.flush();
            }
        }
        self.dirty = false;
        self.last_sync = Instant::now();
        Ok(())
    }

    fn tick(&mut self) {
        if self.policy == FsyncPolicy::EverySecond
            && self.dirty
            && self.last_sync.elapsed() >= SYNC_EVERY
        {
            let _ = self.sync();
        }
    }

    fn fail(&mut self, why: &str) {
        tracing::error!("node {}: {why}; it refuses updates from now on", self.node);
        if let Ok(mut failed) = self.shared.failed.lock() {
            failed.get_or_insert_with(|| why.to_owned());
        }
    }

    /// Replaces the log with `bytes` (a snapshot) and appends after it from now on.
    fn compact(&mut self, bytes: &[u8]) -> Result<()> {
        self.sync()?;
        write_atomically(&self.path, bytes)?;
        self.file = BufWriter::with_capacity(1 << 20, open_append(&self.path)?);
        self.shared.len.store(bytes.len() as u64, Ordering::SeqCst);
        self.shared.base.store(bytes.len() as u64, Ordering::SeqCst);
        self.dirty = false;
        Ok(())
    }

    fn reload(&mut self, floor: u32) -> Result<(Store, u32)> {
        self.sync()?;
        let (store, stored) = load(&self.path, self.node)?;
        let incarnation = stored.map_or(floor, |i| floor.max(i.saturating_add(1)));
        self.write(&frame(&Record::Incarnation(incarnation))?, None);
        self.sync()?;
        Ok((store, incarnation))
    }
}
