//! The majority agreement on the ring, wired into `ringkv serve` processes (issue 12): changes
//! started at once through two processes end in one agreed order, or one of them is refused with
//! one clear line, and every process ends with the same layout at the same epoch; a change asked
//! of the small side of a partition is refused, while the large side still makes one, and once
//! healed the cut-off process holds the large side's layout.
//!
//! Hosts 127.0.5.x (other multi-process tests use other addresses of 127.0.0.0/8); the partition
//! needs root and `ip netns` (elsewhere it prints one skip line and passes).

use std::time::{Duration, Instant};

use crate::support::netns;
use crate::support::procs;

use netns::Net;
use procs::{
    block_on, converges, layout_at, start_later, update_all, wait_all_up, wrapped, Proc, KEYS,
};
use ringkv::layout::Layout;

const UNDER_WAY: &str = "another membership change (to ring epoch";
const NO_MAJORITY: &str = "a membership change needs a majority of the cluster's 3 processes";

/// `ringkv client --addr ADDR ARGS...` under `wrapper`: whether it succeeded, and what it said.
fn client_in(wrapper: &[String], addr: &str, args: &[&str]) -> (bool, String) {
    let out = wrapped(wrapper)
        .args(["client", "--addr", addr])
        .args(args)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

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

/// Polls every address in `at` until they all answer the same layout (bounded by `wait`).
fn one_layout(at: &[String], wait: Duration, ask: impl Fn(&str) -> Option<Layout>) -> Layout {
    let deadline = Instant::now() + wait;
    loop {
        let layouts: Vec<Option<Layout>> = at.iter().map(|a| ask(a)).collect();
        let same = layouts[0].is_some() && layouts.iter().all(|l| l == &layouts[0]);
        if same {
            return layouts[0].clone().unwrap();
        }
        assert!(Instant::now() < deadline, "no single layout: {layouts:#?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_join_and_an_add_node_at_once_end_in_one_agreed_order() {
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let procs = three(["127.0.5.1", "127.0.5.2", "127.0.5.3"], &dirs);
    let port = procs[0].ports[0];
    let before = block_on(layout_at(&procs[0].addrs()[0])).unwrap();
    // A fourth process joins through the first while the second adds a node.
    let joining = start_later(
        "127.0.5.4",
        port,
        dirs[3].path().to_path_buf(),
        procs[0].addrs()[0].clone(),
    );
    let at = procs[1].addrs()[0].clone();
    let (added, said) = client_in(&[], &at, &["--timeout", "60", "add-node"]);
    let fourth = joining.join().unwrap();
    assert!(
        (added && said.contains("added")) || (!added && said.contains(UNDER_WAY)),
        "{said}"
    );
    let mut live: Vec<String> = procs.iter().map(|p| p.addrs()[0].clone()).collect();
    if let Some(p) = &fourth {
        live.push(p.addrs()[0].clone());
    }
    let changes = usize::from(added) + usize::from(fourth.is_some());
    assert!(changes >= 1, "both refused: {said}");
    let layout = one_layout(&live, Duration::from_secs(15), |a| block_on(layout_at(a)));
    assert_eq!(layout.epoch, before.epoch + changes as u64, "{layout:?}");
    let new_nodes = usize::from(added) + 2 * usize::from(fourth.is_some());
    assert_eq!(layout.members.len(), before.members.len() + new_nodes);
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
        Duration::from_secs(10)
    ));
}

#[test]
fn three_add_nodes_at_once_through_three_processes_are_agreed_in_one_order() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let procs = three(["127.0.5.11", "127.0.5.12", "127.0.5.13"], &dirs);
    let before = block_on(layout_at(&procs[0].addrs()[0])).unwrap();
    let adds: Vec<_> = procs
        .iter()
        .map(|p| {
            let at = p.addrs()[0].clone();
            std::thread::spawn(move || client_in(&[], &at, &["--timeout", "60", "add-node"]))
        })
        .collect();
    let answers: Vec<(bool, String)> = adds.into_iter().map(|h| h.join().unwrap()).collect();
    for (ok, text) in &answers {
        assert!(
            (*ok && text.contains("added")) || (!ok && text.contains(UNDER_WAY)),
            "{text}"
        );
    }
    let added = answers.iter().filter(|(ok, _)| *ok).count();
    println!("answers: {answers:?}");
    assert!(added >= 1, "every change refused: {answers:?}");
    let at: Vec<String> = procs.iter().map(|p| p.addrs()[0].clone()).collect();
    let layout = one_layout(&at, Duration::from_secs(15), |a| block_on(layout_at(a)));
    assert_eq!(layout.epoch, before.epoch + added as u64);
    assert_eq!(layout.members.len(), before.members.len() + added);
    println!("{added} of 3 add-nodes started at once applied, the others refused");
}

#[test]
fn a_change_on_the_small_side_of_a_partition_is_refused() {
    let net = match Net::create("a", 3) {
        Ok(net) => net,
        Err(why) => {
            println!("skipped: network namespaces are not available here ({why})");
            return;
        }
    };
    const PORT: u16 = 5001;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let extra = ["--protected-mode", "no"].map(String::from);
    let mut procs: Vec<Proc> = Vec::new();
    for (i, dir) in dirs.iter().enumerate() {
        let join = (i > 0).then(|| format!("{}:{PORT}", net.host(0)));
        let proc = Proc::try_start_in(
            &net.wrap(i),
            &net.host(i),
            PORT,
            dir.path(),
            join.as_deref(),
            &extra,
        );
        procs.push(proc.unwrap_or_else(|| panic!("process {i} does not serve")));
    }
    let first: Vec<String> = procs.iter().map(|p| p.addrs()[0].clone()).collect();
    let ask = |a: &str| {
        let a = a.to_owned();
        net.in_hub(move || block_on(layout_at(&a)))
    };
    let before = one_layout(&first, Duration::from_secs(10), ask);
    wait_all_up(&procs, Duration::from_secs(20));

    // Cut the third process off, and wait until the large side sees it down (the small side
    // sees the others down as soon: the old rule, every live process promises, would then have
    // let it change the ring alone).
    net.cut(2);
    let deadline = Instant::now() + Duration::from_secs(20);
    while procs[0].status().matches("(down)").count() < 2 {
        assert!(
            Instant::now() < deadline,
            "the cut-off process is never down: {}\nfirst process said:\n{}",
            procs[0].status(),
            procs[0].stderr.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2));
    let (ok, said) = client_in(&net.wrap(2), &first[2], &["--timeout", "30", "add-node"]);
    assert!(!ok && said.contains(NO_MAJORITY), "{said}");
    assert_eq!(ask(&first[2]).unwrap(), before, "the small side changed");

    // The large side still makes a change (the cut-off process is down there).
    let (ok, said) = client_in(&net.wrap(0), &first[0], &["--timeout", "30", "add-node"]);
    assert!(ok && said.contains("added"), "{said}");

    // Healed: the cut-off process catches up; one layout at one epoch everywhere.
    net.heal(2);
    let layout = one_layout(&first, Duration::from_secs(20), ask);
    assert_eq!(layout.epoch, before.epoch + 1);
    assert_eq!(layout.members.len(), before.members.len() + 1);
    for mut proc in procs {
        assert!(proc.exited().is_none(), "{}", proc.stderr.lock().unwrap());
    }
}
