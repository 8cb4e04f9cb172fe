//! `ringkv serve` in a child process, driven by `ringkv client` over real sockets.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};

struct Server {
    child: Child,
    ports: Vec<u16>,
}

impl Server {
    fn start(nodes: usize) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ringkv"))
            .args([
                "serve",
                "--in-memory",
                "--nodes",
                &nodes.to_string(),
                "--base-port",
                "0",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("ringkv serve starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut ports = Vec::new();
        while ports.len() < nodes {
            let line = lines.next().expect("serve announces its ports").unwrap();
            if let Some(port) = line.strip_prefix("Node listening on port ") {
                ports.push(port.parse().unwrap());
            }
        }
        std::thread::spawn(move || for _ in lines {});
        Server { child, ports }
    }

    fn client(&self, port: u16, words: &str) -> Output {
        Command::new(env!("CARGO_BIN_EXE_ringkv"))
            .args(["client", "--addr", &format!("127.0.0.1:{port}")])
            .args(words.split_whitespace())
            .output()
            .unwrap()
    }

    fn ok(&self, port: u16, words: &str) -> String {
        let out = self.client(port, words);
        assert!(
            out.status.success(),
            "{words}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn client_commands_print_the_repl_text_from_any_node() {
    let server = Server::start(3);
    let [a, b, c] = [server.ports[0], server.ports[1], server.ports[2]];
    assert_eq!(server.ok(a, "update a"), "Update successful\n");
    assert_eq!(server.ok(b, "update a 4"), "Update successful\n");
    assert_eq!(server.ok(c, "get a"), "Count for a: 5\n");
    let status = server.ok(b, "status");
    assert!(
        status.starts_with(&format!("Nodes running on ports: [{a} {b} {c}]\n")),
        "{status}"
    );
    assert!(status.contains("a: 5\n"));
    assert!(server.ok(a, "ring").contains("Ring: 3 nodes"));
    let added = server.ok(a, "add-node");
    assert!(added.starts_with("Node listening on port "), "{added}");
    let killed = server.ok(a, &format!("kill-node {c}"));
    assert!(
        killed.starts_with(&format!("Node on port {c} killed, ")),
        "{killed}"
    );
    assert!(server.client(c, "get a").status.code() != Some(0));
}

#[test]
fn client_delete_and_set_over_the_framed_protocol() {
    let server = Server::start(3);
    let [a, b] = [server.ports[0], server.ports[1]];
    assert_eq!(server.ok(a, "update d 5"), "Update successful\n");
    assert_eq!(server.ok(b, "delete d"), "Delete successful\n");
    assert_eq!(server.ok(a, "get d"), "Count for d: 0\n");
    assert_eq!(
        server.ok(a, "delete d"),
        "Delete successful (d did not exist)\n"
    );
    assert!(
        !server.ok(a, "status").contains("d: "),
        "a deleted key leaves status"
    );
    assert_eq!(server.ok(b, "set s -9"), "Set successful\n");
    assert_eq!(server.ok(a, "update s 2"), "Update successful\n");
    assert_eq!(server.ok(b, "get s"), "Count for s: -7\n");
    assert_eq!(server.ok(a, "delete s"), "Delete successful\n");
    let out = server.client(a, "set s x");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad amount"));
}

#[test]
fn client_errors_exit_non_zero_with_one_line() {
    let server = Server::start(2);
    let port = server.ports[0];
    for words in ["frobnicate", "update a x", "remove-node 1"] {
        let out = server.client(port, words);
        assert!(!out.status.success(), "{words}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("Error: "), "{words}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    // Nothing was changed by the bad commands.
    assert_eq!(server.ok(port, "get a"), "Count for a: 0\n");
}

#[test]
fn client_against_a_closed_port_fails_clearly() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let out = Command::new(env!("CARGO_BIN_EXE_ringkv"))
        .args(["client", "--addr", &format!("127.0.0.1:{port}"), "get", "a"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot connect"));
}

#[cfg(unix)]
#[test]
fn serve_stops_cleanly_on_sigterm() {
    let mut server = Server::start(1);
    let pid = server.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

#[test]
fn a_node_answers_its_own_removal_before_closing() {
    let server = Server::start(4);
    let port = server.ports[1];
    let out = server.ok(port, &format!("remove-node {port}"));
    assert!(
        out.starts_with(&format!("Node on port {port} removed, ")),
        "{out}"
    );
    let other = server.ports[0];
    assert!(server
        .ok(other, "status")
        .starts_with("Nodes running on ports: ["));
}
