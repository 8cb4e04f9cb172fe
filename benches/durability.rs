//! Update throughput of `ringkv serve` in memory and with each fsync policy, on the same load.
//!
//! `cargo bench --bench durability` starts `ringkv serve --nodes 3 --base-port 0` once per mode
//! (`--in-memory`, `--fsync never`, `--fsync every-second`, `--fsync always`, the last three on a
//! fresh temporary data directory), drives it with concurrent framed-protocol clients that each
//! send `update` on random keys one after another, and prints updates per second and the ratio to
//! the in-memory run. Settings: `RINGKV_BENCH_SECS` (default 3 s per mode), `RINGKV_BENCH_CLIENTS`
//! (default 50), `RINGKV_BENCH_KEYS` (default 10000).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::Rng;
use ringkv::Client;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A running `ringkv serve` and its node ports.
struct Server(Child, Vec<u16>);

impl Server {
    fn start(mode: &[&str], dir: &std::path::Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ringkv"))
            .args(["serve", "--nodes", "3", "--base-port", "0"])
            .args(mode)
            .args(if mode.contains(&"--in-memory") {
                Vec::new()
            } else {
                vec![std::ffi::OsStr::new("--data-dir"), dir.as_os_str()]
            })
            .stdout(Stdio::piped())
            .spawn()
            .expect("ringkv serve starts");
        let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let mut ports = Vec::new();
        for line in lines.by_ref().map_while(Result::ok) {
            if let Some(port) = line.strip_prefix("Node listening on port ") {
                ports.push(port.parse().expect("a port number"));
            }
            if line.starts_with("Serving") {
                break;
            }
        }
        assert!(!ports.is_empty(), "ringkv serve did not start");
        std::thread::spawn(move || for _ in lines {});
        Server(child, ports)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

/// Runs `clients` clients for `secs` seconds; returns acknowledged updates per second.
async fn drive(ports: &[u16], clients: u64, secs: u64, keys: u64) -> f64 {
    let start = Instant::now();
    let until = start + Duration::from_secs(secs);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..clients {
        let addr = format!("127.0.0.1:{}", ports[i as usize % ports.len()]);
        tasks.spawn(async move {
            let mut client = Client::connect(&addr).await.expect("connects");
            let mut done = 0u64;
            while Instant::now() < until {
                let key = format!("key{}", rand::thread_rng().gen_range(0..keys));
                if client.update(&key, 1).await.is_ok() {
                    done += 1;
                }
            }
            done
        });
    }
    let mut total = 0;
    while let Some(done) = tasks.join_next().await {
        total += done.unwrap_or(0);
    }
    total as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let (secs, clients, keys) = (
        setting("RINGKV_BENCH_SECS", 3),
        setting("RINGKV_BENCH_CLIENTS", 50),
        setting("RINGKV_BENCH_KEYS", 10_000),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let modes: [(&str, &[&str]); 4] = [
        ("in-memory", &["--in-memory"]),
        ("fsync never", &["--fsync", "never"]),
        ("fsync every-second", &["--fsync", "every-second"]),
        ("fsync always", &["--fsync", "always"]),
    ];
    println!("{clients} clients, {secs} s per mode, {keys} keys, 3 nodes, R=3 W=2");
    let mut base = None;
    for (name, args) in modes {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let server = Server::start(args, dir.path());
        let rate = runtime.block_on(drive(&server.1, clients, secs, keys));
        drop(server);
        let base = *base.get_or_insert(rate);
        println!(
            "{name:>20}: {rate:>9.0} updates/s  ({:>3.0}% of in-memory)",
            100.0 * rate / base
        );
    }
}
