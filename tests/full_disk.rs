//! A full disk that is freed again, through the binary: on a small tmpfs (the test must be root
//! to mount one; otherwise it says so and skips), updates fail while the disk is full and succeed
//! again, without a restart, once space is freed; every acknowledged count survives a restart.

use crate::support::serve;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ringkv::Client;
use serve::{block_on, Server};

/// Keys updated, round-robin.
const KEYS: usize = 50;

/// A tmpfs mounted on a temporary directory, unmounted when dropped (also when a test fails).
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (as `mount -o size=`), or says why not.
    fn mount(size: &str) -> Result<Tmpfs, String> {
        let uid = Command::new("id")
            .arg("-u")
            .output()
            .map_err(|e| e.to_string())?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            return Err("not running as root".into());
        }
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Fills the file system of `dir` with `dir/filler` until a write fails.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 64 << 10];
    for _ in 0..1024 {
        if file
            .write_all(&chunk)
            .and_then(|()| file.sync_all())
            .is_err()
        {
            break;
        }
    }
    // Fill the last partial chunk too.
    while file.write_all(&[0u8; 512]).is_ok() {}
    path
}

/// Updates keys round-robin until one fails or `limit` updates were made; answers how many
/// succeeded and the error, if any. `acked[i]` keeps the last acknowledged value of `k{i}`.
async fn update_until_error(
    client: &mut Client,
    acked: &mut [i64],
    next: &mut usize,
    limit: usize,
) -> (usize, Option<String>) {
    for done in 0..limit {
        let i = *next % KEYS;
        match client.update(&format!("k{i}"), 1).await {
            Ok(value) => acked[i] = acked[i].max(value),
            Err(e) => return (done, Some(e.to_string())),
        }
        *next += 1;
    }
    (limit, None)
}

#[test]
fn after_a_full_disk_is_freed_updates_succeed_again_without_a_restart() {
    full_then_freed("always");
}

/// Under `every-second` an update is acknowledged once queued: the records queued when the disk
/// filled are written once it is freed.
#[test]
fn under_every_second_the_records_queued_at_the_failure_are_written_later() {
    full_then_freed("every-second");
}

fn full_then_freed(fsync: &str) {
    let disk = match Tmpfs::mount("2m") {
        Ok(disk) => disk,
        Err(why) => {
            eprintln!("SKIPPED full-disk test: {why} (it needs root to mount a tmpfs)");
            return;
        }
    };
    let data = disk.path().join("data");
    let server = Server::start(
        &data,
        &["--nodes", "1", "--replicas", "1", "--fsync", fsync],
    );
    let mut acked = vec![0i64; KEYS];
    let mut next = 0;
    let addr = server.addr();
    let filler = block_on(async {
        let mut client = Client::connect(&addr).await.unwrap();
        let (done, err) = update_until_error(&mut client, &mut acked, &mut next, 500).await;
        assert_eq!((done, err), (500, None));
        let filler = fill(disk.path());
        // The log's last page may still take some records; then updates fail.
        let (_, err) = update_until_error(&mut client, &mut acked, &mut next, 100_000).await;
        let err = err.expect("updates fail on a full disk");
        assert!(err.contains("No space left on device"), "{err}");
        // And keep failing, at once, while it is full (for long enough that the retries back off).
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(1500) {
            let one = Instant::now();
            assert!(client.update("k0", 1).await.is_err());
            assert!(one.elapsed() < Duration::from_secs(1));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        filler
    });
    std::fs::remove_file(&filler).unwrap();
    let freed = Instant::now();
    block_on(async {
        let mut client = Client::connect(&addr).await.unwrap();
        let deadline = freed + Duration::from_secs(15);
        loop {
            let (done, _) = update_until_error(&mut client, &mut acked, &mut next, 200).await;
            if done == 200 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "updates still fail 15 s after freeing the disk"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    println!(
        "updates succeed again {:?} after the disk was freed",
        freed.elapsed()
    );
    assert!(
        server.wait_for_stderr("is writable again", Duration::from_secs(2)),
        "{}",
        server.stderr()
    );
    println!("{}", server.stderr());
    server.stop();
    let server = Server::start(&data, &[]);
    let got = block_on(serve::counts(&server.addr(), KEYS));
    for (i, (got, acked)) in got.iter().zip(&acked).enumerate() {
        assert!(
            got >= acked,
            "k{i}: {got} after the restart, {acked} acknowledged"
        );
    }
    let stderr = server.stderr();
    assert!(
        !stderr.contains("torn") && !stderr.contains("damaged"),
        "{stderr}"
    );
    server.stop();
}
