//! [`NodeOp`] and [`NodeReply`] to and from their wire forms ([`WireOp`], [`WireReply`]).
//!
//! Rings become [`RingSpec`]s on the way out and are rebuilt (once per distinct ring, through a
//! [`RingCache`]) on the way in; every number that came from the wire is checked.

use std::sync::Arc;
use std::time::Duration;

use crate::actors::node::{NodeOp, NodeReply, Summary};
use crate::error::{Error, Result};
use crate::protocol::peer::{RingCache, RingSpec, WireOp, WireReply};
use crate::rebalance::ArcSet;

/// The longest pause a node call may ask for: a day, as `pause-node` allows.
const MAX_PAUSE: Duration = Duration::from_secs(86_400);

/// The wire form of `op`.
///
/// # Errors
/// [`Error::BadRequest`] for [`NodeOp::DropUnchanged`]: its guard is the Router's own ring-change
/// counter, which means nothing in another process (a guard across processes would have to be the
/// agreed ring epoch: not built yet); the same for the calls of tombstone collection and of the
/// idle-token sweep.
pub fn op_to_wire(op: NodeOp) -> Result<WireOp> {
    Ok(match op {
        NodeOp::Increment {
            key,
            amount,
            hint_for,
        } => WireOp::Increment {
            key,
            amount,
            hint_for,
        },
        NodeOp::Read { key, hint_for } => WireOp::Read { key, hint_for },
        NodeOp::Merge { entries, hint_for } => WireOp::Merge { entries, hint_for },
        NodeOp::TakeHints(node) => WireOp::TakeHints(node),
        NodeOp::Entries(ranges) => WireOp::Entries(ranges),
        NodeOp::EntriesFor {
            ring,
            replicas,
            node,
        } => WireOp::EntriesFor {
            ring: RingSpec::of(&ring),
            replicas: replicas as u32,
            node,
        },
        NodeOp::EntriesIn(arcs) => WireOp::EntriesIn {
            ring: RingSpec::of(arcs.ring()),
            arcs: arcs.numbers(),
        },
        NodeOp::DropIn(arcs) => WireOp::DropIn {
            ring: RingSpec::of(arcs.ring()),
            arcs: arcs.numbers(),
        },
        NodeOp::EntriesOutside(arcs) => WireOp::EntriesOutside {
            ring: RingSpec::of(arcs.ring()),
            arcs: arcs.numbers(),
        },
        NodeOp::DropUnchanged { .. } => {
            return Err(Error::BadRequest(
                "a sweep's drop cannot cross processes: its guard is this process's own".into(),
            ))
        }
        NodeOp::AgedTombstones { .. }
        | NodeOp::CheckTombstones { .. }
        | NodeOp::DropTombstones { .. }
        | NodeOp::FoldDue { .. } => {
            return Err(Error::BadRequest(
                "tombstone collection and the idle-token sweep stay within one process".into(),
            ))
        }
        NodeOp::Digests(ring) => WireOp::Digests(RingSpec::of(&ring)),
        NodeOp::Dump => WireOp::Dump,
        NodeOp::Summary { ring, limit } => WireOp::Summary {
            ring: RingSpec::of(&ring),
            limit: limit as u32,
        },
        NodeOp::Page {
            ring,
            owned,
            after,
            limit,
        } => WireOp::Page {
            ring: RingSpec::of(&ring),
            owned,
            after,
            limit: limit as u32,
        },
        NodeOp::KeyCount(ring) => WireOp::KeyCount(RingSpec::of(&ring)),
        NodeOp::Ping => WireOp::Ping,
        NodeOp::Pause(pause) => WireOp::Pause(pause.as_millis() as u64),
        NodeOp::Crash => WireOp::Crash,
        NodeOp::Stop => WireOp::Stop,
    })
}

/// The node call `op` stands for; rings are built through `rings`.
///
/// # Errors
/// [`Error::BadRequest`] for a ring out of bounds, an arc that is not on its ring, or a pause
/// over a day.
pub fn op_from_wire(op: WireOp, rings: &mut RingCache) -> Result<NodeOp> {
    Ok(match op {
        WireOp::Increment {
            key,
            amount,
            hint_for,
        } => NodeOp::Increment {
            key,
            amount,
            hint_for,
        },
        WireOp::Read { key, hint_for } => NodeOp::Read { key, hint_for },
        WireOp::Merge { entries, hint_for } => NodeOp::Merge { entries, hint_for },
        WireOp::TakeHints(node) => NodeOp::TakeHints(node),
        WireOp::Entries(ranges) => NodeOp::Entries(ranges),
        WireOp::EntriesFor {
            ring,
            replicas,
            node,
        } => NodeOp::EntriesFor {
            ring: rings.ring(&ring)?,
            replicas: replicas as usize,
            node,
        },
        WireOp::EntriesIn { ring, arcs } => NodeOp::EntriesIn(arc_set(&ring, &arcs, rings)?),
        WireOp::DropIn { ring, arcs } => NodeOp::DropIn(arc_set(&ring, &arcs, rings)?),
        WireOp::EntriesOutside { ring, arcs } => {
            NodeOp::EntriesOutside(arc_set(&ring, &arcs, rings)?)
        }
        WireOp::Digests(ring) => NodeOp::Digests(rings.ring(&ring)?),
        WireOp::Dump => NodeOp::Dump,
        WireOp::Summary { ring, limit } => NodeOp::Summary {
            ring: rings.ring(&ring)?,
            limit: limit as usize,
        },
        WireOp::Page {
            ring,
            owned,
            after,
            limit,
        } => NodeOp::Page {
            ring: rings.ring(&ring)?,
            owned,
            after,
            limit: limit as usize,
        },
        WireOp::KeyCount(ring) => NodeOp::KeyCount(rings.ring(&ring)?),
        WireOp::Ping => NodeOp::Ping,
        WireOp::Pause(millis) => NodeOp::Pause(pause(millis)?),
        WireOp::Crash => NodeOp::Crash,
        WireOp::Stop => NodeOp::Stop,
    })
}

fn arc_set(spec: &RingSpec, arcs: &[u32], rings: &mut RingCache) -> Result<Arc<ArcSet>> {
    let ring = rings.ring(spec)?;
    ArcSet::from_numbers(ring, arcs)
        .map(Arc::new)
        .ok_or_else(|| Error::BadRequest("an arc number is not on its ring".into()))
}

fn pause(millis: u64) -> Result<Duration> {
    let pause = Duration::from_millis(millis);
    if pause > MAX_PAUSE {
        return Err(Error::BadRequest(format!(
            "a pause of {millis} ms is over the maximum of a day"
        )));
    }
    Ok(pause)
}

/// The wire form of `reply`.
pub fn reply_to_wire(reply: NodeReply) -> WireReply {
    match reply {
        NodeReply::Done => WireReply::Done,
        NodeReply::State(state) => WireReply::State(state),
        NodeReply::Count(n) => WireReply::Count(n as u64),
        NodeReply::Entries(entries) => WireReply::Entries(entries),
        NodeReply::Digests(digests) => {
            WireReply::Digests(digests.into_iter().map(|(k, v)| (k as u64, v)).collect())
        }
        NodeReply::Counts(keys, owned, expiring) => {
            WireReply::Counts(keys as u64, owned as u64, expiring as u64)
        }
        NodeReply::Dump(list, hints) => WireReply::Dump(list, hints as u64),
        NodeReply::Summary(s) => {
            WireReply::Summary(s.counters, s.replicas, s.keys as u64, s.hints as u64)
        }
        NodeReply::Page(entries) => WireReply::Page(entries),
        // Answers to calls that never cross processes (`op_to_wire` refuses them).
        NodeReply::Checks(_) | NodeReply::Keys(_) => WireReply::Done,
    }
}

/// The node reply `reply` stands for.
pub fn reply_from_wire(reply: WireReply) -> NodeReply {
    match reply {
        WireReply::Done => NodeReply::Done,
        WireReply::State(state) => NodeReply::State(state),
        WireReply::Count(n) => NodeReply::Count(n as usize),
        WireReply::Entries(entries) => NodeReply::Entries(entries),
        WireReply::Digests(digests) => {
            NodeReply::Digests(digests.into_iter().map(|(k, v)| (k as usize, v)).collect())
        }
        WireReply::Counts(keys, owned, expiring) => {
            NodeReply::Counts(keys as usize, owned as usize, expiring as usize)
        }
        WireReply::Dump(list, hints) => NodeReply::Dump(list, hints as usize),
        WireReply::Summary(counters, replicas, keys, hints) => NodeReply::Summary(Summary {
            counters,
            replicas,
            keys: keys as usize,
            hints: hints as usize,
        }),
        WireReply::Page(entries) => NodeReply::Page(entries),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::Ring;

    #[test]
    fn ops_with_rings_and_arcs_survive_the_trip() {
        let ring = Arc::new(Ring::with_nodes(8, [1, 2, 3]));
        let mut arcs = ArcSet::new(ring.clone());
        arcs.insert(2);
        arcs.insert(5);
        let mut rings = RingCache::default();
        let wire = op_to_wire(NodeOp::EntriesIn(Arc::new(arcs))).unwrap();
        let back = op_from_wire(wire, &mut rings);
        let Ok(NodeOp::EntriesIn(back)) = back else {
            panic!("not EntriesIn")
        };
        assert_eq!(back.numbers(), vec![2, 5]);
        assert_eq!(**back.ring(), *ring);
    }

    #[test]
    fn hostile_numbers_are_refused() {
        let ring = RingSpec::of(&Ring::with_nodes(4, [1]));
        let mut rings = RingCache::default();
        let bad_arc = WireOp::DropIn {
            ring,
            arcs: vec![u32::MAX],
        };
        assert!(op_from_wire(bad_arc, &mut rings).is_err());
        assert!(op_from_wire(WireOp::Pause(u64::MAX), &mut rings).is_err());
    }
}
