//! A partition between `ringkv serve` processes in network namespaces (issue 12): three processes
//! on 10.77.0.1, .2 and .3 (each in a namespace the test makes, joined by a bridge), joined with
//! `--join`; the third is cut off from the other two for 10 s while clients in the hub namespace
//! load both sides (R=3, W=2). Both sides keep acknowledging: the minority's two nodes meet W
//! with hints for the replicas it cannot reach (sloppy quorum), the majority's four likewise.
//! After healing, every node reads the same value of every key, and each key's value lies within
//! its acknowledged updates and its acknowledged plus unknown ones (exact when none is unknown).
//!
//! Needs root and `ip netns`; elsewhere it prints one skip line and passes.

use std::time::{Duration, Instant};

use crate::support::netns;
use crate::support::procs;

use netns::Net;
use procs::{block_on, read_all, Proc, KEYS};
use ringkv::{Client, Error};

const PORT: u16 = 5001;
const CUT: Duration = Duration::from_secs(10);

/// Per key: updates acknowledged, and updates whose fate is unknown.
#[derive(Debug, Clone, Default)]
struct Tally {
    acked: Vec<u64>,
    unknown: Vec<u64>,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            acked: vec![0; KEYS],
            unknown: vec![0; KEYS],
        }
    }

    fn add(&mut self, other: &Tally) {
        for k in 0..KEYS {
            self.acked[k] += other.acked[k];
            self.unknown[k] += other.unknown[k];
        }
    }

    fn acked(&self) -> u64 {
        self.acked.iter().sum()
    }
}

/// Adds 1 to every key through `addrs` in turn until `until` (at most 2,000 rounds).
async fn load(addrs: Vec<String>, until: Instant) -> Tally {
    let mut tally = Tally::new();
    let mut round = 0;
    while Instant::now() < until && round < 2000 {
        let addr = &addrs[round % addrs.len()];
        round += 1;
        let Ok(mut client) = Client::connect_timeout(addr, Duration::from_secs(1)).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        for k in 0..KEYS {
            match client.update(&format!("k{k}"), 1).await {
                Ok(_) => tally.acked[k] += 1,
                // Refused before any replica took it.
                Err(Error::Unavailable(_)) => {}
                Err(_) => {
                    tally.unknown[k] += 1;
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tally
}

#[test]
fn a_process_cut_off_for_ten_seconds_keeps_serving_and_every_update_counts_once() {
    let net = match Net::create("p", 3) {
        Ok(net) => net,
        Err(why) => {
            println!("skipped: network namespaces are not available here ({why})");
            return;
        }
    };
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
    let addrs: Vec<String> = procs.iter().flat_map(Proc::addrs).collect();
    let majority: Vec<String> = procs[..2].iter().flat_map(Proc::addrs).collect();
    let minority = procs[2].addrs();

    // Every node takes updates before the cut.
    let mut total = {
        let addrs = addrs.clone();
        net.in_hub(move || block_on(load(addrs, Instant::now() + Duration::from_secs(5))))
    };
    assert!(total.acked() >= (KEYS * 6) as u64, "{total:?}");

    // Cut the third process off; load both sides for the whole cut.
    let cut_at = Instant::now();
    net.cut(2);
    let until = cut_at + CUT;
    let sides =
        [majority, minority].map(|side| net.spawn_in_hub(move || block_on(load(side, until))));
    let [big, small] = sides.map(|h| h.join().unwrap());
    let seen_down = procs[0].status();
    net.heal(2);
    println!(
        "during the cut: majority {} acknowledged, {} unknown; minority {} acknowledged, {} unknown",
        big.acked(),
        big.unknown.iter().sum::<u64>(),
        small.acked(),
        small.unknown.iter().sum::<u64>()
    );
    assert!(seen_down.contains("(down)"), "{seen_down}");
    assert!(big.acked() > 0, "the majority side acknowledged nothing");
    assert!(
        small.acked() > 0,
        "the cut-off process acknowledged nothing"
    );
    total.add(&big);
    total.add(&small);

    // Healed: every node reads the same value of every key, within the acknowledged and unknown.
    let deadline = Instant::now() + Duration::from_secs(25);
    let reads = loop {
        let reads: Vec<Vec<u64>> = {
            let addrs = addrs.clone();
            net.in_hub(move || addrs.iter().map(|a| block_on(read_all(a))).collect())
        };
        let agreed = reads.iter().all(|r| r == &reads[0]) && !reads[0].contains(&u64::MAX);
        let healed = !procs[0].status().contains("(down)");
        if (agreed && healed) || Instant::now() > deadline {
            break reads;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    for (addr, read) in addrs.iter().zip(&reads) {
        assert_eq!(read, &reads[0], "through {addr} vs {}", addrs[0]);
    }
    for (k, &got) in reads[0].iter().enumerate() {
        let (acked, unknown) = (total.acked[k], total.unknown[k]);
        assert!(
            got >= acked && got <= acked + unknown,
            "k{k}: {got}, acknowledged {acked}, unknown {unknown}"
        );
    }
    for mut proc in procs {
        assert!(
            proc.exited().is_none(),
            "a process died:\n{}",
            proc.stderr.lock().unwrap()
        );
    }
    println!(
        "healed and converged {:?} after the cut ended",
        cut_at.elapsed() - CUT
    );
}
