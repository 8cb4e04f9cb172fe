//! ioredis 5, a Node.js Redis client, with its default settings: one scripted session
//! (`tests/support/ioredis_check.js`). `.ci/install-deps.sh` installs Node.js and npm (Debian)
//! and ioredis into `target/npm`; without them the test skips with a note.

use crate::support::resp_server;

use std::path::Path;
use std::process::Command;

use resp_server::Server;

#[test]
fn ioredis_5_increments_pipelines_transacts_scans_and_reads() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("tests/support/ioredis_check.js");
    let modules = root.join("target/npm/node_modules");
    let server = Server::start();
    let run = Command::new("node")
        .arg(&script)
        .arg(server.port.to_string())
        .env("NODE_PATH", &modules)
        .output();
    let Ok(out) = run else {
        eprintln!("skipped: node is not installed (.ci/install-deps.sh installs nodejs)");
        return;
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(3) {
        eprintln!("skipped: {}", stderr.trim());
        return;
    }
    println!("{stdout}");
    assert!(out.status.success(), "ioredis failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("all checks passed"), "{stdout}");
}
