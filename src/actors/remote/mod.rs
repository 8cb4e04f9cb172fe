//! Nodes in other processes: a [`RemoteNode`] stands in for one, so that the Router reaches it
//! through the same `Recipient<NodeCall>` as a local [`crate::actors::NodeActor`].
//!
//! - `link`: one pipelined TCP connection to the node's own port, carrying node calls in their
//!   wire form ([`crate::protocol::peer`]) and batching whatever is waiting into one write;
//! - `convert`: [`NodeOp`]/[`NodeReply`] to and from that wire form;
//! - `serve`: the other end, a node's session answering the calls it receives;
//! - `dial` and `hello`: both ends of opening a connection between processes (TLS, then the
//!   cluster secret's handshake; [`NodeLinks`] says how this process dials).
//!
//! A call to a node whose process cannot be reached fails at once with
//! [`Error::Unavailable`](crate::Error::Unavailable), as a call to a crashed local node does; the
//! next call tries to connect again (at most one attempt per [`RETRY`]).

mod ask;
mod batch;
mod chunk;
mod convert;
mod dial;
pub(crate) mod hello;
mod link;
pub(crate) mod serve;
mod shared;

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

pub use self::ask::ask;
use self::convert::op_to_wire;
pub(crate) use self::convert::reply_from_wire;
pub use self::dial::NodeLinks;
pub use self::shared::{Reply as LinkReply, SharedLink};
use super::node::{NodeCall, NodeReply};
use crate::error::{Error, Result};
use crate::protocol::peer::WireOp;

/// After a failed connect, calls fail at once for this long before the next attempt.
pub const RETRY: Duration = Duration::from_millis(200);

/// Stands in for the node listening at `addr` in another process.
pub struct RemoteNode {
    link: Arc<SharedLink>,
    failed_at: Option<Instant>,
}

/// A node's answer on its way back.
type Reply = std::pin::Pin<Box<dyn std::future::Future<Output = Result<NodeReply>>>>;

impl RemoteNode {
    /// A stand-in for the node at `addr` (`HOST:PORT`); it connects on the first call.
    pub fn new(addr: impl Into<String>) -> Self {
        RemoteNode::sharing(SharedLink::new(addr))
    }

    /// A stand-in that keeps its link in `link`, shared with the direct path.
    pub fn sharing(link: Arc<SharedLink>) -> Self {
        RemoteNode {
            link,
            failed_at: None,
        }
    }

    /// Starts a stand-in for the node at `addr` and returns the handle the Router calls.
    pub fn start_for(addr: impl Into<String>) -> Recipient<NodeCall> {
        RemoteNode::new(addr).start().recipient()
    }

    /// The address of the node it stands in for.
    pub fn addr(&self) -> &str {
        self.link.addr()
    }

    /// Connects, holding every other call back until done (so calls keep their order and one
    /// connection serves them all).
    fn connect(&mut self, ctx: &mut Context<Self>) {
        let addr = self.addr().to_owned();
        let open = async move { link::open(&addr).await };
        ctx.wait(
            fut::wrap_future(open).map(|opened, act: &mut RemoteNode, _| match opened {
                Ok(link) => {
                    act.link.set(Some(link));
                    act.failed_at = None;
                }
                Err(e) => {
                    tracing::warn!("{e}");
                    act.link.set(None);
                    act.failed_at = Some(Instant::now());
                }
            }),
        );
    }

    /// Sends `op` over the link if it is open.
    fn send_now(&self, op: WireOp) -> Reply {
        let Some(reply) = self.link.send(op) else {
            let e = Error::Unavailable(format!("node at {} is unreachable", self.addr()));
            return Box::pin(std::future::ready(Err(e)));
        };
        // Sent: from here on a lost link leaves the outcome unknown (the node may have applied
        // the call and lost only its answer), which is not the refusal `Unavailable` says.
        Box::pin(async move {
            let reply = reply.await.map_err(|_| {
                Error::Uncertain("the link to the node closed before it answered".into())
            })?;
            reply.map(reply_from_wire)
        })
    }
}

/// The answer of a call sent in pieces: the one answer, or the pieces' merge counts added up.
async fn joined(replies: Vec<Reply>) -> Result<NodeReply> {
    if replies.len() == 1 {
        if let Some(reply) = replies.into_iter().next() {
            return reply.await;
        }
        return Err(Error::Server("no call was sent".into()));
    }
    let mut merged = 0;
    for reply in replies {
        match reply.await? {
            NodeReply::Count(n) => merged += n,
            other => return Ok(other),
        }
    }
    Ok(NodeReply::Count(merged))
}

impl Actor for RemoteNode {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(usize::MAX);
        // Open the link now, so the direct path can use it from the first update on.
        self.connect(ctx);
    }
}

impl Handler<NodeCall> for RemoteNode {
    type Result = ResponseActFuture<Self, Result<NodeReply>>;

    fn handle(&mut self, NodeCall(op): NodeCall, ctx: &mut Context<Self>) -> Self::Result {
        let wires: Vec<WireOp> = match chunk::split(op).into_iter().map(op_to_wire).collect() {
            Ok(wires) => wires,
            Err(e) => return Box::pin(fut::ready(Err(e))),
        };
        let retry_due = self.failed_at.is_none_or(|t| t.elapsed() >= RETRY);
        if !self.link.is_open() && retry_due {
            self.connect(ctx);
        }
        // Runs once any connect started above is done.
        Box::pin(fut::ready(()).then(move |_, act: &mut RemoteNode, _| {
            let replies: Vec<Reply> = wires.into_iter().map(|w| act.send_now(w)).collect();
            fut::wrap_future(joined(replies))
        }))
    }
}
