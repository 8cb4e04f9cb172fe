//! The node calls that walk the whole store (copies and drops of arcs, refills, sweeps, scans,
//! anti-entropy digests), run in bounded steps so that the node's other work goes on between them.
//!
//! Each step takes the node's lock, visits at most [`STEP`] items through a store walk
//! ([`crate::store::Store::walk_start`]) and lets go; the task then yields, so the direct path's
//! updates of the same node (on the same thread) run between steps instead of waiting for the
//! whole scan (about 100 ms per million keys). The node actor runs a scan with `ctx.wait`: it
//! handles no other call meanwhile, so the Router's calls to a node still apply in order.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::node_data::SharedNode;
use crate::persist::Ack;
use crate::ring::{Ring, Token};
use crate::store::{Entry, WalkId};

use super::node_ops::{NodeOp, NodeReply};

/// Items visited per step: well under a millisecond of work under the node's lock.
pub(super) const STEP: usize = 8192;

/// Which tokens a scan is about.
type TokenTest = Box<dyn Fn(Token) -> bool>;

/// A scan of the store.
pub(super) enum Scan {
    /// Copies of the entries whose token passes the test.
    Copy(TokenTest),
    /// Drop the entries whose token passes the test; the answer is how many.
    Drop(TokenTest),
    /// The digest of each arc of the ring, brought up to date in steps.
    Digests(Arc<Ring>),
}

impl Scan {
    /// The scan `op` asks for, or `op` itself if it asks for something else.
    pub(super) fn of(op: NodeOp) -> std::result::Result<Scan, NodeOp> {
        Ok(match op {
            NodeOp::Entries(None) => Scan::Copy(Box::new(|_| true)),
            NodeOp::Entries(Some(ranges)) => {
                Scan::Copy(Box::new(move |t| ranges.iter().any(|r| r.contains(t))))
            }
            NodeOp::EntriesFor {
                ring,
                replicas,
                node,
            } => Scan::Copy(Box::new(move |t| {
                ring.preference_list_of_token(t, replicas).contains(&node)
            })),
            NodeOp::EntriesIn(arcs) => Scan::Copy(Box::new(move |t| arcs.contains(t))),
            NodeOp::EntriesOutside(keep) => Scan::Copy(Box::new(move |t| !keep.contains(t))),
            NodeOp::DropIn(arcs) => Scan::Drop(Box::new(move |t| arcs.contains(t))),
            NodeOp::Digests(ring) => Scan::Digests(ring),
            other => return Err(other),
        })
    }

    /// Runs the scan over `shared` in steps; returns the answer and the log writes to wait for
    /// before giving it.
    ///
    /// # Errors
    /// The store was replaced under the walk (a crash), or the log failed.
    pub(super) async fn run(self, shared: Arc<SharedNode>) -> Result<(NodeReply, Vec<Ack<()>>)> {
        match self {
            Scan::Digests(ring) => loop {
                if let Some(d) = shared.lock().digest_step(&ring, STEP) {
                    return Ok((NodeReply::Digests(d), Vec::new()));
                }
                tokio::task::yield_now().await;
            },
            Scan::Copy(keep) => {
                let walk = Walk::start(shared);
                let mut out: Vec<Entry> = Vec::new();
                while !walk.step(|data, id| data.walk_copy(id, STEP, &keep, &mut out))? {
                    tokio::task::yield_now().await;
                }
                Ok((NodeReply::Entries(out), Vec::new()))
            }
            Scan::Drop(drop) => drop_where(Walk::start(shared), drop).await,
        }
    }
}

/// Drops the entries whose token passes `drop`, a step at a time; the log writes of each step
/// are handed to the log as it goes.
async fn drop_where(walk: Walk, drop: TokenTest) -> Result<(NodeReply, Vec<Ack<()>>)> {
    let (mut dropped, mut acks) = (0, Vec::new());
    loop {
        let done = walk.step(|data, id| {
            let (count, done) = data.walk_drop(id, STEP, &drop)?;
            dropped += count;
            Some(data.persist().map(|ack| (ack, done)))
        })?;
        let (ack, done) = done?;
        acks.extend(ack);
        if done {
            return Ok((NodeReply::Count(dropped), acks));
        }
        tokio::task::yield_now().await;
    }
}

/// An open walk of a node's store, closed when dropped (also when the scan is abandoned).
struct Walk {
    shared: Arc<SharedNode>,
    id: WalkId,
}

impl Walk {
    fn start(shared: Arc<SharedNode>) -> Walk {
        let id = shared.lock().walk_start();
        Walk { shared, id }
    }

    /// One step under the node's lock.
    fn step<T>(
        &self,
        f: impl FnOnce(&mut crate::node_data::NodeData, WalkId) -> Option<T>,
    ) -> Result<T> {
        f(&mut self.shared.lock(), self.id)
            .ok_or_else(|| Error::Unavailable("the node's store was replaced during a scan".into()))
    }
}

impl Drop for Walk {
    fn drop(&mut self) {
        self.shared.lock().walk_end(self.id);
    }
}
