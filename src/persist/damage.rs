//! What a damaged log cost: the damaged file is kept aside (never overwritten) before the log
//! is rewritten from what could be read, and the loss is said once, per node, at start: as an
//! error when no other replica can repair it (`--replicas 1`), as a warning otherwise (and as a
//! warning when every damaged record could be mended).

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::io_error;
use super::record::Recovered;
use crate::error::{Error, Result};
use crate::ring::NodeId;

/// How many lost keys the report names.
const NAMED: usize = 10;

/// If `got` (read from `path`) holds damage: keeps the damaged file aside and reports the loss.
/// Answers whether there was damage (the caller then rewrites the log, in a fresh incarnation).
///
/// # Errors
/// [`Error::Storage`] if the damaged file cannot be kept: the log is then left as it is.
pub(super) fn settle(path: &Path, node: NodeId, replicas: usize, got: &Recovered) -> Result<bool> {
    if got.damage.is_empty() && got.repaired == 0 {
        return Ok(false);
    }
    let kept = keep_aside(path).map_err(|e| {
        Error::Storage(format!(
            "node {node}: {} is damaged and cannot be kept aside, so it is left as it is: {}",
            path.display(),
            e.to_string().trim_start_matches("storage error: ")
        ))
    })?;
    report(node, path, &kept, replicas, got);
    Ok(true)
}

/// Links (or else copies) `path` to `path.damaged-<unix seconds>[-n]`, a name no file has yet.
fn keep_aside(path: &Path) -> Result<PathBuf> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let base = format!("{}.damaged-{secs}", path.display());
    for n in 0..1000 {
        let kept = PathBuf::from(if n == 0 {
            base.clone()
        } else {
            format!("{base}-{n}")
        });
        match std::fs::hard_link(path, &kept).or_else(|e| match e.kind() {
            ErrorKind::AlreadyExists => Err(e),
            _ => copy_new(path, &kept),
        }) {
            Ok(()) => {
                sync_dir(&kept)?;
                return Ok(kept);
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_error(&kept, &e)),
        }
    }
    Err(Error::Storage(format!("{base}: too many damaged copies")))
}

/// Copies `from` to a new file `to` (failing if it exists), synced.
fn copy_new(from: &Path, to: &Path) -> std::io::Result<()> {
    let mut out = OpenOptions::new().write(true).create_new(true).open(to)?;
    let copied = std::io::copy(&mut File::open(from)?, &mut out).and_then(|_| out.sync_all());
    if copied.is_err() {
        let _ = std::fs::remove_file(to);
    }
    copied
}

fn sync_dir(file: &Path) -> Result<()> {
    let dir = file.parent().unwrap_or(Path::new("."));
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error(dir, &e))
}

/// The one line that says what was lost.
fn report(node: NodeId, path: &Path, kept: &Path, replicas: usize, got: &Recovered) {
    if got.damage.is_empty() {
        tracing::warn!(
            "node {node}: its log {} held {} damaged records, all mended by their checksums \
             (nothing lost); the damaged file is kept as {}",
            path.display(),
            got.repaired,
            kept.display()
        );
        return;
    }
    let lost = got.lost_keys();
    let mut named: Vec<String> = lost.iter().take(NAMED).map(|k| format!("{k:?}")).collect();
    if lost.len() > NAMED {
        named.push("...".into());
    }
    let first = &got.damage[0];
    let what = format!(
        "node {node}: its log {} is damaged in {} places (the first at offset {}: {}): \
         lost at least {} records and {} keys ({}); {} more keys may miss their last updates; \
         {} bytes could not be read at all (the keys in them are unknown); {} damaged records \
         were mended",
        path.display(),
        got.damage.len(),
        first.offset,
        first.reason,
        got.lost_records(),
        lost.len(),
        named.join(", "),
        got.behind_keys(),
        got.unreadable(),
        got.repaired,
    );
    let kept = kept.display();
    if replicas <= 1 {
        tracing::error!(
            "{what}; no other replica holds them (replicas 1): that data is gone; the damaged \
             file is kept as {kept}"
        );
    } else {
        tracing::warn!(
            "{what}; the other {} replicas of each key will repair them (read repair and \
             anti-entropy); the damaged file is kept as {kept}",
            replicas - 1
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_file_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        std::fs::write(&log, b"first").unwrap();
        let one = keep_aside(&log).unwrap();
        // As the log is rewritten: a new file renamed over it.
        super::super::write_atomically(&log, b"second").unwrap();
        let two = keep_aside(&log).unwrap();
        assert_ne!(one, two);
        assert_eq!(std::fs::read(&one).unwrap(), b"first");
        assert_eq!(std::fs::read(&two).unwrap(), b"second");
        assert!(one.to_string_lossy().contains("log.damaged-"));
    }
}
