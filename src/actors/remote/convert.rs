//! [`NodeOp`] and [`NodeReply`] to and from their wire forms ([`WireOp`], [`WireReply`]).
//!
//! Rings become [`RingSpec`]s on the way out and are rebuilt (once per distinct ring, through a
//! [`RingCache`]) on the way in; every number that came from the wire is checked.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use crate::actors::node::{NodeOp, NodeReply, Summary};
use crate::actors::RingGuard;
use crate::error::{Error, Result};
use crate::protocol::peer::{RingCache, RingSpec, WireOp, WireReply, MAX_AGED_TOMBSTONES};
use crate::rebalance::ArcSet;

/// The longest pause a node call may ask for: a day, as `pause-node` allows.
const MAX_PAUSE: Duration = Duration::from_secs(86_400);

/// The wire form of `op`.
///
/// # Errors
/// [`Error::BadRequest`] for [`NodeOp::DropUnchanged`] and for a [`NodeOp::DropTombstones`]
/// guarded by [`RingGuard::Local`]: that guard is the Router's own ring-change counter, which
/// means nothing in another process (a drop that crosses carries the agreed ring epoch); the same
/// for [`NodeOp::FoldDue`], which the idle-token sweep asks only of its own process's nodes.
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
        NodeOp::AgedTombstones { grace_ms, most } => WireOp::AgedTombstones {
            grace_ms,
            most: u32::try_from(most).unwrap_or(u32::MAX),
        },
        NodeOp::CheckTombstones { entries, grace_ms } => {
            WireOp::CheckTombstones { entries, grace_ms }
        }
        NodeOp::DropTombstones {
            entries,
            guard: RingGuard::Agreed { epoch, .. },
        } => WireOp::DropTombstones { entries, epoch },
        NodeOp::DropTombstones { .. } => {
            return Err(Error::BadRequest(
                "a collection's drop crosses processes only with the agreed ring epoch".into(),
            ))
        }
        NodeOp::FoldDue { .. } => {
            return Err(Error::BadRequest(
                "the idle-token sweep asks only its own process's nodes".into(),
            ))
        }
        NodeOp::Reserve(_) => {
            return Err(Error::BadRequest(
                "room is made ahead of a copy within one process only".into(),
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
        NodeOp::TtlSum(ring) => WireOp::TtlSum(RingSpec::of(&ring)),
        NodeOp::Ping => WireOp::Ping,
        NodeOp::Pause(pause) => WireOp::Pause(pause.as_millis() as u64),
        NodeOp::Crash => WireOp::Crash,
        NodeOp::Stop => WireOp::Stop,
    })
}

/// The node call `op` stands for; rings are built through `rings`, and a drop's guard reads
/// `settled`, the epoch this process has settled on.
///
/// # Errors
/// [`Error::BadRequest`] for a ring out of bounds, an arc that is not on its ring, a pause
/// over a day, or more aged tombstones asked for than [`MAX_AGED_TOMBSTONES`].
pub fn op_from_wire(op: WireOp, rings: &mut RingCache, settled: &Arc<AtomicU64>) -> Result<NodeOp> {
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
        WireOp::TtlSum(ring) => NodeOp::TtlSum(rings.ring(&ring)?),
        WireOp::Ping => NodeOp::Ping,
        WireOp::Pause(millis) => NodeOp::Pause(pause(millis)?),
        WireOp::Crash => NodeOp::Crash,
        WireOp::Stop => NodeOp::Stop,
        WireOp::AgedTombstones { grace_ms, most } => {
            if most > MAX_AGED_TOMBSTONES {
                return Err(Error::BadRequest(format!(
                    "{most} aged tombstones asked for; the most is {MAX_AGED_TOMBSTONES}"
                )));
            }
            NodeOp::AgedTombstones {
                grace_ms,
                most: most as usize,
            }
        }
        WireOp::CheckTombstones { entries, grace_ms } => {
            NodeOp::CheckTombstones { entries, grace_ms }
        }
        WireOp::DropTombstones { entries, epoch } => NodeOp::DropTombstones {
            entries,
            guard: RingGuard::Agreed {
                epoch,
                settled: Some(settled.clone()),
            },
        },
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
        NodeReply::Checks(checks) => WireReply::Checks(checks),
        // The answer to a call that never crosses processes (`op_to_wire` refuses it).
        NodeReply::Keys(_) => WireReply::Done,
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
        WireReply::Checks(checks) => NodeReply::Checks(checks),
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
        let back = op_from_wire(wire, &mut rings, &settled());
        let Ok(NodeOp::EntriesIn(back)) = back else {
            panic!("not EntriesIn")
        };
        assert_eq!(back.numbers(), vec![2, 5]);
        assert_eq!(**back.ring(), *ring);
        let wire = op_to_wire(NodeOp::TtlSum(ring.clone())).unwrap();
        let Ok(NodeOp::TtlSum(back)) = op_from_wire(wire, &mut rings, &settled()) else {
            panic!("not TtlSum")
        };
        assert_eq!(*back, *ring);
    }

    fn settled() -> Arc<AtomicU64> {
        Arc::new(AtomicU64::new(3))
    }

    #[test]
    fn a_collection_crosses_with_the_agreed_epoch_only() {
        let entry = crate::store::Entry {
            key: "gone".into(),
            counter: crate::counter::Counter::new(),
        };
        let drop = |guard| NodeOp::DropTombstones {
            entries: vec![entry.clone()],
            guard,
        };
        let local = RingGuard::Local {
            epoch: settled(),
            expected: 3,
        };
        assert!(op_to_wire(drop(local)).is_err(), "a local guard stays home");
        let agreed = RingGuard::Agreed {
            epoch: 3,
            settled: None,
        };
        let wire = op_to_wire(drop(agreed)).unwrap();
        let here = Arc::new(AtomicU64::new(3));
        let Ok(NodeOp::DropTombstones { entries, guard }) =
            op_from_wire(wire, &mut RingCache::default(), &here)
        else {
            panic!("not DropTombstones")
        };
        assert_eq!(entries, vec![entry.clone()]);
        assert!(guard.holds(), "this process settled on epoch 3");
        here.store(0, std::sync::atomic::Ordering::SeqCst);
        assert!(!guard.holds(), "keys move here now");
        let too_many = WireOp::AgedTombstones {
            grace_ms: 1,
            most: MAX_AGED_TOMBSTONES + 1,
        };
        assert!(op_from_wire(too_many, &mut RingCache::default(), &here).is_err());
        let checks = NodeReply::Checks(vec![Some(true), None]);
        let NodeReply::Checks(back) = reply_from_wire(reply_to_wire(checks)) else {
            panic!("not Checks")
        };
        assert_eq!(back, vec![Some(true), None]);
    }

    #[test]
    fn hostile_numbers_are_refused() {
        let ring = RingSpec::of(&Ring::with_nodes(4, [1]));
        let mut rings = RingCache::default();
        let bad_arc = WireOp::DropIn {
            ring,
            arcs: vec![u32::MAX],
        };
        assert!(op_from_wire(bad_arc, &mut rings, &settled()).is_err());
        assert!(op_from_wire(WireOp::Pause(u64::MAX), &mut rings, &settled()).is_err());
    }
}
