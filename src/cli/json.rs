//! `ringkv client --json`: every answer as one JSON object on one line, for programs.
//!
//! Every object has `"ok"`. An answer has `"ok": true` and `"type"` (`count`, `updated`, `status`,
//! `ring`, `node_added`, `node_removed`, `node_killed`, `node_paused`, `deleted`, `set`, `expiry`,
//! `help`)
//! with the answer's fields; a failure has `"ok": false` and `"error": {"code", "message"}`, the code being the
//! server's (`bad_request`, `no_such_node`, `overflow`, `unavailable`, `protocol`, `internal`,
//! `uncertain`) or the client's own (`io`, `timeout`). The README lists the fields.

use ringkv::protocol::{ErrorCode, ExpireOp, NodeState, NodeStatus, RingReport, StatusReport};
use ringkv::{Error, Response};
use serde_json::{json, Value};

/// The JSON object for `response`.
pub fn response(response: &Response) -> Value {
    match response {
        Response::Count { key, value } => {
            json!({"ok": true, "type": "count", "key": key, "value": value})
        }
        Response::Value { key, value } => {
            let (value, exists) = (value.unwrap_or(0), value.is_some());
            json!({"ok": true, "type": "count", "key": key, "value": value, "exists": exists})
        }
        Response::Updated { key, value } => {
            json!({"ok": true, "type": "updated", "key": key, "value": value})
        }
        Response::Deleted { key, old } => {
            json!({"ok": true, "type": "deleted", "key": key, "old": old, "existed": old.is_some()})
        }
        Response::Replaced { key, old, done } => {
            json!({"ok": true, "type": "set", "key": key, "old": old, "done": done})
        }
        Response::Expiry {
            key, op, answer, ..
        } => {
            let op = match op {
                ExpireOp::At { .. } => "expire",
                ExpireOp::Persist => "persist",
                ExpireOp::Deadline => "ttl",
            };
            json!({"ok": true, "type": "expiry", "key": key, "op": op, "answer": answer})
        }
        Response::Status(report) => status(report),
        Response::Ring(report) => ring(report),
        Response::NodeAdded { port, keys_moved } => {
            json!({"ok": true, "type": "node_added", "port": port, "keys_moved": keys_moved})
        }
        Response::NodeRemoved { port, keys_moved } => {
            json!({"ok": true, "type": "node_removed", "port": port, "keys_moved": keys_moved})
        }
        Response::NodeKilled { port, keys_lost } => {
            json!({"ok": true, "type": "node_killed", "port": port, "keys_lost": keys_lost})
        }
        Response::NodePaused { port, millis } => {
            json!({"ok": true, "type": "node_paused", "port": port, "millis": millis})
        }
        Response::HotKeys { enabled, keys } => {
            json!({"ok": true, "type": "hot_keys", "enabled": enabled, "keys": keys})
        }
        Response::Error(reply) => failure(code(reply.code), &reply.message),
        Response::Authed { user, role } => {
            json!({"ok": true, "type": "authed", "user": user, "role": role.name()})
        }
        Response::StatusPage(_)
        | Response::NodeReply(_)
        | Response::Layout(_)
        | Response::Vote(_) => failure("internal", "an answer for another kind of client"),
    }
}

/// The JSON object for the help text.
pub fn help(text: &str) -> Value {
    json!({"ok": true, "type": "help", "text": text})
}

/// The JSON object for an error that kept the command from being answered.
pub fn error(e: &Error) -> Value {
    let code = match e {
        Error::Io(_) => "io",
        Error::Timeout(_) => "timeout",
        other => code(ringkv::protocol::ErrorReply::from(other).code),
    };
    failure(code, &e.to_string())
}

fn failure(code: &str, message: &str) -> Value {
    json!({"ok": false, "error": {"code": code, "message": message}})
}

fn code(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::BadRequest => "bad_request",
        ErrorCode::NoSuchNode => "no_such_node",
        ErrorCode::Overflow => "overflow",
        ErrorCode::Unavailable => "unavailable",
        ErrorCode::Protocol => "protocol",
        ErrorCode::Internal => "internal",
        ErrorCode::Uncertain => "uncertain",
        ErrorCode::NoAuth => "no_auth",
        ErrorCode::WrongPass => "wrong_pass",
        ErrorCode::NoPerm => "no_perm",
    }
}

fn state(state: NodeState) -> &'static str {
    match state {
        NodeState::Up => "up",
        NodeState::Down => "down",
        NodeState::Recovering => "recovering",
        NodeState::Joining => "joining",
        NodeState::Leaving => "leaving",
    }
}

fn pairs(list: &[(String, i64)]) -> Value {
    list.iter()
        .map(|(key, value)| json!({"key": key, "value": value}))
        .collect()
}

fn node(node: &NodeStatus) -> Value {
    json!({
        "port": node.port,
        "state": state(node.state),
        "counters": pairs(&node.counters),
        "replicas": pairs(&node.replicas),
        "more": node.more,
        "hints": node.hints,
    })
}

fn status(report: &StatusReport) -> Value {
    json!({
        "ok": true,
        "type": "status",
        "nodes": report.nodes.iter().map(node).collect::<Value>(),
        "replicas": report.replicas,
        "write_quorum": report.write_quorum,
        "read_quorum": report.read_quorum,
        "read_repairs": report.read_repairs,
        "anti_entropy_repairs": report.anti_entropy_repairs,
        "anti_entropy_passes": report.anti_entropy_passes,
    })
}

fn ring(report: &RingReport) -> Value {
    let nodes: Value = report
        .nodes
        .iter()
        .map(|n| {
            json!({
                "port": n.port,
                "state": state(n.state),
                "share": n.share,
                "keys": n.keys,
                "primaries": n.primaries,
            })
        })
        .collect();
    json!({"ok": true, "type": "ring", "vnodes": report.vnodes, "nodes": nodes})
}
