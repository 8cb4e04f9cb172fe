//! Durability through the binary: restart, SIGKILL under load, torn logs, the lock, bad disks.
//!
//! Each test runs `ringkv serve` (or the interactive store) as a child process on its own
//! temporary data directory and any free ports.

use crate::support::piped;
use crate::support::serve;

use piped::run_piped;
use serve::{block_on, counts, Server};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use ringkv::Client;

/// Runs `ringkv ARGS` to its end with `input` on stdin; returns (success, stdout, stderr).
fn run(args: &[&str], dir: &Path, input: &str) -> (bool, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ringkv"));
    command.args(args).arg("--data-dir").arg(dir);
    let out = run_piped(command, input);
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    (out.status.success(), text(out.stdout), text(out.stderr))
}

#[test]
fn a_clean_stop_and_restart_keeps_every_count() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--nodes", "3", "--fsync", "never"]);
    let keys = 300;
    block_on(async {
        let mut client = Client::connect(&server.addr()).await.unwrap();
        for round in 0..3i64 {
            for i in 0..keys {
                client
                    .update(&format!("k{i}"), i as i64 + round)
                    .await
                    .unwrap();
            }
        }
    });
    server.stop();
    // No --nodes: the directory says how many.
    let server = Server::start(dir.path(), &[]);
    assert_eq!(server.ports.len(), 3);
    let got = block_on(counts(&server.addr(), keys));
    let want: Vec<i64> = (0..keys as i64).map(|i| 3 * i + 3).collect();
    assert_eq!(got, want);
}

#[test]
fn the_interactive_store_keeps_counts_across_exit() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--nodes", "2", "--base-port", "0"];
    let (ok, out, err) = run(&args, dir.path(), "update a 5\nupdate b\nexit\n");
    assert!(ok && out.contains("Update successful"), "{out}{err}");
    // The directory says how many nodes: no question, so the first piped line is a command.
    let (ok, out, err) = run(&["--base-port", "0"], dir.path(), "get a\nget b\nexit\n");
    assert!(ok, "{err}");
    assert!(!out.contains("Enter number of nodes to start: "), "{out}");
    assert!(out.contains("Restoring 2 nodes from"), "{out}");
    assert!(
        out.contains("Count for a: 5") && out.contains("Count for b: 1"),
        "{out}"
    );
    assert!(err.is_empty(), "{err}");
    // A --nodes that disagrees is one warning line; the stored cluster is restored.
    let (ok, out, err) = run(
        &["--nodes", "3", "--base-port", "0"],
        dir.path(),
        "get a\nexit\n",
    );
    assert!(ok && out.contains("Count for a: 5"), "{out}{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("Warning: --nodes 3 ignored: the data directory")
            && err.contains("holds 2 nodes"),
        "{err}"
    );
}

/// Per key, the acknowledged values and when they were acknowledged.
type Acks = Vec<Vec<(Instant, i64)>>;

/// Runs `clients` tasks, each updating its own key, until `load` has passed; then SIGKILLs the
/// server. Returns the acknowledgements and the kill time.
fn load_then_kill(server: Server, clients: usize, load: Duration) -> (Acks, Instant) {
    let addr = server.addr();
    let acks = block_on(async move {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..clients {
            let addr = addr.clone();
            tasks.spawn(async move {
                let mut client = Client::connect(&addr).await.unwrap();
                let (key, start, mut acked) = (format!("k{i}"), Instant::now(), Vec::new());
                while start.elapsed() < load {
                    match client.update(&key, 1).await {
                        Ok(value) => acked.push((Instant::now(), value)),
                        Err(_) => break,
                    }
                }
                (i, acked)
            });
        }
        let mut acks = vec![Vec::new(); clients];
        while let Some(done) = tasks.join_next().await {
            let (i, acked) = done.unwrap();
            acks[i] = acked;
        }
        acks
    });
    let killed = Instant::now();
    server.kill();
    (acks, killed)
}

fn assert_acked_survive(dir: &Path, acks: &Acks, before: Instant) {
    let server = Server::start(dir, &[]);
    let got = block_on(counts(&server.addr(), acks.len()));
    for (i, acked) in acks.iter().enumerate() {
        let must = acked
            .iter()
            .filter(|(at, _)| *at <= before)
            .map(|&(_, v)| v)
            .max()
            .unwrap_or(0);
        assert!(must > 0, "k{i}: nothing acknowledged early enough to check");
        assert!(
            got[i] >= must,
            "k{i}: {} after restart, {must} acknowledged",
            got[i]
        );
    }
}

#[test]
fn under_fsync_always_a_sigkill_loses_no_acknowledged_update() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--nodes", "3", "--fsync", "always"]);
    let (acks, killed) = load_then_kill(server, 16, Duration::from_millis(1500));
    assert_acked_survive(dir.path(), &acks, killed);
}

#[test]
fn under_fsync_every_second_a_sigkill_loses_at_most_the_last_two_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--nodes", "3", "--fsync", "every-second"]);
    let (acks, killed) = load_then_kill(server, 8, Duration::from_millis(3500));
    assert_acked_survive(dir.path(), &acks, killed - Duration::from_secs(2));
}

/// One node, one replica, `keys` keys updated once each in order: the log ends with one record
/// per key, so what survives a cut is exactly a prefix of the keys.
fn one_node_log(dir: &Path, keys: usize) -> std::path::PathBuf {
    let server = Server::start(dir, &["--nodes", "1", "--replicas", "1"]);
    block_on(async {
        let mut client = Client::connect(&server.addr()).await.unwrap();
        for i in 0..keys {
            client.update(&format!("k{i}"), i as i64 + 1).await.unwrap();
        }
    });
    // A clean stop, so that every key is in the log (a SIGKILL under a loaded machine may leave
    // the last ones queued); the cut that follows is the crash.
    server.stop();
    dir.join("node-1").join("log")
}

/// Restarts on the cut log and checks that exactly the keys before the cut survive, and that
/// the torn tail was reported as a warning (a normal crash, not damage). Returns how many keys
/// survived.
fn assert_a_prefix_survives(dir: &Path, keys: usize, damaged: &[u8]) -> usize {
    let expect = ringkv::persist::record::recover(damaged).unwrap();
    let server = Server::start(dir, &[]);
    let got = block_on(counts(&server.addr(), keys));
    let kept = got.iter().take_while(|&&v| v > 0).count();
    for (i, v) in got.iter().enumerate() {
        let want = if i < kept { i as i64 + 1 } else { 0 };
        assert_eq!(*v, want, "k{i} after the cut: {got:?}");
    }
    // The records before the cut: the first start's incarnation, then one per key.
    assert_eq!(kept, expect.records - 1);
    assert!(expect.damage.is_empty(), "{:?}", expect.damage);
    if let Some(torn) = expect.torn {
        let warning = format!(
            "node 1: dropped a torn tail of {} bytes at offset {}",
            torn.dropped, torn.offset
        );
        assert!(
            server.wait_for_stderr(&warning, Duration::from_secs(5)),
            "{}",
            server.stderr()
        );
        assert!(!server.stderr().contains("ERROR"), "{}", server.stderr());
    }
    kept
}

/// Flipped bytes are `tests/log_damage.rs`'s.
#[test]
fn a_torn_tail_is_dropped_with_a_warning_and_the_rest_kept() {
    let seed: u64 = rand::random();
    println!("seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let keys = 200;
    for _ in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let log = one_node_log(dir.path(), keys);
        let mut bytes = std::fs::read(&log).unwrap();
        let at = rng.gen_range(bytes.len() / 2..bytes.len() - 1);
        bytes.truncate(at);
        std::fs::write(&log, &bytes).unwrap();
        let kept = assert_a_prefix_survives(dir.path(), keys, &bytes);
        assert!(kept >= keys / 3 && kept < keys, "kept {kept} (seed {seed})");
    }
}

#[test]
fn a_second_process_on_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = Server::start(dir.path(), &["--nodes", "1"]);
    let (ok, _, err) = run(
        &["serve", "--nodes", "1", "--base-port", "0"],
        dir.path(),
        "",
    );
    assert!(!ok);
    let pid = first.child.id().to_string();
    assert!(
        err.contains("in use by another ringkv") && err.contains(&pid),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn a_bad_directory_or_another_node_count_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let (ok, _, err) = run(&["serve", "--nodes", "1", "--base-port", "0"], &file, "");
    assert!(!ok && err.contains("storage error"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!err.contains("panicked"), "{err}");

    Server::start(dir.path(), &["--nodes", "2"]).stop();
    let (ok, _, err) = run(
        &["serve", "--nodes", "3", "--base-port", "0"],
        dir.path(),
        "",
    );
    assert!(
        !ok && err.contains("holds a cluster of 2 nodes, not 3"),
        "{err}"
    );
}
