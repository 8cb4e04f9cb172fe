//! Keys holding newlines and terminal escapes are quoted in text output (`"a\nb"`, as redis-cli
//! prints them), so a client cannot forge `status` lines or send escapes to an operator's terminal.

use crate::support::spawned;

use std::io::Write;

use ringkv::Client;
use spawned::Spawned;

/// A key that would forge a node line if printed raw.
const FORGED: &str = "x\nNode on port 9999:\nfake";
/// A key that would clear the operator's screen.
const ESCAPE: &str = "\x1b[2Jclear";

/// Writes the two hostile keys through the framed protocol (a client, not the REPL).
fn write_hostile(port: u16) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut client = Client::connect(&format!("127.0.0.1:{port}")).await.unwrap();
        client.update(FORGED, 1).await.unwrap();
        client.update(ESCAPE, 2).await.unwrap();
        client.update("a", 1).await.unwrap();
    });
}

/// The text shows the keys quoted and holds nothing forged or raw.
fn check(text: &str) {
    assert!(
        text.contains("\"x\\nNode on port 9999:\\nfake\": 1"),
        "{text}"
    );
    assert!(text.contains("\"\\x1b[2Jclear\": 2"), "{text}");
    assert!(
        text.lines().any(|l| l == "a: 1"),
        "plain keys unquoted: {text}"
    );
    assert!(!text.contains('\x1b'), "a raw escape: {text:?}");
    assert!(
        !text.lines().any(|l| l.starts_with("Node on port 9999")),
        "a forged line: {text}"
    );
}

#[test]
fn client_status_quotes_hostile_keys() {
    let server = Spawned::start(
        &["serve", "--in-memory", "--nodes", "1", "--base-port", "0"],
        1,
    );
    write_hostile(server.ports[0]);
    let (ok, out, err) = server.client(&["status"]);
    assert!(ok, "{err}");
    check(&out);
    let (ok, out, err) = server.client(&["get", ESCAPE]);
    assert!(ok, "{err}");
    assert_eq!(out.trim_end(), "Count for \"\\x1b[2Jclear\": 2");
}

#[test]
fn repl_status_through_a_pipe_quotes_hostile_keys() {
    let mut repl = Spawned::start(&["--in-memory", "--nodes", "1", "--base-port", "0"], 1);
    write_hostile(repl.ports[0]);
    let mut stdin = repl.child.stdin.take().unwrap();
    stdin
        .write_all(b"status\nget \x1b[2Jclear\nfrob\x1b[2J\nexit\n")
        .unwrap();
    drop(stdin);
    let mut text = String::new();
    for line in repl.lines.by_ref().take(100) {
        let line = line.unwrap();
        text.push_str(&line);
        text.push('\n');
        if line.contains("Exiting...") {
            break;
        }
    }
    check(&text);
    assert!(text.contains("Count for \"\\x1b[2Jclear\": 2"), "{text}");
    // An error naming a word quotes it too.
    assert!(
        text.contains("Error: unknown command \"frob\\x1b[2J\""),
        "{text}"
    );
    let _ = repl.child.wait();
}
