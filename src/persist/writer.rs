//! The writer thread of a node's log: batches appends, writes them with one `write`, syncs by
//! policy, answers the appends waiting for durability, compacts and reloads on request.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::log::{load, open_append};
use super::record::{frame, Record};
use super::{write_atomically, FsyncPolicy};
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

#[derive(Default)]
pub(super) struct Shared {
    pub failed: Mutex<Option<String>>,
    pub len: AtomicU64,
    pub base: AtomicU64,
    pub compacting: AtomicBool,
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
    pub fn new(
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
