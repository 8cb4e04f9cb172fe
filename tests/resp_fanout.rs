//! A big MGET does not hold the server: while 20 connections send MGET of 60,000 keys, another
//! connection's GETs keep being answered.

use crate::support::resp_server;

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
    let mut con = server.connect();
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

/// The request `words` in RESP (an array of bulk strings).
fn request(words: &[String]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", words.len()).into_bytes();
    for word in words {
        out.extend_from_slice(format!("${}\r\n{word}\r\n", word.len()).as_bytes());
    }
    out
}

/// MGET of `a`, an empty key (which cannot exist) and `n - 2` missing keys.
fn big_mget(n: usize) -> Vec<String> {
    let mut words = vec!["MGET".to_owned(), "a".to_owned(), String::new()];
    words.extend((2..n).map(|i| format!("missing{i}")));
    words
}

/// The reply to [`big_mget`] when `a` is `value`; `null` is how the protocol writes a null.
fn big_mget_reply(n: usize, value: u64, null: &str) -> String {
    let a = format!("${}\r\n{value}\r\n", value.to_string().len());
    format!("*{n}\r\n{a}{}", null.repeat(n - 1))
}

#[test]
fn requests_after_a_big_mget_run_after_it() {
    let server = Server::start();
    let mut s = server.raw();
    let n = 5_000;
    let mget = request(&big_mget(n));
    let incr = request(&["INCR".to_owned(), "a".to_owned()]);
    let exists = {
        let mut words = big_mget(n);
        words[0] = "EXISTS".to_owned();
        request(&words)
    };
    let input = [&incr[..], &mget, &incr, &mget, &exists, &incr].concat();
    let expected = [
        ":1\r\n".to_owned(),
        big_mget_reply(n, 1, "$-1\r\n"),
        ":2\r\n".to_owned(),
        big_mget_reply(n, 2, "$-1\r\n"),
        ":1\r\n:3\r\n".to_owned(),
    ]
    .concat();
    resp_server::exchange(&mut s, &input, &expected);
    let hello = request(&["HELLO".to_owned(), "3".to_owned()]);
    let input = [&hello[..], &mget, &incr].concat();
    let mut got_hello = Vec::new();
    std::io::Write::write_all(&mut s, &input).unwrap();
    // The HELLO map ends with its empty modules array.
    while !got_hello.ends_with(b"modules\r\n*0\r\n") && got_hello.len() < 4096 {
        let mut byte = [0u8; 1];
        std::io::Read::read_exact(&mut s, &mut byte).expect("HELLO's reply");
        got_hello.push(byte[0]);
    }
    let expected = [big_mget_reply(n, 3, "_\r\n"), ":4\r\n".to_owned()].concat();
    resp_server::exchange(&mut s, b"", &expected);
}
