//! The membership core on an in-memory network with a fake clock: joins, a silent member seen
//! down within the configured bound and back up renewed, a crash and restart, and a partition
//! that heals. Deterministic (fixed seeds); every run is bounded in fake time and in steps.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use ringkv::membership::sim::SimNet;
use ringkv::membership::{MemberEvent, MembershipConfig, MembershipCore, ProcessId};

const LATENCY: Duration = Duration::from_millis(1);

fn addr(i: u8) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, i], 5001))
}

fn core(i: u8, generation: u64, seed: u64) -> MembershipCore {
    let id = ProcessId::new(addr(i), generation);
    MembershipCore::new(id, &MembershipConfig::default(), seed * 31 + u64::from(i))
        .expect("the default timings pass their check")
}

fn others(of: u8, all: &[u8]) -> BTreeSet<SocketAddr> {
    all.iter().filter(|i| **i != of).map(|i| addr(*i)).collect()
}

fn all_see_all(net: &SimNet, all: &[u8]) -> bool {
    all.iter().all(|i| net.view(addr(*i)) == others(*i, all))
}

/// Three processes, B and C joining through A, until all see each other.
fn three_joined(seed: u64) -> SimNet {
    let mut net = SimNet::new(LATENCY);
    for i in 1..=3 {
        net.add(core(i, 1, seed));
    }
    net.join(addr(2), &[addr(1)]);
    net.join(addr(3), &[addr(1)]);
    let took = net.run_until(Duration::from_secs(5), |n| all_see_all(n, &[1, 2, 3]));
    assert!(
        took.is_some(),
        "seed {seed}: views {:?}",
        [1, 2, 3].map(|i| net.view(addr(i)))
    );
    net
}

/// The detection bound of the default config for three processes, plus the network's latency.
fn bound() -> Duration {
    MembershipConfig::default().worst_case_detection(3) + LATENCY * 4
}

fn downs_of(net: &SimNet, who: SocketAddr, since: Duration) -> Vec<SocketAddr> {
    let seen = net.seen().iter().filter(|s| s.at >= since);
    seen.filter(|s| s.event == MemberEvent::Down(who))
        .map(|s| s.observer)
        .collect()
}

#[test]
fn three_members_join_through_one_seed_and_see_each_other() {
    let net = three_joined(1);
    for i in 1..=3u8 {
        let mut ups: Vec<_> = net
            .seen()
            .iter()
            .filter(|s| s.observer == addr(i))
            .map(|s| s.event)
            .collect();
        ups.sort();
        let want: Vec<_> = others(i, &[1, 2, 3])
            .into_iter()
            .map(MemberEvent::Up)
            .collect();
        assert_eq!(ups, want, "process {i} reports each other process up once");
    }
    assert!(
        net.now() < Duration::from_secs(2),
        "joined after {:?}",
        net.now()
    );
}

#[test]
fn a_silent_member_is_seen_down_within_the_bound_and_comes_back_renewed() {
    for seed in 1..=8 {
        let mut net = three_joined(seed);
        let before = net.core(addr(3)).map(|c| c.identity().generation());
        let cut_at = net.now();
        net.silence(addr(3), true);
        let took = net.run_until(bound(), |n| {
            !n.view(addr(1)).contains(&addr(3)) && !n.view(addr(2)).contains(&addr(3))
        });
        let took = took.unwrap_or_else(|| panic!("seed {seed}: not down within {:?}", bound()));
        eprintln!("seed {seed}: silent member down everywhere after {took:?}");
        for live in [1, 2] {
            assert!(
                net.view(addr(live)).contains(&addr(3 - live)),
                "seed {seed}"
            );
            assert!(downs_of(&net, addr(live), cut_at)
                .iter()
                .all(|o| *o == addr(3)));
        }

        net.silence(addr(3), false);
        let back = net.run_until(Duration::from_secs(5), |n| all_see_all(n, &[1, 2, 3]));
        assert!(
            back.is_some(),
            "seed {seed}: views {:?}",
            [1, 2, 3].map(|i| net.view(addr(i)))
        );
        let after = net.core(addr(3)).map(|c| c.identity().generation());
        assert!(
            after > before,
            "seed {seed}: came back as {after:?}, was {before:?}"
        );
    }
}

#[test]
fn a_crashed_member_is_seen_down_and_its_restart_up() {
    let mut net = three_joined(2);
    let crashed_at = net.now();
    assert!(net.remove(addr(2)).is_some());
    let took = net.run_until(bound(), |n| {
        !n.view(addr(1)).contains(&addr(2)) && !n.view(addr(3)).contains(&addr(2))
    });
    assert!(took.is_some(), "not down within {:?}", bound());
    let mut observers = downs_of(&net, addr(2), crashed_at);
    observers.sort();
    assert_eq!(
        observers,
        vec![addr(1), addr(3)],
        "each survivor reports it down once"
    );

    // The restarted process is a new life of the same address: a higher generation.
    net.add(core(2, 2, 9));
    net.join(addr(2), &[addr(3)]);
    let back = net.run_until(Duration::from_secs(5), |n| all_see_all(n, &[1, 2, 3]));
    assert!(
        back.is_some(),
        "views {:?}",
        [1, 2, 3].map(|i| net.view(addr(i)))
    );
}

/// What the wiring must know: a restart quicker than detection is only a new generation of a
/// live address (foca's `Rename`), so no `Down`/`Up` pair tells the Router about it.
#[test]
fn a_restart_faster_than_detection_reports_nothing() {
    let mut net = three_joined(3);
    let restarted_at = net.now();
    assert!(net.remove(addr(2)).is_some());
    net.add(core(2, 2, 11));
    net.join(addr(2), &[addr(1)]);
    net.run_for(Duration::from_secs(5));
    assert!(all_see_all(&net, &[1, 2, 3]));
    let about_two: Vec<_> = net
        .seen()
        .iter()
        .filter(|s| s.at >= restarted_at && s.observer != addr(2) && s.event.addr() == addr(2))
        .collect();
    assert!(about_two.is_empty(), "{about_two:?}");
}

#[test]
fn a_partition_of_one_from_two_heals_and_views_converge() {
    for seed in 1..=4 {
        let mut net = three_joined(seed);
        net.cut(addr(3), addr(1));
        net.cut(addr(3), addr(2));
        net.run_for(Duration::from_secs(6));
        assert_eq!(net.view(addr(1)), BTreeSet::from([addr(2)]), "seed {seed}");
        assert_eq!(net.view(addr(2)), BTreeSet::from([addr(1)]), "seed {seed}");
        assert_eq!(
            net.view(addr(3)),
            BTreeSet::new(),
            "seed {seed}: the cut-off side"
        );

        net.heal();
        let took = net.run_until(Duration::from_secs(6), |n| all_see_all(n, &[1, 2, 3]));
        let took = took.unwrap_or_else(|| {
            panic!(
                "seed {seed}: views {:?}",
                [1, 2, 3].map(|i| net.view(addr(i)))
            )
        });
        eprintln!("seed {seed}: views converged {took:?} after healing");
        // And they stay converged: no flapping once healed.
        net.run_for(Duration::from_secs(5));
        assert!(
            all_see_all(&net, &[1, 2, 3]),
            "seed {seed}: flapped after converging"
        );
        // The two that stayed together never reported each other down.
        assert!(downs_of(&net, addr(1), Duration::ZERO)
            .iter()
            .all(|o| *o == addr(3)));
        assert!(downs_of(&net, addr(2), Duration::ZERO)
            .iter()
            .all(|o| *o == addr(3)));
    }
}

#[test]
fn a_member_that_leaves_is_seen_down_at_once() {
    let mut net = three_joined(5);
    net.leave(addr(3));
    let took = net.run_until(Duration::from_secs(1), |n| {
        !n.view(addr(1)).contains(&addr(3)) && !n.view(addr(2)).contains(&addr(3))
    });
    let took = took.expect("a leave is spread by gossip");
    assert!(took < Duration::from_millis(300), "took {took:?}");
}

#[test]
fn lossy_links_cause_no_false_down() {
    for seed in 1..=4 {
        let mut net = three_joined(seed);
        let from = net.now();
        net.set_loss(50, seed);
        net.run_for(Duration::from_secs(60));
        let downs = net
            .seen()
            .iter()
            .filter(|s| s.at >= from && matches!(s.event, MemberEvent::Down(_)));
        let downs: Vec<_> = downs.collect();
        eprintln!("seed {seed}: 5% loss for 60 s: {} false downs", downs.len());
        assert!(downs.is_empty(), "seed {seed}: {downs:?}");
        assert!(all_see_all(&net, &[1, 2, 3]), "seed {seed}");
    }
}

#[test]
fn foreign_and_hostile_datagrams_change_nothing() {
    let mut one = core(1, 1, 3);
    let _ = one.drain();
    for bad in [
        &b""[..],
        b"RGKV\x02....",
        b"RGKM\x01",
        b"RGKM\x01\x00\x05\xff\xff",
        b"RGKM\x07xx",
    ] {
        assert!(one.handle_datagram(bad).is_err(), "{bad:?}");
        let out = one.drain();
        assert!(out.sends.is_empty() && out.events.is_empty() && out.timers.is_empty());
    }
    assert!(one.members_up().is_empty());
}
