//! The serving end of node calls: a node's session hands each [`WireOp`] it receives to the node
//! that listens on its port, and answers with the node's reply in wire form.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use actix::Recipient;

use super::convert::{op_from_wire, reply_to_wire};
use crate::actors::gateway::Later;
use crate::actors::node::NodeCall;
use crate::error::Error;
use crate::protocol::peer::{RingCache, WireOp};
use crate::protocol::{ErrorReply, Response};

/// The node calls of one connection: the node they are for, the rings they named last, and the
/// ring epoch this process has settled on (the guard of a collection's drop).
pub(crate) struct NodeCalls {
    node: Option<Recipient<NodeCall>>,
    rings: RingCache,
    settled: Arc<AtomicU64>,
}

impl NodeCalls {
    /// Calls for `node` (`None`: this port answers no node calls) in a process whose settled
    /// ring epoch is `settled` ([`crate::direct::Direct::settled_epoch`]).
    pub(crate) fn new(node: Option<Recipient<NodeCall>>, settled: Arc<AtomicU64>) -> Self {
        NodeCalls {
            node,
            rings: RingCache::default(),
            settled,
        }
    }

    /// Starts `op` on the node; the answer is a [`Response::NodeReply`].
    pub(crate) fn answer(&mut self, op: WireOp) -> Later {
        let failed = |e: Error| Response::NodeReply(Err(ErrorReply::from(&e)));
        let Some(node) = self.node.clone() else {
            let e = Error::BadRequest("this port answers no node calls".into());
            return Box::pin(std::future::ready(failed(e)));
        };
        let op = match op_from_wire(op, &mut self.rings, &self.settled) {
            Ok(op) => op,
            Err(e) => return Box::pin(std::future::ready(failed(e))),
        };
        Box::pin(async move {
            match node.send(NodeCall(op)).await {
                Ok(Ok(reply)) => Response::NodeReply(Ok(reply_to_wire(reply))),
                Ok(Err(e)) => failed(e),
                Err(_) => failed(Error::Shutdown),
            }
        })
    }
}
