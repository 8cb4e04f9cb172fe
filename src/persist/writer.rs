//! The writer thread of a node's log: batches appends, writes them with one `write`, syncs by
//! policy, answers the appends waiting for durability, compacts and reloads on request.
//!
//! A failed write or sync is not forever: the writer truncates what the write may have left of a
//! record, refuses appends (they fail at once with the storage error, so no update is acknowledged
//! that is not written) and retries after a back-off ([`Failing`]); once a retry has written and
//! synced the records it holds, it says so and accepts appends again.

use std::fs::File;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::damage::settle;
use super::log::{load, next_incarnation, open_append};
use super::record::{frame, snapshot, Record};
use super::retry::Failing;
use super::stream::recover_from;
use super::{io_error, write_atomically, FsyncPolicy};
use crate::error::{Error, Result};
use crate::ring::NodeId;
use crate::store::Store;

/// How often an idle writer wakes up to sync under `EverySecond`.
const TICK: Duration = Duration::from_millis(100);
/// Under `EverySecond` and `Never`, how long the writer lets appends gather after a batch.
const GATHER: Duration = Duration::from_millis(1);
/// The longest a write may stay unsynced under `EverySecond`.
const SYNC_EVERY: Duration = Duration::from_secs(1);

pub(super) enum Cmd {
    Append(Vec<u8>, Option<oneshot::Sender<Result<()>>>),
    Compact(Vec<u8>),
    Reload(u32, oneshot::Sender<Result<(Store, u32)>>),
    Sync(oneshot::Sender<Result<()>>),
    Close,
}

/// What the writer and the node's handle share.
#[derive(Default)]
pub(super) struct Shared {
    /// Why the log cannot be written now, while it cannot.
    pub failed: Mutex<Option<String>>,
    /// The length of the log.
    pub len: AtomicU64,
    /// Its length after the last compaction.
    pub base: AtomicU64,
    /// A compaction is queued or running.
    pub compacting: AtomicBool,
    /// The log was failing and is writable again: compact it to the node's live state (records
    /// the node could not hand over while it was failing are in that state).
    pub resync: AtomicBool,
}

/// Whose log a writer writes, and where.
pub(super) struct Owner {
    /// The node.
    pub node: NodeId,
    /// The log file.
    pub path: PathBuf,
    /// The cluster's R (says whether a damaged log found at a reload can be repaired).
    pub replicas: usize,
}

impl Shared {
    pub fn error(&self) -> Option<String> {
        self.failed.lock().ok().and_then(|f| f.clone())
    }
}

/// The writer thread's state.
pub(super) struct Writer {
    node: NodeId,
    path: PathBuf,
    file: File,
    policy: FsyncPolicy,
    replicas: usize,
    shared: Arc<Shared>,
    /// Records handed over but not yet written.
    pending: Vec<u8>,
    /// The length of the file up to the end of the last complete write.
    good_len: u64,
    /// Written since the last sync.
    dirty: bool,
    last_sync: Instant,
    /// Appends written but not yet answered.
    waiting: Vec<oneshot::Sender<Result<()>>>,
    /// Set while the log cannot be written: appends are refused until a retry succeeds.
    failing: Option<Failing>,
}

impl Writer {
    pub fn new(at: Owner, file: File, policy: FsyncPolicy, shared: Arc<Shared>) -> Self {
        Writer {
            node: at.node,
            path: at.path,
            file,
            policy,
            replicas: at.replicas,
            good_len: shared.len.load(Ordering::SeqCst),
            shared,
            pending: Vec::new(),
            dirty: false,
            last_sync: Instant::now(),
            waiting: Vec::new(),
            failing: None,
        }
    }

    pub fn run(mut self, rx: mpsc::Receiver<Cmd>) {
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
            if self.policy != FsyncPolicy::Always {
                // Let appends gather before the next batch: one wake-up and one `write` per
                // millisecond at most, instead of one per update when updates come faster than
                // the writer sleeps and wakes. Nobody waits for these appends.
                std::thread::sleep(GATHER);
            }
        }
        self.last_try();
    }

    /// Handles one command; `false` on `Close`.
    fn handle(&mut self, cmd: Cmd) -> bool {
        match cmd {
            Cmd::Append(bytes, ack) => self.write(&bytes, ack),
            Cmd::Compact(bytes) => {
                self.answer_appends();
                self.compact(&bytes);
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
        // Kept while the log is failing too: a retry writes them once it can.
        self.pending.extend_from_slice(bytes);
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

    fn refused(&self) -> Result<()> {
        match &self.failing {
            Some(f) => Err(Error::Storage(format!("node {}: {}", self.node, f.why))),
            None => Ok(()),
        }
    }

    /// Writes the pending records to the file (to the OS).
    fn flush(&mut self) -> Result<()> {
        self.refused()?;
        if self.pending.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.file.write_all(&self.pending) {
            self.fail(format!("cannot write {}: {e}", self.path.display()), false);
            return self.refused();
        }
        self.written();
        Ok(())
    }

    /// The pending records are in the file.
    fn written(&mut self) {
        crate::metrics::log_append(self.pending.len());
        self.good_len += self.pending.len() as u64;
        self.shared.len.store(self.good_len, Ordering::SeqCst);
        self.pending.clear();
        self.dirty = true;
    }

    fn sync(&mut self) -> Result<()> {
        self.flush()?;
        if self.dirty {
            if let Err(e) = crate::metrics::timed_fsync(|| self.file.sync_data()) {
                self.fail(format!("cannot sync {}: {e}", self.path.display()), true);
                return self.refused();
            }
        }
        self.dirty = false;
        self.last_sync = Instant::now();
        Ok(())
    }

    fn tick(&mut self) {
        if self.failing.as_ref().is_some_and(Failing::due) {
            self.retry();
        }
        if self.policy == FsyncPolicy::EverySecond
            && self.dirty
            && self.last_sync.elapsed() >= SYNC_EVERY
        {
            let _ = self.sync();
        }
    }

    /// A write or sync failed: refuse appends until a retry succeeds. Drops what a write may have
    /// left of a record at the end of the file.
    fn fail(&mut self, why: String, sync_lost: bool) {
        let _ = self.file.set_len(self.good_len);
        if let Some(failing) = &mut self.failing {
            failing.failed_again(sync_lost);
            return;
        }
        tracing::error!(
            "node {}: {why}; it refuses updates until its log can be written again (retrying \
             from 100 ms, doubling up to every 5 s)",
            self.node
        );
        if let Ok(mut failed) = self.shared.failed.lock() {
            *failed = Some(why.clone());
        }
        self.failing = Some(Failing::new(why, sync_lost));
    }

    /// Tries to write again: the pending records, after rewriting the log if a sync failed.
    fn retry(&mut self) {
        let Some(failing) = &self.failing else {
            return;
        };
        let sync_lost = failing.sync_lost;
        let result = self.try_writing(sync_lost);
        let Some(failing) = &mut self.failing else {
            return;
        };
        if let Err(e) = result {
            let _ = self.file.set_len(self.good_len);
            failing.failed_again(false);
            tracing::debug!(
                "node {}: the log is still not writable (next try in {:?}): {e}",
                self.node,
                failing.delay()
            );
            return;
        }
        tracing::warn!(
            "node {}: its log {} is writable again after {:.1} s ({} retries failed); it accepts \
             updates again",
            self.node,
            self.path.display(),
            failing.since.elapsed().as_secs_f64(),
            failing.retries
        );
        self.failing = None;
        self.shared.resync.store(true, Ordering::SeqCst);
        if let Ok(mut failed) = self.shared.failed.lock() {
            *failed = None;
        }
    }

    fn try_writing(&mut self, rewrite: bool) -> Result<()> {
        let io = |e: std::io::Error| io_error(&self.path, &e);
        self.file.set_len(self.good_len).map_err(io)?;
        if rewrite {
            self.rewrite()?;
        }
        let io = |e: std::io::Error| io_error(&self.path, &e);
        self.file.write_all(&self.pending).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        self.written();
        self.dirty = false;
        self.last_sync = Instant::now();
        Ok(())
    }

    /// Rewrites the log from its own complete part (after a failed sync nothing in the page cache
    /// can be trusted to reach the disk).
    fn rewrite(&mut self) -> Result<()> {
        let file = File::open(&self.path).map_err(|e| io_error(&self.path, &e))?;
        let what = self.path.display().to_string();
        let got = recover_from(file.take(self.good_len), self.good_len, &what)?;
        self.replace(&snapshot(&got.store, got.incarnation.unwrap_or(0))?)
    }

    /// Replaces the log with `bytes` (a snapshot) and appends after it from now on.
    fn replace(&mut self, bytes: &[u8]) -> Result<()> {
        let done = write_atomically(&self.path, bytes);
        // Whichever file the name holds now (the rename may be done even if a later step
        // failed), appends go to it.
        self.file = open_append(&self.path)?;
        self.good_len = self
            .file
            .metadata()
            .map_err(|e| io_error(&self.path, &e))?
            .len();
        self.shared.len.store(self.good_len, Ordering::SeqCst);
        self.shared.base.store(self.good_len, Ordering::SeqCst);
        self.dirty = false;
        done
    }

    /// Compacts to `bytes`; a failure leaves the old log in use (and waits for it to double).
    fn compact(&mut self, bytes: &[u8]) {
        if self.sync().is_err() {
            return;
        }
        if let Err(e) = self.replace(bytes) {
            tracing::warn!(
                "node {}: cannot compact its log, it goes on appending to it: {e}",
                self.node
            );
        }
    }

    fn reload(&mut self, floor: u32) -> Result<(Store, u32)> {
        self.sync()?;
        let got = load(&self.path, self.node)?;
        let damaged = settle(&self.path, self.node, self.replicas, &got)?;
        let incarnation = next_incarnation(&got, floor, damaged);
        if damaged {
            self.replace(&snapshot(&got.store, incarnation)?)?;
        } else {
            self.write(&frame(&Record::Incarnation(incarnation))?, None);
            self.sync()?;
        }
        Ok((got.store, incarnation))
    }

    /// At close: one last try if the log is failing, and a loud line if that fails too.
    fn last_try(&mut self) {
        if self.failing.is_some() {
            self.retry();
        }
        if let Err(e) = self.sync() {
            tracing::error!(
                "node {}: {} bytes of records could not be written at close: {e}",
                self.node,
                self.pending.len()
            );
        }
    }
}
