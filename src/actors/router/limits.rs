//! The limits the Router checks itself, whatever the client checked before: the longest pause, the
//! ports and number of nodes `add-node` accepts, and `remove-node` below R only by force. The
//! bounds are the Router's `limits` (`ServerLimits::max_pause_millis`, `min_node_port`, and
//! `RouterConfig::max_nodes`), which an admin sets with `--max-pause`, `--min-node-port` and
//! `--max-nodes`; the constants here are their defaults.

use super::Router;
use crate::error::{Error, Result};

/// The default (and largest) number of nodes a cluster may have, as `--nodes` allows.
pub const MAX_NODES: usize = 1000;

/// The lowest port `add-node` accepts (besides 0 and the ports the cluster started with): ports
/// below are privileged, as for `redis-server --port` run by a normal user.
pub const MIN_PORT: u16 = 1024;

fn plural(n: usize, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 {
        one
    } else {
        many
    }
}

/// The default longest pause accepted: 24 hours, as `pause-node` allows.
pub const MAX_PAUSE_MILLIS: u64 = 86_400_000;

impl Router {
    /// Refuses a pause over the limit (by default [`MAX_PAUSE_MILLIS`]).
    pub(super) fn check_pause(&self, millis: u64) -> Result<()> {
        let max = self.config.limits.max_pause_millis;
        if millis > max {
            let why = if max == MAX_PAUSE_MILLIS {
                " (24 hours)"
            } else {
                " (--max-pause)"
            };
            return Err(Error::BadRequest(format!(
                "a pause of {millis} ms exceeds the maximum of {max} ms{why}"
            )));
        }
        Ok(())
    }

    /// Refuses an `add-node` past [`RouterConfig::max_nodes`](super::RouterConfig) or on a port
    /// below the limit (by default [`MIN_PORT`]: the privileged ports 1 to 1023) the cluster did
    /// not start with.
    pub(super) fn check_add(&self, port: Option<u16>) -> Result<()> {
        let max = self.config.max_nodes;
        if self.nodes.len() >= max {
            return Err(Error::BadRequest(format!(
                "the cluster already has {} nodes, the most it may have is {max}",
                self.nodes.len()
            )));
        }
        let min = self.config.limits.min_node_port;
        match port {
            Some(p) if (1..min).contains(&p) && !self.start_ports.contains(&p) => {
                let what = if p < MIN_PORT {
                    "a privileged port"
                } else {
                    "below --min-node-port"
                };
                Err(Error::BadRequest(format!(
                    "port {p} is {what}: a new node needs a port from {min} to \
                     65535 (or 0 for any free port), or a port the cluster started with"
                )))
            }
            _ => Ok(()),
        }
    }

    /// The last node is never removed; below R nodes only with `force` (and a warning).
    pub(super) fn check_remove(&self, port: u16, force: bool) -> Result<()> {
        if self.nodes.len() == 1 {
            return Err(Error::BadRequest(format!(
                "cannot remove the last node (port {port}): its keys would have nowhere to go"
            )));
        }
        let (left, r) = (self.nodes.len() - 1, self.config.replication.replicas);
        if left >= r {
            return Ok(());
        }
        if !force {
            return Err(Error::BadRequest(format!(
                "removing the node on port {port} would leave {left} {}, fewer than the {r} \
                 copies of each key (R): add a node first, or use 'remove-node {port} --force' \
                 to keep only {left} {}",
                plural(left, "node", "nodes"),
                plural(left, "copy", "copies")
            )));
        }
        tracing::warn!(
            port,
            "node removed by force: {left} nodes left, R={r} lowered to {left}"
        );
        Ok(())
    }
}
