//! Tombstone collection across processes: three `ringkv serve` processes on 127.0.0.31–33 (two
//! nodes each, R = 3), a grace period of 2 s. Keys are deleted and one process is stopped at once
//! (SIGSTOP, well within the grace period): the deleted keys' tombstones stay on every replica
//! for as long as it is stopped (its nodes cannot confirm they hold them), and are dropped
//! everywhere once it is back; no deleted key reads again, before or after, and a key kept
//! throughout keeps its count. Held keys are read from each process's `/metrics`
//! (`ringkv_node_keys` counts tombstones; a node of another process counts 0 there).

use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::http::get_at;
use crate::support::procs::{client, Proc};

const DELETED: usize = 12;
const R: u64 = 3;

fn start(host: &str, port: u16, dir: &std::path::Path, join: Option<&str>) -> Proc {
    let extra: Vec<String> = [
        "--tombstone-grace",
        "2s",
        "--anti-entropy-interval",
        "200ms",
        "--http-port",
        "0",
    ]
    .map(String::from)
    .to_vec();
    Proc::try_start_with(host, port, dir, join, &extra).expect("the process serves")
}

/// Keys (tombstones included) held by the nodes of `procs`, each counted by its own process.
fn held(procs: &[&Proc]) -> u64 {
    let mut sum = 0;
    for p in procs {
        let (_, _, body) = get_at(&p.host, p.http.expect("an HTTP port"), "/metrics", "");
        sum += body
            .lines()
            .filter(|l| l.starts_with("ringkv_node_keys{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum::<u64>();
    }
    sum
}

/// Waits (at most `wait`) until `held` reads `want`; the last reading.
fn wait_held(procs: &[&Proc], want: u64, wait: Duration) -> u64 {
    let deadline = Instant::now() + wait;
    loop {
        let now = held(procs);
        if now == want || Instant::now() > deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `ringkv client --addr ADDR get KEY`: its standard output, or `None` if the read was refused
/// as unavailable (fewer than Q of the key's replicas answer while a process is stopped).
fn read(addr: &str, key: &str) -> Option<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_ringkv"))
        .args(["client", "--addr", addr, "get", key])
        .output()
        .expect("client runs");
    if out.status.success() {
        return Some(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unavailable"), "get {key}: {err}");
    None
}

/// Every deleted key reads 0 and `kept` reads 7 through `addr`; with `all_up` false a read may
/// be refused as unavailable, but none may answer anything else.
fn nothing_came_back(addr: &str, all_up: bool) {
    let keys = (0..DELETED).map(|i| (format!("gone{i}"), 0));
    for (key, want) in keys.chain([("kept".to_owned(), 7)]) {
        match read(addr, &key) {
            Some(answer) => assert_eq!(answer, format!("Count for {key}: {want}\n"), "via {addr}"),
            None => assert!(
                !all_up,
                "get {key} via {addr} refused with every process up"
            ),
        }
    }
}

#[test]
fn processes_collect_tombstones_only_while_every_replica_is_up() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let first = start("127.0.0.31", 0, dirs[0].path(), None);
    let port = first.ports[0];
    let contact = first.addrs()[0].clone();
    let second = start("127.0.0.32", port, dirs[1].path(), Some(&contact));
    let third = start("127.0.0.33", port, dirs[2].path(), Some(&contact));
    let all = [&first, &second, &third];
    let addr = first.addrs()[0].clone();

    client(&addr, &["update", "kept", "7"]);
    for i in 0..DELETED {
        client(&addr, &["update", &format!("gone{i}"), "5"]);
    }
    assert_eq!(
        wait_held(&all, (DELETED as u64 + 1) * R, Duration::from_secs(5)),
        (DELETED as u64 + 1) * R,
        "every key on its three replicas"
    );

    // Deleted, and the third process stops before any tombstone is 2 s old: nothing may be
    // collected while it is stopped, however long past the grace period.
    for i in 0..DELETED {
        client(&addr, &["delete", &format!("gone{i}")]);
    }
    let live = [&first, &second];
    let before = held(&live);
    third.signal("-STOP");
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        held(&live),
        before,
        "tombstones collected while a replica was stopped"
    );
    nothing_came_back(&addr, false);

    // Back: every tombstone goes, from every process; nothing comes back.
    third.signal("-CONT");
    let left = wait_held(&all, R, Duration::from_secs(30));
    assert_eq!(left, R, "only `kept` is held, on its three replicas");
    for p in all {
        nothing_came_back(&p.addrs()[1], true);
    }
}
