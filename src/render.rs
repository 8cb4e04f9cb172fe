//! Text for people: how the REPL and `ringkv client` print a [`Response`].
//!
//! Keys are printed through [`quote::key`], so a key holding a newline or a terminal escape can
//! neither forge a line nor reach the terminal raw; error messages have their control characters
//! escaped.

use std::fmt::Write;

use crate::protocol::{
    ExpireOp, NodeState, NodeStatus, Request, Response, RingReport, StatusPage, StatusReport,
};
use crate::quote;

/// The text of an `Expire` answer: `Expire successful`, `Persist successful`, `TTL for KEY: N`
/// (seconds left, rounded as Redis's `TTL`; `-1 (no expiry)`, `-2 (does not exist)`), or why
/// nothing was done.
fn render_expiry(key: &str, op: ExpireOp, answer: i64) -> String {
    let key = quote::key(key);
    match (op, answer) {
        (ExpireOp::At { .. }, 1) => "Expire successful".to_owned(),
        (ExpireOp::At { .. }, _) => format!("Expire not done: {key} does not exist"),
        (ExpireOp::Persist, 1) => "Persist successful".to_owned(),
        (ExpireOp::Persist, _) => format!("Persist not done: {key} has no expiry"),
        (ExpireOp::Deadline, -1) => format!("TTL for {key}: -1 (no expiry)"),
        (ExpireOp::Deadline, -2) => format!("TTL for {key}: -2 (does not exist)"),
        (ExpireOp::Deadline, at) => {
            let now = i64::try_from(crate::counter::now_ms()).unwrap_or(i64::MAX);
            format!("TTL for {key}: {}", ((at - now).max(0) + 500) / 1000)
        }
    }
}

/// The text printed for `response`, without a final newline. Errors read `Error: <message>`.
pub fn render(response: &Response) -> String {
    match response {
        Response::Count { key, value } => format!("Count for {}: {value}", quote::key(key)),
        Response::Value { key, value } => {
            format!("Count for {}: {}", quote::key(key), value.unwrap_or(0))
        }
        Response::Updated { .. } => "Update successful".to_owned(),
        Response::Deleted { key, old: None } => {
            format!("Delete successful ({} did not exist)", quote::key(key))
        }
        Response::Deleted { .. } => "Delete successful".to_owned(),
        Response::Replaced { done: true, .. } => "Set successful".to_owned(),
        Response::Replaced { key, old, .. } => format!(
            "Set not done: {} {}",
            quote::key(key),
            if old.is_some() {
                "exists"
            } else {
                "does not exist"
            }
        ),
        Response::Expiry {
            key, op, answer, ..
        } => render_expiry(key, *op, *answer),
        Response::Status(report) => render_status(report),
        Response::Ring(report) => render_ring(report),
        Response::NodeAdded { port, keys_moved } => format!(
            "Node listening on port {port}\nNode on port {port} added, {keys_moved} {} moved to it",
            keys(*keys_moved)
        ),
        Response::NodeRemoved { port, keys_moved } => {
            node_removed(&node_name(*port, None), *keys_moved)
        }
        Response::NodeKilled { port, keys_lost } => format!(
            "Node on port {port} killed, {keys_lost} {} lost",
            keys(*keys_lost)
        ),
        Response::Error(e) => format!("Error: {}", quote::escape_controls(&e.message)),
        Response::StatusPage(page) => render_page(page),
        Response::Authed { user, role } => {
            format!("Authenticated as {} ({role})", quote::escape_controls(user))
        }
        Response::NodeReply(Ok(_)) => "(a node-to-node answer)".to_owned(),
        Response::Layout(l) => format!(
            "Layout epoch {}: {} nodes in {} processes",
            l.epoch,
            l.members.len(),
            l.processes().len()
        ),
        Response::NodeReply(Err(e)) => format!("Error: {}", quote::escape_controls(&e.message)),
        Response::NodePaused { port, millis } => {
            format!(
                "Node on port {port} paused for {:.1} s",
                *millis as f64 / 1000.0
            )
        }
        Response::HotKeys { enabled, keys } => crate::hotkeys::lines(*enabled, keys).join("\n"),
        Response::Vote(_) => "(a vote on the next ring)".to_owned(),
    }
}

/// The text printed for `response` to `request`: as [`render`], except that a node removed by
/// its address (`remove-node HOST:PORT`) is named by that address, as the user named it.
pub fn render_answer(request: &Request, response: &Response) -> String {
    match (request, response) {
        (Request::RemoveNodeAt { addr, .. }, Response::NodeRemoved { port, keys_moved })
            if addr.port() == *port =>
        {
            node_removed(&node_name(*port, Some(&addr.to_string())), *keys_moved)
        }
        _ => render(response),
    }
}

/// `NAME removed, N keys handed off`, NAME as [`node_name`] gives it.
fn node_removed(name: &str, keys_moved: u64) -> String {
    format!(
        "{name} removed, {keys_moved} {} handed off",
        keys(keys_moved)
    )
}

fn keys(n: u64) -> &'static str {
    if n == 1 {
        "key"
    } else {
        "keys"
    }
}

fn state_suffix(state: NodeState) -> &'static str {
    match state {
        NodeState::Up => "",
        NodeState::Down => " (down)",
        NodeState::Recovering => " (recovering)",
        NodeState::Joining => " (joining)",
        NodeState::Leaving => " (leaving)",
    }
}

/// The seed's status layout: the port list, then each node's counters, blank lines between nodes.
/// Primary copies print as `key: value`, further replicas as `key: value (replica)`, keys beyond
/// those listed as `... and N more keys`; with more than one replica a last paragraph gives R, W, Q
/// and the repair counts.
fn render_status(report: &StatusReport) -> String {
    let mut out = status_header(report);
    for (i, node) in report.nodes.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let _ = write!(out, "\n{}", node_header(node));
        if node.counters.is_empty() && node.replicas.is_empty() && node.more == 0 {
            out.push_str("\nNo events");
        }
        for (key, value) in &node.counters {
            let _ = write!(out, "\n{}: {value}", quote::key(key));
        }
        for (key, value) in &node.replicas {
            let _ = write!(out, "\n{}: {value} (replica)", quote::key(key));
        }
        if node.more > 0 {
            let _ = write!(out, "\n... and {} more {}", node.more, keys(node.more));
        }
        if let Some(hints) = node_footer(node) {
            let _ = write!(out, "\n{hints}");
        }
    }
    if let Some(footer) = status_footer(report) {
        let _ = write!(out, "\n\n{footer}");
    }
    out
}

/// The first two lines of `status`: the port list and the heading.
pub fn status_header(report: &StatusReport) -> String {
    let ports: Vec<String> = report
        .nodes
        .iter()
        .map(|n| n.addr.clone().unwrap_or_else(|| n.port.to_string()))
        .collect();
    format!(
        "Nodes running on ports: [{}]\nCurrent counters on all nodes:",
        ports.join(" ")
    )
}

/// A node's heading in `status`: `Node on port 5001:`, with its state if not up.
pub fn node_header(node: &NodeStatus) -> String {
    format!(
        "{}:{}",
        node_name(node.port, node.addr.as_deref()),
        state_suffix(node.state)
    )
}

/// How a node is named: `Node on port 5001` while every node shares one host, else
/// `Node 127.0.0.2:5001`.
pub fn node_name(port: u16, addr: Option<&str>) -> String {
    match addr {
        Some(addr) => format!("Node {addr}"),
        None => format!("Node on port {port}"),
    }
}

/// The line after a node's keys in `status`, if it keeps hints.
pub fn node_footer(node: &NodeStatus) -> Option<String> {
    (node.hints > 0).then(|| format!("({} hinted writes kept for down nodes)", node.hints))
}

/// The last paragraph of `status` (replication settings and repairs), with more than one replica.
pub fn status_footer(report: &StatusReport) -> Option<String> {
    (report.replicas > 1).then(|| {
        format!(
            "Replication: R={} W={} Q={}; repairs: {} by read repair, {} by anti-entropy ({} passes)",
            report.replicas,
            report.write_quorum,
            report.read_quorum,
            report.read_repairs,
            report.anti_entropy_repairs,
            report.anti_entropy_passes
        )
    })
}

/// One page of `status --all`: the lines `status` prints for these keys (empty for no keys).
fn render_page(page: &StatusPage) -> String {
    let suffix = if page.owned { "" } else { " (replica)" };
    let lines: Vec<String> = page
        .entries
        .iter()
        .map(|(key, value)| format!("{}: {value}{suffix}", quote::key(key)))
        .collect();
    lines.join("\n")
}

fn render_ring(report: &RingReport) -> String {
    let mut out = format!(
        "Ring: {} {}, {} virtual nodes each",
        report.nodes.len(),
        if report.nodes.len() == 1 {
            "node"
        } else {
            "nodes"
        },
        report.vnodes
    );
    for node in &report.nodes {
        let _ = write!(
            out,
            "\n{}:{} {:.2}% of the ring, {} {}",
            node_name(node.port, node.addr.as_deref()),
            state_suffix(node.state),
            node.share * 100.0,
            node.keys,
            keys(node.keys)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::NodeStatus;

    #[test]
    fn status_matches_the_seed() {
        let node = |port, counters: Vec<(String, i64)>| NodeStatus {
            addr: None,
            port,
            state: NodeState::Up,
            counters,
            replicas: vec![],
            hints: 0,
            more: 0,
        };
        let report = StatusReport {
            nodes: vec![
                node(5001, vec![("a".into(), 1)]),
                node(5002, vec![]),
                node(5003, vec![]),
            ],
            replicas: 1,
            write_quorum: 1,
            read_quorum: 1,
            read_repairs: 0,
            anti_entropy_repairs: 0,
            anti_entropy_passes: 0,
        };
        let expected = "Nodes running on ports: [5001 5002 5003]\nCurrent counters on all nodes:\n\
Node on port 5001:\na: 1\n\nNode on port 5002:\nNo events\n\nNode on port 5003:\nNo events";
        assert_eq!(render(&Response::Status(report)), expected);
    }

    #[test]
    fn a_node_removed_by_address_is_named_by_it() {
        let addr = "127.0.0.2:5002".parse().expect("an address");
        let removed = Response::NodeRemoved {
            port: 5002,
            keys_moved: 3,
        };
        let by_addr = Request::RemoveNodeAt { addr, force: false };
        assert_eq!(
            render_answer(&by_addr, &removed),
            "Node 127.0.0.2:5002 removed, 3 keys handed off"
        );
        let by_port = Request::RemoveNode { port: 5002 };
        assert_eq!(
            render_answer(&by_port, &removed),
            "Node on port 5002 removed, 3 keys handed off"
        );
    }
}
