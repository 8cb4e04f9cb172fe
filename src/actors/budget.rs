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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

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
/// A connection takes room from the server's budget in chunks of at least this much.
const CHUNK: usize = 64 << 10;

/// The byte budget of the whole server, shared by all its connections.
#[derive(Debug, Clone)]
pub struct Budget {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    used: AtomicUsize,
    total: usize,
    freed: Notify,
}

impl Budget {
    /// A budget of `total` bytes (at least 1 MiB, so that any single request fits).
    pub fn new(total: usize) -> Self {
        let shared = Shared {
            used: AtomicUsize::new(0),
            total: total.max(1 << 20),
            freed: Notify::new(),
        };
        Budget {
            shared: Arc::new(shared),
        }
    }

    /// The bytes not taken now.
    pub fn available(&self) -> usize {
        let used = self.shared.used.load(Ordering::Acquire);
        self.shared.total.saturating_sub(used)
    }

    /// Takes `bytes` (at most the whole budget) if there is room now; returns what it took.
    fn try_take(&self, bytes: usize) -> Option<usize> {
        let bytes = bytes.min(self.shared.total);
        let total = self.shared.total;
        let took = self
            .shared
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                (used + bytes <= total).then_some(used + bytes)
            });
        took.ok().map(|_| bytes)
    }

    /// Takes `bytes` (at most the whole budget) once there is room; returns what it took.
    async fn take(&self, bytes: usize) -> usize {
        loop {
            let freed = self.shared.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if let Some(took) = self.try_take(bytes) {
                return took;
            }
            freed.await;
        }
    }

    /// Gives `bytes` back and wakes the connections waiting for room.
    fn give(&self, bytes: usize) {
        if bytes > 0 {
            self.shared.used.fetch_sub(bytes, Ordering::AcqRel);
            self.shared.freed.notify_waiters();
        }
    }
}

impl Default for Budget {
    fn default() -> Self {
        Budget::new(SERVER_BYTES)
    }
}

/// What one request is charged until its answer is written.
#[derive(Debug)]
pub struct Held(usize);

/// One connection's charges: what it holds against its own budget, what it has taken from the
/// server's (in chunks, so that most requests touch no shared counter), and which answers in its
/// output buffer still hold their charges.
#[derive(Debug)]
pub struct Ledger {
    budget: Budget,
    limit: usize,
    /// Bytes charged: requests in flight and answers not yet written.
    held: usize,
    /// Bytes taken from the server's budget: `held` and a little room for the next requests.
    reserved: usize,
    /// The charges of answers in the output buffer, each with the stream position it ends at.
    unwritten: VecDeque<(u64, usize)>,
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
            reserved: 0,
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
        let short = (self.held + cost).saturating_sub(self.reserved);
        if short > 0 {
            let chunk = self.budget.try_take(short.max(CHUNK));
            self.reserved += chunk.or_else(|| self.budget.try_take(short))?;
        }
        self.held += cost;
        Some(Held(cost))
    }

    /// What to wait for before a request of `cost` bytes can be charged: the bytes it lacks
    /// from the server's budget, once it fits the connection's (`None` while it does not).
    pub fn wait_for(&self, cost: usize) -> Option<(usize, Budget)> {
        let short = (self.held + cost).saturating_sub(self.reserved);
        self.fits(cost).then(|| (short, self.budget.clone()))
    }

    /// Charges a request of `cost` bytes with `taken` bytes the server's budget just gave (see
    /// [`Ledger::wait_for`] and [`take_when_free`]).
    pub fn charge_taken(&mut self, cost: usize, taken: usize) -> Held {
        self.reserved += taken;
        self.held += cost;
        Held(cost)
    }

    /// `bytes` of an answer went into the output buffer; `held` (its request's charge) is kept
    /// until they are written.
    pub fn queued(&mut self, bytes: usize, held: Option<Held>) {
        self.queued += bytes as u64;
        if let Some(Held(cost)) = held {
            self.unwritten.push_back((self.queued, cost));
        }
    }

    /// `n` more bytes of the output buffer reached the socket: the answers they complete give
    /// their charges back, and room beyond two chunks goes back to the server's budget.
    pub fn wrote(&mut self, n: usize) {
        self.written += n as u64;
        while let Some(&(end, cost)) = self.unwritten.front() {
            if end > self.written {
                break;
            }
            self.unwritten.pop_front();
            self.held -= cost;
        }
        if self.reserved - self.held > 2 * CHUNK {
            let spare = self.reserved - self.held - CHUNK;
            self.reserved -= spare;
            self.budget.give(spare);
        }
    }
}

impl Drop for Ledger {
    fn drop(&mut self) {
        self.budget.give(self.reserved);
    }
}

/// Takes `bytes` from the server's budget once there is room; never if `None` (for a
/// `select!` branch that is off). Returns what it took.
pub async fn take_when_free(waiting: Option<(usize, Budget)>) -> usize {
    match waiting {
        Some((bytes, budget)) => budget.take(bytes).await,
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
    fn a_ledger_holds_charges_until_their_answers_are_written() {
        let budget = Budget::new(1 << 20);
        let mut ledger = Ledger::new(budget.clone(), 1000);
        let a = ledger.try_charge(600).expect("fits");
        assert!(
            ledger.try_charge(600).is_none(),
            "over the connection's budget"
        );
        assert_eq!(budget.available(), (1 << 20) - CHUNK, "one chunk taken");
        ledger.queued(100, Some(a));
        assert_eq!(ledger.held(), 600);
        ledger.wrote(99);
        assert_eq!(ledger.held(), 600, "not all written yet");
        ledger.wrote(1);
        assert_eq!(ledger.held(), 0);
        let big = ledger
            .try_charge(5000)
            .expect("an idle connection starts any one request");
        ledger.queued(10, Some(big));
        ledger.wrote(10);
        drop(ledger);
        assert_eq!(budget.available(), 1 << 20, "everything given back");
    }

    #[test]
    fn a_full_server_budget_stops_every_connection() {
        let budget = Budget::new(1 << 20);
        let mut greedy = Ledger::new(budget.clone(), usize::MAX);
        let mut held = Vec::new();
        while let Some(h) = greedy.try_charge(100 << 10) {
            held.push(h);
        }
        assert!(budget.available() < 100 << 10);
        let mut other = Ledger::new(budget.clone(), 4 << 20);
        assert!(
            other.try_charge(200 << 10).is_none(),
            "no room in the server's budget"
        );
        let (short, _) = other.wait_for(200 << 10).expect("fits its own budget");
        assert_eq!(short, 200 << 10);
        for h in held {
            greedy.queued(1, Some(h));
        }
        greedy.wrote(usize::MAX >> 1);
        assert!(
            other.try_charge(200 << 10).is_some(),
            "room again once answers are written"
        );
    }

    #[actix_rt::test]
    async fn a_waiting_connection_is_woken_when_room_comes_back() {
        let budget = Budget::new(1 << 20);
        let mut greedy = Ledger::new(budget.clone(), usize::MAX);
        let all = greedy.try_charge(1 << 20).expect("the whole budget");
        let waiter = actix_rt::spawn(take_when_free(Some((1000, budget.clone()))));
        tokio::task::yield_now().await;
        greedy.queued(1, Some(all));
        greedy.wrote(1);
        drop(greedy);
        let took = tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .expect("no panic");
        assert_eq!(took, 1000);
    }

    #[test]
    fn big_answers_cost_more_than_small_ones() {
        let get = cost(&Request::Get { key: "a".into() }, 20, 3);
        let status = cost(&Request::Status, 14, 3);
        assert!(status > 10 * get, "{status} vs {get}");
    }
}
