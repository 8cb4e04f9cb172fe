//! Node calls over the wire: a [`RemoteNode`] in this process drives the node of a `ringkv serve`
//! child process through the same `NodeCall`s the Router sends its local nodes, pipelined, and
//! fails cleanly when that process is unreachable or dies.

use crate::support::serve;

use std::time::{Duration, Instant};

use futures::future::join_all;
use ringkv::actors::{NodeCall, NodeOp, NodeReply, RemoteNode};
use ringkv::counter::Counter;
use ringkv::ring::Ring;
use ringkv::store::Entry;
use ringkv::Error;
use serve::Server;

fn start() -> Server {
    Server::in_memory(&["--nodes", "1", "--replicas", "1"])
}

/// `ringkv client get KEY` against the server: what its own node holds.
fn get(server: &Server, key: &str) -> String {
    server.client(&["get", key]).trim().to_owned()
}

async fn call(node: &actix::Recipient<NodeCall>, op: NodeOp) -> ringkv::Result<NodeReply> {
    node.send(NodeCall(op)).await.expect("the stand-in runs")
}

fn increment(key: &str, amount: i64) -> NodeOp {
    NodeOp::Increment {
        key: key.into(),
        amount,
        hint_for: None,
    }
}

fn value(reply: ringkv::Result<NodeReply>) -> i64 {
    match reply {
        Ok(NodeReply::State(Some(counter))) => counter.value(),
        other => panic!("not a state: {other:?}"),
    }
}

#[actix_rt::test]
async fn node_calls_reach_a_node_in_another_process() {
    let server = start();
    let node = RemoteNode::start_for(server.addr());
    assert_eq!(value(call(&node, increment("a", 5)).await), 5);
    let read = NodeOp::Read {
        key: "a".into(),
        hint_for: None,
    };
    assert_eq!(value(call(&node, read.clone()).await), 5);
    assert_eq!(
        get(&server, "a"),
        "Count for a: 5",
        "the child's node holds it"
    );

    let entry = Entry {
        key: "b".into(),
        counter: Counter::with_count(99, 7),
    };
    let merge = NodeOp::Merge {
        entries: vec![entry],
        hint_for: None,
    };
    assert!(matches!(call(&node, merge).await, Ok(NodeReply::Count(1))));
    assert_eq!(get(&server, "b"), "Count for b: 7");

    // Pipelined: every call answered, every increment counted once.
    let calls = (0..5_000).map(|_| call(&node, increment("a", 1)));
    let answers = join_all(calls).await;
    assert!(answers
        .iter()
        .all(|a| matches!(a, Ok(NodeReply::State(Some(_))))));
    assert_eq!(value(call(&node, read).await), 5_005);

    // Calls that carry rings: the child rebuilds the ring from its spec.
    let ring = std::sync::Arc::new(Ring::with_nodes(256, [1]));
    let summary = NodeOp::Summary {
        ring: ring.clone(),
        limit: 10,
    };
    match call(&node, summary).await {
        Ok(NodeReply::Summary(s)) => {
            assert_eq!(s.keys, 2);
            let keys: Vec<&str> = s.counters.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(keys, ["a", "b"], "node 1 owns every key of a one-node ring");
        }
        other => panic!("not a summary: {other:?}"),
    }
    match call(&node, NodeOp::Digests(ring)).await {
        Ok(NodeReply::Digests(digests)) => assert!(!digests.is_empty()),
        other => panic!("not digests: {other:?}"),
    }
    // A call the node refuses comes back as its error, and the link goes on.
    let too_long = NodeOp::Pause(Duration::from_secs(10 * 86_400));
    assert!(matches!(
        call(&node, too_long).await,
        Err(Error::BadRequest(_))
    ));
    assert!(matches!(
        call(&node, NodeOp::Ping).await,
        Ok(NodeReply::Done)
    ));
}

#[actix_rt::test]
async fn an_unreachable_or_dead_process_fails_calls_cleanly() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = closed.local_addr().expect("addr");
    drop(closed);
    let node = RemoteNode::start_for(addr.to_string());
    let started = Instant::now();
    assert!(matches!(
        call(&node, NodeOp::Ping).await,
        Err(Error::Unavailable(_))
    ));
    assert!(matches!(
        call(&node, NodeOp::Ping).await,
        Err(Error::Unavailable(_))
    ));
    assert!(started.elapsed() < Duration::from_secs(3));

    let mut server = start();
    let node = RemoteNode::start_for(server.addr());
    assert!(matches!(
        call(&node, NodeOp::Ping).await,
        Ok(NodeReply::Done)
    ));
    let calls = join_all((0..2_000).map(|_| call(&node, increment("k", 1))));
    let kill = async {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let _ = server.child.kill();
        let _ = server.child.wait();
    };
    let (answers, ()) =
        tokio::time::timeout(Duration::from_secs(10), async { tokio::join!(calls, kill) })
            .await
            .expect("every call ends once the process is gone");
    for answer in &answers {
        assert!(
            // Unavailable: never sent; Uncertain: sent, and the process died before answering
            // (it may have applied it), never a refusal that hides an applied increment.
            matches!(
                answer,
                Ok(NodeReply::State(_)) | Err(Error::Unavailable(_)) | Err(Error::Uncertain(_))
            ),
            "{answer:?}"
        );
    }
    assert!(matches!(
        call(&node, NodeOp::Ping).await,
        Err(Error::Unavailable(_))
    ));
}

/// A call that was written to the link and whose answer never comes (the process read it, then
/// died) may have been applied: it must answer `Uncertain`, never the `Unavailable` of a call
/// that was refused before it left (a client treats the two differently: it may retry only the
/// refused one without counting twice).
#[actix_rt::test]
async fn a_call_sent_and_never_answered_is_uncertain_not_refused() {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let reader = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.expect("accept");
        // Read the whole call, then close without an answer.
        let mut buf = [0u8; 64];
        let n = socket.read(&mut buf).await.expect("read");
        drop(socket);
        n
    });
    let node = RemoteNode::start_for(addr.to_string());
    let answer = tokio::time::timeout(Duration::from_secs(10), call(&node, increment("k", 5)))
        .await
        .expect("the call ends once the connection closes");
    assert!(
        reader.await.expect("the fake node ran") > 0,
        "the call reached the other end"
    );
    assert!(
        matches!(answer, Err(Error::Uncertain(_))),
        "a sent call whose answer was lost is uncertain: {answer:?}"
    );
}
