//! How a [`Cluster`](crate::Cluster) takes part in a cluster of several processes: which
//! settings make it one ([`peer_config`]), the `Join` handshake, catching up with a layout that
//! changed while it was away, and the failure detector ([`crate::membership`]) that tells its
//! Router when another process goes down or comes back.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix::prelude::*;

use crate::actors::remote::{ask, NodeLinks};
use crate::actors::router::{Learned, PeerConfig, ASK_TIMEOUT};
use crate::actors::standing::removed_line;
use crate::actors::{Exec, Router, Stand, Standing};
use crate::auth::cluster_secret::ClusterSecret;
use crate::cluster::ClusterConfig;
use crate::error::{Error, Result};
use crate::layout::{fresh_id, Layout};
use crate::membership::{self, MembershipActor, MembershipConfig};
use crate::persist::StoredPeers;
use crate::protocol::{Request, Response};
use crate::ring::NodeId;

/// How long a join may take: the contacted process copies this process's share of the keys
/// before it answers.
const JOIN_TIMEOUT: Duration = Duration::from_secs(600);

/// How long a join keeps trying while other membership changes are under way.
const BUSY_FOR: Duration = Duration::from_secs(60);

/// The Router's part in a cluster of processes, from the cluster's settings and what its data
/// directory remembers (`None`: a cluster in one process, as before).
///
/// # Errors
/// [`Error::BadRequest`] for an advertised address that is not an IP others can reach.
pub(crate) fn peer_config(
    config: &ClusterConfig,
    stored: Option<StoredPeers>,
) -> Result<Option<PeerConfig>> {
    if config.advertise.is_none() && config.join.is_empty() && stored.is_none() {
        return Ok(None);
    }
    let advertise = match (&config.advertise, &stored) {
        (Some(host), _) => parse_ip(host)?,
        (None, Some(s)) => s.advertise,
        (None, None) => parse_ip(&config.host)?,
    };
    if advertise.is_unspecified() {
        return Err(Error::BadRequest(format!(
            "other processes cannot reach {advertise}: give --advertise HOST"
        )));
    }
    let joining = stored.is_none() && !config.join.is_empty();
    Ok(Some(PeerConfig {
        advertise,
        epoch: stored.as_ref().map_or(0, |s| s.epoch),
        remote: stored.map(|s| s.remote).unwrap_or_default(),
        joining,
    }))
}

/// How this process dials the others' node ports, once [`peer_config`] made it one of a cluster
/// of processes: its cluster secret and node TLS. Passwords with no secret, or TLS with no way
/// to verify the other nodes, cannot work across processes: refused when the process joins or
/// remembers other processes; a lone process only says so once.
///
/// # Errors
/// [`Error::BadRequest`] saying which flag to add.
pub(crate) fn node_links(config: &ClusterConfig, peers: &PeerConfig) -> Result<NodeLinks> {
    let others = !config.join.is_empty() || !peers.remote.is_empty();
    let secret = config.limits.cluster_secret.clone();
    let mut missing = Vec::new();
    if config.limits.access.required() && secret.is_none() {
        missing.push(
            "passwords are on but there is no --cluster-secret-file: the nodes of other \
             processes could not call this one's; give every process the same \
             --cluster-secret-file",
        );
    }
    if config.limits.tls.is_some() && config.node_tls.is_none() {
        missing.push(
            "TLS is on but there is no --tls-ca-cert-file: this process could not verify the \
             other processes' nodes; give every process the cluster's CA",
        );
    }
    match missing.first() {
        Some(why) if others => return Err(Error::BadRequest((*why).to_owned())),
        Some(why) => tracing::info!("no other process can join this one: {why}"),
        None => {}
    }
    Ok(NodeLinks {
        secret,
        tls: config.node_tls.clone(),
    })
}

fn parse_ip(host: &str) -> Result<IpAddr> {
    if let Ok(ip) = host.parse() {
        return Ok(ip);
    }
    (host, 0)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .map(|a| a.ip())
        .ok_or_else(|| Error::BadRequest(format!("'{host}' is not an address of this host")))
}

/// Gives the nodes of a joining process ids of their own (random, so that two processes joining
/// at once through two different nodes do not pick the same).
pub(crate) fn fresh_ids(layout: &mut [(NodeId, u16)]) {
    let mut taken = std::collections::BTreeSet::new();
    for (id, _) in layout.iter_mut() {
        *id = fresh_id(&taken);
        taken.insert(*id);
    }
}

/// What a process of a cluster of processes needs to join it and watch the others.
pub(crate) struct Peering {
    me: SocketAddr,
    bind: SocketAddr,
    join: Vec<String>,
    joining: bool,
    nodes: Vec<(NodeId, SocketAddr)>,
    membership: Mutex<Option<Addr<MembershipActor>>>,
    /// Seals the membership datagrams (`--cluster-secret-file`).
    secret: Option<ClusterSecret>,
    /// Whether this process serves reads and writes (it catches up first).
    standing: Standing,
}

impl Peering {
    /// The peering of a process whose nodes are `layout` (ids) listening on `ports`.
    pub(crate) fn new(
        config: &ClusterConfig,
        peers: &PeerConfig,
        layout: &[(NodeId, u16)],
        ports: &[u16],
        standing: Standing,
    ) -> Peering {
        // The process is named by its node with the lowest port (as its Router names it).
        let first = ports.iter().copied().min().unwrap_or(0);
        let nodes = layout
            .iter()
            .zip(ports)
            .map(|(&(id, _), &port)| (id, SocketAddr::new(peers.advertise, port)))
            .collect();
        let bind_ip = parse_ip(&config.host).unwrap_or(peers.advertise);
        Peering {
            me: SocketAddr::new(peers.advertise, first),
            bind: SocketAddr::new(bind_ip, first),
            join: config.join.clone(),
            joining: peers.joining,
            nodes,
            membership: Mutex::new(None),
            secret: config.limits.cluster_secret.clone(),
            standing,
        }
    }

    /// This process's membership address.
    pub(crate) fn me(&self) -> SocketAddr {
        self.me
    }

    /// Joins (or catches up), then starts failure detection with every other process as a seed.
    pub(crate) async fn connect(&self, router: &Addr<Router>) -> Result<()> {
        if self.joining {
            let layout = self.join_any().await?;
            let _ = router
                .send(Exec(Request::PushLayout {
                    layout,
                    moving: false,
                }))
                .await;
        }
        let layout = current_layout(router).await?;
        if !self.joining {
            catch_up(router, &layout, self.me).await;
            if let Stand::Removed(epoch) = self.standing.now() {
                return Err(Error::Unavailable(removed_line(epoch)));
            }
            self.standing.caught_up();
        }
        let layout = current_layout(router).await?;
        let generation = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_millis() as u64);
        let events = router.clone().recipient();
        let config = MembershipConfig::default();
        let secret = self.secret.clone();
        let (actor, _) =
            MembershipActor::start(self.bind, Some(self.me), generation, config, events, secret)
                .await?;
        let seeds: Vec<SocketAddr> = layout
            .processes()
            .into_iter()
            .filter(|&p| p != self.me)
            .collect();
        actor.do_send(membership::Join(seeds));
        *self.membership.lock().unwrap_or_else(|p| p.into_inner()) = Some(actor);
        Ok(())
    }

    /// Asks each `--join` address in turn to take this process's nodes in. While another
    /// membership change is under way (two started at once refuse each other), tries again after
    /// a random pause, for up to [`BUSY_FOR`].
    async fn join_any(&self) -> Result<Layout> {
        let deadline = tokio::time::Instant::now() + BUSY_FOR;
        loop {
            let (failures, busy) = match self.try_each().await {
                Ok(layout) => return Ok(layout),
                Err(failed) => failed,
            };
            if !busy || tokio::time::Instant::now() > deadline {
                // The caller says "cannot join the cluster"; this says why.
                return Err(Error::Unavailable(format!(
                    "none of the join addresses took this process in: {}",
                    failures.join("; ")
                )));
            }
            let pause = Duration::from_millis(100 + rand::random::<u64>() % 900);
            tracing::info!("another membership change is under way; joining again in {pause:?}");
            tokio::time::sleep(pause).await;
        }
    }

    /// One try of every `--join` address: the layout, or each failure and whether one of them
    /// was a change under way.
    async fn try_each(&self) -> std::result::Result<Layout, (Vec<String>, bool)> {
        let request = Request::Join {
            process: self.me,
            nodes: self.nodes.clone(),
        };
        let (mut failures, mut busy) = (Vec::new(), false);
        for addr in &self.join {
            match ask(addr, &request, JOIN_TIMEOUT).await {
                Ok(Response::Layout(layout)) if layout.check().is_ok() => return Ok(layout),
                Ok(other) => failures.push(format!("{addr}: unexpected answer {other:?}")),
                Err(e) => {
                    busy |= e.to_string().contains("under way");
                    failures.push(format!("{addr}: {e}"));
                }
            }
        }
        Err((failures, busy))
    }

    /// Tells the other processes this one is going down (SIGTERM: down, not gone).
    pub(crate) async fn leave(&self) {
        let actor = self
            .membership
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(actor) = actor {
            let _ = actor.send(membership::Leave).await;
        }
    }
}

/// The layout the Router holds now.
async fn current_layout(router: &Addr<Router>) -> Result<Layout> {
    match router.send(Exec(Request::Layout)).await {
        Ok(Response::Layout(layout)) => Ok(layout),
        Ok(Response::Error(e)) => Err(Error::from(e)),
        _ => Err(Error::Shutdown),
    }
}

/// Asks the other processes of `layout` for theirs (all at once) and installs the newest, so
/// that a process that was away learns the changes it missed before it serves. A newest layout
/// without this process's nodes marks it removed (the Router's [`Learned`]).
async fn catch_up(router: &Addr<Router>, layout: &Layout, me: SocketAddr) {
    let asks = layout
        .processes()
        .into_iter()
        .filter(|&p| p != me)
        .map(|process| async move {
            match ask(&process.to_string(), &Request::Layout, ASK_TIMEOUT).await {
                Ok(Response::Layout(l)) => Some(l),
                Ok(_) => None,
                Err(e) => {
                    tracing::info!("catching up: {process} did not answer: {e}");
                    None
                }
            }
        });
    let answers = futures_util::future::join_all(asks).await;
    let newest = answers.into_iter().flatten().max_by_key(|l| l.epoch);
    if let Some(newest) = newest.filter(|l| l.epoch > layout.epoch) {
        let _ = router.send(Learned(newest)).await;
    }
}
