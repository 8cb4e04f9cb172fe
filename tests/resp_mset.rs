//! MSET and MSETNX on the Redis port, with the `redis` crate: integer values, a key named twice
//! takes its last value, TTLs removed, Redis 7's errors (nothing set), MSETNX all or nothing,
//! CROSSSLOT for keys on different replica sets (hash tags share one), and inside MULTI/EXEC.

use crate::support::resp_server;

use redis::{Connection, Value};
use resp_server::{int, run, Server};

fn text(con: &mut Connection, words: &[&str]) -> Option<String> {
    run(con, words).unwrap_or_else(|e| panic!("{words:?}: {e}"))
}

fn ok(con: &mut Connection, words: &[&str]) {
    assert_eq!(text(con, words).as_deref(), Some("OK"), "{words:?}");
}

fn error(con: &mut Connection, words: &[&str]) -> String {
    let e = run::<Value>(con, words).expect_err(&format!("{words:?} must fail"));
    format!("{} {}", e.code().unwrap_or("?"), e.detail().unwrap_or(""))
}

fn mget(con: &mut Connection, keys: &[&str]) -> Vec<Option<String>> {
    let mut words = vec!["MGET"];
    words.extend_from_slice(keys);
    run(con, &words).unwrap()
}

#[test]
fn mset_sets_every_key_and_the_last_value_of_a_repeated_one() {
    let server = Server::start();
    let mut con = server.connect();
    assert_eq!(int(&mut con, &["INCRBY", "a", "10"]), 10);
    assert_eq!(int(&mut con, &["EXPIRE", "a", "100"]), 1);
    ok(&mut con, &["MSET", "a", "1", "b", "-2", "a", "3"]);
    let got = mget(&mut con, &["a", "b"]);
    assert_eq!(got, [Some("3".into()), Some("-2".into())]);
    assert_eq!(int(&mut con, &["TTL", "a"]), -1, "MSET removes the TTL");
    assert_eq!(
        int(&mut con, &["INCR", "b"]),
        -1,
        "counts on from the value set"
    );
    ok(&mut con, &["MSET", "c", "0"]);
    assert_eq!(text(&mut con, &["GET", "c"]).as_deref(), Some("0"));
    assert_eq!(int(&mut con, &["EXISTS", "c"]), 1);
}

#[test]
fn bad_msets_get_redis_errors_and_set_nothing() {
    let server = Server::start();
    let mut con = server.connect();
    for (words, want) in [
        (
            &["MSET", "a"][..],
            "ERR wrong number of arguments for 'mset' command",
        ),
        (
            &["MSET", "a", "1", "b"],
            "ERR wrong number of arguments for 'mset' command",
        ),
        (
            &["MSETNX", "a", "1", "b"],
            "ERR wrong number of arguments for 'msetnx' command",
        ),
        (
            &["MSET", "a", "1", "b", "x"],
            "ERR value is not an integer or out of range",
        ),
        (
            &["MSETNX", "a", "1", "b", "1.5"],
            "ERR value is not an integer or out of range",
        ),
        (
            &["MSET", "a", "1", "b", "9223372036854775808"],
            "ERR value is not an integer or out of range",
        ),
    ] {
        assert_eq!(error(&mut con, words), want, "{words:?}");
    }
    assert_eq!(mget(&mut con, &["a", "b"]), [None, None], "nothing was set");
}

#[test]
fn msetnx_sets_all_or_nothing() {
    let server = Server::start();
    let mut con = server.connect();
    assert_eq!(int(&mut con, &["MSETNX", "x", "1", "y", "2"]), 1);
    assert_eq!(
        mget(&mut con, &["x", "y"]),
        [Some("1".into()), Some("2".into())]
    );
    assert_eq!(
        int(&mut con, &["MSETNX", "z", "5", "y", "9"]),
        0,
        "y exists"
    );
    assert_eq!(mget(&mut con, &["y", "z"]), [Some("2".into()), None]);
    assert_eq!(int(&mut con, &["DEL", "x", "y"]), 2);
    assert_eq!(int(&mut con, &["MSETNX", "z", "5", "y", "9", "z", "6"]), 1);
    assert_eq!(
        mget(&mut con, &["y", "z"]),
        [Some("9".into()), Some("6".into())]
    );
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
    let mut con = server.connect();
    // Six nodes, two replicas: among 40 keys some land on another replica set than k0.
    let pairs: Vec<String> = (0..40)
        .flat_map(|i| [format!("k{i}"), i.to_string()])
        .collect();
    let mut words = vec!["MSET"];
    words.extend(pairs.iter().map(String::as_str));
    let crossslot = "CROSSSLOT Keys in request don't hash to the same slot";
    assert_eq!(error(&mut con, &words), crossslot);
    words[0] = "MSETNX";
    assert_eq!(error(&mut con, &words), crossslot);
    assert_eq!(
        int(&mut con, &["EXISTS", "k0", "k1", "k39"]),
        0,
        "nothing set"
    );
    // One hash tag: one replica set.
    let tagged: Vec<String> = (0..40)
        .flat_map(|i| [format!("{{user:1}}:k{i}"), i.to_string()])
        .collect();
    let mut words = vec!["MSET"];
    words.extend(tagged.iter().map(String::as_str));
    ok(&mut con, &words);
    assert_eq!(
        text(&mut con, &["GET", "{user:1}:k39"]).as_deref(),
        Some("39")
    );
    // In a transaction: CROSSSLOT at queueing, EXECABORT at EXEC, as for other commands.
    ok(&mut con, &["MULTI"]);
    let queued: String = run(&mut con, &["MSET", "{t}a", "1", "{t}b", "2"]).unwrap();
    assert_eq!(queued, "QUEUED");
    let mut words = vec!["MSET"];
    words.extend(pairs.iter().map(String::as_str));
    assert_eq!(error(&mut con, &words), crossslot);
    assert_eq!(
        error(&mut con, &["EXEC"]),
        "EXECABORT Transaction discarded because of previous errors."
    );
}

#[test]
fn mset_runs_in_a_transaction() {
    let server = Server::start();
    let mut con = server.connect();
    let (set, n, got): (String, i64, Vec<Option<String>>) = redis::pipe()
        .atomic()
        .cmd("MSET")
        .arg("{t}a")
        .arg(4)
        .arg("{t}b")
        .arg(5)
        .cmd("MSETNX")
        .arg("{t}a")
        .arg(1)
        .cmd("MGET")
        .arg("{t}a")
        .arg("{t}b")
        .query(&mut con)
        .unwrap();
    assert_eq!((set.as_str(), n), ("OK", 0));
    assert_eq!(got, [Some("4".into()), Some("5".into())]);
}
