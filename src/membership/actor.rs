//! The one actor that owns a process's membership: its UDP socket, its timers and its core.
//! Datagrams in go to the core; what the core produces goes out (datagrams with `send_to`,
//! timers with `run_later`, member events to the recipient given at start).

use std::net::SocketAddr;
use std::sync::Arc;

use actix::prelude::*;
use tokio::net::UdpSocket;

use super::config::{MembershipConfig, MAX_PACKET};
use super::engine::{MembershipCore, Output};
use super::event::MemberEvent;
use super::identity::ProcessId;
use super::wire::OVERHEAD;
use crate::auth::cluster_secret::ClusterSecret;
use crate::error::{Error, Result};

impl Message for MemberEvent {
    type Result = ();
}

/// Announce this process to these seed addresses (`--join`).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Join(pub Vec<SocketAddr>);

/// Leave gracefully (SIGTERM): tell a few members this process is down, then stop.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct Leave;

/// Stop at once, saying nothing (the others find out by failure detection).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct Halt;

/// The addresses this process holds alive, now.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Vec<SocketAddr>")]
pub struct MembersUp;

/// A datagram that arrived, and where from.
struct Incoming(std::io::Result<(Vec<u8>, SocketAddr)>);

impl Message for Incoming {
    type Result = ();
}

/// Owns the membership socket and core of one process.
pub struct MembershipActor {
    core: MembershipCore,
    socket: Arc<UdpSocket>,
    events: Recipient<MemberEvent>,
}

impl MembershipActor {
    /// Binds the UDP socket on `bind` (port 0 picks one) and starts the actor. The process's
    /// identity is `advertise` (for a socket bound to `0.0.0.0`, or behind a translated
    /// address), else the bound address, with `generation`. With `secret`, every datagram is
    /// sealed with it and every datagram not sealed with it is dropped (and counted, and logged).
    /// Returns the actor and its identity's address.
    ///
    /// # Errors
    /// [`Error::BadRequest`] for timings that fail [`MembershipConfig::check`] or an advertised
    /// address others cannot reach (unspecified IP, port 0); [`Error::Bind`] if the socket
    /// cannot be bound.
    pub async fn start(
        bind: SocketAddr,
        advertise: Option<SocketAddr>,
        generation: u64,
        config: MembershipConfig,
        events: Recipient<MemberEvent>,
        secret: Option<ClusterSecret>,
    ) -> Result<(Addr<Self>, SocketAddr)> {
        config.check()?;
        let bind_error = |e: std::io::Error| Error::Bind {
            port: bind.port(),
            reason: e.to_string(),
        };
        if let Some(addr) = advertise {
            reachable(addr)?;
        }
        let socket = UdpSocket::bind(bind).await.map_err(bind_error)?;
        let addr = match advertise {
            Some(addr) => addr,
            None => reachable(socket.local_addr().map_err(bind_error)?)?,
        };
        let id = ProcessId::new(addr, generation);
        let mut core = MembershipCore::new(id, &config, rand::random())?;
        if let Some(secret) = secret {
            core.seal(secret);
        }
        let actor = Self {
            core,
            socket: Arc::new(socket),
            events,
        };
        Ok((actor.start(), addr))
    }

    /// Sends, schedules and reports what the core produced.
    fn flush(&mut self, ctx: &mut Context<Self>) {
        let Output {
            sends,
            timers,
            events,
        } = self.core.drain();
        for send in sends {
            // UDP: a full send buffer drops the datagram, which SWIM tolerates like any loss.
            if let Err(e) = self.socket.try_send_to(&send.data, send.to) {
                tracing::debug!("membership: cannot send to {}: {e}", send.to);
            }
        }
        for (after, timer) in timers {
            ctx.run_later(after, move |act, ctx| {
                if let Err(e) = act.core.handle_timer(timer) {
                    tracing::debug!("membership timer: {e}");
                }
                act.flush(ctx);
            });
        }
        for event in events {
            tracing::info!("membership: {event:?}");
            self.events.do_send(event);
        }
    }
}

/// `addr` if others can send to it (not an unspecified IP, not port 0).
fn reachable(addr: SocketAddr) -> Result<SocketAddr> {
    if addr.ip().is_unspecified() || addr.port() == 0 {
        return Err(Error::BadRequest(format!(
            "membership: {addr} cannot be advertised; give the address others reach"
        )));
    }
    Ok(addr)
}

/// The socket's datagrams, one at a time, as a stream the actor consumes.
fn datagrams(socket: Arc<UdpSocket>) -> impl futures::Stream<Item = Incoming> {
    futures::stream::unfold(socket, |socket| async move {
        let mut buf = vec![0u8; MAX_PACKET + OVERHEAD + 1];
        let got = socket.recv_from(&mut buf).await.map(|(len, from)| {
            buf.truncate(len);
            (buf, from)
        });
        if got.is_err() {
            // Never spin on a socket that keeps failing.
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        Some((Incoming(got), socket))
    })
}

impl Actor for MembershipActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.add_stream(datagrams(self.socket.clone()));
        self.flush(ctx);
    }
}

impl StreamHandler<Incoming> for MembershipActor {
    fn handle(&mut self, item: Incoming, ctx: &mut Self::Context) {
        match item.0 {
            Ok((datagram, from)) => {
                let refused = self.core.refused();
                if let Err(e) = self.core.handle_datagram(&datagram) {
                    let now = self.core.refused();
                    // Refusals are logged at 1, 2, 4, 8... so a flood cannot fill the log.
                    if now > refused && now.is_power_of_two() {
                        tracing::warn!(
                            "membership: dropped {e} from {from} ({now} dropped so far)"
                        );
                    } else {
                        tracing::debug!("membership datagram from {from}: {e}");
                    }
                }
                self.flush(ctx);
            }
            Err(e) => tracing::debug!("membership socket: {e}"),
        }
    }
}

impl Handler<Join> for MembershipActor {
    type Result = ();

    fn handle(&mut self, msg: Join, ctx: &mut Self::Context) {
        if let Err(e) = self.core.join(&msg.0) {
            tracing::warn!("membership join: {e}");
        }
        self.flush(ctx);
    }
}

impl Handler<Leave> for MembershipActor {
    type Result = ();

    fn handle(&mut self, _: Leave, ctx: &mut Self::Context) {
        if let Err(e) = self.core.leave() {
            tracing::warn!("membership leave: {e}");
        }
        self.flush(ctx);
        ctx.stop();
    }
}

impl Handler<Halt> for MembershipActor {
    type Result = ();

    fn handle(&mut self, _: Halt, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

impl Handler<MembersUp> for MembershipActor {
    type Result = Vec<SocketAddr>;

    fn handle(&mut self, _: MembersUp, _: &mut Self::Context) -> Vec<SocketAddr> {
        self.core.members_up().iter().copied().collect()
    }
}
