//! Embedding ringkv in your own actix application.
//!
//! A `PageViews` actor of "your" application counts page views in a 3-node ringkv cluster started
//! in the same actix `System`. Run with `cargo run --release --example embed`.

use actix::prelude::*;
use ringkv::{Cluster, ClusterConfig};

/// A page was viewed.
#[derive(Message)]
#[rtype(result = "ringkv::Result<i64>")]
struct Viewed(&'static str);

/// Your application's actor: it holds the cluster handle and counts views through it.
struct PageViews {
    cluster: Cluster,
}

impl Actor for PageViews {
    type Context = Context<Self>;
}

impl Handler<Viewed> for PageViews {
    type Result = ResponseFuture<ringkv::Result<i64>>;

    fn handle(&mut self, Viewed(page): Viewed, _: &mut Context<Self>) -> Self::Result {
        let cluster = self.cluster.clone();
        Box::pin(async move { cluster.update(page, 1).await })
    }
}

#[actix_rt::main]
async fn main() -> ringkv::Result<()> {
    // base_port 0: any free ports, so the example never collides with a running store.
    let cluster = Cluster::start(ClusterConfig {
        nodes: 3,
        base_port: 0,
        ..Default::default()
    })?;
    println!("ringkv nodes listening on ports {:?}", cluster.ports());

    let views = PageViews {
        cluster: cluster.clone(),
    }
    .start();
    for page in ["/", "/about", "/", "/pricing", "/"] {
        let count = views
            .send(Viewed(page))
            .await
            .map_err(ringkv::Error::from)??;
        println!("{page} viewed {count} time(s)");
    }

    // Membership changes keep every count.
    let (port, moved) = cluster.add_node(None).await?;
    println!("added a node on port {port}; {moved} key(s) moved to it");
    println!("views of /: {}", cluster.get("/").await?);

    for node in cluster.status().await?.nodes {
        println!("node {}: {:?}", node.port, node.counters);
    }
    cluster.shutdown().await;
    Ok(())
}
