//! An in-memory network of membership cores on a fake clock, for tests: datagrams are
//! delivered after a fixed latency, timers fire in time order, and links can be cut, one
//! process silenced, or a process removed and replaced (a restart). Runs are deterministic.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;

use super::engine::{CoreTimer, MembershipCore, Output};
use super::event::MemberEvent;

/// What one process saw, and when (on the fake clock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// When.
    pub at: Duration,
    /// Who saw it.
    pub observer: SocketAddr,
    /// What.
    pub event: MemberEvent,
}

enum Pending {
    Deliver {
        from: SocketAddr,
        to: SocketAddr,
        data: Bytes,
    },
    Fire {
        at: SocketAddr,
        life: u64,
        timer: CoreTimer,
    },
}

/// The network: cores by address, a queue of deliveries and timers, and the links' state.
pub struct SimNet {
    now: Duration,
    latency: Duration,
    nodes: BTreeMap<SocketAddr, (u64, MembershipCore)>,
    queue: BinaryHeap<Reverse<(Duration, u64)>>,
    pending: HashMap<u64, Pending>,
    next: u64,
    cut: HashSet<(SocketAddr, SocketAddr)>,
    silent: HashSet<SocketAddr>,
    /// Datagrams lost at random, per 1,000, and the generator that picks them.
    loss: (u32, u64),
    seen: Vec<Seen>,
}

impl SimNet {
    /// An empty network whose datagrams take `latency` to arrive.
    pub fn new(latency: Duration) -> Self {
        Self {
            now: Duration::ZERO,
            latency,
            nodes: BTreeMap::new(),
            queue: BinaryHeap::new(),
            pending: HashMap::new(),
            next: 0,
            cut: HashSet::new(),
            silent: HashSet::new(),
            loss: (0, 1),
            seen: Vec::new(),
        }
    }

    /// The fake clock.
    pub fn now(&self) -> Duration {
        self.now
    }

    /// Adds (or replaces: a restart) the process at the core's address.
    pub fn add(&mut self, core: MembershipCore) {
        let addr = core.identity().addr();
        let life = self.next_id();
        self.nodes.insert(addr, (life, core));
        self.flush(addr);
    }

    /// Removes a process: it stops at once (a crash), its timers are dropped.
    pub fn remove(&mut self, addr: SocketAddr) -> Option<MembershipCore> {
        self.nodes.remove(&addr).map(|(_, core)| core)
    }

    /// The core at `addr`.
    pub fn core(&self, addr: SocketAddr) -> Option<&MembershipCore> {
        self.nodes.get(&addr).map(|(_, core)| core)
    }

    /// Makes `addr` announce itself to `seeds`.
    pub fn join(&mut self, addr: SocketAddr, seeds: &[SocketAddr]) {
        if let Some((_, core)) = self.nodes.get_mut(&addr) {
            // An announce that cannot be encoded is a bug the tests see as a join that never
            // completes.
            let _ = core.join(seeds);
        }
        self.flush(addr);
    }

    /// Makes `addr` leave gracefully.
    pub fn leave(&mut self, addr: SocketAddr) {
        if let Some((_, core)) = self.nodes.get_mut(&addr) {
            let _ = core.leave();
        }
        self.flush(addr);
    }

    /// Drops every datagram between `a` and `b`, both ways, until healed.
    pub fn cut(&mut self, a: SocketAddr, b: SocketAddr) {
        self.cut.insert((a, b));
        self.cut.insert((b, a));
    }

    /// Restores every cut link.
    pub fn heal(&mut self) {
        self.cut.clear();
    }

    /// Drops every datagram from or to `addr` (or stops doing so).
    pub fn silence(&mut self, addr: SocketAddr, silent: bool) {
        if silent {
            self.silent.insert(addr);
        } else {
            self.silent.remove(&addr);
        }
    }

    /// Loses `per_mille` of all datagrams at random (a fixed `seed` replays the same losses).
    pub fn set_loss(&mut self, per_mille: u32, seed: u64) {
        self.loss = (per_mille.min(1_000), seed | 1);
    }

    /// The addresses `observer` holds alive.
    pub fn view(&self, observer: SocketAddr) -> BTreeSet<SocketAddr> {
        self.core(observer)
            .map(|c| c.members_up().clone())
            .unwrap_or_default()
    }

    /// Every member event so far, in order.
    pub fn seen(&self) -> &[Seen] {
        &self.seen
    }

    /// Runs until `done` holds (checked after every step) or `limit` of fake time passes;
    /// returns the fake time it took, or `None` if `done` never held.
    pub fn run_until(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&SimNet) -> bool,
    ) -> Option<Duration> {
        let start = self.now;
        let end = start + limit;
        if done(self) {
            return Some(Duration::ZERO);
        }
        // Bounded in steps too: a few thousand per simulated second is far more than SWIM makes.
        for _ in 0..(limit.as_millis() as usize + 1).saturating_mul(200) {
            match self.queue.peek() {
                Some(Reverse((at, _))) if *at <= end => {}
                _ => break,
            }
            self.step();
            if done(self) {
                return Some(self.now - start);
            }
        }
        self.now = self.now.max(end);
        None
    }

    /// Runs `d` of fake time.
    pub fn run_for(&mut self, d: Duration) {
        self.run_until(d, |_| false);
    }

    fn next_id(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    fn push(&mut self, at: Duration, what: Pending) {
        let id = self.next_id();
        self.pending.insert(id, what);
        self.queue.push(Reverse((at, id)));
    }

    fn step(&mut self) {
        let Some(Reverse((at, id))) = self.queue.pop() else {
            return;
        };
        self.now = at;
        let Some(what) = self.pending.remove(&id) else {
            return;
        };
        let addr = match what {
            Pending::Deliver { from, to, data } => {
                if self.dropped(from, to) {
                    return;
                }
                let Some((_, core)) = self.nodes.get_mut(&to) else {
                    return;
                };
                let _ = core.handle_datagram(&data);
                to
            }
            Pending::Fire { at, life, timer } => {
                match self.nodes.get_mut(&at) {
                    Some((current, core)) if *current == life => {
                        let _ = core.handle_timer(timer);
                    }
                    _ => return,
                }
                at
            }
        };
        self.flush(addr);
    }

    fn dropped(&mut self, from: SocketAddr, to: SocketAddr) -> bool {
        self.silent.contains(&from)
            || self.silent.contains(&to)
            || self.cut.contains(&(from, to))
            || self.lost()
    }

    /// xorshift64: whether the next datagram is lost.
    fn lost(&mut self) -> bool {
        let (per_mille, state) = &mut self.loss;
        if *per_mille == 0 {
            return false;
        }
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state % 1_000 < u64::from(*per_mille)
    }

    /// Queues what the core at `addr` produced.
    fn flush(&mut self, addr: SocketAddr) {
        let Some((life, core)) = self.nodes.get_mut(&addr) else {
            return;
        };
        let life = *life;
        let Output {
            sends,
            timers,
            events,
        } = core.drain();
        for event in events {
            self.seen.push(Seen {
                at: self.now,
                observer: addr,
                event,
            });
        }
        for send in sends {
            let at = self.now + self.latency;
            self.push(
                at,
                Pending::Deliver {
                    from: addr,
                    to: send.to,
                    data: send.data,
                },
            );
        }
        for (after, timer) in timers {
            self.push(
                self.now + after,
                Pending::Fire {
                    at: addr,
                    life,
                    timer,
                },
            );
        }
    }
}
