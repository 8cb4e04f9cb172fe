//! Departures across processes: a process whose nodes were all removed while it was down is told
//! so when it restarts on its data directory, and refuses to serve (one clear line, a non-zero
//! exit); a process whose nodes are all removed while it runs stops serving the same way; a
//! process restarted on its data directory catches up with the ring before it serves.
//!
//! Hosts 127.0.3.x (other multi-process tests use other addresses of 127.0.0.0/8).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::procs;

use procs::{block_on, converges, layout_at, update_all, Proc, KEYS};

const REMOVED: &str = "this process's nodes were removed from the cluster (ring epoch";

/// Three processes on `hosts` (the first started alone, the others joined through it).
fn three(hosts: [&str; 3], dirs: &[tempfile::TempDir]) -> Vec<Proc> {
    let first = Proc::start(hosts[0], 0, dirs[0].path(), None);
    let port = first.ports[0];
    let contact = first.addrs()[0].clone();
    let mut procs = vec![first];
    for (host, dir) in hosts[1..].iter().zip(&dirs[1..]) {
        procs.push(Proc::start(host, port, dir.path(), Some(&contact)));
    }
    procs
}

/// `ringkv client --addr ADDR ARGS...`: whether it succeeded, and what it printed.
fn client(addr: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ringkv"))
        .args(["client", "--addr", addr])
        .args(args)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// Polls `status` through `p` until `count` nodes show `(down)` (bounded).
fn wait_down(p: &Proc, count: usize, wait: Duration) -> String {
    let deadline = Instant::now() + wait;
    loop {
        let status = p.status();
        if status.matches("(down)").count() == count || Instant::now() > deadline {
            return status;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Runs `ringkv serve` on `dir` (no `--join`) until it exits, bounded by `wait` (then killed):
/// its exit status (`None`: it did not exit in time), its stdout and its stderr.
fn serve_until_exit(
    host: &str,
    port: u16,
    dir: &Path,
    wait: Duration,
) -> (Option<std::process::ExitStatus>, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringkv"))
        .args(["serve", "--nodes", "2", "--bind", host])
        .args(["--base-port", &port.to_string(), "--data-dir"])
        .arg(dir)
        .args(["--request-timeout", "500ms"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + wait;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().unwrap();
    (
        status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_process_removed_while_down_refuses_to_serve_when_it_returns() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut procs = three(["127.0.3.1", "127.0.3.2", "127.0.3.3"], &dirs);
    let addrs: Vec<String> = procs.iter().flat_map(Proc::addrs).collect();
    assert_eq!(block_on(update_all(&addrs[0])), (KEYS as u64, 0));
    let port = procs[1].ports.iter().copied().min().unwrap();
    let gone = procs[1].addrs();

    // Kill the second process (once failure detection took it in, about a second after it
    // serves); once the first sees it down, remove both its nodes from there.
    std::thread::sleep(Duration::from_millis(1500));
    procs[1].sigkill();
    let down = wait_down(&procs[0], 2, Duration::from_secs(8));
    assert_eq!(down.matches("(down)").count(), 2, "{down}");
    for node in &gone {
        let (ok, text) = client(&addrs[0], &["remove-node", node, "--force"]);
        assert!(ok && text.contains("removed"), "{text}");
    }
    let layout = block_on(layout_at(&addrs[0])).unwrap();
    assert_eq!(layout.members.len(), 4);

    // Restarted on its data directory, it learns that and refuses: one line, a non-zero exit.
    let (status, out, err) =
        serve_until_exit("127.0.3.2", port, dirs[1].path(), Duration::from_secs(20));
    let status = status.expect("the removed process exits by itself");
    assert!(!status.success(), "{status:?}");
    assert!(!out.contains("Serving"), "{out}");
    let line = format!("{REMOVED} {})", layout.epoch);
    assert!(err.contains(&line), "{err}");
    assert!(
        err.contains("start it with a fresh --data-dir to join again"),
        "{err}"
    );

    // The others never heard it back as a member: the layout is unchanged, and they serve.
    let alive: Vec<String> = [&procs[0], &procs[2]]
        .iter()
        .flat_map(|p| p.addrs())
        .collect();
    for addr in &alive {
        assert_eq!(block_on(layout_at(addr)).unwrap(), layout);
    }
    assert_eq!(block_on(update_all(&alive[1])), (KEYS as u64, 0));
    assert!(converges(&alive, &[2; KEYS], Duration::from_secs(5)));
}

#[test]
fn a_process_whose_nodes_are_removed_while_it_runs_stops_serving() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut procs = three(["127.0.3.4", "127.0.3.5", "127.0.3.6"], &dirs);
    let addrs: Vec<String> = procs.iter().flat_map(Proc::addrs).collect();
    assert_eq!(block_on(update_all(&addrs[0])), (KEYS as u64, 0));
    for node in procs[2].addrs() {
        let (ok, text) = client(&addrs[0], &["remove-node", &node]);
        assert!(ok && text.contains("removed"), "{text}");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = procs[2].exited() {
            break Some(status);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let status = status.expect("the removed process stops by itself");
    assert!(!status.success());
    std::thread::sleep(Duration::from_millis(200));
    let err = procs[2].stderr.lock().unwrap().clone();
    assert!(err.contains(REMOVED), "{err}");
    let rest: Vec<String> = procs[..2].iter().flat_map(Proc::addrs).collect();
    assert!(converges(&rest, &[1; KEYS], Duration::from_secs(5)));
}

#[test]
fn a_restarted_process_catches_up_before_it_serves() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut procs = three(["127.0.3.7", "127.0.3.8", "127.0.3.9"], &dirs);
    let port = procs[1].ports.iter().copied().min().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    procs[1].sigkill();
    let down = wait_down(&procs[0], 2, Duration::from_secs(8));
    assert_eq!(down.matches("(down)").count(), 2, "{down}");
    // While it is down the ring changes: a node is added through the first process.
    let (ok, text) = client(&procs[0].addrs()[0], &["add-node"]);
    assert!(ok && text.contains("added"), "{text}");
    let newest = block_on(layout_at(&procs[0].addrs()[0])).unwrap();
    // Back on its data directory: by the time it says it serves, it holds the newest layout.
    let back = Proc::start("127.0.3.8", port, dirs[1].path(), None);
    assert_eq!(block_on(layout_at(&back.addrs()[0])).unwrap(), newest);
    procs[1] = back;
    let addrs: Vec<String> = procs.iter().flat_map(Proc::addrs).collect();
    for addr in &addrs {
        assert_eq!(
            block_on(update_all(addr)),
            (KEYS as u64, 0),
            "through {addr}"
        );
    }
}

/// Pauses every node of `p` for `secs` seconds (through its own process).
fn pause_all(p: &Proc, secs: &str) {
    for port in &p.ports {
        let (ok, text) = client(&p.addrs()[0], &["pause-node", &port.to_string(), secs]);
        assert!(ok, "{text}");
    }
}

/// Polls `ask` through `p` until its output contains `want` (bounded by `wait`).
fn seen(p: &Proc, ask: &[&str], want: &str, wait: Duration) -> Option<String> {
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        let (ok, text) = client(&p.addrs()[0], ask);
        if ok && text.contains(want) {
            return Some(text);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

#[test]
fn status_and_ring_show_joining_and_leaving_nodes_while_keys_move() {
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let first = Proc::start("127.0.3.10", 0, dirs[0].path(), None);
    let port = first.ports[0];
    let second = Proc::start("127.0.3.11", port, dirs[1].path(), Some(&first.addrs()[0]));
    assert_eq!(block_on(update_all(&first.addrs()[0])), (KEYS as u64, 0));
    let before = block_on(layout_at(&first.addrs()[0])).unwrap();

    // Paused nodes answer late: the copy of an add-node run by the first process takes seconds,
    // while the second process, told of the change, reports the new node as joining.
    pause_all(&first, "2.5");
    pause_all(&second, "2.5");
    let at = first.addrs()[0].clone();
    let adding = std::thread::spawn(move || client(&at, &["add-node"]));
    let status = seen(&second, &["status"], "(joining)", Duration::from_secs(5));
    let json = seen(
        &second,
        &["--json", "status"],
        "\"joining\"",
        Duration::from_secs(2),
    );
    let ring = seen(&second, &["ring"], "(joining)", Duration::from_secs(2));
    let (ok, text) = adding.join().unwrap();
    assert!(ok && text.contains("added"), "{text}");
    let status = status.expect("status showed no joining node");
    assert_eq!(status.matches("(joining)").count(), 1, "{status}");
    assert!(json.is_some(), "the JSON status showed no joining node");
    assert!(ring.is_some(), "ring showed no joining node");
    let after = block_on(layout_at(&first.addrs()[0])).unwrap();
    let added = after
        .members
        .iter()
        .find(|(id, _)| !before.members.contains_key(id))
        .map(|(_, m)| m.addr.to_string())
        .unwrap();
    assert!(
        status
            .lines()
            .any(|l| l.contains(&added) && l.contains("(joining)")),
        "{added} in {status}"
    );
    let (_, now) = client(&second.addrs()[0], &["status"]);
    assert!(!now.contains("(joining)"), "{now}");

    // The same node removed again, through the first process: it is leaving meanwhile.
    std::thread::sleep(Duration::from_millis(3000));
    pause_all(&first, "2.5");
    pause_all(&second, "2.5");
    let (at, node) = (first.addrs()[0].clone(), added.clone());
    let removing = std::thread::spawn(move || client(&at, &["remove-node", &node]));
    let status = seen(&second, &["status"], "(leaving)", Duration::from_secs(5));
    let (ok, text) = removing.join().unwrap();
    assert!(ok && text.contains("removed"), "{text}");
    let status = status.expect("status showed no leaving node");
    assert!(
        status
            .lines()
            .any(|l| l.contains(&added) && l.contains("(leaving)")),
        "{added} in {status}"
    );
    let (_, now) = client(&second.addrs()[0], &["status"]);
    assert!(!now.contains("(leaving)") && !now.contains(&added), "{now}");
}

#[test]
fn two_add_nodes_at_once_through_two_processes_leave_one_ring() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let procs = three(["127.0.3.12", "127.0.3.13", "127.0.3.14"], &dirs);
    let before = block_on(layout_at(&procs[0].addrs()[0])).unwrap();
    let adds: Vec<_> = [&procs[0], &procs[1]]
        .iter()
        .map(|p| {
            let at = p.addrs()[0].clone();
            std::thread::spawn(move || client(&at, &["--timeout", "60", "add-node"]))
        })
        .collect();
    let answers: Vec<(bool, String)> = adds.into_iter().map(|h| h.join().unwrap()).collect();
    let added = answers.iter().filter(|(ok, _)| *ok).count();
    for (ok, text) in &answers {
        // Either added, or refused in one clear line: never a half-applied change. A majority
        // agrees on the order, so they are not both refused.
        let refused = text.contains("under way") || text.contains("did not take the change");
        assert!(
            (*ok && text.contains("added")) || (!ok && refused),
            "{text}"
        );
    }
    assert!(added >= 1, "both refused: {answers:?}");
    // Every process holds the same layout, with every added node and one epoch per change.
    let deadline = Instant::now() + Duration::from_secs(10);
    let layouts = loop {
        let layouts: Vec<_> = procs
            .iter()
            .map(|p| block_on(layout_at(&p.addrs()[0])))
            .collect();
        if layouts.iter().all(|l| l == &layouts[0]) || Instant::now() > deadline {
            break layouts;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(layouts.iter().all(|l| l == &layouts[0]), "{layouts:?}");
    let layout = layouts[0].clone().unwrap();
    assert_eq!(layout.members.len(), before.members.len() + added);
    assert_eq!(layout.epoch, before.epoch + added as u64);
    let addrs: Vec<String> = layout
        .members
        .values()
        .map(|m| m.addr.to_string())
        .collect();
    for addr in &addrs {
        assert_eq!(
            block_on(update_all(addr)),
            (KEYS as u64, 0),
            "through {addr}"
        );
    }
    assert!(converges(
        &addrs,
        &[addrs.len() as u64; KEYS],
        Duration::from_secs(5)
    ));
}
