//! `ringkv serve` processes bound to hosts of 127.0.0.0/8, for the multi-process tests: started
//! once they printed their ports, stopped by PID (SIGKILL, SIGSTOP/SIGCONT), killed when dropped;
//! and the reads, updates and layouts the tests check.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ringkv::layout::Layout;
use ringkv::{Client, Request, Response};

pub const KEYS: usize = 20;

/// One `ringkv serve` process bound to `host`.
pub struct Proc {
    pub child: Child,
    pub host: String,
    pub ports: Vec<u16>,
    /// The HTTP port, if started with `--http-port`.
    pub http: Option<u16>,
    pub stderr: Arc<Mutex<String>>,
    /// The command prefix it runs under (`ip netns exec NS`), empty on the host.
    pub wrapper: Vec<String>,
}

impl Proc {
    pub fn start(host: &str, base_port: u16, dir: &Path, join: Option<&str>) -> Proc {
        Proc::try_start(host, base_port, dir, join).expect("the process serves")
    }

    /// Like [`Proc::start`]; `None` if the process ends before it serves (a refused join).
    pub fn try_start(host: &str, base_port: u16, dir: &Path, join: Option<&str>) -> Option<Proc> {
        Proc::try_start_with(host, base_port, dir, join, &[])
    }

    /// Like [`Proc::try_start`], with `extra` arguments to `ringkv serve` (and its log at info).
    pub fn try_start_with(
        host: &str,
        base_port: u16,
        dir: &Path,
        join: Option<&str>,
        extra: &[String],
    ) -> Option<Proc> {
        Proc::try_start_in(&[], host, base_port, dir, join, extra)
    }

    /// Like [`Proc::try_start_with`], run under `wrapper` (e.g. `ip netns exec NS`; the PID is
    /// still the server's, since `ip netns exec` execs it).
    pub fn try_start_in(
        wrapper: &[String],
        host: &str,
        base_port: u16,
        dir: &Path,
        join: Option<&str>,
        extra: &[String],
    ) -> Option<Proc> {
        let mut command = wrapped(wrapper);
        command
            .args(["serve", "--nodes", "2", "--bind", host])
            .args(["--base-port", &base_port.to_string(), "--data-dir"])
            .arg(dir)
            .args(["--request-timeout", "500ms"])
            .args(extra);
        if !extra.is_empty() {
            command.env("RUST_LOG", "info");
        }
        if let Some(join) = join {
            command.args(["--join", join]);
        }
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
        let mut ports = Vec::new();
        let mut http = None;
        let mut serving = false;
        for line in lines.by_ref().map_while(Result::ok) {
            if let Some(port) = line.strip_prefix("Node listening on port ") {
                ports.push(port.parse().unwrap());
            }
            if let Some(port) = line.strip_prefix("HTTP listening on port ") {
                http = port.trim().parse().ok();
            }
            if line.starts_with("Serving") {
                serving = true;
                break;
            }
        }
        std::thread::spawn(move || for _ in lines {});
        let proc = Proc {
            child,
            host: host.to_owned(),
            ports,
            http,
            stderr,
            wrapper: wrapper.to_vec(),
        };
        serving.then_some(proc)
    }

    pub fn addrs(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| format!("{}:{p}", self.host))
            .collect()
    }

    pub fn status(&self) -> String {
        let out = wrapped(&self.wrapper)
            .args(["client", "--addr", &self.addrs()[0], "status"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn sigkill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Sends `signal` (`-STOP`, `-CONT`) to the process by its PID.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args([signal, &pid])
            .status()
            .unwrap()
            .success());
    }

    /// Whether the process has exited (and how), without waiting.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().unwrap()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `ringkv client --addr ADDR WORDS…` on the host: its standard output (the command must
/// succeed).
pub fn client(addr: &str, words: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ringkv"))
        .args(["client", "--addr", addr])
        .args(words)
        .output()
        .expect("client runs");
    assert!(out.status.success(), "{words:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `ringkv` run under `wrapper` (nothing: on the host).
pub fn wrapped(wrapper: &[String]) -> Command {
    match wrapper.split_first() {
        Some((program, args)) => {
            let mut command = Command::new(program);
            command.args(args).arg(env!("CARGO_BIN_EXE_ringkv"));
            command
        }
        None => Command::new(env!("CARGO_BIN_EXE_ringkv")),
    }
}

pub fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(fut)
}

/// Adds 1 to every key through `addr`; answers how many were acknowledged and how many failed.
pub async fn update_all(addr: &str) -> (u64, u64) {
    let Ok(mut client) = Client::connect(addr).await else {
        return (0, KEYS as u64);
    };
    let (mut acked, mut failed) = (0, 0);
    for i in 0..KEYS {
        match client.update(&format!("k{i}"), 1).await {
            Ok(_) => acked += 1,
            Err(_) => failed += 1,
        }
    }
    (acked, failed)
}

pub async fn read_all(addr: &str) -> Vec<u64> {
    let mut client = Client::connect(addr).await.unwrap();
    let mut out = Vec::new();
    for i in 0..KEYS {
        out.push(
            client
                .get(&format!("k{i}"))
                .await
                .map_or(u64::MAX, |v| u64::try_from(v).unwrap_or(u64::MAX)),
        );
    }
    out
}

/// Reads every key through every address until they all read `want` (bounded by `wait`).
pub fn converges(addrs: &[String], want: &[u64], wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    loop {
        let all = addrs.iter().all(|a| block_on(read_all(a)) == want);
        if all {
            return true;
        }
        if Instant::now() > deadline {
            for addr in addrs {
                let got = block_on(read_all(addr));
                let off: Vec<_> = (0..want.len())
                    .filter(|&i| got.get(i) != Some(&want[i]))
                    .collect();
                let shown: Vec<_> = off
                    .iter()
                    .take(5)
                    .map(|&i| (i, got.get(i), want[i]))
                    .collect();
                eprintln!(
                    "through {addr}: {} keys differ, (key, got, want): {shown:?}",
                    off.len()
                );
            }
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The layout the process at `addr` holds.
pub async fn layout_at(addr: &str) -> Option<Layout> {
    let mut client = Client::connect(addr).await.ok()?;
    match client.request(&Request::Layout).await.ok()? {
        Response::Layout(layout) => Some(layout),
        _ => None,
    }
}

/// Starts a process in the background (its start blocks until it serves or fails).
pub fn start_later(
    host: &'static str,
    port: u16,
    dir: std::path::PathBuf,
    join: String,
) -> std::thread::JoinHandle<Option<Proc>> {
    std::thread::spawn(move || Proc::try_start(host, port, &dir, Some(&join)))
}

/// Waits until each of `procs` logged every other one as up in the failure detector
/// (`membership: Up(ADDR)`): a cut before that would leave a process it never heard of
/// unmonitored, so a test that cuts one off and waits for "down" must wait for this first.
pub fn wait_all_up(procs: &[Proc], wait: Duration) {
    let deadline = Instant::now() + wait;
    for p in procs {
        for other in procs.iter().filter(|o| o.addrs()[0] != p.addrs()[0]) {
            let line = format!("membership: Up({})", other.addrs()[0]);
            while !p.stderr.lock().unwrap().contains(&line) {
                assert!(
                    Instant::now() < deadline,
                    "{} never saw {} up:\n{}",
                    p.addrs()[0],
                    other.addrs()[0],
                    p.stderr.lock().unwrap()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}
