//! The async `Client` against real sockets: every call, pipelining, and each kind of typed error
//! (connection refused, timeout, server error, protocol error), plus reconnection for reads.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::{addr, cluster};
use ringkv::actors::ServerLimits;
use ringkv::{Client, Error, Request, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

#[actix_rt::test]
async fn every_call_round_trips() {
    let cluster = cluster(ServerLimits::default());
    let mut client = Client::connect(&addr(&cluster)).await.unwrap();
    assert_eq!(client.get("a").await.unwrap(), 0);
    assert_eq!(client.update("a", 2).await.unwrap(), 2);
    assert_eq!(client.update("a", 3).await.unwrap(), 5);
    assert_eq!(client.get("a").await.unwrap(), 5);
    let status = client.status().await.unwrap();
    assert_eq!(status.nodes.len(), 3);
    assert_eq!(client.ring().await.unwrap().nodes.len(), 3);
    let (port, _) = client.add_node(None).await.unwrap();
    assert_eq!(client.status().await.unwrap().nodes.len(), 4);
    client.remove_node(port).await.unwrap();
    client
        .pause_node(cluster.ports()[1], Duration::from_millis(10))
        .await
        .unwrap();
    client.kill_node(cluster.ports()[2]).await.unwrap();
    // The killed node may be restarted by its supervisor; status answers either way.
    assert!(client.status().await.unwrap().nodes.len() >= 2);
    let answer = client
        .request(&Request::Get { key: "a".into() })
        .await
        .unwrap();
    assert!(matches!(answer, Response::Count { .. }), "{answer:?}");
}

#[actix_rt::test]
async fn ten_thousand_pipelined_updates_give_the_exact_count() {
    const N: i64 = 10_000;
    let cluster = cluster(ServerLimits::default());
    let mut client = Client::connect(&addr(&cluster)).await.unwrap();
    let batch: Vec<Request> = (0..N)
        .map(|_| Request::Update {
            key: "hits".into(),
            amount: 1,
        })
        .collect();
    let answers = client.pipeline(&batch).await.unwrap();
    assert_eq!(answers.len(), N as usize);
    let highest = answers
        .iter()
        .map(|a| match a {
            Response::Updated { value, .. } => *value,
            other => panic!("{other:?}"),
        })
        .max();
    assert_eq!(highest, Some(N));
    assert_eq!(client.get("hits").await.unwrap(), N);
}

#[actix_rt::test]
async fn per_request_errors_are_typed_and_leave_the_connection_usable() {
    let cluster = cluster(ServerLimits::default());
    let mut client = Client::connect(&addr(&cluster)).await.unwrap();
    assert!(matches!(
        client.update("", 1).await,
        Err(Error::BadRequest(_))
    ));
    let long = "k".repeat(1025);
    assert!(matches!(client.get(&long).await, Err(Error::BadRequest(_))));
    client.update("big", i64::MAX).await.unwrap();
    assert_eq!(client.update("big", 1).await, Err(Error::Overflow));
    assert!(matches!(client.kill_node(1).await, Err(Error::Server(_))));
    // A pipeline returns per-request errors in place.
    let batch = [
        Request::Get { key: String::new() },
        Request::Update {
            key: "ok".into(),
            amount: 1,
        },
    ];
    let answers = client.pipeline(&batch).await.unwrap();
    assert!(matches!(answers[0], Response::Error(_)));
    assert_eq!(
        answers[1],
        Response::Updated {
            key: "ok".into(),
            value: 1
        }
    );
}

#[actix_rt::test]
async fn a_refused_connection_is_an_io_error() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = free.local_addr().unwrap().to_string();
    drop(free);
    match Client::connect(&address).await {
        Err(Error::Io(message)) => assert!(message.contains(&address), "{message}"),
        other => panic!("expected a connection error, got {:?}", other.err()),
    }
}

/// A server that accepts connections, reads what comes, and answers each with `reply` (or never,
/// if `reply` is empty).
async fn fake_server(reply: &'static [u8]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    actix_rt::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            actix_rt::spawn(async move {
                let mut scrap = [0u8; 1024];
                while matches!(stream.read(&mut scrap).await, Ok(n) if n > 0) {
                    if !reply.is_empty() && stream.write_all(reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    address
}

#[actix_rt::test]
async fn a_silent_server_is_a_timeout() {
    let address = fake_server(b"").await;
    let mut client = Client::connect_timeout(&address, Duration::from_millis(200))
        .await
        .unwrap();
    assert!(matches!(client.get("a").await, Err(Error::Timeout(_))));
}

#[actix_rt::test]
async fn a_peer_speaking_another_protocol_is_a_protocol_error() {
    let address = fake_server(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
    let mut client = Client::connect(&address).await.unwrap();
    match client.update("a", 1).await {
        Err(Error::Protocol(message)) => assert!(message.contains("bad magic"), "{message}"),
        other => panic!("expected a protocol error, got {other:?}"),
    }
}

#[actix_rt::test]
async fn a_connection_level_refusal_is_typed() {
    let limits = ServerLimits {
        max_connections: 1,
        ..ServerLimits::default()
    };
    let cluster = cluster(limits);
    let mut first = Client::connect(&addr(&cluster)).await.unwrap();
    first.get("a").await.unwrap();
    let mut second = Client::connect(&addr(&cluster)).await.unwrap();
    match second.update("a", 1).await {
        Err(Error::Unavailable(message)) => {
            assert!(message.contains("too many connections"), "{message}")
        }
        other => panic!("expected unavailable, got {other:?}"),
    }
    assert_eq!(first.get("a").await.unwrap(), 0);
}

/// A TCP proxy to `upstream` whose connections can all be cut at once.
async fn cuttable_proxy(upstream: String) -> (String, Arc<Notify>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let cut = Arc::new(Notify::new());
    let cuts = cut.clone();
    actix_rt::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let upstream = upstream.clone();
            let cuts = cuts.clone();
            actix_rt::spawn(async move {
                let mut outbound = TcpStream::connect(&upstream).await.unwrap();
                tokio::select! {
                    biased; // a cut wins over bytes waiting to be copied
                    _ = cuts.notified() => {}
                    _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                }
            });
        }
    });
    (address, cut)
}

#[actix_rt::test]
async fn reads_reconnect_after_a_broken_connection_and_updates_count_once() {
    let cluster = cluster(ServerLimits::default());
    let (proxy, cut) = cuttable_proxy(addr(&cluster)).await;
    let mut client = Client::connect(&proxy).await.unwrap();
    assert_eq!(client.update("r", 1).await.unwrap(), 1);
    cut.notify_waiters();
    // A read on the broken connection is sent again on a new one.
    assert_eq!(client.get("r").await.unwrap(), 1);
    cut.notify_waiters();
    // An update on a broken connection is sent again, with its token, on a new one: once.
    assert_eq!(client.update("r", 1).await.unwrap(), 2);
    assert_eq!(client.update("r", 1).await.unwrap(), 3);
    assert_eq!(cluster.get("r").await.unwrap(), 3);
}

/// The expiry calls of the `Client` and of the embedding `Cluster` (Redis's EXPIRE, TTL,
/// PERSIST): a key with a deadline reads its time left, persists, and expires.
#[actix_rt::test]
async fn expiry_calls_of_the_client_and_the_cluster() {
    use ringkv::expire::{ExpireCond, ExpireOp, Ttl};
    let cluster = cluster(ServerLimits::default());
    let mut client = Client::connect(&addr(&cluster)).await.unwrap();
    assert_eq!(client.ttl("t").await.unwrap(), Ttl::Missing);
    assert!(
        !client.expire("t", Duration::from_secs(60)).await.unwrap(),
        "no key, nothing to expire"
    );
    client.update("t", 3).await.unwrap();
    assert_eq!(client.ttl("t").await.unwrap(), Ttl::Persistent);
    assert!(client.expire("t", Duration::from_secs(60)).await.unwrap());
    let Ttl::Left(left) = client.ttl("t").await.unwrap() else {
        panic!("a deadline was set");
    };
    assert!(
        left > Duration::from_secs(55) && left <= Duration::from_secs(60),
        "{left:?}"
    );
    // The embedding API sees the same deadline, and NX refuses to replace it.
    assert!(matches!(cluster.ttl("t").await.unwrap(), Ttl::Left(_)));
    let nx = ExpireOp::At {
        at: i64::MAX,
        cond: ExpireCond::Nx,
    };
    assert_eq!(cluster.expire_op("t", nx).await.unwrap(), 0);
    assert!(cluster.persist("t").await.unwrap());
    assert!(!client.persist("t").await.unwrap(), "already persistent");
    assert_eq!(cluster.ttl("t").await.unwrap(), Ttl::Persistent);
    assert_eq!(
        client.get("t").await.unwrap(),
        3,
        "expiry calls keep the value"
    );
    // A short deadline passes: the key is gone, and a new update starts from 0.
    assert!(cluster
        .expire("t", Duration::from_millis(50))
        .await
        .unwrap());
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(client.ttl("t").await.unwrap(), Ttl::Missing);
    assert_eq!(client.update("t", 1).await.unwrap(), 1);
    cluster.shutdown().await;
}
