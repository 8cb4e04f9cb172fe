//! Protected mode, as Redis has it: nodes on a non-loopback address with no password refuse to
//! start with one line saying what to add; a password or `--protected-mode no` lets them start.
//! And the Router's bounds an admin sets: `--max-pause`, `--min-node-port`.

use crate::support::serve;

use std::process::{Command, Stdio};
use std::time::Duration;

use ringkv::client::Credentials;
use ringkv::Client;

const REFUSAL: &str = "protected mode: refusing to listen on 0.0.0.0 with no password; add \
                       --requirepass-file FILE or --users-file FILE (or --protected-mode no)";

fn refused(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_ringkv"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("ringkv runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} must fail: {stdout}");
    assert_eq!(stderr.trim(), format!("Error: {REFUSAL}"), "{args:?}");
    assert!(
        !stdout.contains("Node listening"),
        "nothing listened: {stdout}"
    );
}

#[test]
fn a_public_bind_without_a_password_refuses_to_start() {
    refused(&[
        "serve",
        "--bind",
        "0.0.0.0",
        "--base-port",
        "0",
        "--in-memory",
    ]);
    refused(&[
        "--bind",
        "0.0.0.0",
        "--nodes",
        "1",
        "--base-port",
        "0",
        "--in-memory",
    ]);
}

#[test]
fn a_password_or_protected_mode_no_lets_it_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pass = dir.path().join("pass");
    std::fs::write(&pass, "s3cret\n").expect("write");
    let pass = pass.to_str().expect("utf-8");
    let args = [
        "--bind",
        "0.0.0.0",
        "--nodes",
        "1",
        "--requirepass-file",
        pass,
    ];
    let server = serve::Server::in_memory(&args);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let wait = Duration::from_secs(10);
        let creds = Some(Credentials::new("default", "s3cret"));
        let mut client = Client::connect_with(&server.addr(), wait, creds)
            .await
            .expect("logs in over loopback");
        assert_eq!(client.update("a", 1).await.expect("update"), 1);
    });
    server.stop();
    let open = [
        "--bind",
        "0.0.0.0",
        "--nodes",
        "1",
        "--protected-mode",
        "no",
    ];
    let server = serve::Server::in_memory(&open);
    assert!(server
        .client(&["update", "a"])
        .contains("Update successful"));
    server.stop();
}

#[test]
fn an_admin_sets_the_routers_bounds() {
    let server = serve::Server::in_memory(&[
        "--nodes",
        "2",
        "--max-pause",
        "1s",
        "--min-node-port",
        "40000",
    ]);
    let port = server.ports[1].to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_ringkv"))
        .args(["client", "--addr", &server.addr(), "pause-node", &port, "2"])
        .output()
        .expect("client runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("exceeds the maximum of 1000 ms (--max-pause)"),
        "{stderr}"
    );
    assert!(server
        .client(&["pause-node", &port, "0.5"])
        .contains("paused"));
    let out = Command::new(env!("CARGO_BIN_EXE_ringkv"))
        .args(["client", "--addr", &server.addr(), "add-node", "30000"])
        .output()
        .expect("client runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("port 30000 is below --min-node-port"),
        "{stderr}"
    );
    server.stop();
}
