//! Three membership actors with real UDP sockets on 127.0.0.1 (port 0) in one actix System:
//! garbage datagrams change nothing, they join through one seed, then one stops without a word (as if killed) and the other two
//! report it down within the configured bound; one leaves gracefully and is reported down fast.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use ringkv::membership::{Halt, Join, Leave, MemberEvent, MembershipActor, MembershipConfig};

type Log = Arc<Mutex<Vec<(Instant, usize, MemberEvent)>>>;

/// Records the events one process reports.
struct Recorder {
    who: usize,
    log: Log,
}

impl Actor for Recorder {
    type Context = Context<Self>;
}

impl Handler<MemberEvent> for Recorder {
    type Result = ();

    fn handle(&mut self, event: MemberEvent, _: &mut Self::Context) {
        if let Ok(mut log) = self.log.lock() {
            log.push((Instant::now(), self.who, event));
        }
    }
}

async fn start_three(log: &Log) -> Vec<(Addr<MembershipActor>, SocketAddr)> {
    let mut started = Vec::new();
    for who in 0..3 {
        let events = Recorder {
            who,
            log: log.clone(),
        }
        .start()
        .recipient();
        let bind = SocketAddr::from(([127, 0, 0, 1], 0));
        let config = MembershipConfig::default();
        let actor = MembershipActor::start(bind, None, 1, config, events, None).await;
        started.push(actor.expect("binds a free UDP port on 127.0.0.1"));
    }
    // Garbage first: each actor must log it and go on.
    let noise = std::net::UdpSocket::bind("127.0.0.1:0").expect("binds a free UDP port");
    for (_, addr) in &started {
        for junk in [
            &b"hello"[..],
            &[0xFF; 2_000][..],
            b"RGKM\x01\xff\xff",
            b"RGKM\x09",
        ] {
            noise.send_to(junk, addr).expect("loopback send");
        }
    }
    let seed = started[0].1;
    for (actor, _) in &started[1..] {
        actor.do_send(Join(vec![seed]));
    }
    started
}

/// Waits (bounded) until `done` holds for the log; returns when it did.
async fn wait_for(
    log: &Log,
    limit: Duration,
    done: impl Fn(&[(Instant, usize, MemberEvent)]) -> bool,
) -> Option<Instant> {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if log.lock().map(|l| done(&l)).unwrap_or(false) {
            return Some(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    None
}

fn saw(log: &[(Instant, usize, MemberEvent)], who: usize, event: MemberEvent) -> Option<Instant> {
    log.iter()
        .find(|(_, w, e)| *w == who && *e == event)
        .map(|(at, _, _)| *at)
}

fn all_up(log: &[(Instant, usize, MemberEvent)], addrs: &[SocketAddr]) -> bool {
    (0..addrs.len()).all(|who| {
        (0..addrs.len())
            .filter(|o| *o != who)
            .all(|o| saw(log, who, MemberEvent::Up(addrs[o])).is_some())
    })
}

#[actix_rt::test]
async fn a_stopped_member_is_reported_down_within_the_bound() {
    let log: Log = Arc::default();
    let started = start_three(&log).await;
    let addrs: Vec<SocketAddr> = started.iter().map(|(_, a)| *a).collect();
    let joined = wait_for(&log, Duration::from_secs(5), |l| all_up(l, &addrs)).await;
    assert!(
        joined.is_some(),
        "not all up: {:?}",
        log.lock().map(|l| l.clone())
    );

    let halted_at = Instant::now();
    started[2].0.do_send(Halt);
    let bound = MembershipConfig::default().worst_case_detection(3);
    let down = MemberEvent::Down(addrs[2]);
    let seen = wait_for(&log, bound * 2, |l| {
        saw(l, 0, down).is_some() && saw(l, 1, down).is_some()
    })
    .await;
    assert!(seen.is_some(), "not down within {:?}", bound * 2);
    let entries = log.lock().map(|l| l.clone()).unwrap_or_default();
    for who in [0, 1] {
        let at = saw(&entries, who, down).map(|t| t.duration_since(halted_at));
        eprintln!("process {who} reported the stopped one down after {at:?} (bound {bound:?})");
        // Timers on a busy machine run a little late: allow 300 ms beyond the bound.
        assert!(
            at.is_some_and(|d| d <= bound + Duration::from_millis(300)),
            "{at:?}"
        );
        assert!(
            saw(&entries, who, MemberEvent::Down(addrs[1 - who])).is_none(),
            "false down"
        );
    }
    for (actor, _) in &started[..2] {
        actor.do_send(Halt);
    }
}

#[actix_rt::test]
async fn an_address_others_cannot_reach_is_refused() {
    let log: Log = Arc::default();
    let events = Recorder { who: 0, log }.start().recipient();
    let bind = SocketAddr::from(([127, 0, 0, 1], 0));
    let any = SocketAddr::from(([0, 0, 0, 0], 5001));
    let config = MembershipConfig::default();
    let refused = MembershipActor::start(bind, Some(any), 1, config, events, None).await;
    let refused = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(refused.contains("cannot be advertised"), "{refused}");
}

#[actix_rt::test]
async fn a_member_that_leaves_is_reported_down_fast() {
    let log: Log = Arc::default();
    let started = start_three(&log).await;
    let addrs: Vec<SocketAddr> = started.iter().map(|(_, a)| *a).collect();
    let joined = wait_for(&log, Duration::from_secs(5), |l| all_up(l, &addrs)).await;
    assert!(
        joined.is_some(),
        "not all up: {:?}",
        log.lock().map(|l| l.clone())
    );

    let left_at = Instant::now();
    started[1].0.do_send(Leave);
    let down = MemberEvent::Down(addrs[1]);
    let seen = wait_for(&log, Duration::from_secs(3), |l| {
        saw(l, 0, down).is_some() && saw(l, 2, down).is_some()
    })
    .await;
    let took = seen.map(|t| t.duration_since(left_at));
    eprintln!("a graceful leave was reported down everywhere after {took:?}");
    assert!(
        took.is_some_and(|d| d < Duration::from_millis(500)),
        "{took:?}"
    );
    for i in [0, 2] {
        started[i].0.do_send(Halt);
    }
}
