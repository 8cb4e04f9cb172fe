//! Command-line arguments and the dispatch to each subcommand.

/// `println!` that ignores a closed stdout (`ringkv client status | head` must not panic).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `print!` that ignores a closed stdout.
macro_rules! say_raw {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

mod bench;
mod client;
mod http;
mod interactive;
mod json;
mod line_editor;
mod progress;
mod security;
mod serve;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use ringkv::actors::{Gateway, ServerLimits};
use ringkv::persist::FsyncPolicy;
use ringkv::replication::ReplicationConfig;
use ringkv::resp::{RespLimits, RespServer};
use ringkv::ClusterConfig;

/// R when neither `--replicas` nor a data directory gives one.
const DEFAULT_REPLICAS: usize = 3;

/// ringkv: a distributed store of event counters on a consistent-hashing ring.
///
/// Without a subcommand it starts the interactive store, as the original program did.
#[derive(Debug, Parser)]
#[command(
    name = "ringkv",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(flatten)]
    cluster: ClusterArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the cluster without a REPL, for external clients, until SIGINT or SIGTERM.
    Serve(Box<ClusterArgs>),
    /// Send one command (the REPL's words) to a node over the framed protocol and print the answer.
    Client(client::ClientArgs),
    /// Load-test nodes over the framed protocol and print throughput and latency percentiles.
    Bench(bench::BenchArgs),
    /// Read a password from stdin and print its argon2id hash, for a `--users-file` line.
    Passwd,
}

/// How to start the cluster.
#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// How many nodes to start (the interactive store asks when this is missing).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    nodes: Option<u32>,
    /// The first node's port; the others follow. 0 picks any free ports.
    #[arg(long, default_value_t = 5001)]
    base_port: u16,
    /// Virtual nodes per node on the ring [default: 256]. A data directory keeps its own.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=65536))]
    vnodes: Option<u32>,
    /// The address nodes listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: String,
    /// The longest frame a node accepts, in bytes.
    #[arg(long, default_value_t = ringkv::protocol::MAX_FRAME_LEN)]
    max_frame_len: usize,
    /// The most client connections one node serves at once.
    #[arg(long, default_value_t = 10_000)]
    max_connections: usize,
    /// Copies of each key (R), capped by the number of nodes [default: 3]. A data directory keeps
    /// its own.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100))]
    replicas: Option<u32>,
    /// The most nodes the cluster may have; `add-node` past it is refused.
    #[arg(long, default_value_t = ringkv::actors::MAX_NODES as u32, value_parser = clap::value_parser!(u32).range(1..=1000))]
    max_nodes: u32,
    /// Replicas that must hold an update before it is acknowledged (W; default a majority of R).
    #[arg(long)]
    write_quorum: Option<usize>,
    /// Replicas a read merges (Q; default a majority of R).
    #[arg(long)]
    read_quorum: Option<usize>,
    /// How long a node may take to answer (e.g. `1s`, `250ms`, `0.5`).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    request_timeout: Duration,
    /// How long a retried update with an idempotency token is recognised and counted once
    /// (`RINGKV.INCRBY`, `update --token`, the Rust client); tokens are kept twice as long.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    dedup_window: Duration,
    /// How long every replica must have held a deleted or expired key's tombstone unchanged
    /// before it is collected (`0`: never).
    #[arg(long, default_value = "600s", value_parser = parse_duration)]
    tombstone_grace: Duration,
    /// Do not restart crashed nodes: copy their ranges to new replicas instead.
    #[arg(long)]
    no_restart: bool,
    /// How long a crashed node stays down before its supervisor restarts it.
    #[arg(long, default_value = "500ms", value_parser = parse_duration)]
    restart_backoff: Duration,
    /// How often anti-entropy may compare replicas: after anything that may have left them apart, and every 30th time regardless (`0` turns it off).
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    anti_entropy_interval: Duration,
    /// Also speak the Redis protocol (RESP2) on this port, for redis-cli and Redis clients
    /// (0 picks any free port).
    #[arg(long)]
    resp_port: Option<u16>,
    /// Serve `/metrics`, `/api/status`, `/api/ring` and the dashboard `/` over HTTP on this port
    /// (0 picks any free port).
    #[arg(long)]
    http_port: Option<u16>,
    /// Track the keys updated most over the last minute (`hot-keys`, `INFO hotkeys`, `/metrics`).
    #[arg(long)]
    hot_keys: bool,
    /// The largest RESP request accepted, in bytes.
    #[arg(long, default_value_t = ringkv::resp::DEFAULT_MAX_REQUEST_LEN)]
    resp_max_request_len: usize,
    /// Where nodes keep their counters on disk; a directory holding a cluster restores it.
    #[arg(long, default_value = "ringkv-data")]
    data_dir: PathBuf,
    /// Keep counters in memory only (nothing survives the process).
    #[arg(long, conflicts_with = "data_dir")]
    in_memory: bool,
    /// When updates reach the disk: `always` (before the answer), `every-second`, or `never`.
    #[arg(long, default_value = "every-second")]
    fsync: FsyncPolicy,
    /// A node (`HOST:PORT`) of a running cluster to join; may repeat (tried in turn). A data
    /// directory that already holds a member rejoins by itself.
    #[arg(long, value_name = "HOST:PORT")]
    join: Vec<String>,
    /// The host other processes reach this one's nodes at [default: --bind]. With it (or
    /// --join), the interactive store may span processes too; `serve` always may.
    #[arg(long, value_name = "HOST")]
    advertise: Option<String>,
    /// The longest `pause-node` accepted (e.g. `10s`; at most and by default 24 hours).
    #[arg(long, default_value = "86400s", value_parser = parse_duration)]
    max_pause: Duration,
    /// The lowest port `add-node` accepts, besides 0 and the ports the cluster started with.
    #[arg(long, default_value_t = ringkv::actors::MIN_PORT)]
    min_node_port: u16,
    #[command(flatten)]
    security: security::SecurityArgs,
}

/// Parses `1s`, `250ms` or a plain number of seconds (`0.5`).
fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, scale) = if let Some(ms) = text.strip_suffix("ms") {
        (ms, 0.001)
    } else if let Some(s) = text.strip_suffix('s') {
        (s, 1.0)
    } else {
        (text, 1.0)
    };
    match number.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n >= 0.0 && n * scale <= 86_400.0 => {
            Ok(Duration::from_secs_f64(n * scale))
        }
        _ => Err(format!("'{text}' is not a duration like 1s, 250ms or 0.5")),
    }
}

impl ClusterArgs {
    /// The data directory, unless `--in-memory`.
    fn data_dir(&self) -> Option<PathBuf> {
        (!self.in_memory).then(|| self.data_dir.clone())
    }

    /// How many nodes the data directory holds, if it holds a cluster.
    fn stored_nodes(&self) -> anyhow::Result<Option<usize>> {
        let Some(dir) = self.data_dir() else {
            return Ok(None);
        };
        let meta = ringkv::persist::read_meta(&dir)
            .with_context(|| format!("cannot use the data directory {}", dir.display()))?;
        Ok(meta.map(|m| m.nodes.len()))
    }

    /// `--nodes`, else the stored number of nodes, else `default`. Says so when the data
    /// directory holds a cluster.
    fn nodes_or(&self, default: Option<usize>) -> anyhow::Result<Option<usize>> {
        let stored = self.stored_nodes()?;
        if let (Some(n), Some(dir)) = (stored, self.data_dir()) {
            say!("Restoring {n} nodes from {}", dir.display());
        }
        Ok(self.nodes.map(|n| n as usize).or(stored).or(default))
    }

    fn config(&self, nodes: usize) -> ClusterConfig {
        ClusterConfig {
            nodes,
            base_port: self.base_port,
            vnodes: self.vnodes.unwrap_or(ringkv::ring::DEFAULT_VNODES),
            host: self.bind.clone(),
            limits: ServerLimits {
                max_frame_len: self.max_frame_len,
                max_connections: self.max_connections,
                access: self.security.access(),
                max_pause_millis: u64::try_from(self.max_pause.as_millis()).unwrap_or(u64::MAX),
                min_node_port: self.min_node_port,
                tls: self.security.tls(),
                cluster_secret: self.security.cluster_secret(),
                ..ServerLimits::default()
            },
            replication: ReplicationConfig {
                replicas: self.replicas.map_or(DEFAULT_REPLICAS, |r| r as usize),
                write_quorum: self.write_quorum,
                read_quorum: self.read_quorum,
            },
            request_timeout: self.request_timeout,
            restart: !self.no_restart,
            restart_backoff: self.restart_backoff,
            anti_entropy_interval: self.anti_entropy_interval,
            data_dir: self.data_dir(),
            fsync: self.fsync,
            max_nodes: self.max_nodes as usize,
            join: self.join.clone(),
            advertise: self.advertise.clone(),
            node_tls: self.security.node_tls(),
            dedup_window: self.dedup_window,
            tombstone_grace: self.tombstone_grace,
        }
    }

    /// Like [`ClusterArgs::config`], for `serve`: a server may always be joined by others, so it
    /// advertises its bind address unless told another (or it binds every address: then only
    /// with --advertise).
    fn serve_config(&self, nodes: usize) -> ClusterConfig {
        let mut config = self.config(nodes);
        let unspecified = self
            .bind
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_unspecified());
        if config.advertise.is_none() && !unspecified {
            config.advertise = Some(self.bind.clone());
        }
        config
    }

    /// One line on stderr when `--replicas` or `--vnodes` given on the command line differ from
    /// what the data directory keeps: the directory's values win.
    fn warn_ignored(&self) -> anyhow::Result<()> {
        let Some(dir) = self.data_dir() else {
            return Ok(());
        };
        let Some(meta) = ringkv::persist::read_meta(&dir)? else {
            return Ok(());
        };
        let mut ignored = Vec::new();
        if let Some(r) = self.replicas.filter(|&r| r as usize != meta.replicas) {
            ignored.push(format!("--replicas {r}"));
        }
        if let Some(v) = self.vnodes.filter(|&v| v != meta.vnodes) {
            ignored.push(format!("--vnodes {v}"));
        }
        if !ignored.is_empty() {
            eprintln!(
                "Warning: {} ignored: the data directory {} keeps --replicas {} --vnodes {}, and those are used",
                ignored.join(" and "),
                dir.display(),
                meta.replicas,
                meta.vnodes
            );
        }
        Ok(())
    }
}

impl ClusterArgs {
    /// Reads the password files and applies protected mode: call it before anything listens.
    fn prepare_security(&self) -> anyhow::Result<()> {
        self.security.prepare(&self.bind)
    }

    /// Binds the RESP port when `--resp-port` asks for one. Done before the cluster starts, so a
    /// port in use fails before any node runs.
    fn bind_resp(&self) -> ringkv::Result<Option<std::net::TcpListener>> {
        let Some(port) = self.resp_port else {
            return Ok(None);
        };
        let listener = std::net::TcpListener::bind((self.bind.as_str(), port));
        listener.map(Some).map_err(|e| ringkv::Error::Bind {
            port,
            reason: e.to_string(),
        })
    }

    /// Serves RESP on the listener from [`ClusterArgs::bind_resp`], if any, and prints its port.
    /// Call it inside the actix `System`, after the cluster started.
    fn start_resp(
        &self,
        listener: Option<std::net::TcpListener>,
        gateway: Gateway,
    ) -> ringkv::Result<Option<RespServer>> {
        let Some(listener) = listener else {
            return Ok(None);
        };
        let limits = RespLimits {
            max_request_len: self.resp_max_request_len,
            access: self.security.access(),
            tls: self.security.tls(),
            ..RespLimits::default()
        };
        let server = ringkv::resp::start(listener, gateway, limits)?;
        say!("RESP listening on port {}", server.port());
        Ok(Some(server))
    }
}

/// Runs what the command line asks for.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        None => interactive::run(&cli.cluster),
        Some(Command::Serve(args)) => serve::run(&args),
        Some(Command::Client(args)) => client::run(&args),
        Some(Command::Bench(args)) => bench::run(&args),
        Some(Command::Passwd) => security::passwd(),
    }
}

/// Registers for SIGINT and SIGTERM now; the future ends when one arrives.
#[cfg(unix)]
pub(crate) fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

/// Ctrl-C; the future ends when it arrives.
#[cfg(not(unix))]
pub(crate) fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
