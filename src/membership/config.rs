//! The timing of failure detection, and what it bounds.

use std::num::{NonZeroU8, NonZeroUsize};
use std::time::Duration;

use foca::PeriodicParams;

use crate::error::{Error, Result};

/// How often members are probed and how long a suspicion lasts. The defaults detect a dead
/// process of a three-process cluster within [`MembershipConfig::worst_case_detection`]`(3)` =
/// 2.5 s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipConfig {
    /// Each member pings one other member (round robin, reshuffled each round) this often.
    pub probe_period: Duration,
    /// How long a direct ping waits for its answer before others are asked to ping indirectly.
    /// Must be below `probe_period`.
    pub probe_rtt: Duration,
    /// How long a suspected member has to refute the suspicion before it is declared down.
    pub suspect_to_down_after: Duration,
    /// How often cluster updates (suspicions, downs, joins) are gossiped, beyond riding on pings.
    pub gossip_every: Duration,
    /// How often a connected member announces itself to members it holds down, so that a
    /// partition heals by itself.
    pub announce_to_down_every: Duration,
    /// How often a member that sees no live member at all announces itself again to its seeds
    /// and to every member it ever knew.
    pub rejoin_every: Duration,
}

impl Default for MembershipConfig {
    fn default() -> Self {
        Self {
            probe_period: Duration::from_millis(400),
            probe_rtt: Duration::from_millis(150),
            suspect_to_down_after: Duration::from_millis(800),
            gossip_every: Duration::from_millis(100),
            announce_to_down_every: Duration::from_secs(1),
            rejoin_every: Duration::from_secs(1),
        }
    }
}

/// The shortest interval [`MembershipConfig::check`] accepts.
const MIN_INTERVAL: Duration = Duration::from_millis(10);
/// The longest interval [`MembershipConfig::check`] accepts.
const MAX_INTERVAL: Duration = Duration::from_secs(3_600);

/// The largest UDP datagram foca may produce or accept (below a 1,500-byte MTU).
pub const MAX_PACKET: usize = 1_400;

impl MembershipConfig {
    /// The longest a process of a cluster of `processes` can stay dead before every live member
    /// reports it down, with no message loss: a member probes each of its `n - 1` peers once per
    /// round and reshuffles between rounds, so a peer can go `2(n - 1) - 1` periods unprobed, and
    /// the failed probe counts one period later; then the suspicion timeout; then one gossip
    /// interval for the others to hear it (plus network time, not counted).
    pub fn worst_case_detection(&self, processes: u32) -> Duration {
        let peers = processes.saturating_sub(1).max(1);
        self.probe_period * (2 * peers) + self.suspect_to_down_after + self.gossip_every
    }

    /// Refuses timings that would spin (zero or near-zero intervals), never detect (more than an
    /// hour), or cut the indirect probe short (`probe_rtt` not below `probe_period`).
    ///
    /// # Errors
    /// [`Error::BadRequest`] naming the timing at fault.
    pub fn check(&self) -> Result<()> {
        let bounded = [
            ("probe period", self.probe_period),
            ("probe round trip", self.probe_rtt),
            ("suspicion timeout", self.suspect_to_down_after),
            ("gossip interval", self.gossip_every),
            ("announce-to-down interval", self.announce_to_down_every),
            ("rejoin interval", self.rejoin_every),
        ];
        for (what, value) in bounded {
            if value < MIN_INTERVAL || value > MAX_INTERVAL {
                return Err(Error::BadRequest(format!(
                    "membership {what} {value:?} is outside {MIN_INTERVAL:?}..={MAX_INTERVAL:?}"
                )));
            }
        }
        if self.probe_rtt >= self.probe_period {
            return Err(Error::BadRequest(format!(
                "membership probe round trip {:?} must be below the probe period {:?}",
                self.probe_rtt, self.probe_period
            )));
        }
        Ok(())
    }

    /// The foca configuration these timings make. Besides them: two indirect probes, each
    /// update sent six times, down members never forgotten (they renew to come back), members
    /// told when they are held down, and an announce to one random member every five
    /// announce-to-down intervals (discovery).
    pub(crate) fn to_foca(&self) -> foca::Config {
        let mut config = foca::Config::simple();
        config.probe_period = self.probe_period;
        config.probe_rtt = self.probe_rtt;
        config.suspect_to_down_after = self.suspect_to_down_after;
        config.num_indirect_probes = NonZeroUsize::MIN.saturating_add(1);
        config.max_transmissions = NonZeroU8::MIN.saturating_add(5);
        config.remove_down_after = None;
        config.max_packet_size = NonZeroUsize::MIN.saturating_add(MAX_PACKET - 1);
        config.notify_down_members = true;
        config.periodic_gossip = Some(periodic(self.gossip_every, 2));
        config.periodic_announce = Some(periodic(self.announce_to_down_every * 5, 1));
        config.periodic_announce_to_down_members = Some(periodic(self.announce_to_down_every, 2));
        config
    }
}

fn periodic(frequency: Duration, members: usize) -> PeriodicParams {
    PeriodicParams {
        frequency,
        num_members: NonZeroUsize::MIN.saturating_add(members.saturating_sub(1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_detects_within_three_seconds_for_three_processes() {
        let config = MembershipConfig::default();
        assert_eq!(config.worst_case_detection(3), Duration::from_millis(2_500));
        assert!(config.worst_case_detection(3) < Duration::from_secs(3));
    }

    #[test]
    fn timings_that_would_spin_or_never_detect_are_refused() {
        assert!(MembershipConfig::default().check().is_ok());
        let zero = MembershipConfig {
            gossip_every: Duration::ZERO,
            ..Default::default()
        };
        assert!(zero.check().is_err());
        let day = Duration::from_secs(86_400);
        let slow = MembershipConfig {
            suspect_to_down_after: day,
            ..Default::default()
        };
        assert!(slow.check().is_err());
        let rtt = MembershipConfig {
            probe_rtt: Duration::from_millis(400),
            ..Default::default()
        };
        let refused = rtt.check().expect_err("rtt not below the period");
        assert!(
            refused.to_string().contains("below the probe period"),
            "{refused}"
        );
    }

    #[test]
    fn foca_gets_the_timings() {
        let foca = MembershipConfig::default().to_foca();
        assert_eq!(foca.probe_period, Duration::from_millis(400));
        assert_eq!(foca.suspect_to_down_after, Duration::from_millis(800));
        assert_eq!(foca.max_packet_size.get(), MAX_PACKET);
        assert_eq!(foca.num_indirect_probes.get(), 2);
        assert!(foca.notify_down_members);
    }
}
