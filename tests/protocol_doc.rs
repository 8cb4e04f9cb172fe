//! Keeps `docs/PROTOCOL.md` honest: its hex examples are decoded with the real codec and compared
//! with the messages the page says they are, replayed byte for byte against a live cluster, and
//! its Python client is run against a live cluster (when `python3` is installed).

use crate::support::piped;

use crate::common;

use std::collections::BTreeMap;
use std::process::Command;

use bytes::BytesMut;
use common::*;
use piped::run_piped;
use ringkv::actors::ServerLimits;
use ringkv::layout::{Layout, Member};
use ringkv::protocol::codec::{decode, encode};
use ringkv::protocol::peer::{RingSpec, WireOp, WireReply};
use ringkv::protocol::{
    ErrorCode, ErrorReply, ExpireOp, FrameCodec, LayoutBallot, NodeShare, NodeStatus, RingReport,
    SetTtl, StatusPage, StatusReport, Vote,
};
use ringkv::{Request, Response};
use tokio::io::AsyncWriteExt;
use tokio_util::codec::Decoder;

const PAGE: &str = include_str!("../docs/PROTOCOL.md");

/// Every fenced block whose info string is `<lang> <name>` (or just `<lang>`), by name.
fn blocks(lang: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut lines = PAGE.lines();
    while let Some(line) = lines.next() {
        let Some(info) = line.strip_prefix("```") else {
            continue;
        };
        let mut words = info.split_whitespace();
        if words.next() != Some(lang) {
            continue;
        }
        let name = words.next().unwrap_or("").to_owned();
        let body: Vec<&str> = lines
            .by_ref()
            .take_while(|l| !l.starts_with("```"))
            .collect();
        out.insert(name, body.join("\n"));
    }
    out
}

/// The bytes of a hex block: on each line, the two-digit hex words up to the first other word.
fn hex_bytes(block: &str) -> Vec<u8> {
    block
        .lines()
        .flat_map(|line| {
            line.split_whitespace()
                .take_while(|w| w.len() == 2 && w.chars().all(|c| c.is_ascii_hexdigit()))
                .map(|w| u8::from_str_radix(w, 16).expect("hex"))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The page's examples: name → whole frame.
fn examples() -> BTreeMap<String, Vec<u8>> {
    let examples: BTreeMap<_, _> = blocks("hex")
        .into_iter()
        .map(|(name, block)| (name, hex_bytes(&block)))
        .collect();
    assert_eq!(examples.len(), 6, "six hex examples: {:?}", examples.keys());
    examples
}

/// Decodes one whole frame with the real codec: its id and body, nothing left over.
fn unframe(bytes: &[u8]) -> (u64, bytes::Bytes) {
    let mut buf = BytesMut::from(bytes);
    let frame = FrameCodec::default()
        .decode(&mut buf)
        .expect("a valid frame")
        .expect("a whole frame");
    assert!(buf.is_empty(), "one frame, nothing after it");
    (frame.id, frame.body)
}

fn key() -> String {
    "page-views".to_owned()
}

#[test]
fn hex_examples_decode_to_the_documented_messages() {
    let examples = examples();
    let request = |name: &str| {
        let (id, body) = unframe(&examples[name]);
        (id, decode::<Request>(&body).expect("a request"))
    };
    let response = |name: &str| {
        let (id, body) = unframe(&examples[name]);
        (id, decode::<Response>(&body).expect("a response"))
    };
    let update = Request::Update {
        key: key(),
        amount: 300,
    };
    assert_eq!(request("update-request"), (1, update));
    let updated = Response::Updated {
        key: key(),
        value: 300,
    };
    assert_eq!(response("update-response"), (1, updated));
    assert_eq!(request("get-request"), (2, Request::Get { key: key() }));
    let count = Response::Count {
        key: key(),
        value: 300,
    };
    assert_eq!(response("get-response"), (2, count));
    assert_eq!(
        request("error-request"),
        (3, Request::Get { key: String::new() })
    );
    let refused = Response::Error(ErrorReply {
        code: ErrorCode::BadRequest,
        message: "the key is empty".into(),
    });
    assert_eq!(response("error-response"), (3, refused));
}

#[test]
fn hex_examples_are_what_the_codec_writes() {
    for (name, bytes) in examples() {
        let (id, body) = unframe(&bytes);
        let again = if name.ends_with("request") {
            let request: Request = decode(&body).expect("a request");
            encode(&request).expect("encodes")
        } else {
            let response: Response = decode(&body).expect("a response");
            encode(&response).expect("encodes")
        };
        assert_eq!(frame(id, &again), bytes, "{name} is the canonical encoding");
    }
}

/// `tag → name` of the first table after `heading` whose rows start `| N | `Name` |`.
fn tags(heading: &str) -> BTreeMap<String, u8> {
    let start = PAGE.find(heading).expect("the heading is on the page");
    let mut table = BTreeMap::new();
    for line in PAGE[start..].lines().skip(1) {
        if line.starts_with('#') {
            break;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if let [_, tag, name, ..] = cells[..] {
            if let (Ok(tag), Some(name)) = (tag.parse(), name.strip_prefix('`')) {
                table.insert(name.trim_end_matches('`').to_owned(), tag);
            }
        }
    }
    table
}

/// One of each request, named as the page names it. The match has no wildcard: a new variant
/// does not compile until it is added here, and then the page must list it.
fn request_name(request: &Request) -> &'static str {
    match request {
        Request::Get { .. } => "Get",
        Request::Update { .. } => "Update",
        Request::Status => "Status",
        Request::Ring => "Ring",
        Request::AddNode { .. } => "AddNode",
        Request::RemoveNode { .. } => "RemoveNode",
        Request::KillNode { .. } => "KillNode",
        Request::PauseNode { .. } => "PauseNode",
        Request::StatusPage { .. } => "StatusPage",
        Request::NodeCall(_) => "NodeCall",
        Request::RemoveNodeForce { .. } => "RemoveNodeForce",
        Request::Join { .. } => "Join",
        Request::Layout => "Layout",
        Request::PushLayout { .. } => "PushLayout",
        Request::RemoveNodeAt { .. } => "RemoveNodeAt",
        Request::HotKeys { .. } => "HotKeys",
        Request::Read { .. } => "Read",
        Request::Auth { .. } => "Auth",
        Request::Delete { .. } => "Delete",
        Request::Set { .. } => "Set",
        Request::SetIf { .. } => "SetIf",
        Request::Expire { .. } => "Expire",
        Request::SetTtl { .. } => "SetTtl",
        Request::UpdateToken { .. } => "UpdateToken",
        Request::Prepare { .. } => "Prepare",
        Request::Accept { .. } => "Accept",
        Request::CallOff { .. } => "CallOff",
    }
}

fn response_name(response: &Response) -> &'static str {
    match response {
        Response::Count { .. } => "Count",
        Response::Updated { .. } => "Updated",
        Response::Status(_) => "Status",
        Response::Ring(_) => "Ring",
        Response::NodeAdded { .. } => "NodeAdded",
        Response::NodeRemoved { .. } => "NodeRemoved",
        Response::NodeKilled { .. } => "NodeKilled",
        Response::Error(_) => "Error",
        Response::NodePaused { .. } => "NodePaused",
        Response::StatusPage(_) => "StatusPage",
        Response::NodeReply(_) => "NodeReply",
        Response::Layout(_) => "Layout",
        Response::HotKeys { .. } => "HotKeys",
        Response::Value { .. } => "Value",
        Response::Authed { .. } => "Authed",
        Response::Deleted { .. } => "Deleted",
        Response::Replaced { .. } => "Replaced",
        Response::Expiry { .. } => "Expiry",
        Response::Vote(_) => "Vote",
    }
}

fn vote_name(vote: &Vote) -> &'static str {
    match vote {
        Vote::Promised { .. } => "Promised",
        Vote::Accepted { .. } => "Accepted",
        Vote::Outbid(_) => "Outbid",
        Vote::Decided(_) => "Decided",
    }
}

fn ballot() -> LayoutBallot {
    LayoutBallot {
        epoch: 2,
        counter: 1,
        process: "127.0.0.2:5001".parse().unwrap(),
    }
}

fn wire_op_name(op: &WireOp) -> &'static str {
    match op {
        WireOp::Increment { .. } => "Increment",
        WireOp::Read { .. } => "Read",
        WireOp::Merge { .. } => "Merge",
        WireOp::TakeHints(_) => "TakeHints",
        WireOp::Entries(_) => "Entries",
        WireOp::EntriesFor { .. } => "EntriesFor",
        WireOp::EntriesIn { .. } => "EntriesIn",
        WireOp::DropIn { .. } => "DropIn",
        WireOp::Digests(_) => "Digests",
        WireOp::Dump => "Dump",
        WireOp::Summary { .. } => "Summary",
        WireOp::Page { .. } => "Page",
        WireOp::KeyCount(_) => "KeyCount",
        WireOp::Ping => "Ping",
        WireOp::Pause(_) => "Pause",
        WireOp::Crash => "Crash",
        WireOp::Stop => "Stop",
        WireOp::EntriesOutside { .. } => "EntriesOutside",
        WireOp::AgedTombstones { .. } => "AgedTombstones",
        WireOp::CheckTombstones { .. } => "CheckTombstones",
        WireOp::DropTombstones { .. } => "DropTombstones",
        WireOp::TtlSum(_) => "TtlSum",
    }
}

fn wire_reply_name(reply: &WireReply) -> &'static str {
    match reply {
        WireReply::Done => "Done",
        WireReply::State(_) => "State",
        WireReply::Count(_) => "Count",
        WireReply::Entries(_) => "Entries",
        WireReply::Digests(_) => "Digests",
        WireReply::Counts(..) => "Counts",
        WireReply::Dump(..) => "Dump",
        WireReply::Summary(..) => "Summary",
        WireReply::Page(_) => "Page",
        WireReply::Checks(_) => "Checks",
    }
}

#[test]
fn node_call_tables_match_the_code() {
    let ring = RingSpec {
        vnodes: 1,
        nodes: vec![],
    };
    let ops = [
        WireOp::Increment {
            key: key(),
            amount: 1,
            hint_for: None,
        },
        WireOp::Read {
            key: key(),
            hint_for: None,
        },
        WireOp::Merge {
            entries: vec![],
            hint_for: None,
        },
        WireOp::TakeHints(1),
        WireOp::Entries(None),
        WireOp::EntriesFor {
            ring: ring.clone(),
            replicas: 1,
            node: 1,
        },
        WireOp::EntriesIn {
            ring: ring.clone(),
            arcs: vec![],
        },
        WireOp::DropIn {
            ring: ring.clone(),
            arcs: vec![],
        },
        WireOp::Digests(ring.clone()),
        WireOp::Dump,
        WireOp::Summary {
            ring: ring.clone(),
            limit: 1,
        },
        WireOp::Page {
            ring: ring.clone(),
            owned: true,
            after: None,
            limit: 1,
        },
        WireOp::KeyCount(ring),
        WireOp::Ping,
        WireOp::Pause(1),
        WireOp::Crash,
        WireOp::Stop,
        WireOp::EntriesOutside {
            ring: RingSpec {
                vnodes: 1,
                nodes: vec![],
            },
            arcs: vec![],
        },
        WireOp::AgedTombstones {
            grace_ms: 1,
            most: 1,
        },
        WireOp::CheckTombstones {
            entries: vec![],
            grace_ms: 1,
        },
        WireOp::DropTombstones {
            entries: vec![],
            epoch: 1,
        },
        WireOp::TtlSum(RingSpec {
            vnodes: 1,
            nodes: vec![],
        }),
    ];
    check_tags("### Node calls", &ops, wire_op_name);
    let replies = [
        WireReply::Done,
        WireReply::State(None),
        WireReply::Count(1),
        WireReply::Entries(vec![]),
        WireReply::Digests(Default::default()),
        WireReply::Counts(1, 1, 0),
        WireReply::Dump(vec![], 1),
        WireReply::Summary(vec![], vec![], 1, 1),
        WireReply::Page(vec![]),
        WireReply::Checks(vec![]),
    ];
    check_tags("### Node replies", &replies, wire_reply_name);
}

fn code_name(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::BadRequest => "BadRequest",
        ErrorCode::NoSuchNode => "NoSuchNode",
        ErrorCode::Overflow => "Overflow",
        ErrorCode::Unavailable => "Unavailable",
        ErrorCode::Protocol => "Protocol",
        ErrorCode::Internal => "Internal",
        ErrorCode::Uncertain => "Uncertain",
        ErrorCode::NoAuth => "NoAuth",
        ErrorCode::WrongPass => "WrongPass",
        ErrorCode::NoPerm => "NoPerm",
    }
}

/// The page's tag table for `heading` equals `(name, first encoded byte)` of every sample.
fn check_tags<T: serde::Serialize>(heading: &str, samples: &[T], name: fn(&T) -> &'static str) {
    let from_code: BTreeMap<String, u8> = samples
        .iter()
        .map(|s| (name(s).to_owned(), encode(s).expect("encodes")[0]))
        .collect();
    assert_eq!(tags(heading), from_code, "the table under {heading:?}");
}

#[test]
fn tag_tables_match_the_code() {
    let requests = [
        Request::Get { key: key() },
        Request::Update {
            key: key(),
            amount: 1,
        },
        Request::Status,
        Request::Ring,
        Request::AddNode { port: None },
        Request::RemoveNode { port: 1 },
        Request::KillNode { port: 1 },
        Request::PauseNode { port: 1, millis: 1 },
        Request::StatusPage {
            port: 1,
            owned: true,
            after: None,
            limit: 1,
        },
        Request::NodeCall(WireOp::Ping),
        Request::RemoveNodeForce { port: 1 },
        Request::Join {
            process: "127.0.0.2:5001".parse().unwrap(),
            nodes: vec![],
        },
        Request::Layout,
        Request::PushLayout {
            layout: layout(),
            moving: true,
        },
        Request::RemoveNodeAt {
            addr: "127.0.0.2:5001".parse().unwrap(),
            force: false,
        },
        Request::HotKeys { limit: 1 },
        Request::Read { key: key() },
        Request::Auth {
            user: key(),
            password: "pw".into(),
        },
        Request::Delete { key: key() },
        Request::Set {
            key: key(),
            value: -1,
        },
        Request::SetIf {
            key: key(),
            value: 1,
            exists: true,
        },
        Request::Expire {
            key: key(),
            op: ExpireOp::Persist,
        },
        Request::SetTtl {
            key: key(),
            value: 1,
            exists: None,
            ttl: SetTtl::Keep,
        },
        Request::UpdateToken {
            key: key(),
            amount: -2,
            token: b"t".to_vec(),
        },
        Request::Prepare { ballot: ballot() },
        Request::Accept {
            ballot: ballot(),
            layout: layout(),
        },
        Request::CallOff {
            ballot: ballot(),
            layout: layout(),
        },
    ];
    check_tags("### Requests", &requests, request_name);
    let status = StatusReport {
        nodes: vec![],
        replicas: 3,
        write_quorum: 2,
        read_quorum: 2,
        read_repairs: 0,
        anti_entropy_repairs: 0,
        anti_entropy_passes: 0,
    };
    let responses = [
        Response::Count {
            key: key(),
            value: 1,
        },
        Response::Updated {
            key: key(),
            value: 1,
        },
        Response::Status(status),
        Response::Ring(RingReport {
            vnodes: 1,
            nodes: vec![],
        }),
        Response::NodeAdded {
            port: 1,
            keys_moved: 0,
        },
        Response::NodeRemoved {
            port: 1,
            keys_moved: 0,
        },
        Response::NodeKilled {
            port: 1,
            keys_lost: 0,
        },
        Response::Error(ErrorReply {
            code: ErrorCode::Internal,
            message: String::new(),
        }),
        Response::NodePaused { port: 1, millis: 1 },
        Response::StatusPage(StatusPage {
            port: 1,
            owned: true,
            entries: vec![],
        }),
        Response::NodeReply(Ok(WireReply::Done)),
        Response::Layout(layout()),
        Response::HotKeys {
            enabled: false,
            keys: vec![],
        },
        Response::Value {
            key: key(),
            value: None,
        },
        Response::Authed {
            user: key(),
            role: ringkv::auth::Role::Read,
        },
        Response::Deleted {
            key: key(),
            old: Some(3),
        },
        Response::Replaced {
            key: key(),
            old: None,
            done: true,
        },
        Response::Expiry {
            key: key(),
            op: ExpireOp::Deadline,
            answer: -1,
            value: Some(1),
        },
        Response::Vote(Vote::Decided(1)),
    ];
    check_tags("### Responses", &responses, response_name);
    let votes = [
        Vote::Promised {
            ballot: ballot(),
            accepted: None,
        },
        Vote::Accepted { ballot: ballot() },
        Vote::Outbid(ballot()),
        Vote::Decided(1),
    ];
    check_tags("### Votes", &votes, vote_name);
    let codes = [
        ErrorCode::BadRequest,
        ErrorCode::NoSuchNode,
        ErrorCode::Overflow,
        ErrorCode::Unavailable,
        ErrorCode::Protocol,
        ErrorCode::Internal,
        ErrorCode::Uncertain,
        ErrorCode::NoAuth,
        ErrorCode::WrongPass,
        ErrorCode::NoPerm,
    ];
    check_tags("## 3. Error codes", &codes, |c| code_name(*c));
}

/// A deserializer that only records the field names serde asks a struct for.
struct FieldNames<'a>(&'a mut Option<&'static [&'static str]>);

impl<'de> serde::Deserializer<'de> for FieldNames<'_> {
    type Error = serde::de::value::Error;

    fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(serde::de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: serde::de::Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = Some(fields);
        Err(serde::de::Error::custom("fields recorded"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// The fields of struct `T`, in declaration order (the order bincode writes them).
fn fields_of<T: serde::de::DeserializeOwned>() -> Vec<&'static str> {
    let mut fields = None;
    let _ = T::deserialize(FieldNames(&mut fields));
    fields.expect("a struct").to_vec()
}

/// The field names the page lists for `name` in its nested-types table: each `` `field: type` ``.
fn documented_fields(name: &str) -> Vec<String> {
    let row = format!("| `{name}`");
    let line = PAGE
        .lines()
        .find(|l| l.starts_with(&row))
        .unwrap_or_else(|| panic!("a row for {name}"));
    let cell = line.split('|').nth(2).expect("a fields cell");
    cell.split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|code| code.split_once(": ").map(|(field, _)| field.to_owned()))
        .collect()
}

fn layout() -> Layout {
    Layout {
        epoch: 1,
        vnodes: 1,
        replicas: 1,
        members: Default::default(),
    }
}

#[test]
fn struct_field_lists_match_the_code() {
    let structs = [
        ("StatusReport", fields_of::<StatusReport>()),
        ("NodeStatus", fields_of::<NodeStatus>()),
        ("RingReport", fields_of::<RingReport>()),
        ("NodeShare", fields_of::<NodeShare>()),
        ("ErrorReply", fields_of::<ErrorReply>()),
        ("Layout", fields_of::<Layout>()),
        ("Member", fields_of::<Member>()),
        ("HotKey", fields_of::<ringkv::hotkeys::HotKey>()),
        ("Ballot", fields_of::<LayoutBallot>()),
    ];
    for (name, fields) in structs {
        assert_eq!(documented_fields(name), fields, "fields of {name}");
    }
}

#[actix_rt::test]
async fn hex_exchange_replays_byte_for_byte_against_a_live_cluster() {
    let examples = examples();
    let cluster = cluster(ServerLimits::default());
    let mut s = connect(&addr(&cluster)).await;
    for step in ["update", "get", "error"] {
        s.write_all(&examples[&format!("{step}-request")])
            .await
            .unwrap();
        let (id, body) = read_frame(&mut s).await;
        assert_eq!(
            frame(id, &body),
            examples[&format!("{step}-response")],
            "{step}"
        );
    }
}

#[test]
fn python_client_from_the_page_works() {
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("python3 not installed: skipping the Python client check");
        return;
    }
    let script = blocks("python").remove("").expect("a python block");
    let (tx, rx) = std::sync::mpsc::channel();
    let server = std::thread::spawn(move || {
        let system = actix_rt::System::new();
        system.block_on(async {
            let cluster = cluster(ServerLimits::default());
            tx.send((addr(&cluster), actix_rt::System::current()))
                .unwrap();
        });
        system.run().unwrap();
    });
    let (address, system) = rx.recv().unwrap();
    let mut command = Command::new("python3");
    command.args(["-", &address]);
    let output = run_piped(command, &script);
    system.stop();
    server.join().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        stdout,
        "(1, ('updated', 'page-views', 300))\n(2, ('count', 'page-views', 300))\n"
    );
}
