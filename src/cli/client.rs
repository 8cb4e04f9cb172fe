//! `ringkv client`: one command over the framed protocol, printed as the REPL prints it.

use clap::Args;
use ringkv::command::{parse, Command, HELP};
use ringkv::render::render;
use ringkv::status_all::status_all;
use ringkv::{Client, Response};

/// Arguments of `ringkv client`.
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// The node to talk to.
    #[arg(long, default_value = "127.0.0.1:5001")]
    addr: String,
    /// Seconds to wait for the connection and the answer.
    #[arg(long, default_value_t = 5.0)]
    timeout: f64,
    /// The command, as typed in the REPL (e.g. `update a 5`, `status`, `kill-node 5002`).
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    words: Vec<String>,
}

/// Sends the command and prints the answer; an error answer makes the process exit non-zero.
pub fn run(args: &ClientArgs) -> anyhow::Result<()> {
    let line = args.words.join(" ");
    let request = match parse(&line)? {
        None => anyhow::bail!("no command given"),
        Some(Command::Help) => {
            say!("{HELP}");
            return Ok(());
        }
        Some(Command::Exit) => return Ok(()),
        Some(Command::StatusAll) => return status_all_over(args),
        Some(Command::Request(request)) => request,
    };
    let timeout = std::time::Duration::from_secs_f64(args.timeout.max(0.001));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let response = runtime.block_on(async {
        let mut client = Client::connect_timeout(&args.addr, timeout).await?;
        client.request(&request).await
    })?;
    match response {
        Response::Error(reply) => {
            anyhow::bail!("{}", ringkv::quote::escape_controls(&reply.message))
        }
        other => say!("{}", render(&other)),
    }
    Ok(())
}

/// `status --all` over one connection, printed page by page.
fn status_all_over(args: &ClientArgs) -> anyhow::Result<()> {
    let timeout = std::time::Duration::from_secs_f64(args.timeout.max(0.001));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = Client::connect_timeout(&args.addr, timeout).await?;
        let client = std::sync::Arc::new(tokio::sync::Mutex::new(client));
        let ask = |request: ringkv::Request| {
            let client = client.clone();
            async move { client.lock().await.request(&request).await }
        };
        status_all(ask, |text| say!("{text}")).await?;
        anyhow::Ok(())
    })
}
