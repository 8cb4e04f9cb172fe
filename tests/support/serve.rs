//! A `ringkv serve` child process on free ports (on a data directory, or in memory): started once
//! it printed its ports, its stderr collected, stopped by its PID (SIGTERM or SIGKILL), killed
//! when dropped.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ringkv::Client;

/// A running `ringkv serve`.
pub struct Server {
    pub child: Child,
    pub ports: Vec<u16>,
    /// The RESP port, when started with `--resp-port`.
    pub resp: Option<u16>,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    /// `ringkv serve --base-port 0 --data-dir DIR ARGS`, once it printed its ports.
    pub fn start(dir: &Path, args: &[&str]) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ringkv"));
        command
            .args(["serve", "--base-port", "0", "--data-dir"])
            .arg(dir);
        Server::spawn(command.args(args))
    }

    /// `ringkv serve --base-port 0 --in-memory ARGS`, once it printed its ports.
    pub fn in_memory(args: &[&str]) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ringkv"));
        command.args(["serve", "--base-port", "0", "--in-memory"]);
        Server::spawn(command.args(args))
    }

    fn spawn(command: &mut Command) -> Server {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ringkv serve starts");
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                sink.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (mut ports, mut resp) = (Vec::new(), None);
        for line in lines.by_ref().map_while(Result::ok) {
            if let Some(port) = line.strip_prefix("Node listening on port ") {
                ports.push(port.parse().unwrap());
            }
            if let Some(port) = line.strip_prefix("RESP listening on port ") {
                resp = port.trim().parse().ok();
            }
            if line.starts_with("Serving") {
                break;
            }
        }
        assert!(
            !ports.is_empty(),
            "no ports; stderr: {}",
            stderr.lock().unwrap()
        );
        std::thread::spawn(move || for _ in lines {});
        Server {
            child,
            ports,
            resp,
            stderr,
        }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.ports[0])
    }

    /// The server's resident memory, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()));
        status
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// Runs `ringkv client --addr ADDR WORDS` against the first node; its standard output.
    pub fn client(&self, words: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_ringkv"))
            .args(["client", "--addr", &self.addr()])
            .args(words)
            .output()
            .expect("client runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// SIGTERM, then wait for the clean exit.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        assert!(self.child.wait().unwrap().success());
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Waits up to `wait` for the server's stderr to contain `text`; answers whether it did.
    pub fn wait_for_stderr(&self, text: &str, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        while !self.stderr().contains(text) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stderr().contains(text)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `fut` on a fresh current-thread runtime.
pub fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(fut)
}

/// The counts of `k0..k{keys}` read through `addr`.
pub async fn counts(addr: &str, keys: usize) -> Vec<i64> {
    let mut client = Client::connect(addr).await.unwrap();
    let mut out = Vec::new();
    for i in 0..keys {
        out.push(client.get(&format!("k{i}")).await.unwrap());
    }
    out
}
