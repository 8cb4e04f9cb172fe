//! The Jepsen-style counter checker over `ringkv serve` processes (issue 12): three processes
//! joined with `--join` (two nodes each, R=3, W=2), workers that increment and decrement random
//! keys through random nodes and record each update as acknowledged, failed or unknown, and a
//! seeded nemesis that, one fault at a time, SIGKILLs a process and restarts it on its data
//! directory, SIGSTOPs one past failure detection and SIGCONTs it, joins a fourth process and
//! removes its nodes with `remove-node HOST:PORT`, and cuts one process off from the others.
//! After the run every node must read the same value of each key, and that value must be its
//! acknowledged total plus some subset of its unknown updates (`support/checker.rs`).
//!
//! As root with `ip netns`, the processes run in network namespaces (`support/netns.rs`) and the
//! workers in the hub namespace, so partitions are real; elsewhere they run on 127.0.1.1/2/3/4 and
//! the partition nemesis is skipped with one line. Reads are not bounded here: under a partition
//! a read on one side cannot see what the other side acknowledged (the cluster stays available).
//!
//! CI runs 45 s of it. `RINGKV_JEPSEN_SECS=300` runs longer, `RINGKV_JEPSEN_SEED=<seed>` replays,
//! `RINGKV_JEPSEN_FAULTS=kill,stop,join,cut` picks the faults (default: all four). The servers run
//! with `--dedup-window 12s` (`RINGKV_JEPSEN_DEDUP_WINDOW` changes it), so the clients' token
//! entries fold from 24 s on, under the faults, within CI's run too.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use ringkv::Client;

use crate::support::checker;
use crate::support::netns;
use crate::support::procs;

use checker::{check_history, classify, History, Op};
use netns::Net;
use procs::{block_on, wrapped, Proc};

const KEYS: usize = 6;
const WORKERS: u64 = 4;
const FOURTH: usize = 3;

/// Where the processes run: in namespaces (with partitions) or on loopback hosts.
struct Env {
    net: Option<Net>,
    dirs: Vec<tempfile::TempDir>,
    port: u16,
}

impl Env {
    fn host(&self, i: usize) -> String {
        match &self.net {
            Some(net) => net.host(i),
            None => format!("127.0.1.{}", i + 1),
        }
    }

    fn wrap(&self, i: usize) -> Vec<String> {
        self.net.as_ref().map_or_else(Vec::new, |n| n.wrap(i))
    }

    /// Starts process `i` on its data directory, joining through `join` if given.
    fn start(&mut self, i: usize, join: Option<&str>) -> Option<Proc> {
        let mut extra: Vec<String> = match &self.net {
            Some(_) => ["--protected-mode", "no"].map(String::from).to_vec(),
            None => Vec::new(),
        };
        // A short dedup window, so that token entries fold (past twice the window) within even
        // CI's short run, under the faults: a fold on a read that missed an acknowledged entry
        // loses it, as one on the small side of a partition used to. Entries are kept twice the
        // window, longer than the Rust client retries an update whose outcome is unknown (20 s).
        extra.extend(["--dedup-window".to_owned(), dedup_window()]);
        let (wrap, host) = (self.wrap(i), self.host(i));
        let proc = Proc::try_start_in(&wrap, &host, self.port, self.dirs[i].path(), join, &extra)?;
        self.port = proc.ports.iter().copied().min().unwrap();
        Some(proc)
    }

    /// Runs `f` where the clients run (the hub namespace, or here).
    fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        match &self.net {
            Some(net) => net.spawn_in_hub(f),
            None => std::thread::spawn(f),
        }
    }
}

/// The servers' `--dedup-window`: `RINGKV_JEPSEN_DEDUP_WINDOW`, else 12 s (entries kept 24 s,
/// past the Rust client's 20 s of retries).
fn dedup_window() -> String {
    std::env::var("RINGKV_JEPSEN_DEDUP_WINDOW").unwrap_or_else(|_| "12s".to_owned())
}

/// `ringkv client --addr ADDR ARGS...` inside process `p`'s namespace: its output, or why not.
fn admin(p: &Proc, args: &[&str]) -> Result<String, String> {
    let out = wrapped(&p.wrapper)
        .args(["client", "--addr", &p.addrs()[0]])
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!("{text}{}", String::from_utf8_lossy(&out.stderr)))
    }
}

/// Whether `p` sees every node up, within `wait`.
fn healthy(p: &Proc, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    loop {
        if let Ok(s) = admin(p, &["status"]) {
            if !s.contains("(down)") && !s.contains("(recovering)") {
                return true;
            }
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A side of a cut ("no cut", "cut off", "majority") and the nemesis step of the cut.
type Side = (&'static str, usize);

/// Acknowledged amounts per key and side of the cut they went through (to tell where a
/// problem was), and the host cut off now.
static ACKED_BY: Mutex<BTreeMap<(usize, Side), i64>> = Mutex::new(BTreeMap::new());
static CUT: Mutex<Option<(String, usize)>> = Mutex::new(None);

/// One worker: updates of random keys through random live nodes until `deadline`.
async fn worker(seed: u64, addrs: Arc<Mutex<Vec<String>>>, history: History, deadline: Instant) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut conn: Option<(String, Client)> = None;
    while Instant::now() < deadline {
        if conn.is_none() || rng.gen_bool(0.05) {
            let addr = {
                let addrs = addrs.lock().unwrap();
                addrs[rng.gen_range(0..addrs.len())].clone()
            };
            conn = match Client::connect_timeout(&addr, Duration::from_secs(1)).await {
                Ok(c) => Some((addr, c)),
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
        }
        let Some((addr, client)) = conn.as_mut() else {
            continue;
        };
        let key = rng.gen_range(0..KEYS);
        let amount = match rng.gen_range(1..=5) {
            n if rng.gen_bool(0.4) => -n,
            n => n,
        };
        let invoke = Instant::now();
        let result = client.update(&format!("jm-{key}"), amount).await;
        let outcome = classify(&result);
        if result.is_ok() {
            let host = addr.rsplit_once(':').map_or(addr.as_str(), |(h, _)| h);
            let side = match &*CUT.lock().unwrap() {
                None => ("no cut", 0),
                Some((cut, n)) if cut == host => ("cut off", *n),
                Some((_, n)) => ("majority", *n),
            };
            *ACKED_BY.lock().unwrap().entry((key, side)).or_default() += amount;
        }
        if result.is_err() {
            conn = None;
        }
        let op = Op::Update {
            amount,
            invoke,
            done: Instant::now(),
            outcome,
        };
        history.lock().unwrap().entry(key).or_default().push(op);
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    Kill,
    Stop,
    JoinRemove,
    Partition,
}

/// The faults to draw from: `default`, or those `RINGKV_JEPSEN_FAULTS` names
/// (`kill,stop,join,cut`).
fn faults(default: &[Fault]) -> Vec<Fault> {
    let all = [
        ("kill", Fault::Kill),
        ("stop", Fault::Stop),
        ("join", Fault::JoinRemove),
        ("cut", Fault::Partition),
    ];
    let wanted = std::env::var("RINGKV_JEPSEN_FAULTS").unwrap_or_default();
    let chosen: Vec<Fault> = all
        .iter()
        .filter(|(name, _)| wanted.split(',').any(|w| w.trim() == *name))
        .map(|&(_, f)| f)
        .collect();
    if chosen.is_empty() {
        default.to_vec()
    } else {
        chosen
    }
}

/// The nemesis: faults one at a time, each followed by a wait until every node is up again.
fn nemesis(
    env: &mut Env,
    procs: &mut [Option<Proc>],
    addrs: &Arc<Mutex<Vec<String>>>,
    (seed, mut kinds): (u64, Vec<Fault>),
    deadline: Instant,
) -> Vec<String> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    kinds.shuffle(&mut rng);
    let mut log = Vec::new();
    let mut step = 0;
    let started = Instant::now();
    while Instant::now() + Duration::from_secs(6) < deadline {
        std::thread::sleep(Duration::from_millis(rng.gen_range(300..1000)));
        let fault = kinds
            .get(step)
            .copied()
            .unwrap_or_else(|| *kinds.choose(&mut rng).unwrap());
        step += 1;
        let v = rng.gen_range(0..3);
        let entry = match fault {
            Fault::Kill => {
                procs[v].as_mut().unwrap().sigkill();
                let down = rng.gen_range(500..2500);
                std::thread::sleep(Duration::from_millis(down));
                procs[v] = env.start(v, None);
                match procs[v] {
                    Some(_) => format!("kill {} for {down} ms, restarted", env.host(v)),
                    None => format!("kill {}: the restart did not serve", env.host(v)),
                }
            }
            Fault::Stop => {
                let p = procs[v].as_ref().unwrap();
                let millis = rng.gen_range(2800..4000);
                p.signal("-STOP");
                std::thread::sleep(Duration::from_millis(millis));
                p.signal("-CONT");
                format!("stop {} for {millis} ms", env.host(v))
            }
            Fault::JoinRemove => join_and_remove(env, procs, addrs, v, &mut rng),
            Fault::Partition => match &env.net {
                Some(net) => {
                    let millis = rng.gen_range(3000..5000);
                    net.cut(v);
                    *CUT.lock().unwrap() = Some((env.host(v), step));
                    std::thread::sleep(Duration::from_millis(millis));
                    *CUT.lock().unwrap() = None;
                    net.heal(v);
                    format!("cut {} off for {millis} ms", env.host(v))
                }
                None => "partition skipped: no network namespaces here".to_owned(),
            },
        };
        let judge = procs[(v + 1) % 3].as_ref().unwrap();
        let up = healthy(judge, Duration::from_secs(20));
        let at = started.elapsed().as_secs_f32();
        log.push(format!(
            "[{at:.1}s] {entry}{}",
            if up { "" } else { "; NOT healed in 20 s" }
        ));
        if procs.iter().take(3).any(Option::is_none) {
            break;
        }
    }
    log
}

/// Joins a fourth process through process `via`, lets it serve a moment, then removes its nodes
/// from another process and stops it; answers what happened.
fn join_and_remove(
    env: &mut Env,
    procs: &mut [Option<Proc>],
    addrs: &Arc<Mutex<Vec<String>>>,
    via: usize,
    rng: &mut StdRng,
) -> String {
    env.dirs[FOURTH] = tempfile::tempdir().unwrap();
    let contact = procs[via].as_ref().unwrap().addrs()[0].clone();
    let Some(fourth) = env.start(FOURTH, Some(&contact)) else {
        return format!("join through {contact}: refused");
    };
    let nodes = fourth.addrs();
    addrs.lock().unwrap().extend(nodes.iter().cloned());
    std::thread::sleep(Duration::from_millis(rng.gen_range(500..1500)));
    addrs.lock().unwrap().retain(|a| !nodes.contains(a));
    let remover = procs[(via + 1) % 3].as_ref().unwrap();
    let mut out = format!("join {} through {contact}", env.host(FOURTH));
    for node in &nodes {
        // A change may be refused while another is under way: try again, a few times.
        let mut answer = String::new();
        for _ in 0..5 {
            match admin(remover, &["remove-node", node]) {
                Ok(text) if text.contains("removed") => {
                    answer = format!(", removed {node}");
                    break;
                }
                Ok(text) | Err(text) => answer = format!(", remove {node}: {}", text.trim()),
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        out += &answer;
    }
    procs[FOURTH] = None;
    drop(fourth);
    out
}

/// Reads every key through every address until all agree (bounded by `wait`).
fn final_values(env: &Env, addrs: Vec<String>, wait: Duration) -> Result<Vec<i64>, String> {
    env.spawn(move || {
        let deadline = Instant::now() + wait;
        loop {
            let reads: Vec<Option<Vec<i64>>> = addrs.iter().map(|a| block_on(read(a))).collect();
            if reads.iter().all(|r| r.is_some() && r == &reads[0]) {
                return Ok(reads[0].clone().unwrap());
            }
            if Instant::now() > deadline {
                return Err(format!("the nodes do not agree: {addrs:?} read {reads:?}"));
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    })
    .join()
    .unwrap()
}

async fn read(addr: &str) -> Option<Vec<i64>> {
    let mut client = Client::connect_timeout(addr, Duration::from_secs(2))
        .await
        .ok()?;
    let mut out = Vec::new();
    for key in 0..KEYS {
        out.push(client.get(&format!("jm-{key}")).await.ok()?);
    }
    Some(out)
}

#[test]
fn counters_stay_valid_over_processes_under_kills_stops_joins_and_partitions() {
    run(&[
        Fault::Kill,
        Fault::Stop,
        Fault::JoinRemove,
        Fault::Partition,
    ]);
}

/// One run: RINGKV_JEPSEN_SECS long (45 s), drawing faults from `default` or RINGKV_JEPSEN_FAULTS.
fn run(default: &[Fault]) {
    let seconds: u64 = std::env::var("RINGKV_JEPSEN_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(45);
    let seed: u64 = std::env::var("RINGKV_JEPSEN_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::random::<u32>() as u64);
    println!("jepsen-multi seed {seed} (replay with RINGKV_JEPSEN_SEED={seed}), {seconds} s");
    let net = Net::create("j", 4)
        .map_err(|why| println!("partitions skipped: no network namespaces here ({why})"))
        .ok();
    let mut env = Env {
        port: if net.is_some() { 5001 } else { 0 },
        net,
        dirs: (0..4).map(|_| tempfile::tempdir().unwrap()).collect(),
    };
    let mut procs: Vec<Option<Proc>> = vec![env.start(0, None)];
    let contact = procs[0].as_ref().unwrap().addrs()[0].clone();
    for i in 1..3 {
        procs.push(env.start(i, Some(&contact)));
    }
    procs.push(None);
    assert!(
        procs.iter().take(3).all(Option::is_some),
        "three processes serve"
    );
    let all: Vec<String> = procs.iter().flatten().flat_map(Proc::addrs).collect();
    let addrs = Arc::new(Mutex::new(all.clone()));
    let history: History = Arc::default();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            let (addrs, history) = (addrs.clone(), history.clone());
            env.spawn(move || block_on(worker(seed + w, addrs, history, deadline)))
        })
        .collect();
    let kinds = faults(default);
    println!("faults: {kinds:?}");
    let log = nemesis(&mut env, &mut procs, &addrs, (seed, kinds), deadline);
    for w in workers {
        w.join().unwrap();
    }
    println!("nemesis: {log:#?}");

    assert!(
        procs.iter().take(3).all(Option::is_some),
        "a process did not come back"
    );
    let judge = procs[0].as_ref().unwrap();
    assert!(
        healthy(judge, Duration::from_secs(20)),
        "the cluster never healed"
    );
    let finals = final_values(&env, all, Duration::from_secs(20)).unwrap();
    let verdict = check_history(&history.lock().unwrap(), &finals);
    let failed = history
        .lock()
        .unwrap()
        .values()
        .flatten()
        .filter(|o| {
            matches!(
                o,
                Op::Update {
                    outcome: checker::Outcome::Fail,
                    ..
                }
            )
        })
        .count();
    println!(
        "{} acknowledged updates, {} unknown, {failed} failed; final values {finals:?}",
        verdict.oks, verdict.unknowns
    );
    assert!(
        verdict.oks > 200,
        "too few updates acknowledged to judge: {}",
        verdict.oks
    );
    if !verdict.problems.is_empty() {
        println!(
            "acknowledged per key and side: {:?}",
            ACKED_BY.lock().unwrap()
        );
        for (i, p) in procs.iter().enumerate() {
            if let Some(p) = p {
                let path = std::env::temp_dir().join(format!("ringkv-jepsen-multi-{i}.log"));
                let _ = std::fs::write(&path, p.stderr.lock().unwrap().as_bytes());
                println!("process {i}'s log: {}", path.display());
            }
        }
    }
    assert!(
        verdict.problems.is_empty(),
        "seed {seed}: {:#?}",
        verdict.problems
    );
    for p in procs.iter_mut().flatten() {
        assert!(
            p.exited().is_none(),
            "a process died:\n{}",
            p.stderr.lock().unwrap()
        );
    }
}
