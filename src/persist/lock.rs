//! The data directory's lock: `DIR/LOCK`, held with an exclusive advisory lock (flock) for as long
//! as the process runs, and holding its pid so a refused second process can say who holds it.
//! The operating system drops the lock when the process ends, however it ends.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::io_error;
use crate::error::{Error, Result};

/// The lock file's name inside the data directory.
pub const LOCK_FILE: &str = "LOCK";

/// Takes the lock of `dir` and writes our pid into it. Keep the file open to keep the lock.
///
/// # Errors
/// [`Error::Storage`] if another process holds it (naming its pid) or the file cannot be written.
pub fn lock(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| io_error(&path, &e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            return Err(Error::Storage(format!(
                "data directory {} is in use by another ringkv (pid {})",
                dir.display(),
                pid.trim()
            )));
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(io_error(&path, &e)),
    }
    let write = |file: &mut File| -> std::io::Result<()> {
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        writeln!(file, "{}", std::process::id())?;
        file.sync_all()
    };
    write(&mut file).map_err(|e| io_error(&path, &e))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_with_the_pid() {
        let dir = tempfile::tempdir().unwrap();
        let held = lock(dir.path()).unwrap();
        let err = lock(dir.path()).unwrap_err().to_string();
        assert!(err.contains("in use by another ringkv"), "{err}");
        assert!(err.contains(&std::process::id().to_string()), "{err}");
        drop(held);
        assert!(lock(dir.path()).is_ok());
    }
}
