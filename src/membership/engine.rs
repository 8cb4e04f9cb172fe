//! The membership logic without I/O: a `Foca` instance and a runtime that collects what it asks
//! for (datagrams to send, timers to set, members up and down) as plain values the caller drains.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use foca::{Foca, NoCustomBroadcast, Notification, OwnedNotification, Runtime, Timer};
use rand_foca::{rngs::SmallRng, SeedableRng};

use super::config::MembershipConfig;
use super::event::MemberEvent;
use super::identity::ProcessId;
use super::wire::{self, WireCodec};
use crate::auth::cluster_secret::ClusterSecret;
use crate::error::{Error, Result};

type Swim = Foca<ProcessId, WireCodec, SmallRng, NoCustomBroadcast>;

/// A timer the core asked for; hand it back to [`MembershipCore::handle_timer`] when it is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreTimer(TimerKind);

#[derive(Debug, Clone, PartialEq, Eq)]
enum TimerKind {
    Swim(Timer<ProcessId>),
    /// While no member is alive: announce again to the seeds and every member ever known.
    Rejoin,
}

/// One datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// Where to: the peer's advertised address (its UDP socket).
    pub to: SocketAddr,
    /// The whole datagram, prefix included.
    pub data: Bytes,
}

/// What the core produced since it was last drained.
#[derive(Debug, Default)]
pub struct Output {
    /// Datagrams to send, in order.
    pub sends: Vec<Datagram>,
    /// Timers to set: hand each back after its delay.
    pub timers: Vec<(Duration, CoreTimer)>,
    /// Members that came up or went down, in order.
    pub events: Vec<MemberEvent>,
}

/// foca's gateway to the world: it only collects.
#[derive(Default)]
struct Collect {
    /// Seals every datagram sent, and is required of every datagram received.
    secret: Option<ClusterSecret>,
    sends: Vec<Datagram>,
    timers: Vec<(Duration, CoreTimer)>,
    notes: Vec<OwnedNotification<ProcessId>>,
}

impl Runtime<ProcessId> for Collect {
    fn notify(&mut self, notification: Notification<'_, ProcessId>) {
        self.notes.push(notification.to_owned());
    }

    fn send_to(&mut self, to: ProcessId, data: &[u8]) {
        self.sends.push(Datagram {
            to: to.addr(),
            data: wire::frame(data, self.secret.as_ref()),
        });
    }

    fn submit_after(&mut self, event: Timer<ProcessId>, after: Duration) {
        self.timers.push((after, CoreTimer(TimerKind::Swim(event))));
    }
}

/// One process's membership state machine. Feed it datagrams and due timers; drain its
/// [`Output`] after each call.
pub struct MembershipCore {
    swim: Swim,
    out: Collect,
    events: Vec<MemberEvent>,
    seeds: Vec<SocketAddr>,
    up: BTreeSet<SocketAddr>,
    rejoin_every: Duration,
    /// Datagrams refused before foca saw them (not ours, or not sealed with our secret).
    refused: u64,
}

fn swim_error(e: foca::Error) -> Error {
    Error::Protocol(format!("membership: {e}"))
}

impl MembershipCore {
    /// A core for `identity`, alone until it joins; `seed` seeds its random choices (tests pass
    /// fixed seeds to replay a run exactly).
    ///
    /// # Errors
    /// [`Error::BadRequest`] if the timings fail [`MembershipConfig::check`].
    pub fn new(identity: ProcessId, config: &MembershipConfig, seed: u64) -> Result<Self> {
        config.check()?;
        let swim = Foca::new(
            identity,
            config.to_foca(),
            SmallRng::seed_from_u64(seed),
            WireCodec,
        );
        let mut core = Self {
            swim,
            out: Collect::default(),
            events: Vec::new(),
            seeds: Vec::new(),
            up: BTreeSet::new(),
            rejoin_every: config.rejoin_every,
            refused: 0,
        };
        core.schedule_rejoin();
        Ok(core)
    }

    /// Seals every datagram from now on with `secret`, and refuses every datagram that is not
    /// sealed with it.
    pub fn seal(&mut self, secret: ClusterSecret) {
        self.out.secret = Some(secret);
    }

    /// How many datagrams were refused before foca saw them: not ours, another version, or not
    /// sealed with this core's secret.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// This process's current identity (its generation grows when it renews itself).
    pub fn identity(&self) -> ProcessId {
        *self.swim.identity()
    }

    /// The addresses of the processes this one holds alive (itself not included).
    pub fn members_up(&self) -> &BTreeSet<SocketAddr> {
        &self.up
    }

    /// Announces this process to `seeds`; they stay seeds, announced to again whenever this
    /// process sees no live member.
    pub fn join(&mut self, seeds: &[SocketAddr]) -> Result<()> {
        let own = self.identity().addr();
        for seed in seeds.iter().filter(|s| **s != own) {
            if !self.seeds.contains(seed) {
                self.seeds.push(*seed);
            }
        }
        let result = self.announce_to(self.seeds.clone());
        self.settle();
        result
    }

    /// One datagram that arrived on the membership socket. A datagram that is not ours (or not
    /// sealed with the secret: counted in [`MembershipCore::refused`]), or that foca refuses, is
    /// an error to log and forget: nothing changes.
    pub fn handle_datagram(&mut self, datagram: &[u8]) -> Result<()> {
        let data = match wire::unframe(datagram, self.out.secret.as_ref()) {
            Ok(data) => data,
            Err(e) => {
                self.refused = self.refused.saturating_add(1);
                return Err(Error::Protocol(e.to_string()));
            }
        };
        let result = self
            .swim
            .handle_data(data, &mut self.out)
            .map_err(swim_error);
        self.settle();
        result
    }

    /// A timer that fell due.
    pub fn handle_timer(&mut self, timer: CoreTimer) -> Result<()> {
        let result = match timer.0 {
            TimerKind::Swim(timer) => self
                .swim
                .handle_timer(timer, &mut self.out)
                .map_err(swim_error),
            TimerKind::Rejoin => {
                self.schedule_rejoin();
                if self.swim.num_members() == 0 {
                    self.announce_to_everyone()
                } else {
                    Ok(())
                }
            }
        };
        self.settle();
        result
    }

    /// Leaves gracefully: declares this identity down to a few members, who spread it.
    pub fn leave(&mut self) -> Result<()> {
        let result = self.swim.leave_cluster(&mut self.out).map_err(swim_error);
        self.settle();
        result
    }

    /// Everything produced since the last drain.
    pub fn drain(&mut self) -> Output {
        Output {
            sends: std::mem::take(&mut self.out.sends),
            timers: std::mem::take(&mut self.out.timers),
            events: std::mem::take(&mut self.events),
        }
    }

    fn schedule_rejoin(&mut self) {
        self.out
            .timers
            .push((self.rejoin_every, CoreTimer(TimerKind::Rejoin)));
    }

    fn announce_to(&mut self, addrs: impl IntoIterator<Item = SocketAddr>) -> Result<()> {
        let mut result = Ok(());
        for addr in addrs {
            // An announce is accepted by address, whatever generation it names.
            if let Err(e) = self.swim.announce(ProcessId::new(addr, 0), &mut self.out) {
                result = Err(swim_error(e));
            }
        }
        result
    }

    fn announce_to_everyone(&mut self) -> Result<()> {
        let own = self.identity().addr();
        let mut targets: BTreeSet<SocketAddr> = self.seeds.iter().copied().collect();
        targets.extend(self.swim.iter_membership_state().map(|m| m.id().addr()));
        targets.remove(&own);
        self.announce_to(targets)
    }

    /// Turns foca's notifications into member events, and comes back after a renewal.
    fn settle(&mut self) {
        // Announcing notifies nothing, so a second round finds the notes empty.
        for _ in 0..4 {
            let notes = std::mem::take(&mut self.out.notes);
            if notes.is_empty() {
                return;
            }
            self.apply_notes(notes);
        }
    }

    fn apply_notes(&mut self, notes: Vec<OwnedNotification<ProcessId>>) {
        for note in notes {
            match note {
                OwnedNotification::MemberUp(id) if self.up.insert(id.addr()) => {
                    self.events.push(MemberEvent::Up(id.addr()));
                }
                OwnedNotification::MemberDown(id) if self.up.remove(&id.addr()) => {
                    self.events.push(MemberEvent::Down(id.addr()));
                }
                OwnedNotification::Rejoin(_) if self.swim.num_members() == 0 => {
                    // Errors here only mean an announce could not be encoded; the rejoin
                    // timer tries again.
                    let _ = self.announce_to_everyone();
                }
                _ => {}
            }
        }
    }
}
