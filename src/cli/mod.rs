//! Command-line arguments and the dispatch to each subcommand.

mod client;
mod interactive;
mod serve;

use clap::{Args, Parser, Subcommand};
use ringkv::actors::ServerLimits;
use ringkv::ClusterConfig;

/// ringkv: a distributed store of event counters on a consistent-hashing ring.
///
/// Without a subcommand it starts the interactive store, as the original program did.
#[derive(Debug, Parser)]
#[command(name = "ringkv", version, about, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(flatten)]
    cluster: ClusterArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the cluster without a REPL, for external clients, until SIGINT or SIGTERM.
    Serve(ClusterArgs),
    /// Send one command (the REPL's words) to a node over the framed protocol and print the answer.
    Client(client::ClientArgs),
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
    /// Virtual nodes per node on the ring.
    #[arg(long, default_value_t = ringkv::ring::DEFAULT_VNODES, value_parser = clap::value_parser!(u32).range(1..=65536))]
    vnodes: u32,
    /// The address nodes listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: String,
    /// The longest frame a node accepts, in bytes.
    #[arg(long, default_value_t = ringkv::protocol::MAX_FRAME_LEN)]
    max_frame_len: usize,
    /// The most client connections one node serves at once.
    #[arg(long, default_value_t = 10_000)]
    max_connections: usize,
}

impl ClusterArgs {
    fn config(&self, nodes: usize) -> ClusterConfig {
        ClusterConfig {
            nodes,
            base_port: self.base_port,
            vnodes: self.vnodes,
            host: self.bind.clone(),
            limits: ServerLimits {
                max_frame_len: self.max_frame_len,
                max_connections: self.max_connections,
                ..ServerLimits::default()
            },
        }
    }
}

/// Runs what the command line asks for.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        None => interactive::run(&cli.cluster),
        Some(Command::Serve(args)) => serve::run(&args),
        Some(Command::Client(args)) => client::run(&args),
    }
}
