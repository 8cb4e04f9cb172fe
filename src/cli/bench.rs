//! `ringkv bench`: a load generator for the framed protocol, shaped like `redis-benchmark`.
//!
//! Connections are spread over a few OS threads, each running a single-threaded tokio runtime, so
//! the generator uses every core it is given (`taskset` narrows that) without a work-stealing
//! scheduler. Each connection writes a batch of `--pipeline` frames, then reads as many answers,
//! and records every answer's latency (from the batch's write to the answer) in a per-thread
//! histogram. A progress line goes to stderr about once a second; the summary goes to stdout.
//!
//! - `workload` — which request comes next, with request bodies encoded once up front;
//! - `conn` — one connection's write-batch / read-answers loop;
//! - `stats` — shared counters, the progress line and the final report.

mod conn;
mod stats;
mod workload;

use std::sync::{Arc, Barrier};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::Args;
use hdrhistogram::Histogram;

use stats::{Report, Shared};
use workload::{Ratio, Workload};

/// Arguments of `ringkv bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Node addresses (HOST:PORT), comma-separated or repeated; connections are spread over them.
    #[arg(long, value_delimiter = ',', default_value = "127.0.0.1:5001")]
    addr: Vec<String>,
    /// Parallel connections.
    #[arg(short = 'c', long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    connections: u32,
    /// Requests written per batch on each connection before reading their answers.
    #[arg(short = 'P', long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pipeline: u32,
    /// Total requests to send (default 100000 when --duration is not given).
    #[arg(short = 'n', long, conflicts_with = "duration")]
    requests: Option<u64>,
    /// Run for this many seconds instead of a number of requests.
    #[arg(long)]
    duration: Option<f64>,
    /// Use random keys `key:0` .. `key:<N-1>`; without it every request uses the key `key:0`.
    #[arg(short = 'r', long, value_parser = clap::value_parser!(u64).range(1..))]
    keyspace: Option<u64>,
    /// Walk the keyspace in order (`key:0`, `key:1`, ...) instead of at random: `-n N -r N
    /// --sequential` touches every key exactly once, e.g. to load a data set.
    #[arg(long, requires = "keyspace")]
    sequential: bool,
    /// Updates to gets, as `U:G` (`1:0` is all updates, `1:1` alternates).
    #[arg(long, default_value = "1:0")]
    ratio: Ratio,
    /// OS threads for the connections (default: the cores this process may run on).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    threads: Option<u32>,
    /// Seconds to wait for a connection or a batch's answers before counting them as errors.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// Print only one summary line.
    #[arg(short = 'q', long)]
    quiet: bool,
    #[command(flatten)]
    login: super::security::CredentialArgs,
}

/// What one run is asked to do, shared by every connection.
pub(crate) struct Plan {
    pub(crate) pipeline: u64,
    pub(crate) timeout: Duration,
    pub(crate) workload: Workload,
    /// Who each connection logs in as, if anyone.
    pub(crate) credentials: Option<ringkv::client::Credentials>,
}

/// Runs the benchmark and prints its report.
///
/// # Errors
/// Bad arguments, a node that cannot be reached, or a run in which every request failed.
pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let addrs = parse_addrs(&args.addr)?;
    if args.login.tls()?.is_some() {
        bail!("ringkv bench does not speak TLS yet: use redis-benchmark --tls on a RESP port");
    }
    if let Some(d) = args.duration {
        if !(d.is_finite() && d > 0.0) {
            bail!("--duration must be a positive number of seconds");
        }
    }
    let requests = match args.duration {
        Some(_) => None,
        None => Some(args.requests.unwrap_or(100_000)),
    };
    let deadline_after = args.duration.map(Duration::from_secs_f64);
    let shared = Arc::new(Shared::new(requests));
    let plan = Arc::new(Plan {
        pipeline: u64::from(args.pipeline),
        timeout: Duration::from_secs_f64(args.timeout.max(0.001)),
        workload: Workload::new(args.keyspace, args.sequential, args.ratio),
        credentials: args.login.credentials()?,
    });
    let threads = thread_count(args);
    let barrier = Arc::new(Barrier::new(threads + 1));
    let handles = spawn_threads(args, &addrs, threads, &plan, &shared, &barrier)?;
    barrier.wait();
    if shared.connect_failed() {
        shared.stop();
        join(handles);
        bail!(
            "cannot connect: {}",
            shared.first_error().unwrap_or_default()
        );
    }
    let start = Instant::now();
    shared.start(deadline_after.map(|d| start + d));
    stats::progress(&shared, start, args.quiet, || {
        handles.iter().all(|h| h.is_finished())
    });
    let elapsed = start.elapsed();
    let histogram = join(handles);
    let report = Report::new(&shared, &histogram, elapsed);
    report.print(&describe(args, &addrs, threads), args.quiet);
    if report.ok == 0 {
        bail!(
            "every request failed ({} errors){}",
            report.errors,
            shared
                .first_error()
                .map(|e| format!("; first: {e}"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

fn parse_addrs(raw: &[String]) -> anyhow::Result<Vec<String>> {
    let addrs: Vec<String> = raw
        .iter()
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty())
        .collect();
    if addrs.is_empty() {
        bail!("--addr needs at least one HOST:PORT");
    }
    Ok(addrs)
}

fn thread_count(args: &BenchArgs) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let wanted = args.threads.map_or(cores, |t| t as usize);
    wanted.clamp(1, args.connections as usize)
}

/// Starts `threads` threads; connection `i` goes to `addrs[i % addrs.len()]` on thread `i % threads`.
fn spawn_threads(
    args: &BenchArgs,
    addrs: &[String],
    threads: usize,
    plan: &Arc<Plan>,
    shared: &Arc<Shared>,
    barrier: &Arc<Barrier>,
) -> anyhow::Result<Vec<JoinHandle<Histogram<u64>>>> {
    let connections = args.connections as usize;
    (0..threads)
        .map(|t| {
            let mine: Vec<String> = (t..connections)
                .step_by(threads)
                .map(|i| addrs[i % addrs.len()].clone())
                .collect();
            let (plan, shared, barrier) = (plan.clone(), shared.clone(), barrier.clone());
            std::thread::Builder::new()
                .name(format!("bench-{t}"))
                .spawn(move || conn::run_thread(t as u64, mine, plan, shared, barrier))
                .context("cannot start a load thread")
        })
        .collect()
}

/// Waits for every thread and merges their histograms.
fn join(handles: Vec<JoinHandle<Histogram<u64>>>) -> Histogram<u64> {
    let mut all = stats::new_histogram();
    for handle in handles {
        if let Ok(h) = handle.join() {
            // Both histograms share bounds, so adding cannot fail.
            let _ = all.add(&h);
        }
    }
    all
}

fn describe(args: &BenchArgs, addrs: &[String], threads: usize) -> String {
    let order = if args.sequential {
        "sequential"
    } else {
        "random"
    };
    let keys = args.keyspace.map_or("fixed key key:0".to_owned(), |n| {
        format!("{order} keyspace {n}")
    });
    format!(
        "{} ({} connections, pipeline {}, {keys}, ratio {}, {threads} threads)",
        addrs.join(","),
        args.connections,
        args.pipeline,
        args.ratio
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cmd {
        #[command(flatten)]
        bench: BenchArgs,
    }

    fn args(line: &str) -> BenchArgs {
        Cmd::parse_from(std::iter::once("bench").chain(line.split_whitespace())).bench
    }

    /// A 2-node cluster on free ports, served by its own actix System on another thread.
    fn cluster() -> (u16, actix_rt::System) {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let system = actix_rt::System::new();
            let config = ringkv::ClusterConfig {
                nodes: 2,
                base_port: 0,
                ..Default::default()
            };
            let cluster = system.block_on(async { ringkv::Cluster::start(config) });
            let cluster = cluster.expect("cluster starts");
            tx.send((cluster.ports()[0], actix_rt::System::current()))
                .expect("test waits");
            let _ = system.run();
        });
        rx.recv().expect("cluster started")
    }

    #[test]
    fn runs_against_a_cluster_by_count_and_by_time() {
        let (port, system) = cluster();
        let addr = format!("127.0.0.1:{port}");
        run(&args(&format!(
            "--addr {addr} -c 4 -P 8 -n 2000 -r 100 --ratio 1:1 -q"
        )))
        .expect("count run");
        run(&args(&format!(
            "--addr {addr},{addr} -c 3 --duration 0.3 -q"
        )))
        .expect("timed run");
        system.stop();
    }

    #[test]
    fn refuses_when_nothing_listens() {
        let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = free.local_addr().expect("addr");
        drop(free);
        let err = run(&args(&format!("--addr {addr} -c 2 -n 10 -q"))).unwrap_err();
        assert!(err.to_string().contains("cannot connect"), "{err}");
    }

    #[test]
    fn fails_when_every_request_fails() {
        // A listener that never answers: connections open (the backlog accepts them), batches time out.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = silent.local_addr().expect("addr");
        let err = run(&args(&format!(
            "--addr {addr} -c 1 -P 10 -n 10 --timeout 0.2 -q"
        )))
        .unwrap_err();
        assert!(
            err.to_string().contains("every request failed (10 errors)"),
            "{err}"
        );
    }
}
