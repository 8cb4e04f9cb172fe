//! Exactly-once updates with idempotency tokens, end to end: `RINGKV.INCRBY` with the `redis`
//! crate (a repeated token adds nothing; errors), `ringkv client update KEY AMOUNT --token T`
//! over the framed protocol and across a restart on the data directory, and a retry of the same
//! token through another node after the coordinator node was killed.

use crate::support::resp_server;
use crate::support::serve;

use std::time::Duration;

use redis::Value;
use resp_server::{int, run};
use ringkv::Client;
use serve::{block_on, Server};

fn error(con: &mut redis::Connection, words: &[&str]) -> String {
    let e = run::<Value>(con, words).expect_err(&format!("{words:?} must fail"));
    format!("{} {}", e.code().unwrap_or("?"), e.detail().unwrap_or(""))
}

#[test]
fn ringkv_incrby_counts_a_token_once() {
    let server = resp_server::Server::start();
    let mut con = server.connect();
    assert_eq!(int(&mut con, &["RINGKV.INCRBY", "k", "5", "t1"]), 5);
    assert_eq!(
        int(&mut con, &["RINGKV.INCRBY", "k", "5", "t1"]),
        5,
        "a repeat adds nothing"
    );
    assert_eq!(int(&mut con, &["INCRBY", "k", "2"]), 7);
    assert_eq!(
        int(&mut con, &["ringkv.incrby", "k", "5", "t1"]),
        7,
        "a repeat answers the current value"
    );
    assert_eq!(int(&mut con, &["RINGKV.INCRBY", "k", "-10", "t2"]), -3);
    assert_eq!(
        int(&mut con, &["RINGKV.INCRBY", "other", "4", "t1"]),
        4,
        "tokens are per key"
    );
    let got: Option<String> = run(&mut con, &["GET", "k"]).unwrap();
    assert_eq!(got.as_deref(), Some("-3"));
    assert_eq!(int(&mut con, &["DEL", "k"]), 1);
    assert_eq!(
        int(&mut con, &["RINGKV.INCRBY", "k", "-10", "t2"]),
        0,
        "still once after a delete"
    );
    assert_eq!(int(&mut con, &["EXISTS", "k"]), 0);
    assert_eq!(int(&mut con, &["RINGKV.INCRBY", "k", "0", "t3"]), 0);
    assert_eq!(
        int(&mut con, &["EXISTS", "k"]),
        1,
        "as INCRBY k 0, it creates the key"
    );
}

/// A retry of a token whose update was counted in a life of the key that has since expired adds
/// nothing (it was counted once, in that life, as a delete does), and leaves the key absent.
#[test]
fn a_token_retried_after_its_key_expired_is_not_counted_again() {
    let server = resp_server::Server::start();
    let mut con = server.connect();
    assert_eq!(int(&mut con, &["RINGKV.INCRBY", "k", "5", "t1"]), 5);
    assert_eq!(int(&mut con, &["PEXPIRE", "k", "100"]), 1);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while int(&mut con, &["EXISTS", "k"]) == 1 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(int(&mut con, &["EXISTS", "k"]), 0, "expired");
    assert_eq!(
        int(&mut con, &["RINGKV.INCRBY", "k", "5", "t1"]),
        0,
        "counted once, in the life that expired"
    );
    assert_eq!(int(&mut con, &["EXISTS", "k"]), 0, "the retry adds no life");
    assert_eq!(
        int(&mut con, &["RINGKV.INCRBY", "k", "5", "t2"]),
        5,
        "a new token starts the new life"
    );
    assert_eq!(int(&mut con, &["TTL", "k"]), -1, "without the old deadline");
}

#[test]
fn ringkv_incrby_refuses_bad_requests_and_changes_nothing() {
    let server = resp_server::Server::start();
    let mut con = server.connect();
    assert_eq!(
        error(&mut con, &["RINGKV.INCRBY", "k", "1"]),
        "ERR wrong number of arguments for 'ringkv.incrby' command"
    );
    assert_eq!(
        error(&mut con, &["RINGKV.INCRBY", "k", "1", "t", "x"]),
        "ERR wrong number of arguments for 'ringkv.incrby' command"
    );
    assert_eq!(
        error(&mut con, &["RINGKV.INCRBY", "k", "1.5", "t"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        error(&mut con, &["RINGKV.INCRBY", "k", "1", ""]),
        "ERR the token must be 1 to 256 bytes"
    );
    assert_eq!(
        error(&mut con, &["RINGKV.INCRBY", "k", "1", &"t".repeat(257)]),
        "ERR the token must be 1 to 256 bytes"
    );
    assert_eq!(
        int(&mut con, &["INCRBY", "k", "9223372036854775806"]),
        i64::MAX - 1
    );
    assert_eq!(
        error(&mut con, &["RINGKV.INCRBY", "k", "2", "t"]),
        "ERR increment or decrement would overflow"
    );
    assert_eq!(
        int(&mut con, &["RINGKV.INCRBY", "k", "1", "t"]),
        i64::MAX,
        "t was not spent"
    );
    assert_eq!(int(&mut con, &["EXISTS", "j"]), 0);
}

#[test]
fn client_update_with_a_token_counts_once_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--nodes", "3"]);
    assert_eq!(
        server.client(&["update", "a", "5", "--token", "t-1"]),
        "Update successful\n"
    );
    assert_eq!(
        server.client(&["update", "a", "5", "--token", "t-1"]),
        "Update successful\n"
    );
    assert_eq!(
        server.client(&["update", "a", "--token", "t-2"]),
        "Update successful\n"
    );
    assert_eq!(server.client(&["get", "a"]), "Count for a: 6\n");
    server.stop();
    let server = Server::start(dir.path(), &["--nodes", "3"]);
    server.client(&["update", "a", "5", "--token", "t-1"]);
    assert_eq!(
        server.client(&["get", "a"]),
        "Count for a: 6\n",
        "the log remembers the token"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ringkv"))
        .args([
            "client",
            "--addr",
            &server.addr(),
            "update",
            "a",
            "1",
            "--token",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the token is missing"), "{err}");
    server.stop();
}

#[test]
fn a_retry_through_another_node_after_the_coordinator_is_killed_counts_once() {
    let server = Server::in_memory(&["--nodes", "3", "--restart-backoff", "300ms"]);
    let addr = |i: usize| format!("127.0.0.1:{}", server.ports[i]);
    block_on(async {
        let mut first = Client::connect(&addr(0)).await.unwrap();
        let mut second = Client::connect(&addr(1)).await.unwrap();
        let mut expected = 0;
        for round in 0..6i64 {
            let (key, token) = (format!("k{}", round % 2), format!("tok-{round}"));
            let value = first
                .update_with_token(&key, round + 1, token.as_bytes())
                .await
                .unwrap();
            if round % 2 == 0 {
                expected += round + 1;
            }
            // The coordinator crashes; the client's retry goes through another node.
            second.kill_node(server.ports[0]).await.unwrap();
            let again = second
                .update_with_token(&key, round + 1, token.as_bytes())
                .await
                .unwrap();
            assert_eq!(again, value, "round {round}: the retry adds nothing");
            tokio::time::sleep(Duration::from_millis(400)).await;
            // Once it is back (a fresh incarnation), through it again.
            let third = first
                .update_with_token(&key, round + 1, token.as_bytes())
                .await
                .unwrap();
            assert_eq!(third, value, "round {round}: through the restarted node");
        }
        assert_eq!(second.get("k0").await.unwrap(), expected);
        assert_eq!(second.get("k1").await.unwrap(), 2 + 4 + 6);
        // The plain `update` carries its own token: one call, one count.
        assert_eq!(second.update("k2", 3).await.unwrap(), 3);
        assert_eq!(first.get("k2").await.unwrap(), 3);
    });
}
