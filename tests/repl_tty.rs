//! The interactive store on a real terminal (tmux): Up recalls the previous line, Tab completes
//! `sta` to `status` and a node's port after `kill-node`, and the history outlives the session.
//! Skipped, with a message, where tmux is not installed. (From a pipe the output is checked byte
//! for byte in `tests/repl.rs`.)

use std::process::Command;
use std::time::{Duration, Instant};

/// One tmux session running the store; killed when dropped.
struct Terminal {
    name: String,
}

impl Terminal {
    fn start(name: &str, history: &std::path::Path) -> Terminal {
        let program = format!(
            "RINGKV_HISTORY={} {} --in-memory --nodes 3 --base-port 0",
            history.display(),
            env!("CARGO_BIN_EXE_ringkv")
        );
        let started = Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-s",
                name,
                "-x",
                "120",
                "-y",
                "50",
                &program,
            ])
            .status()
            .expect("tmux runs");
        assert!(started.success());
        let terminal = Terminal { name: name.into() };
        terminal.wait_for("Node listening on port", 3);
        terminal
    }

    fn keys(&self, keys: &[&str]) {
        let sent = Command::new("tmux")
            .args(["send-keys", "-t", &self.name])
            .args(keys)
            .status()
            .expect("tmux runs");
        assert!(sent.success());
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.name])
            .output()
            .expect("tmux runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits (up to 5 s) until `text` is on the screen `times` times; returns the screen.
    fn wait_for(&self, text: &str, times: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let screen = self.screen();
            if screen.matches(text).count() >= times || Instant::now() > deadline {
                return screen;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Terminal {
    /// Waits (up to 5 s) until the program ended and the session closed; answers whether it did.
    fn ended(&self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let alive = Command::new("tmux")
                .args(["has-session", "-t", &self.name])
                .output()
                .is_ok_and(|o| o.status.success());
            if !alive {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.name])
            .status();
    }
}

fn tmux_missing() -> bool {
    Command::new("tmux").arg("-V").output().is_err()
}

#[test]
fn up_recalls_tab_completes_and_history_outlives_the_session() {
    if tmux_missing() {
        eprintln!("SKIPPED repl_tty: tmux is not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let history = dir.path().join("history");
    let name = format!("ringkv-test-{}", std::process::id());
    let first = Terminal::start(&name, &history);
    first.keys(&["update a 3", "Enter"]);
    first.wait_for("Update successful", 1);
    first.keys(&["get a", "Enter"]);
    first.wait_for("Count for a: 3", 1);
    first.keys(&["Up", "Enter"]);
    let screen = first.wait_for("Count for a: 3", 2);
    assert_eq!(
        screen.matches("Count for a: 3").count(),
        2,
        "Up recalled `get a`:\n{screen}"
    );
    first.keys(&["sta", "Tab", "Enter"]);
    let screen = first.wait_for("Nodes running on ports", 1);
    assert!(
        screen.contains("> status"),
        "Tab completed `sta`:\n{screen}"
    );
    let ports: Vec<String> = screen
        .lines()
        .filter_map(|l| l.strip_prefix("Node listening on port "))
        .map(|p| p.trim().to_owned())
        .collect();
    assert_eq!(ports.len(), 3, "{screen}");
    // After `kill-node `, Tab offers the nodes' ports.
    let prefix = &ports[0][..ports[0].len() - 1];
    first.keys(&[&format!("kill-node {prefix}"), "Tab"]);
    let screen = first.wait_for(&format!("kill-node {}", ports[0]), 1);
    let completed = ports
        .iter()
        .any(|p| screen.contains(&format!("kill-node {p}")));
    assert!(completed, "a port was completed:\n{screen}");
    first.keys(&["C-u", "exit", "Enter"]);
    assert!(first.ended(), "`exit` ends the session");
    drop(first);

    let second = Terminal::start(&format!("{name}-2"), &history);
    // The last lines of the first session: `exit`, then `status`.
    second.keys(&["Up", "Up", "Enter"]);
    let screen = second.wait_for("Nodes running on ports", 1);
    assert!(
        screen.contains("Nodes running on ports"),
        "history kept:\n{screen}"
    );
    second.keys(&["exit", "Enter"]);
    assert!(second.ended(), "`exit` ends the session");
}
