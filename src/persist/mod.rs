//! Durability: a data directory with one append-only log per node, plain Rust (no actors).
//!
//! # Layout of a data directory
//! - `LOCK` — held by the running ringkv ([`lock`]), with its pid.
//! - `cluster.meta` — the membership: node ids, ports, vnodes, R ([`meta`]).
//! - `node-<id>/log` — the node's log of framed records ([`record`]), written by one thread per
//!   node with group commit ([`log`]).
//! - `node-<id>/log.damaged-<unix seconds>` — a damaged log as it was found, kept when the log was
//!   rewritten without the damage; never deleted by ringkv.
//!
//! Counters live in memory; the logs are what survives the process.

mod damage;
mod dump;
pub mod lock;
pub mod log;
pub mod meta;
pub mod record;
mod resync;
mod retry;
mod scan;
mod stream;
mod writer;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use crate::ring::NodeId;

pub use log::{Ack, NodeLog, Opened};
pub use meta::{ClusterMeta, StoredPeers};

/// When a node's log is synced to disk, like Redis's `appendfsync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FsyncPolicy {
    /// Every update is on disk before it is acknowledged; concurrent updates share one sync.
    Always,
    /// Synced at most a second after a write (a power cut loses at most about a second).
    #[default]
    EverySecond,
    /// Written to the operating system at once, synced only at close (the OS decides when).
    Never,
}

impl std::str::FromStr for FsyncPolicy {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        match text {
            "always" => Ok(FsyncPolicy::Always),
            "every-second" | "everysec" => Ok(FsyncPolicy::EverySecond),
            "never" | "no" => Ok(FsyncPolicy::Never),
            _ => Err(format!(
                "'{text}' is not an fsync policy: use always, every-second or never"
            )),
        }
    }
}

/// An I/O error on `path` as a storage error.
pub(crate) fn io_error(path: &Path, e: &std::io::Error) -> Error {
    Error::Storage(format!("{}: {e}", path.display()))
}

/// Replaces `path` with `bytes` so that a crash leaves either the old or the new file: writes a
/// temporary file, syncs it, renames it over `path`, syncs the directory.
///
/// # Errors
/// [`Error::Storage`] on any I/O error (the old file is then untouched).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomically_with(path, |w| w.write_all(bytes))
}

/// [`write_atomically`] with the bytes written by `fill` as it goes, through a buffer of 1 MiB.
///
/// # Errors
/// [`Error::Storage`] on any I/O error, `fill`'s too (the old file is then untouched).
pub(crate) fn write_atomically_with<T>(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<T>,
) -> Result<T> {
    let tmp = path.with_extension("tmp");
    let write = || -> std::io::Result<T> {
        let mut out = BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
        let filled = fill(&mut out)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            File::open(dir)?.sync_all()?;
        }
        Ok(filled)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io_error(path, &e)
    })
}

/// An open, locked data directory and the logs of its nodes.
pub struct DataDir {
    root: PathBuf,
    policy: FsyncPolicy,
    lock: Mutex<Option<File>>,
    logs: Mutex<BTreeMap<NodeId, Arc<NodeLog>>>,
}

impl std::fmt::Debug for DataDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataDir")
            .field("root", &self.root)
            .field("policy", &self.policy)
            .finish()
    }
}

impl DataDir {
    /// Creates `root` if needed and takes its lock.
    ///
    /// # Errors
    /// [`Error::Storage`] if it cannot be created or written, or another ringkv holds it.
    pub fn open(root: &Path, policy: FsyncPolicy) -> Result<DataDir> {
        let unusable = |e: Error| {
            Error::Storage(format!(
                "cannot use data directory {}: {}",
                root.display(),
                e.to_string().trim_start_matches("storage error: ")
            ))
        };
        std::fs::create_dir_all(root).map_err(|e| unusable(io_error(root, &e)))?;
        let lock = lock::lock(root).map_err(|e| match e {
            Error::Storage(m) if m.contains("in use by another") => Error::Storage(m),
            other => unusable(other),
        })?;
        Ok(DataDir {
            root: root.to_owned(),
            policy,
            lock: Mutex::new(Some(lock)),
            logs: Mutex::new(BTreeMap::new()),
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The stored membership, if the directory holds one.
    ///
    /// # Errors
    /// [`Error::Storage`] if `cluster.meta` cannot be read or is damaged.
    pub fn meta(&self) -> Result<Option<ClusterMeta>> {
        read_meta(&self.root)
    }

    /// Stores the membership (atomically).
    ///
    /// # Errors
    /// [`Error::Storage`] if it cannot be written.
    pub fn save_meta(&self, meta: &ClusterMeta) -> Result<()> {
        write_atomically(&self.root.join(meta::META_FILE), meta.to_text().as_bytes())
    }

    /// The directory of node `id`'s files.
    pub fn node_dir(&self, id: NodeId) -> PathBuf {
        self.root.join(format!("node-{id}"))
    }

    /// Opens the log of node `id` (creating it), replays it and keeps it for [`DataDir::close`].
    ///
    /// # Errors
    /// See [`NodeLog::open`].
    pub fn open_node(&self, id: NodeId) -> Result<Opened> {
        let dir = self.node_dir(id);
        let meta = self.meta()?;
        let member = meta
            .as_ref()
            .is_some_and(|m| m.nodes.iter().any(|&(n, _)| n == id));
        // Without a stored membership nothing says another replica exists: report as for one.
        let replicas = meta.as_ref().map_or(1, |m| m.replicas);
        let floor = if member && !dir.join(log::LOG_FILE).exists() {
            // Its earlier incarnations may live on in other replicas' slots: never reuse them.
            tracing::warn!("node {id}: its log is missing; it starts empty in a fresh incarnation");
            fresh_incarnation()
        } else {
            0
        };
        let opened = NodeLog::open_from(&dir, id, self.policy, floor, replicas)?;
        if let Ok(mut logs) = self.logs.lock() {
            logs.insert(id, opened.log.clone());
        }
        Ok(opened)
    }

    /// Closes node `id`'s log and deletes its directory (after its keys were handed off).
    ///
    /// # Errors
    /// [`Error::Storage`] if the directory cannot be deleted.
    pub fn remove_node(&self, id: NodeId) -> Result<()> {
        let log = self.logs.lock().ok().and_then(|mut l| l.remove(&id));
        if let Some(log) = log {
            log.close();
        }
        let dir = self.node_dir(id);
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_error(&dir, &e)),
            _ => Ok(()),
        }
    }

    /// Writes and syncs every node's queued records, stops their writer threads, and releases the
    /// directory's lock (another process may open it then).
    pub fn close(&self) {
        let logs: Vec<Arc<NodeLog>> = match self.logs.lock() {
            Ok(mut logs) => std::mem::take(&mut *logs).into_values().collect(),
            Err(_) => Vec::new(),
        };
        for log in logs {
            log.close();
        }
        if let Ok(mut lock) = self.lock.lock() {
            lock.take();
        }
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        self.close();
    }
}

/// An incarnation no earlier start can have used: seconds since 2020 (node incarnations otherwise
/// count up from 0 by one per start).
pub(super) fn fresh_incarnation() -> u32 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    u32::try_from(since.saturating_sub(1_577_836_800)).unwrap_or(u32::MAX)
}

/// The membership stored in `root`, if any (no lock taken: for a quick look before starting).
///
/// # Errors
/// [`Error::Storage`] if `cluster.meta` exists but cannot be read or is damaged.
pub fn read_meta(root: &Path) -> Result<Option<ClusterMeta>> {
    let path = root.join(meta::META_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => ClusterMeta::parse(&text).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(&path, &e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persist::record::Record;
    use crate::store::Entry;

    fn put(log: &NodeLog, key: &str, n: u64) -> Option<Ack<()>> {
        let counter = crate::counter::Counter::with_count(1, n);
        let entry = Entry {
            key: key.into(),
            counter,
        };
        log.append(&[Record::Put(entry)]).unwrap()
    }

    #[test]
    fn a_closed_log_reopens_with_everything_and_a_new_incarnation() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path(), FsyncPolicy::Never).unwrap();
        let opened = data.open_node(1).unwrap();
        assert_eq!(opened.incarnation, 0);
        for i in 0..1000 {
            assert!(put(&opened.log, &format!("k{i}"), i + 1).is_none());
        }
        data.close();
        let again = data.open_node(1).unwrap();
        assert_eq!(again.incarnation, 1);
        assert_eq!(again.store.len(), 1000);
        assert_eq!(again.store.get("k999"), 1000);
    }

    #[test]
    fn always_acknowledges_after_the_sync() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path(), FsyncPolicy::Always).unwrap();
        let opened = data.open_node(2).unwrap();
        let acks: Vec<_> = (0..50).filter_map(|i| put(&opened.log, "k", i)).collect();
        for ack in acks {
            assert!(ack.blocking_recv().unwrap().is_ok());
        }
        let bytes = std::fs::read(dir.path().join("node-2").join(log::LOG_FILE)).unwrap();
        assert_eq!(record::recover(&bytes).unwrap().store.get("k"), 49);
    }

    #[test]
    fn reload_reads_back_and_moves_the_incarnation_past_the_floor() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path(), FsyncPolicy::EverySecond).unwrap();
        let opened = data.open_node(3).unwrap();
        put(&opened.log, "a", 7);
        let (store, incarnation) = opened
            .log
            .reload(5)
            .unwrap()
            .blocking_recv()
            .unwrap()
            .unwrap();
        assert_eq!((store.get("a"), incarnation), (7, 5));
        data.close();
        assert_eq!(data.open_node(3).unwrap().incarnation, 6);
    }

    #[test]
    fn a_reload_steps_over_damage_and_keeps_the_damaged_file() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path(), FsyncPolicy::Never).unwrap();
        let opened = data.open_node(4).unwrap();
        for i in 0..20 {
            put(&opened.log, &format!("k{i}"), i + 1);
        }
        opened.log.sync().unwrap().blocking_recv().unwrap().unwrap();
        let path = dir.path().join("node-4").join(log::LOG_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        let tenth = record::index(&bytes).unwrap()[10].0 as usize;
        bytes[tenth + 9] ^= 0x01;
        bytes[tenth + 11] ^= 0x01;
        std::fs::write(&path, &bytes).unwrap();
        let reloaded = opened.log.reload(0).unwrap().blocking_recv().unwrap();
        let (store, incarnation) = reloaded.unwrap();
        assert_eq!((store.len(), store.get("k19")), (19, 20));
        assert!(
            incarnation > 100_000_000,
            "a fresh incarnation: {incarnation}"
        );
        let kept: Vec<_> = std::fs::read_dir(dir.path().join("node-4"))
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("log.damaged-"))
            .collect();
        assert_eq!(kept.len(), 1);
        assert_eq!(std::fs::read(kept[0].path()).unwrap(), bytes);
        data.close();
        assert_eq!(data.open_node(4).unwrap().store.len(), 19);
    }

    #[test]
    fn meta_is_stored_and_a_removed_node_leaves_no_directory() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path(), FsyncPolicy::Never).unwrap();
        assert_eq!(data.meta().unwrap(), None);
        let meta = ClusterMeta {
            vnodes: 8,
            replicas: 2,
            next_id: 3,
            nodes: vec![(1, 0), (2, 0)],
            peers: None,
        };
        data.save_meta(&meta).unwrap();
        assert_eq!(read_meta(dir.path()).unwrap(), Some(meta));
        data.open_node(2).unwrap();
        data.remove_node(2).unwrap();
        assert!(!dir.path().join("node-2").exists());
    }

    #[test]
    fn a_member_whose_log_is_gone_never_reuses_an_incarnation() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path(), FsyncPolicy::Never).unwrap();
        let meta = ClusterMeta {
            vnodes: 8,
            replicas: 1,
            next_id: 2,
            nodes: vec![(1, 0)],
            peers: None,
        };
        data.save_meta(&meta).unwrap();
        assert!(data.open_node(1).unwrap().incarnation > 100_000_000);
        assert_eq!(data.open_node(2).unwrap().incarnation, 0);
    }

    #[test]
    fn a_file_in_the_way_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain-file");
        std::fs::write(&file, b"x").unwrap();
        let err = DataDir::open(&file, FsyncPolicy::Never).unwrap_err();
        assert!(matches!(err, Error::Storage(_)), "{err}");
    }
}
