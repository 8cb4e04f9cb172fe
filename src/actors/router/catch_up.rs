//! Catching up with the cluster's ring: what the failure detector's events do to a Router, and
//! how a process that may have missed ring changes learns the newest layout before it serves
//! again ([`crate::actors::Standing`]).
//!
//! A process that starts on a data directory that remembers other processes asks them before it
//! serves (`joining::catch_up`). At run time a process catches up when it hears a process again
//! while it saw no majority of the cluster's processes alive (itself included): it was on the
//! small side of a partition, or paused, and the others may have changed the ring meanwhile.
//! A process on the large side goes on serving: it may have missed a change (a majority agreed
//! on it without it), but then it was not reachable, so the failure detector reports it
//! as coming back, and a process that hears one come up asks it for its layout. A layout that no longer names any of this process's
//! nodes means it was removed: it says so once and refuses reads and writes from then on.

use std::net::SocketAddr;
use std::time::Duration;

use actix::prelude::*;
use futures_util::future::join_all;

use super::Router;
use crate::actors::remote::ask;
use crate::actors::standing::removed_line;
use crate::layout::Layout;
use crate::membership::MemberEvent;
use crate::protocol::{Request, Response};
use crate::replication::NodeState;

/// How long a process that catches up at run time waits for each other process's layout.
const CATCH_UP_ASK: Duration = Duration::from_secs(1);

impl Handler<MemberEvent> for Router {
    type Result = ();

    /// A process went down: its nodes are down here (hints, sloppy quorum), as a local node
    /// that timed out, and the links to them are closed (calls in flight fail as uncertain).
    /// A process came up: the probe of down nodes brings its nodes back through refill, and its
    /// layout is asked for, in case it is newer; if this process had no majority alive, reads
    /// and writes wait for the answers.
    fn handle(&mut self, event: MemberEvent, ctx: &mut Context<Self>) {
        let Some(peers) = self.peers.as_mut() else {
            return;
        };
        if event.addr() == peers.me {
            return;
        }
        match event {
            MemberEvent::Down(process) => {
                peers.down.insert(process);
                for node in self.nodes.values_mut() {
                    let remote = node.shared.is_none();
                    if remote && node.member.is_some_and(|m| m.process == process) {
                        node.state = NodeState::Down;
                        // Calls in flight to it would wait for TCP to give up (minutes when it
                        // is cut off), and a ring change waits for them to settle.
                        if let Some(link) = &node.link {
                            link.close(&format!("process {process} is down"));
                        }
                    }
                }
                tracing::warn!("process {process} is down; its nodes are marked down");
                self.publish();
            }
            MemberEvent::Up(process) => {
                let was_cut_off = !self.majority_alive();
                if let Some(peers) = self.peers.as_mut() {
                    peers.down.remove(&process);
                }
                if was_cut_off {
                    tracing::info!("{process} is back; catching up with the ring before serving");
                    self.standing.catching_up();
                    let asked = self.alive_others();
                    self.catch_up_from(asked, ctx);
                } else {
                    self.catch_up_from(vec![process], ctx);
                }
            }
        }
    }
}

/// Install a layout learned from another process, if it is newer (or note that it no longer
/// names this process's nodes: removed).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Learned(pub Layout);

impl Handler<Learned> for Router {
    type Result = ();
    fn handle(&mut self, Learned(layout): Learned, _: &mut Context<Self>) {
        self.learn(layout);
    }
}

impl Router {
    /// Installs `layout` if it is newer and valid; a newer one without this process's nodes is
    /// not installed (the data stays as it was): the process is removed.
    pub(super) fn learn(&mut self, layout: Layout) {
        let Some(peers) = self.peers.as_ref() else {
            return;
        };
        if layout.epoch <= peers.epoch || layout.check().is_err() {
            return;
        }
        if layout.nodes_of(peers.me).is_empty() {
            self.note_removal(&layout);
        } else if self.changes.promised().is_none() {
            self.install(&layout);
        }
    }

    /// Marks the process removed if `layout` names none of its nodes (said once, as an error).
    pub(super) fn note_removal(&mut self, layout: &Layout) {
        let Some(peers) = self.peers.as_ref() else {
            return;
        };
        if layout.nodes_of(peers.me).is_empty() {
            if self.standing.now() == crate::actors::Stand::Removed(layout.epoch) {
                return;
            }
            tracing::error!("{}", removed_line(layout.epoch));
            self.standing.removed(layout.epoch);
        }
    }

    /// Whether a majority of the layout's processes (this one included) is alive as far as the
    /// failure detector says.
    fn majority_alive(&self) -> bool {
        let Some(layout) = self.layout() else {
            return true;
        };
        let Some(peers) = self.peers.as_ref() else {
            return true;
        };
        let all = layout.processes();
        let down = all.iter().filter(|p| peers.down.contains(p)).count();
        (all.len() - down) * 2 > all.len()
    }

    /// The other processes of the layout not reported down.
    pub(super) fn alive_others(&self) -> Vec<SocketAddr> {
        let (Some(layout), Some(peers)) = (self.layout(), self.peers.as_ref()) else {
            return Vec::new();
        };
        layout
            .processes()
            .into_iter()
            .filter(|p| *p != peers.me && !peers.down.contains(p))
            .collect()
    }

    /// Asks each of `processes` for its layout, learns the newest, then serves again (unless it
    /// was removed).
    pub(super) fn catch_up_from(&mut self, processes: Vec<SocketAddr>, ctx: &mut Context<Self>) {
        let asks = processes.into_iter().map(|p| async move {
            match ask(&p.to_string(), &Request::Layout, CATCH_UP_ASK).await {
                Ok(Response::Layout(layout)) => Some(layout),
                _ => None,
            }
        });
        let fut = actix::fut::wrap_future(join_all(asks));
        ctx.spawn(
            fut.map(|layouts: Vec<Option<Layout>>, act: &mut Router, _| {
                if let Some(newest) = layouts.into_iter().flatten().max_by_key(|l| l.epoch) {
                    act.learn(newest);
                }
                act.standing.caught_up();
            }),
        );
    }
}
