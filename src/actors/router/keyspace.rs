//! Keyspace requests of the RESP front door, as local actix messages to the Router (not framed
//! protocol requests): [`ScanRange`] (one page of `SCAN`: the keys every node holds on a stretch
//! of the ring's token space, in token order), [`SameReplicas`] (do these tokens share one
//! replica set, for `MULTI`/`EXEC`) and [`FlushReady`] (may FLUSHALL run now).
//!
//! A SCAN cursor is a position on the ring's hash space, which no membership change moves: a
//! page asks every node that is not down for its keys in `[from, end]`, merges them (a key is
//! held by several replicas) and answers them with the next cursor `end + 1`. A key present
//! throughout a scan is held, at every moment, by at least one node asked (a move copies a key
//! to its new replicas before the old ones drop it), so it is returned once: in the page whose
//! stretch holds its token.

use std::collections::BTreeMap;

use actix::prelude::*;
use futures_util::future::join_all;

use super::Router;
use crate::actors::node::{call, NodeCall, NodeOp, NodeReply};
use crate::counter::Counter;
use crate::error::{Error, Result};
use crate::replication::NodeState;
use crate::ring::{key_token, Token, TokenRange};

/// The first stretch of the token space a page asks for: 1/1024 of the ring.
const FIRST_WIDTH: u64 = 1 << 54;
/// How much wider each further stretch of one page is, while too few keys came back.
const GROWTH: u32 = 8;

/// One page of SCAN: the keys from token `from` on, about `count` of them.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<ScanPage>")]
pub struct ScanRange {
    /// The first token of the page (the cursor; 0 starts a scan).
    pub from: Token,
    /// How many keys the page should hold (a hint, as in Redis: the keys of one token are never
    /// split across pages, so a page may hold more).
    pub count: usize,
}

/// A page of SCAN.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScanPage {
    /// The keys and their values (merged over the replicas that answered), in token order, then
    /// key order.
    pub keys: Vec<(String, i64)>,
    /// The cursor of the next page; 0 when the scan is over.
    pub next: Token,
}

/// Whether the keys with these tokens share one replica set on the current ring.
#[derive(Message, Debug, Clone)]
#[rtype(result = "bool")]
pub struct SameReplicas(pub Vec<Token>);

/// May FLUSHALL run now: `Ok` while fewer than W nodes are down, so every acknowledged write is
/// held by a node the flush reaches. (FLUSHALL deletes key by key, leaving tombstones that the
/// nodes which are down learn by hints and anti-entropy; see `resp::keyspace`.)
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<()>")]
pub struct FlushReady;

impl Handler<ScanRange> for Router {
    type Result = ResponseFuture<Result<ScanPage>>;

    fn handle(&mut self, scan: ScanRange, _: &mut Context<Self>) -> Self::Result {
        let nodes: Vec<Recipient<NodeCall>> = (self.nodes.values())
            .filter(|n| n.state != NodeState::Down && !n.crashed)
            .map(|n| n.call.clone())
            .collect();
        let timeout = self.config.request_timeout;
        Box::pin(async move {
            if nodes.is_empty() {
                return Err(Error::Unavailable("no node is running".into()));
            }
            // Each round is GROWTH times wider: a few rounds reach the top of the ring.
            let mut width = u128::from(FIRST_WIDTH);
            loop {
                let end = (u128::from(scan.from) + width - 1).min(u128::from(Token::MAX));
                let end = end as Token;
                let keys = gather(&nodes, scan.from, end, timeout).await?;
                if keys.len() >= scan.count.max(1) || end == Token::MAX {
                    return Ok(page(keys, scan.count.max(1), end));
                }
                width *= u128::from(GROWTH);
            }
        })
    }
}

/// Every key the nodes hold with a token in `[from, end]`, its value merged over the copies,
/// sorted by token then key. Keys at 0 are left out (ringkv reads them as missing). Fails only if
/// no node answers.
async fn gather(
    nodes: &[Recipient<NodeCall>],
    from: Token,
    end: Token,
    timeout: std::time::Duration,
) -> Result<Vec<(Token, String, i64)>> {
    // (from - 1, end]: from 0 this wraps to (MAX, end], which holds 0..=end.
    let range = TokenRange {
        start: from.wrapping_sub(1),
        end,
    };
    let asked = nodes
        .iter()
        .map(|n| call(n, NodeOp::Entries(Some(vec![range])), timeout));
    let mut merged: BTreeMap<(Token, String), Counter> = BTreeMap::new();
    let mut answered = 0;
    for reply in join_all(asked).await {
        let Ok(NodeReply::Entries(entries)) = reply else {
            continue;
        };
        answered += 1;
        for entry in entries {
            let token = key_token(entry.key.as_bytes());
            merged
                .entry((token, entry.key))
                .or_default()
                .merge(&entry.counter);
        }
    }
    if answered == 0 {
        return Err(Error::Unavailable("no node answered the scan".into()));
    }
    // Every key a node holds exists (was written), whatever its value, unless it is a tombstone.
    Ok(merged
        .into_iter()
        .filter_map(|((t, k), c)| Some((t, k, c.value_if_present()?)))
        .collect())
}

/// The page of `keys` (all of `[from, end]`, sorted): cut after the token of the `count`-th key
/// when there are more, so the next page starts at the following token.
fn page(mut keys: Vec<(Token, String, i64)>, count: usize, end: Token) -> ScanPage {
    let mut last = end;
    if keys.len() > count {
        let cut_token = keys[count - 1].0;
        let cut = keys.partition_point(|(t, _, _)| *t <= cut_token);
        keys.truncate(cut);
        last = cut_token;
    }
    ScanPage {
        keys: keys.into_iter().map(|(_, k, v)| (k, v)).collect(),
        next: last.wrapping_add(1),
    }
}

impl Handler<SameReplicas> for Router {
    type Result = bool;

    fn handle(&mut self, SameReplicas(tokens): SameReplicas, _: &mut Context<Self>) -> bool {
        let r = self.quorums().r;
        let set_of = |t: Token| {
            let mut set = self.ring.preference_list_of_token(t, r);
            set.sort_unstable();
            set
        };
        let mut sets = tokens.into_iter().map(set_of);
        match sets.next() {
            None => true,
            Some(first) => sets.all(|s| s == first),
        }
    }
}

impl Handler<FlushReady> for Router {
    type Result = Result<()>;

    fn handle(&mut self, _: FlushReady, _: &mut Context<Self>) -> Result<()> {
        let w = self.quorums().w;
        let out: Vec<u16> = (self.nodes.values())
            .filter(|n| n.state == NodeState::Down || n.crashed)
            .map(|n| n.port)
            .collect();
        if out.len() < w {
            return Ok(());
        }
        Err(Error::Unavailable(format!(
            "FLUSHALL needs fewer than W={w} nodes down, since a key written to the nodes on \
             ports {out:?} alone could come back: try again once they are up"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_cuts_after_a_whole_token() {
        let keys = vec![
            (5, "a".to_owned(), 1),
            (7, "{t}x".to_owned(), 1),
            (7, "{t}y".to_owned(), 1),
            (9, "b".to_owned(), 1),
        ];
        let p = page(keys.clone(), 2, 100);
        assert_eq!(p.keys.len(), 3);
        assert_eq!(p.next, 8);
        let p = page(keys.clone(), 10, 100);
        assert_eq!((p.keys.len(), p.next), (4, 101));
        assert_eq!(page(keys, 4, Token::MAX).next, 0);
    }
}
