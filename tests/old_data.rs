//! A data directory written before counters were signed (`tests/fixtures/data_format1/`: one node,
//! R = 1, `a` counted 3 then 3 again after a restart, `b` 7 then 7) opens with its counts, takes
//! decrements on top of its old records, and reopens with both.

use crate::support::serve;

use std::path::Path;

use serve::Server;

/// Copies the fixture into `to` (the server takes a lock and appends to the log).
fn copy_fixture(to: &Path) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/data_format1");
    std::fs::create_dir_all(to.join("node-1")).unwrap();
    std::fs::copy(from.join("cluster.meta"), to.join("cluster.meta")).unwrap();
    std::fs::copy(from.join("node-1/log"), to.join("node-1/log")).unwrap();
}

#[test]
fn an_old_data_directory_opens_and_counts_down() {
    let dir = tempfile::tempdir().unwrap();
    copy_fixture(dir.path());
    let server = Server::start(dir.path(), &[]);
    assert_eq!(server.ports.len(), 1);
    assert_eq!(server.client(&["get", "a"]).trim(), "Count for a: 6");
    assert_eq!(server.client(&["get", "b"]).trim(), "Count for b: 14");
    assert_eq!(
        server.client(&["update", "a", "-10"]).trim(),
        "Update successful"
    );
    server.stop();
    let server = Server::start(dir.path(), &[]);
    assert_eq!(server.client(&["get", "a"]).trim(), "Count for a: -4");
    assert_eq!(server.client(&["get", "b"]).trim(), "Count for b: 14");
    server.stop();
}
