//! Server figures shared by every connection of one RESP listener, and the `INFO` text built from
//! them and from the cluster's ring report.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::protocol::RingReport;

/// The Redis version ringkv reports where clients look for one (`INFO`, `HELLO`): the RESP2
/// commands it answers behave as in this version.
pub const REDIS_VERSION: &str = "7.0.0";

/// Figures about one RESP listener: fixed facts and running counts.
#[derive(Debug)]
pub struct Stats {
    started: Instant,
    port: u16,
    max_request_len: usize,
    next_client_id: AtomicU64,
    connected: AtomicU64,
    connections_total: AtomicU64,
    commands_total: AtomicU64,
    clients: super::clients::Registry,
}

impl Stats {
    /// Figures for a listener on `port` that accepts requests up to `max_request_len` bytes.
    pub fn new(port: u16, max_request_len: usize) -> Stats {
        Stats {
            started: Instant::now(),
            port,
            max_request_len,
            next_client_id: AtomicU64::new(1),
            connected: AtomicU64::new(0),
            connections_total: AtomicU64::new(0),
            commands_total: AtomicU64::new(0),
            clients: Default::default(),
        }
    }

    /// The listener's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The largest request accepted, in bytes.
    pub fn max_request_len(&self) -> usize {
        self.max_request_len
    }

    /// Counts a new connection and returns its client id.
    pub fn connected(&self) -> u64 {
        self.connected.fetch_add(1, Ordering::Relaxed);
        self.connections_total.fetch_add(1, Ordering::Relaxed);
        self.next_client_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Counts a closed connection.
    pub fn disconnected(&self) {
        self.connected.fetch_sub(1, Ordering::Relaxed);
    }

    /// Counts one command received.
    pub fn command(&self) {
        self.commands_total.fetch_add(1, Ordering::Relaxed);
    }

    /// Every connection, for `CLIENT LIST` and `CLIENT KILL`.
    pub fn registry(&self) -> &super::clients::Registry {
        &self.clients
    }

    /// How many clients are connected now.
    pub fn clients(&self) -> u64 {
        self.connected.load(Ordering::Relaxed)
    }
}

/// The INFO sections ringkv has, in the order they are printed.
const SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "stats",
    "replication",
    "ringkv",
    "keyspace",
];

/// The sections an `INFO` request asks for (no argument, `default`, `all` or `everything`: every
/// section; unknown names: nothing, as in Redis).
pub fn sections(args: &[bytes::Bytes]) -> Vec<&'static str> {
    let asked: Vec<String> = args
        .iter()
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    let every = asked.is_empty()
        || asked
            .iter()
            .any(|a| matches!(a.as_str(), "default" | "all" | "everything"));
    let mut out: Vec<&'static str> = SECTIONS
        .iter()
        .copied()
        .filter(|s| every || asked.iter().any(|a| a == s))
        .collect();
    // `hotkeys` only when named, or with `all`/`everything` (as Redis keeps its costlier sections).
    if asked
        .iter()
        .any(|a| matches!(a.as_str(), "hotkeys" | "all" | "everything"))
    {
        out.push("hotkeys");
    }
    out
}

/// Renders the `INFO` text of `sections`. `ring` (each node's key count) feeds the keyspace and
/// ringkv sections.
pub fn render(sections: &[&str], stats: &Stats, ring: &RingReport) -> String {
    let mut out = String::new();
    for (i, section) in sections.iter().enumerate() {
        if i > 0 {
            out.push_str("\r\n");
        }
        let body = match *section {
            "server" => server(stats),
            "clients" => format!(
                "connected_clients:{}\r\nblocked_clients:0\r\n",
                stats.clients()
            ),
            "memory" => memory(),
            "stats" => stats_section(stats),
            "replication" => replication(ring),
            "ringkv" => ringkv(ring),
            "hotkeys" => crate::hotkeys::info_section(),
            _ => keyspace(ring),
        };
        let mut title = section.to_string();
        title[..1].make_ascii_uppercase();
        out.push_str(&format!("# {title}\r\n{body}"));
    }
    out
}

fn server(stats: &Stats) -> String {
    let uptime = stats.started.elapsed().as_secs();
    format!(
        "redis_version:{REDIS_VERSION}\r\nringkv_version:{}\r\nredis_mode:standalone\r\n\
         os:{} {}\r\narch_bits:{}\r\nprocess_id:{}\r\ntcp_port:{}\r\n\
         uptime_in_seconds:{uptime}\r\nuptime_in_days:{}\r\n",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH,
        usize::BITS,
        std::process::id(),
        stats.port,
        uptime / 86_400,
    )
}

/// The process's resident memory (Linux: `/proc/self/statm`; elsewhere 0), as Redis's
/// `used_memory` and `used_memory_rss`: ringkv has no allocator of its own to ask.
fn memory() -> String {
    let rss = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096);
    format!(
        "used_memory:{rss}\r\nused_memory_human:{:.2}M\r\nused_memory_rss:{rss}\r\n\
         maxmemory:0\r\nmaxmemory_human:0B\r\nmaxmemory_policy:noeviction\r\n",
        rss as f64 / (1024.0 * 1024.0)
    )
}

/// Redis's replication section: ringkv's replicas are its own (each key on R nodes, see the
/// ringkv section), not Redis replicas, so this server is a master with none.
fn replication(ring: &RingReport) -> String {
    let up = (ring.nodes.iter())
        .filter(|n| n.state == crate::replication::NodeState::Up)
        .count();
    format!(
        "role:master\r\nconnected_slaves:0\r\nmaster_failover_state:no-failover\r\n\
         master_replid:{}\r\nmaster_repl_offset:0\r\nringkv_nodes_up:{up}\r\n",
        "0".repeat(40)
    )
}

fn stats_section(stats: &Stats) -> String {
    format!(
        "total_connections_received:{}\r\ntotal_commands_processed:{}\r\n",
        stats.connections_total.load(Ordering::Relaxed),
        stats.commands_total.load(Ordering::Relaxed),
    )
}

fn ringkv(ring: &RingReport) -> String {
    let ports: Vec<String> = ring.nodes.iter().map(|n| n.port.to_string()).collect();
    let mut out = format!(
        "nodes:{}\r\nvnodes:{}\r\nnode_ports:{}\r\n",
        ring.nodes.len(),
        ring.vnodes,
        ports.join(",")
    );
    for node in &ring.nodes {
        out.push_str(&format!(
            "node_{}:keys={},share={:.4}\r\n",
            node.port, node.keys, node.share
        ));
    }
    out
}

/// The keyspace line; like Redis, none when there is no key.
fn keyspace(ring: &RingReport) -> String {
    match key_count(ring) {
        0 => String::new(),
        keys => {
            let expires: u64 = ring.nodes.iter().map(|n| n.expiring).sum();
            let ttl_ms: u64 = ring.nodes.iter().map(|n| n.ttl_ms).sum();
            let avg_ttl = ttl_ms.checked_div(expires).unwrap_or(0);
            format!("db0:keys={keys},expires={expires},avg_ttl={avg_ttl}\r\n")
        }
    }
}

/// How many distinct keys the cluster holds: each key has one primary copy (keys whose primary is
/// down are not counted until it is back).
pub fn key_count(ring: &RingReport) -> u64 {
    ring.nodes.iter().map(|n| n.primaries).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::NodeShare;

    #[test]
    fn renders_every_section_with_real_figures() {
        let stats = Stats::new(6379, 1024);
        stats.connected();
        stats.command();
        let ring = RingReport {
            vnodes: 8,
            nodes: vec![NodeShare {
                addr: None,
                port: 5001,
                state: crate::replication::NodeState::Up,
                share: 1.0,
                keys: 3,
                primaries: 3,
                expiring: 1,
                ttl_ms: 4_500,
            }],
        };
        let text = render(&sections(&[]), &stats, &ring);
        for needle in [
            "# Server\r\n",
            "tcp_port:6379\r\n",
            "connected_clients:1\r\n",
            "total_commands_processed:1\r\n",
            "nodes:1\r\n",
            "# Keyspace\r\ndb0:keys=3,expires=1,avg_ttl=4500\r\n",
        ] {
            assert!(text.contains(needle), "{needle} missing in {text}");
        }
        assert_eq!(
            sections(&[bytes::Bytes::from_static(b"KEYSPACE")]),
            ["keyspace"]
        );
        assert!(sections(&[bytes::Bytes::from_static(b"nope")]).is_empty());
    }
}
