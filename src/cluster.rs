//! `Cluster`: the handle for embedding ringkv in another actix application.
//!
//! ```no_run
//! # async fn demo() -> ringkv::Result<()> {
//! use ringkv::{Cluster, ClusterConfig};
//! let cluster = Cluster::start(ClusterConfig { nodes: 3, base_port: 0, ..Default::default() })?;
//! cluster.update("clicks", 2).await?;
//! assert_eq!(cluster.get("clicks").await?, 2);
//! cluster.shutdown().await;
//! # Ok(()) }
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use crate::actors::router::bind;
use crate::actors::MAX_NODES;
use crate::actors::{Gateway, NodeSeed, Router, RouterConfig, ServerLimits, Shutdown};
use crate::error::{Error, Result};
use crate::expire::{ExpireOp, Ttl};
use crate::joining::{fresh_ids, node_links, peer_config, Peering};
use crate::persist::{ClusterMeta, DataDir, FsyncPolicy};
use crate::protocol::{Request, Response, RingReport, StatusReport};
use crate::replication::ReplicationConfig;
use crate::ring::{NodeId, DEFAULT_VNODES};

/// How to start a cluster.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// How many nodes to start (at least 1).
    pub nodes: usize,
    /// The first node's port; the others follow (5001, 5002, ...). 0 picks any free ports.
    pub base_port: u16,
    /// Virtual nodes per node on the ring.
    pub vnodes: u32,
    /// The address nodes listen on.
    pub host: String,
    /// Limits every node applies to its clients.
    pub limits: ServerLimits,
    /// R, W and Q.
    pub replication: ReplicationConfig,
    /// How long one node may take to answer a request before it counts as failed.
    pub request_timeout: Duration,
    /// Whether a crashed node is restarted by its supervisor (after `restart_backoff`).
    pub restart: bool,
    /// How long a crashed node stays down before it restarts.
    pub restart_backoff: Duration,
    /// How often anti-entropy checks whether a pass is due, and runs it (zero: never).
    pub anti_entropy_interval: Duration,
    /// Where nodes keep their logs (`None`, the default: in memory only). A directory that holds
    /// a cluster restores it: its nodes, ids, ports (unless `base_port` is 0), vnodes and R.
    pub data_dir: Option<PathBuf>,
    /// When logs are synced to disk.
    pub fsync: FsyncPolicy,
    /// The most nodes the cluster may have (at start and through `add-node`); at most
    /// [`MAX_NODES`].
    pub max_nodes: usize,
    /// Nodes (`HOST:PORT`) of a running cluster to join (`--join`); empty: start a new cluster,
    /// or restore the one the data directory holds (which rejoins its peers by itself). Call
    /// [`Cluster::connect`] after [`Cluster::start`] to join.
    pub join: Vec<String>,
    /// The host other processes reach this one's nodes at (`--advertise`; default `host`).
    /// With it (or `join`) the cluster may span processes: this process answers joins.
    pub advertise: Option<String>,
    /// TLS towards the node ports of other processes (their certificates must chain to its
    /// CA); needed when `limits.tls` is on and the cluster spans processes. The cluster secret
    /// is `limits.cluster_secret`, for both directions.
    pub node_tls: Option<crate::tls::TlsClient>,
    /// How long a retried tokened update is recognised and counted once (`--dedup-window`,
    /// default 60 s; see `docs/COUNTERS.md`).
    pub dedup_window: Duration,
    /// How long every replica must have held a deleted or expired key's tombstone unchanged
    /// before it is collected (`--tombstone-grace`, default 10 minutes; zero: never; see
    /// `docs/COUNTERS.md`).
    pub tombstone_grace: Duration,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        let router = RouterConfig::default();
        ClusterConfig {
            nodes: 3,
            base_port: 5001,
            vnodes: DEFAULT_VNODES,
            host: "127.0.0.1".into(),
            limits: ServerLimits::default(),
            replication: router.replication,
            request_timeout: router.request_timeout,
            restart: router.restart,
            restart_backoff: router.restart_backoff,
            anti_entropy_interval: router.anti_entropy_interval,
            data_dir: None,
            fsync: FsyncPolicy::default(),
            max_nodes: MAX_NODES,
            join: Vec::new(),
            advertise: None,
            node_tls: None,
            dedup_window: router.dedup_window,
            tombstone_grace: router.tombstone_grace,
        }
    }
}

/// A running cluster: the way into it (Router and direct path) and a typed async API over it.
#[derive(Clone)]
pub struct Cluster {
    gateway: Gateway,
    ports: Vec<u16>,
    data: Option<Arc<DataDir>>,
    /// Its part in a cluster of processes, if any.
    peers: Option<Arc<Peering>>,
}

impl Cluster {
    /// Binds every node's port, then starts the Router and its nodes. Call it inside a running actix
    /// `System`.
    ///
    /// # Errors
    /// [`Error::BadRequest`] for zero nodes, ports past 65535, or a number of nodes other than the
    /// data directory holds; [`Error::Bind`] if a port cannot be bound; [`Error::Storage`] if the
    /// data directory cannot be used (nothing is started then).
    pub fn start(mut config: ClusterConfig) -> Result<Cluster> {
        config.replication.validate()?;
        check_max_nodes(&config)?;
        let data = match &config.data_dir {
            Some(dir) => Some(Arc::new(DataDir::open(dir, config.fsync)?)),
            None => None,
        };
        let mut layout = match &data {
            Some(d) => layout(&mut config, d)?,
            None => fresh_layout(&config)?,
        };
        let stored = match &data {
            Some(d) => d.meta()?.and_then(|m| m.peers),
            None => None,
        };
        let peer_config = peer_config(&config, stored)?;
        if let Some(peers) = &peer_config {
            node_links(&config, peers)?.install();
        }
        if peer_config.as_ref().is_some_and(|p| p.joining) {
            fresh_ids(&mut layout);
        }
        let seeds = open_nodes(&config, data.as_deref(), &layout)?;
        let ports = seeds
            .iter()
            .map(|s| s.listener.local_addr().map(|a| a.port()))
            .collect::<std::io::Result<Vec<u16>>>()?;
        if let Some(d) = &data {
            let next_id = layout.iter().map(|&(id, _)| id).max().unwrap_or(0) + 1;
            d.save_meta(&ClusterMeta {
                vnodes: config.vnodes,
                replicas: config.replication.replicas,
                next_id: d.meta()?.map_or(next_id, |m| m.next_id.max(next_id)),
                nodes: layout
                    .iter()
                    .map(|&(id, _)| id)
                    .zip(ports.clone())
                    .collect(),
                peers: None,
            })?;
        }
        let router_config = RouterConfig {
            data: data.clone(),
            vnodes: config.vnodes,
            host: config.host.clone(),
            limits: config.limits.clone(),
            sequential_ports: config.base_port != 0,
            replication: config.replication,
            request_timeout: config.request_timeout,
            restart: config.restart,
            restart_backoff: config.restart_backoff,
            anti_entropy_interval: config.anti_entropy_interval,
            max_nodes: config.max_nodes,
            peers: peer_config.clone(),
            dedup_window: config.dedup_window,
            tombstone_grace: config.tombstone_grace,
        };
        let gateway = Router::start_with(router_config, seeds)?;
        let peers = peer_config.map(|p| {
            let standing = gateway.standing().clone();
            Arc::new(Peering::new(&config, &p, &layout, &ports, standing))
        });
        Ok(Cluster {
            gateway,
            ports,
            data,
            peers,
        })
    }

    /// Writes and syncs every node's log, stops the log writers and releases the data directory's
    /// lock. Nothing is logged after it. Does nothing without a data directory.
    pub fn close_storage(&self) {
        if let Some(data) = &self.data {
            data.close();
        }
    }

    /// Takes this process into its cluster of processes: joins the cluster that
    /// [`ClusterConfig::join`] names (its nodes get the keys they now replicate), or catches up
    /// with the processes the data directory remembers; then starts failure detection. Does
    /// nothing for a cluster in one process. A cluster whose data directory remembers other
    /// processes answers reads and writes only once this has caught up with their ring (until
    /// then: `unavailable: this process is catching up ...`); if their newest layout no longer
    /// names this process's nodes, it never serves them again and this returns that error.
    ///
    /// # Errors
    /// [`Error::Unavailable`] if no node to join answers; the contacted node's refusal;
    /// [`Error::Bind`] if the membership socket cannot be bound.
    pub async fn connect(&self) -> Result<()> {
        match &self.peers {
            Some(peers) => peers.connect(self.gateway.router()).await,
            None => Ok(()),
        }
    }

    /// This process's membership address (`HOST:PORT` of its node with the lowest port), once it may span
    /// processes.
    pub fn process_addr(&self) -> Option<std::net::SocketAddr> {
        self.peers.as_ref().map(|p| p.me())
    }

    /// The Router's address, for sending [`crate::actors::Exec`] messages directly (every
    /// request then takes the Router's path; [`Cluster::execute`] takes the direct path when it
    /// can).
    pub fn router(&self) -> Addr<Router> {
        self.gateway.router().clone()
    }

    /// The way into the cluster that RESP servers and sessions use: the direct path for reads and
    /// updates whose replicas are all up, the Router for the rest.
    pub fn gateway(&self) -> Gateway {
        self.gateway.clone()
    }

    /// The ports the cluster started with.
    pub fn ports(&self) -> &[u16] {
        &self.ports
    }

    /// Runs any request and returns the cluster's answer (errors as [`Response::Error`]).
    pub async fn execute(&self, request: Request) -> Response {
        self.gateway.execute(request).await
    }

    async fn call(&self, request: Request) -> Result<Response> {
        match self.execute(request).await {
            Response::Error(reply) => Err(Error::from(reply)),
            other => Ok(other),
        }
    }

    /// Adds `amount` (negative: takes it away) to `key`; returns the new value.
    ///
    /// # Errors
    /// Overflow, an invalid key, or no node running.
    pub async fn update(&self, key: &str, amount: i64) -> Result<i64> {
        let request = Request::Update {
            key: key.to_owned(),
            amount,
        };
        match self.call(request).await? {
            Response::Updated { value, .. } => Ok(value),
            other => Err(unexpected(&other)),
        }
    }

    /// Deletes `key` (an observed reset: an update concurrent with it is kept, see
    /// `docs/COUNTERS.md`); returns its value before, `None` if it did not exist.
    ///
    /// # Errors
    /// An invalid key, too few replicas, an unknown outcome, or no node running.
    pub async fn delete(&self, key: &str) -> Result<Option<i64>> {
        let request = Request::Delete {
            key: key.to_owned(),
        };
        match self.call(request).await? {
            Response::Deleted { old, .. } => Ok(old),
            other => Err(unexpected(&other)),
        }
    }

    /// Sets `key` to `value` (a reset, then an increment: an update concurrent with it adds to
    /// `value`); returns its value before, `None` if it did not exist.
    ///
    /// # Errors
    /// An invalid key, too few replicas, an unknown outcome, or no node running.
    pub async fn set(&self, key: &str, value: i64) -> Result<Option<i64>> {
        let request = Request::Set {
            key: key.to_owned(),
            value,
        };
        match self.call(request).await? {
            Response::Replaced { old, .. } => Ok(old),
            other => Err(unexpected(&other)),
        }
    }

    /// Gives `key` a deadline `ttl` from now (Redis's `EXPIRE`; a zero `ttl` deletes it);
    /// returns whether the key existed. Deadlines are wall-clock, see `docs/COUNTERS.md`.
    ///
    /// # Errors
    /// An invalid key, too few replicas, an unknown outcome, or no node running.
    pub async fn expire(&self, key: &str, ttl: Duration) -> Result<bool> {
        Ok(self.expire_op(key, ExpireOp::after(ttl)).await? == 1)
    }

    /// Removes `key`'s deadline (Redis's `PERSIST`); returns whether it had one.
    ///
    /// # Errors
    /// An invalid key, too few replicas, an unknown outcome, or no node running.
    pub async fn persist(&self, key: &str) -> Result<bool> {
        Ok(self.expire_op(key, ExpireOp::Persist).await? == 1)
    }

    /// `key`'s time to live (Redis's `TTL`): missing, persistent, or the time left.
    ///
    /// # Errors
    /// An invalid key, too few replicas, an unknown outcome, or no node running.
    pub async fn ttl(&self, key: &str) -> Result<Ttl> {
        let answer = self.expire_op(key, ExpireOp::Deadline).await?;
        Ok(Ttl::of(answer, crate::counter::now_ms()))
    }

    /// Runs one expiry operation on `key` (any of [`ExpireOp`], `NX`/`XX`/`GT`/`LT` included);
    /// returns its answer as [`Response::Expiry`] documents it.
    ///
    /// # Errors
    /// An invalid key, too few replicas, an unknown outcome, or no node running.
    pub async fn expire_op(&self, key: &str, op: ExpireOp) -> Result<i64> {
        let request = Request::Expire {
            key: key.to_owned(),
            op,
        };
        match self.call(request).await? {
            Response::Expiry { answer, .. } => Ok(answer),
            other => Err(unexpected(&other)),
        }
    }

    /// The value of `key` (0 if never updated).
    ///
    /// # Errors
    /// An invalid key, or no node running.
    pub async fn get(&self, key: &str) -> Result<i64> {
        match self
            .call(Request::Get {
                key: key.to_owned(),
            })
            .await?
        {
            Response::Count { value, .. } => Ok(value),
            other => Err(unexpected(&other)),
        }
    }

    /// Every node and its first counters: at most
    /// [`crate::protocol::STATUS_KEYS_PER_NODE`] per node, `more` counts the rest (see
    /// [`Cluster::status_all`] for every key).
    ///
    /// # Errors
    /// The cluster is shut down.
    pub async fn status(&self) -> Result<StatusReport> {
        match self.call(Request::Status).await? {
            Response::Status(report) => Ok(report),
            other => Err(unexpected(&other)),
        }
    }

    /// Every node with every key it holds (`status --all` as one report; `more` is 0 in every
    /// node). Its size grows with the store.
    ///
    /// # Errors
    /// As [`Cluster::status`].
    pub async fn status_all(&self) -> Result<StatusReport> {
        crate::status_all::full_report(|request| async move { Ok(self.execute(request).await) })
            .await
    }

    /// Each node's share of the ring.
    ///
    /// # Errors
    /// The cluster is shut down.
    pub async fn ring(&self) -> Result<RingReport> {
        match self.call(Request::Ring).await? {
            Response::Ring(report) => Ok(report),
            other => Err(unexpected(&other)),
        }
    }

    /// Starts a node (on `port`, or any free port) and moves to it the keys it now owns. Returns its
    /// port and how many keys moved.
    ///
    /// # Errors
    /// [`Error::Bind`] if the port cannot be bound.
    pub async fn add_node(&self, port: Option<u16>) -> Result<(u16, u64)> {
        match self.call(Request::AddNode { port }).await? {
            Response::NodeAdded { port, keys_moved } => Ok((port, keys_moved)),
            other => Err(unexpected(&other)),
        }
    }

    /// Hands the node's keys to their new owners, then stops it. Returns how many keys moved.
    ///
    /// # Errors
    /// No node on `port`, or it is the last one.
    pub async fn remove_node(&self, port: u16) -> Result<u64> {
        match self.call(Request::RemoveNode { port }).await? {
            Response::NodeRemoved { keys_moved, .. } => Ok(keys_moved),
            other => Err(unexpected(&other)),
        }
    }

    /// Like [`Cluster::remove_node`], even when fewer nodes than R remain (R is lowered to what
    /// is left; the last node is still refused).
    ///
    /// # Errors
    /// No node on `port`, or it is the last one.
    pub async fn remove_node_force(&self, port: u16) -> Result<u64> {
        match self.call(Request::RemoveNodeForce { port }).await? {
            Response::NodeRemoved { keys_moved, .. } => Ok(keys_moved),
            other => Err(unexpected(&other)),
        }
    }

    /// Crashes the node on `port`. Returns how many keys were lost with it (none with a data
    /// directory and restarts on: the node reloads its log when it comes back).
    ///
    /// # Errors
    /// No node on `port`.
    pub async fn kill_node(&self, port: u16) -> Result<u64> {
        match self.call(Request::KillNode { port }).await? {
            Response::NodeKilled { keys_lost, .. } => Ok(keys_lost),
            other => Err(unexpected(&other)),
        }
    }

    /// Makes the node on `port` stop answering for `pause` (like SIGSTOP).
    ///
    /// # Errors
    /// No node on `port`.
    pub async fn pause_node(&self, port: u16, pause: Duration) -> Result<()> {
        let millis = pause.as_millis().min(u64::MAX as u128) as u64;
        match self.call(Request::PauseNode { port, millis }).await? {
            Response::NodePaused { .. } => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// Stops the Router and every node; their listeners close.
    pub async fn shutdown(self) {
        // The other processes hear at once that this one is down (not gone).
        if let Some(peers) = &self.peers {
            peers.leave().await;
        }
        // Stop every node cleanly first (nothing more is written), then sync and close the logs.
        let _ = self.gateway.router().send(Shutdown).await;
        self.close_storage();
    }
}

fn unexpected(response: &Response) -> Error {
    Error::Server(format!("unexpected answer: {response:?}"))
}

/// Refuses a `max_nodes` of 0 or past [`MAX_NODES`], and more nodes than `max_nodes`.
fn check_max_nodes(config: &ClusterConfig) -> Result<()> {
    if config.max_nodes == 0 || config.max_nodes > MAX_NODES {
        return Err(Error::BadRequest(format!(
            "the maximum number of nodes must be from 1 to {MAX_NODES}, not {}",
            config.max_nodes
        )));
    }
    if config.nodes > config.max_nodes {
        return Err(Error::BadRequest(format!(
            "{} nodes exceed the maximum of {}",
            config.nodes, config.max_nodes
        )));
    }
    Ok(())
}

/// The ids and ports of a cluster restored from `data`, or a fresh one. Takes vnodes and R from
/// the stored membership.
fn layout(config: &mut ClusterConfig, data: &DataDir) -> Result<Vec<(NodeId, u16)>> {
    let Some(meta) = data.meta()? else {
        return fresh_layout(config);
    };
    if meta.nodes.len() != config.nodes {
        return Err(Error::BadRequest(format!(
            "the data directory {} holds a cluster of {} nodes, not {}: start it without --nodes \
             (or with --nodes {}) and use add-node/remove-node, or use another --data-dir",
            data.path().display(),
            meta.nodes.len(),
            config.nodes,
            meta.nodes.len()
        )));
    }
    if meta.vnodes != config.vnodes || meta.replicas != config.replication.replicas {
        tracing::info!(
            "the data directory keeps vnodes {} and replicas {}; using those",
            meta.vnodes,
            meta.replicas
        );
    }
    config.vnodes = meta.vnodes;
    config.replication.replicas = meta.replicas;
    config.replication.validate()?;
    let keep_ports = config.base_port != 0;
    Ok(meta
        .nodes
        .into_iter()
        .map(|(id, port)| (id, if keep_ports { port } else { 0 }))
        .collect())
}

/// Ids 1..=N on consecutive ports from `base_port` (or any free ports).
fn fresh_layout(config: &ClusterConfig) -> Result<Vec<(NodeId, u16)>> {
    if config.nodes == 0 {
        return Err(Error::BadRequest(
            "the number of nodes must be at least 1".into(),
        ));
    }
    let last = config.base_port as usize + config.nodes - 1;
    if config.base_port != 0 && last > u16::MAX as usize {
        return Err(Error::BadRequest(format!(
            "{} nodes from port {} would pass port 65535",
            config.nodes, config.base_port
        )));
    }
    Ok((0..config.nodes)
        .map(|i| {
            let port = if config.base_port == 0 {
                0
            } else {
                config.base_port + i as u16
            };
            (i as NodeId + 1, port)
        })
        .collect())
}

/// Binds every node's port, then opens every node's log; all or nothing.
fn open_nodes(
    config: &ClusterConfig,
    data: Option<&DataDir>,
    layout: &[(NodeId, u16)],
) -> Result<Vec<NodeSeed>> {
    let listeners = layout
        .iter()
        .map(|&(_, port)| bind(&config.host, port))
        .collect::<Result<Vec<_>>>()?;
    layout
        .iter()
        .zip(listeners)
        .map(|(&(id, _), listener)| {
            let restored = data.map(|d| d.open_node(id)).transpose()?;
            Ok(NodeSeed {
                id,
                listener,
                restored,
            })
        })
        .collect()
}
