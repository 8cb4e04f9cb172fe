//! A node stand-in for the Router's unit tests: it records the merges it is sent, answers
//! `TakeHints` with hints it was given, and fails every merge when told to (a node that went down).

use std::sync::{Arc, Mutex};

use actix::prelude::*;

use crate::actors::node::{NodeCall, NodeOp, NodeReply};
use crate::counter::Counter;
use crate::ring::NodeId;
use crate::store::Entry;

/// The merges a [`Fake`] was sent: the keys, and for whom they were hints.
pub(super) type Merged = Arc<Mutex<Vec<(Vec<String>, Option<NodeId>)>>>;

/// A node stand-in; see the module doc.
pub(super) struct Fake {
    fail_merges: bool,
    hints: Vec<Entry>,
    merged: Merged,
}

impl Actor for Fake {
    type Context = Context<Self>;
}

impl Handler<NodeCall> for Fake {
    type Result = ResponseFuture<crate::error::Result<NodeReply>>;

    fn handle(&mut self, NodeCall(op): NodeCall, _: &mut Context<Self>) -> Self::Result {
        let answer = match op {
            NodeOp::Merge { .. } if self.fail_merges => {
                Err(crate::error::Error::Timeout("down again".into()))
            }
            NodeOp::Merge { entries, hint_for } => {
                let keys = entries.iter().map(|e| e.key.clone()).collect();
                self.merged.lock().unwrap().push((keys, hint_for));
                Ok(NodeReply::Count(entries.len()))
            }
            NodeOp::TakeHints(_) => Ok(NodeReply::Entries(std::mem::take(&mut self.hints))),
            _ => Ok(NodeReply::Count(0)),
        };
        Box::pin(async move { answer })
    }
}

/// Starts a stand-in that holds `hints` (answered once to `TakeHints`); call inside actix.
pub(super) fn fake(fail_merges: bool, hints: Vec<Entry>) -> (Recipient<NodeCall>, Merged) {
    let merged = Arc::new(Mutex::new(Vec::new()));
    let node = Fake {
        fail_merges,
        hints,
        merged: merged.clone(),
    };
    (node.start().recipient(), merged)
}

/// `n` empty counters named `k0`, `k1`, ...
pub(super) fn entries(n: usize) -> Vec<Entry> {
    (0..n)
        .map(|i| Entry {
            key: format!("k{i}"),
            counter: Counter::new(),
        })
        .collect()
}
