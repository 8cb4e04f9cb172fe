//! A client of a running ringkv cluster over the framed TCP protocol.
//!
//! Start a cluster first (`ringkv serve --nodes 3`), then:
//!
//! ```text
//! cargo run --example client                  # talks to 127.0.0.1:5001
//! cargo run --example client -- 127.0.0.1:5002
//! ```
//!
//! It updates a counter, reads it back, sends a pipelined batch, shows what every node holds, and
//! shows how errors come back typed.

use ringkv::{Client, Error, Request, Response};

#[actix_rt::main]
async fn main() -> ringkv::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:5001".into());
    // Connecting fails with `Error::Io` if nothing listens, `Error::Timeout` if it takes over 5 s.
    let mut client = Client::connect(&addr).await?;

    let value = client.update("page-views", 1).await?;
    println!("page-views is now {value}");
    println!("page-views reads {}", client.get("page-views").await?);

    // Pipelining: every request goes out at once; answers come back in request order.
    let batch: Vec<Request> = ["a", "b", "c"]
        .iter()
        .map(|key| Request::Update {
            key: (*key).into(),
            amount: 10,
        })
        .collect();
    for answer in client.pipeline(&batch).await? {
        if let Response::Updated { key, value } = answer {
            println!("{key}: {value}");
        }
    }

    for node in client.status().await?.nodes {
        println!(
            "node on port {} holds {} counters",
            node.port,
            node.counters.len()
        );
    }

    // The server's refusals are typed errors; the connection stays usable.
    match client.update("", 1).await {
        Err(Error::BadRequest(reason)) => println!("refused as expected: {reason}"),
        other => println!("unexpected: {other:?}"),
    }
    Ok(())
}
