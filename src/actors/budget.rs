//! Byte budgets: how much memory the requests a server is serving and the answers it has not yet
//! written may hold, per connection and for the whole server.
//!
//! A connection charges each request it starts an estimate of what the request and its answer
//! will hold ([`cost`]) and keeps the charge until the answer has been written to the socket. It
//! starts no request that would take it past its own budget while others are in flight, and none
//! at all while the server's budget (one [`Budget`], shared by every connection of every node and
//! port of the process) has no room: the connection then stops reading, and the client's socket
//! fills up. Answers are bounded (`status` lists a bounded number of keys, a page a bounded
//! number), so the estimates bound what a connection holds.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::protocol::{Request, MAX_PAGE_KEYS, STATUS_KEYS_PER_NODE};

/// The default budget of one connection: 4 MiB.
pub const CONNECTION_BYTES: usize = 4 << 20;
/// The default budget of the whole server: 256 MiB.
pub const SERVER_BYTES: usize = 256 << 20;
/// What a small request and its answer are charged beyond the request's own bytes.
const SMALL_ANSWER: usize = 128;
/// What one listed key of a `status` or page answer is charged.
const LISTED_KEY: usize = 64;
/// What one node's part of a `status` or `ring` answer is charged beyond its keys.
const NODE_PART: usize = 64;

/// The byte budget of the whole server, shared by all its connections.
#[derive(Debug, Clone)]
pub struct Budget {
    bytes: Arc<Semaphore>,
    total: usize,
}

/// Bytes charged to the server's budget, given back when dropped.
#[derive(Debug)]
pub struct Charge {
    _permit: OwnedSemaphorePermit,
    bytes: usize,
}

impl Charge {
    /// How many bytes this charge holds.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Budget {
    /// A budget of `total` bytes (at least 1 MiB, so that any single request fits).
    pub fn new(total: usize) -> Self {
        let total = total.clamp(1 << 20, Semaphore::MAX_PERMITS);
        Budget {
            bytes: Arc::new(Semaphore::new(total)),
            total,
        }
    }

    /// The budget's size in bytes.
    pub fn total(&self) -> usize {
        self.total
    }

    /// The bytes not charged now.
    pub fn available(&self) -> usize {
        self.bytes.available_permits()
    }

    /// Charges `bytes` (at most the whole budget) if there is room now.
    pub fn try_charge(&self, bytes: usize) -> Option<Charge> {
        let bytes = self.fit(bytes);
        let permit = self
            .bytes
            .clone()
            .try_acquire_many_owned(bytes as u32)
            .ok()?;
        Some(Charge {
            _permit: permit,
            bytes,
        })
    }

    /// Charges `bytes` (at most the whole budget) once there is room.
    pub async fn charge(&self, bytes: usize) -> Charge {
        let bytes = self.fit(bytes);
        let permit = self.bytes.clone().acquire_many_owned(bytes as u32).await;
        Charge {
            _permit: permit.expect("the budget's semaphore is never closed"),
            bytes,
        }
    }

    fn fit(&self, bytes: usize) -> usize {
        bytes.clamp(1, self.total.min(u32::MAX as usize))
    }
}

impl Default for Budget {
    fn default() -> Self {
        Budget::new(SERVER_BYTES)
    }
}

/// What one request is charged until its answer is written: its share of the connection's
/// budget and of the server's.
#[derive(Debug)]
pub struct Held {
    cost: usize,
    _charge: Charge,
}

/// One connection's charges: what it holds against its own budget and the server's, and which
/// answers in its output buffer still hold theirs.
#[derive(Debug)]
pub struct Ledger {
    budget: Budget,
    limit: usize,
    /// Bytes charged: requests in flight and answers not yet written.
    held: usize,
    /// The charges of answers in the output buffer, each with the stream position it ends at.
    unwritten: VecDeque<(u64, Held)>,
    /// Bytes ever put in the output buffer, and bytes ever written from it.
    queued: u64,
    written: u64,
}

impl Ledger {
    /// A connection's ledger against the server's `budget`, with `limit` bytes of its own.
    pub fn new(budget: Budget, limit: usize) -> Self {
        Ledger {
            budget,
            limit,
            held: 0,
            unwritten: VecDeque::new(),
            queued: 0,
            written: 0,
        }
    }

    /// Bytes charged now.
    pub fn held(&self) -> usize {
        self.held
    }

    /// Whether a request of `cost` bytes fits in the connection's budget (a connection with
    /// nothing charged may always start one request).
    pub fn fits(&self, cost: usize) -> bool {
        self.held == 0 || self.held + cost <= self.limit
    }

    /// Charges a request of `cost` bytes if both budgets have room now.
    pub fn try_charge(&mut self, cost: usize) -> Option<Held> {
        if !self.fits(cost) {
            return None;
        }
        let charge = self.budget.try_charge(cost)?;
        self.held += cost;
        Some(Held {
            cost,
            _charge: charge,
        })
    }

    /// What to wait on for a request of `cost` bytes, once it fits the connection's budget:
    /// `None` while it does not.
    pub fn wait_for(&self, cost: usize) -> Option<(usize, Budget)> {
        self.fits(cost).then(|| (cost, self.budget.clone()))
    }

    /// Takes a charge the server's budget gave for a request of `cost` bytes (see
    /// [`Ledger::wait_for`] and [`charge_when_free`]).
    pub fn take(&mut self, cost: usize, charge: Charge) -> Held {
        self.held += cost;
        Held {
            cost,
            _charge: charge,
        }
    }

    /// `bytes` of an answer went into the output buffer; `held` (its request's charge) is kept
    /// until they are written.
    pub fn queued(&mut self, bytes: usize, held: Option<Held>) {
        self.queued += bytes as u64;
        if let Some(held) = held {
            self.unwritten.push_back((self.queued, held));
        }
    }

    /// `n` more bytes of the output buffer reached the socket: the answers they complete give
    /// their charges back.
    pub fn wrote(&mut self, n: usize) {
        self.written += n as u64;
        while self
            .unwritten
            .front()
            .is_some_and(|(end, _)| *end <= self.written)
        {
            if let Some((_, held)) = self.unwritten.pop_front() {
                self.held -= held.cost;
            }
        }
    }
}

/// The server's budget for a request of `cost` bytes, once there is room; never if `None` (for
/// a `select!` branch that is disabled).
pub async fn charge_when_free(waiting: Option<(usize, Budget)>) -> Charge {
    match waiting {
        Some((cost, budget)) => budget.charge(cost).await,
        None => std::future::pending().await,
    }
}

/// What `request`, `frame_len` bytes on the wire, is charged: its bytes and an estimate of its
/// answer, for a cluster of `nodes` nodes.
pub fn cost(request: &Request, frame_len: usize, nodes: usize) -> usize {
    let nodes = nodes.max(1);
    let answer = match request {
        Request::Status => nodes * (NODE_PART + STATUS_KEYS_PER_NODE * LISTED_KEY),
        Request::Ring => nodes * NODE_PART,
        Request::StatusPage { limit, .. } => {
            (*limit).min(MAX_PAGE_KEYS) as usize * LISTED_KEY + NODE_PART
        }
        _ => SMALL_ANSWER,
    };
    frame_len + answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_come_back_when_dropped() {
        let budget = Budget::new(1 << 20);
        let a = budget.try_charge(600 << 10).expect("room");
        assert!(budget.try_charge(600 << 10).is_none(), "over the budget");
        assert_eq!(budget.available(), (1 << 20) - (600 << 10));
        drop(a);
        assert!(budget.try_charge(600 << 10).is_some());
        assert_eq!(budget.available(), 1 << 20);
    }

    #[test]
    fn a_charge_larger_than_the_budget_takes_the_whole_budget() {
        let budget = Budget::new(1 << 20);
        let all = budget.try_charge(usize::MAX).expect("fits once clamped");
        assert_eq!(all.bytes(), 1 << 20);
        assert_eq!(budget.available(), 0);
    }

    #[test]
    fn a_ledger_holds_charges_until_their_answers_are_written() {
        let budget = Budget::new(1 << 20);
        let mut ledger = Ledger::new(budget.clone(), 1000);
        let a = ledger.try_charge(600).expect("fits");
        assert!(
            ledger.try_charge(600).is_none(),
            "over the connection's budget"
        );
        ledger.queued(100, Some(a));
        assert_eq!(ledger.held(), 600);
        ledger.wrote(99);
        assert_eq!(ledger.held(), 600, "not all written yet");
        ledger.wrote(1);
        assert_eq!(ledger.held(), 0);
        assert_eq!(budget.available(), 1 << 20);
        let big = ledger
            .try_charge(5000)
            .expect("an idle connection starts any one request");
        ledger.queued(10, Some(big));
        ledger.wrote(10);
        assert_eq!(budget.available(), 1 << 20);
    }

    #[test]
    fn big_answers_cost_more_than_small_ones() {
        let get = cost(&Request::Get { key: "a".into() }, 20, 3);
        let status = cost(&Request::Status, 14, 3);
        assert!(status > 10 * get, "{status} vs {get}");
    }
}
