//! A `Status` flood against `ringkv serve`: one client pipelines 1,024 `Status` requests on one
//! framed connection and does not read, while another keeps reading a counter. The server's
//! memory must stay within its byte budget (plus a margin), the other client must keep being
//! answered, and the flooder gets every answer, each bounded, once it reads. The server runs in its
//! own process, so that the memory measured is the server's.

use crate::support::serve;

use std::time::{Duration, Instant};

use bytes::BytesMut;
use ringkv::protocol::codec::{decode, encode, write_frame};
use ringkv::{Request, Response};
use serve::Server;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const KEYS: usize = 20_000;
const FLOOD: u64 = 1_024;

fn frames(requests: impl IntoIterator<Item = (u64, Request)>) -> BytesMut {
    let mut out = BytesMut::new();
    for (id, request) in requests {
        write_frame(id, &encode(&request).expect("encodes"), &mut out);
    }
    out
}

async fn read_response(stream: &mut TcpStream) -> (u64, Response) {
    let len = stream.read_u32().await.expect("length") as usize;
    let mut rest = vec![0; len];
    stream.read_exact(&mut rest).await.expect("frame");
    let id = u64::from_be_bytes(rest[5..13].try_into().expect("8 bytes"));
    (id, decode(&rest[13..]).expect("a response"))
}

/// Writes `KEYS` distinct counters through one pipelined connection.
async fn load(addr: &str) {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut read, mut write) = stream.into_split();
    let updates = (0..KEYS).map(|i| {
        let key = format!("key:{i:06}");
        (i as u64 + 1, Request::Update { key, amount: 1 })
    });
    let bytes = frames(updates);
    let writer = tokio::spawn(async move { write.write_all(&bytes).await.expect("write") });
    for _ in 0..KEYS {
        let len = read.read_u32().await.expect("length") as usize;
        let mut rest = vec![0; len];
        read.read_exact(&mut rest).await.expect("frame");
        let answer: Response = decode(&rest[13..]).expect("a response");
        assert!(matches!(answer, Response::Updated { .. }), "{answer:?}");
    }
    writer.await.expect("writer");
}

/// GETs `canary` every 20 ms until `until`; returns the slowest answer's latency.
async fn probe(addr: String, until: Instant) -> (Duration, usize) {
    let mut stream = TcpStream::connect(&addr).await.expect("connect");
    let get = frames([(
        1,
        Request::Get {
            key: "key:000007".into(),
        },
    )]);
    let (mut slowest, mut answered) = (Duration::ZERO, 0);
    while Instant::now() < until {
        let started = Instant::now();
        stream.write_all(&get).await.expect("write");
        let answer =
            tokio::time::timeout(Duration::from_secs(10), read_response(&mut stream)).await;
        let (_, answer) = answer.expect("the probe is answered within 10 s");
        assert!(
            matches!(answer, Response::Count { value: 1, .. }),
            "{answer:?}"
        );
        slowest = slowest.max(started.elapsed());
        answered += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (slowest, answered)
}

#[tokio::test]
async fn a_pipelined_status_flood_stays_within_the_budget() {
    let server = Server::in_memory(&["--nodes", "3"]);
    let addr = server.addr();
    load(&addr).await;
    let rss_before = server.rss_kib();

    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .set_recv_buffer_size(4096)
        .expect("small receive buffer");
    let flooder = socket
        .connect(addr.parse().expect("addr"))
        .await
        .expect("connect");
    let statuses = frames((1..=FLOOD).map(|id| (id, Request::Status)));
    let (mut flood_read, mut flood_write) = flooder.into_split();
    let until = Instant::now() + Duration::from_secs(5);
    let probing = tokio::spawn(probe(addr.clone(), until));
    // The flooder writes everything (as far as the sockets take it) and reads nothing for as long
    // as the probe runs.
    let writer = tokio::spawn(async move {
        flood_write.write_all(&statuses).await.expect("write");
        flood_write
    });
    let (slowest, answered) = probing.await.expect("probe");
    let grown_kib = server.rss_kib().saturating_sub(rss_before);
    eprintln!(
        "rss +{grown_kib} KiB during the flood; probe: {answered} answers, slowest {slowest:?}"
    );
    assert!(
        grown_kib < 48 * 1024,
        "server memory grew by {grown_kib} KiB"
    );
    assert!(
        slowest < Duration::from_secs(1),
        "a probe waited {slowest:?}"
    );

    // Once the flooder reads, it gets an answer to everything it sent, each bounded.
    let mut seen = 0;
    let read_all = async {
        let mut bytes = BytesMut::new();
        while seen < FLOOD {
            if flood_read.read_buf(&mut bytes).await.expect("read") == 0 {
                break;
            }
            while bytes.len() >= 4 {
                let len = u32::from_be_bytes(bytes[..4].try_into().expect("4 bytes")) as usize;
                if bytes.len() < 4 + len {
                    break;
                }
                let frame = bytes.split_to(4 + len);
                let answer: Response = decode(&frame[17..]).expect("a response");
                let Response::Status(report) = answer else {
                    panic!("not a status: {answer:?}")
                };
                for node in &report.nodes {
                    let listed = node.counters.len() + node.replicas.len();
                    assert!(listed <= 100, "{listed} keys listed");
                    assert_eq!(
                        listed as u64 + node.more,
                        KEYS as u64,
                        "R=3: every key on every node"
                    );
                }
                seen += 1;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read_all)
        .await
        .expect("answers in time");
    assert!(seen >= FLOOD, "{seen} of {FLOOD} statuses answered");
    drop(writer.await.expect("the flooder's requests were all read"));
}
