//! A big MGET does not hold the server: while 20 connections send MGET of 60,000 keys, another
//! connection's GETs keep being answered.

#[path = "support/resp_server.rs"]
mod resp_server;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use resp_server::Server;

const SENDERS: usize = 20;
const KEYS: usize = 60_000;
const RUN_FOR: Duration = Duration::from_secs(4);

/// Sends MGET of all `keys` until `stop`; returns how many were answered.
fn mget_loop(server_port: u16, keys: Arc<Vec<String>>, stop: Arc<AtomicBool>) -> usize {
    let url = format!("redis://127.0.0.1:{server_port}/");
    let mut con = redis::Client::open(url)
        .and_then(|c| c.get_connection())
        .expect("connect");
    let mut answered = 0;
    while !stop.load(Ordering::Relaxed) && answered < 1000 {
        let values: Vec<Option<u64>> = redis::cmd("MGET")
            .arg(&keys[..])
            .query(&mut con)
            .expect("MGET answers");
        assert_eq!(values.len(), KEYS);
        assert_eq!(values[7], Some(1), "k7 was incremented once");
        answered += 1;
    }
    answered
}

#[test]
fn gets_are_answered_while_big_mgets_run() {
    let server = Server::start();
    let mut con = server.connect_with("");
    let keys: Arc<Vec<String>> = Arc::new((0..KEYS).map(|i| format!("k{i}")).collect());
    let mut pipe = redis::pipe();
    for key in keys.iter().take(1000) {
        pipe.cmd("INCR").arg(key).ignore();
    }
    pipe.query::<()>(&mut con).expect("INCRs");

    let stop = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..SENDERS)
        .map(|_| {
            let (keys, stop, port) = (keys.clone(), stop.clone(), server.port);
            std::thread::spawn(move || mget_loop(port, keys, stop))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));

    let (mut worst, mut gets) = (Duration::ZERO, 0u32);
    let start = Instant::now();
    while start.elapsed() < RUN_FOR && gets < 100_000 {
        let asked = Instant::now();
        let value: Option<u64> = redis::cmd("GET").arg("k3").query(&mut con).expect("GET");
        worst = worst.max(asked.elapsed());
        assert_eq!(value, Some(1));
        gets += 1;
        std::thread::sleep(Duration::from_millis(2));
    }
    stop.store(true, Ordering::Relaxed);
    let mgets: usize = senders.into_iter().map(|s| s.join().expect("sender")).sum();
    println!("{gets} GETs, worst latency {worst:?}; {mgets} MGETs of {KEYS} keys answered");
    assert!(mgets >= SENDERS, "every sender got answers ({mgets})");
    assert!(
        worst < Duration::from_millis(500),
        "a GET waited {worst:?} behind the MGETs"
    );
}
