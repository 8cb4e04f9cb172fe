//! MULTI/EXEC/DISCARD over RESP: Redis's replies byte for byte (QUEUED, the EXEC array, nested
//! MULTI, EXEC and DISCARD without MULTI, EXECABORT after a queueing error), CROSSSLOT for keys
//! on different replica sets, and the `redis` crate's atomic pipeline.

use crate::support::resp_server;

use resp_server::{exchange, Server};

#[test]
fn a_transaction_queues_then_runs_in_order() {
    let server = Server::start();
    let mut s = server.raw();
    exchange(&mut s, b"MULTI\r\n", "+OK\r\n");
    exchange(&mut s, b"INCR {u}a\r\n", "+QUEUED\r\n");
    exchange(&mut s, b"INCRBY {u}a 5\r\n", "+QUEUED\r\n");
    exchange(&mut s, b"GET {u}a\r\n", "+QUEUED\r\n");
    exchange(&mut s, b"MGET {u}a {u}b\r\n", "+QUEUED\r\n");
    exchange(&mut s, b"PING\r\n", "+QUEUED\r\n");
    exchange(
        &mut s,
        b"EXEC\r\n",
        "*5\r\n:1\r\n:6\r\n$1\r\n6\r\n*2\r\n$1\r\n6\r\n$-1\r\n+PONG\r\n",
    );
    // Nothing was held back: the counter reads 6 afterwards, and the connection goes on.
    exchange(&mut s, b"GET {u}a\r\n", "$1\r\n6\r\n");
    exchange(&mut s, b"MULTI\r\nEXEC\r\n", "+OK\r\n*0\r\n");
}

#[test]
fn redis_errors_for_misused_transactions() {
    let server = Server::start();
    let mut s = server.raw();
    exchange(&mut s, b"EXEC\r\n", "-ERR EXEC without MULTI\r\n");
    exchange(&mut s, b"DISCARD\r\n", "-ERR DISCARD without MULTI\r\n");
    exchange(&mut s, b"MULTI\r\n", "+OK\r\n");
    exchange(
        &mut s,
        b"MULTI\r\n",
        "-ERR MULTI calls can not be nested\r\n",
    );
    exchange(&mut s, b"INCR k\r\n", "+QUEUED\r\n");
    exchange(&mut s, b"DISCARD\r\n", "+OK\r\n");
    exchange(&mut s, b"GET k\r\n", "$-1\r\n");
    // An error while queueing discards the transaction at EXEC: nothing runs.
    exchange(&mut s, b"MULTI\r\nINCR k\r\n", "+OK\r\n+QUEUED\r\n");
    exchange(
        &mut s,
        b"NOSUCH x\r\n",
        "-ERR unknown command 'NOSUCH', with args beginning with: 'x' \r\n",
    );
    exchange(
        &mut s,
        b"INCR\r\n",
        "-ERR wrong number of arguments for 'incr' command\r\n",
    );
    exchange(
        &mut s,
        b"EXEC\r\n",
        "-EXECABORT Transaction discarded because of previous errors.\r\n",
    );
    exchange(&mut s, b"GET k\r\n", "$-1\r\n");
    exchange(
        &mut s,
        b"MULTI\r\nWATCH k\r\n",
        "+OK\r\n-ERR WATCH inside MULTI is not allowed\r\n",
    );
    exchange(
        &mut s,
        b"EXEC\r\n",
        "-EXECABORT Transaction discarded because of previous errors.\r\n",
    );
    let mut got = [0u8; 5];
    std::io::Write::write_all(&mut s, b"WATCH k\r\n").unwrap();
    std::io::Read::read_exact(&mut s, &mut got).unwrap();
    assert_eq!(&got, b"-ERR ", "WATCH is refused with an error");
}

#[test]
fn keys_on_different_replica_sets_get_crossslot() {
    let mut config = ringkv::ClusterConfig {
        nodes: 6,
        base_port: 0,
        ..ringkv::ClusterConfig::default()
    };
    config.replication.replicas = 2;
    let server = Server::with_cluster(config, ringkv::resp::RespLimits::default());
    let mut s = server.raw();
    exchange(&mut s, b"MULTI\r\nINCR a\r\n", "+OK\r\n+QUEUED\r\n");
    // Six nodes, two replicas: among 40 more keys one lands on another replica set.
    let mut refused = false;
    for i in 0..40 {
        let line = format!("INCR k{i}\r\n");
        let want = if refused { None } else { Some(()) };
        let mut got = Vec::new();
        std::io::Write::write_all(&mut s, line.as_bytes()).unwrap();
        let mut byte = [0u8; 1];
        while !got.ends_with(b"\r\n") {
            std::io::Read::read_exact(&mut s, &mut byte).unwrap();
            got.push(byte[0]);
        }
        let text = String::from_utf8_lossy(&got).into_owned();
        match (text.as_str(), want) {
            ("+QUEUED\r\n", _) => {}
            ("-CROSSSLOT Keys in request don't hash to the same slot\r\n", _) => refused = true,
            (other, _) => panic!("unexpected reply {other:?}"),
        }
    }
    assert!(refused, "40 keys on six nodes all shared one replica set");
    exchange(
        &mut s,
        b"EXEC\r\n",
        "-EXECABORT Transaction discarded because of previous errors.\r\n",
    );
    exchange(&mut s, b"GET a\r\n", "$-1\r\n");
    // Hash tags keep related counters on one replica set, so their transaction runs.
    let mut queued = String::from("+OK\r\n");
    let mut line = String::from("MULTI\r\n");
    for i in 0..40 {
        line.push_str(&format!("INCR {{user:1}}:c{i}\r\n"));
        queued.push_str("+QUEUED\r\n");
    }
    exchange(&mut s, line.as_bytes(), &queued);
    let ones = format!("*40\r\n{}", ":1\r\n".repeat(40));
    exchange(&mut s, b"EXEC\r\n", &ones);
}

#[test]
fn the_redis_crate_atomic_pipeline_works() {
    let server = Server::start();
    let mut con = server.connect();
    let (a, b, c): (i64, i64, Option<String>) = redis::pipe()
        .atomic()
        .cmd("INCR")
        .arg("p")
        .cmd("INCRBY")
        .arg("p")
        .arg(9)
        .cmd("GET")
        .arg("p")
        .query(&mut con)
        .expect("MULTI/EXEC pipeline");
    assert_eq!((a, b, c.as_deref()), (1, 10, Some("10")));
}
