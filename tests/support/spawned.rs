//! A `ringkv` child process whose stdout is read line by line, stopped by PID when dropped.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Lines};
use std::process::{Child, ChildStdout, Command, Stdio};

/// A running `ringkv` with the ports its nodes announced.
pub struct Spawned {
    /// The process.
    pub child: Child,
    /// The ports from its `Node listening on port P` lines, in order.
    pub ports: Vec<u16>,
    /// The rest of its stdout.
    pub lines: Lines<BufReader<ChildStdout>>,
}

impl Spawned {
    /// Starts `ringkv ARGS` (stdin piped) and reads stdout until `nodes` ports are announced.
    pub fn start(args: &[&str], nodes: usize) -> Spawned {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ringkv"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("ringkv starts");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut ports = Vec::new();
        while ports.len() < nodes {
            let line = lines.next().expect("ringkv announces its ports").unwrap();
            if let Some(port) = line.strip_prefix("Node listening on port ") {
                ports.push(port.trim().parse().expect("a port"));
            }
        }
        Spawned {
            child,
            ports,
            lines,
        }
    }

    /// `ringkv client --addr 127.0.0.1:PORT WORDS...`; returns (success, stdout, stderr).
    pub fn client(&self, words: &[&str]) -> (bool, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_ringkv"))
            .args(["client", "--addr", &format!("127.0.0.1:{}", self.ports[0])])
            .args(words)
            .output()
            .expect("ringkv client runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
