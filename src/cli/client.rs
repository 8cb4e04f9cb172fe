//! `ringkv client`: one command over the framed protocol, printed as the REPL prints it, or as
//! one JSON object with `--json`.
//!
//! Exit status: 0 when the command was answered, 1 when it failed (an error answer, a bad
//! command line, a node that cannot be reached), 2 for a usage error of the flags themselves.

use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use ringkv::command::{parse, Command, HELP};
use ringkv::render::render_answer;
use ringkv::status_all::{full_report, status_all};
use ringkv::{Client, Error, Request, Response};
use tokio::sync::Mutex;

use super::json;

/// Arguments of `ringkv client`.
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// The node to talk to.
    #[arg(long, default_value = "127.0.0.1:5001")]
    addr: String,
    /// Seconds to wait for the connection and the answer.
    #[arg(long, default_value_t = 5.0)]
    timeout: f64,
    /// Print the answer as one JSON object (see the README); give it before the command.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    login: super::security::CredentialArgs,
    /// The command, as typed in the REPL (e.g. `update a 5`, `status`, `kill-node 5002`).
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    words: Vec<String>,
}

/// What the command line asks for.
enum Ask {
    Help,
    Nothing,
    StatusAll,
    One(Request),
}

/// Sends the command and prints the answer; an error answer makes the process exit non-zero.
pub fn run(args: &ClientArgs) -> anyhow::Result<()> {
    let line = args.words.join(" ");
    let parsed = match parse(&line) {
        Ok(None) => Err(Error::BadRequest("no command given".into())),
        Ok(Some(Command::Help)) => Ok(Ask::Help),
        Ok(Some(Command::Exit)) => Ok(Ask::Nothing),
        Ok(Some(Command::StatusAll)) => Ok(Ask::StatusAll),
        Ok(Some(Command::Request(request))) => Ok(Ask::One(request)),
        Err(e) => Err(e),
    };
    let ask = match parsed {
        Ok(ask) => ask,
        Err(e) => return fail(args, &e),
    };
    match ask {
        Ask::Help if args.json => say!("{}", json::help(HELP)),
        Ask::Help => say!("{HELP}"),
        Ask::Nothing => {}
        Ask::StatusAll => return status_all_over(args),
        Ask::One(request) => return one(args, &request),
    }
    Ok(())
}

/// Prints the failure (as JSON with `--json`) and returns it, for exit status 1.
fn fail(args: &ClientArgs, e: &Error) -> anyhow::Result<()> {
    if args.json {
        say!("{}", json::error(e));
    }
    anyhow::bail!("{}", ringkv::quote::escape_controls(&e.to_string()))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

fn timeout(args: &ClientArgs) -> Duration {
    Duration::from_secs_f64(args.timeout.max(0.001))
}

/// Connects to `--addr`, logging in with the credentials asked for.
async fn connect(args: &ClientArgs) -> Result<Client, Error> {
    let flags = |e: anyhow::Error| Error::BadRequest(e.to_string());
    let credentials = args.login.credentials().map_err(flags)?;
    let tls = args.login.tls().map_err(flags)?;
    Client::connect_tls(&args.addr, timeout(args), credentials, tls).await
}

/// One request, one answer.
fn one(args: &ClientArgs, request: &Request) -> anyhow::Result<()> {
    let answered = runtime()?.block_on(async {
        let mut client = connect(args).await?;
        client.request(request).await
    });
    match answered {
        Err(e) => fail(args, &e),
        Ok(Response::Error(reply)) => {
            if args.json {
                say!("{}", json::response(&Response::Error(reply.clone())));
            }
            anyhow::bail!("{}", ringkv::quote::escape_controls(&reply.message))
        }
        Ok(response) if args.json => {
            say!("{}", json::response(&response));
            Ok(())
        }
        Ok(response) => {
            say!("{}", render_answer(request, &response));
            Ok(())
        }
    }
}

/// `status --all` over one connection: printed page by page, or one JSON object of every key.
fn status_all_over(args: &ClientArgs) -> anyhow::Result<()> {
    let walked = runtime()?.block_on(async {
        let client = connect(args).await?;
        let client = Arc::new(Mutex::new(client));
        let ask = |request: Request| {
            let client = client.clone();
            async move { client.lock().await.request(&request).await }
        };
        if args.json {
            let report = full_report(ask).await?;
            say!("{}", json::response(&Response::Status(report)));
            Ok(())
        } else {
            status_all(ask, |text| say!("{text}")).await
        }
    });
    match walked {
        Ok(()) => Ok(()),
        Err(e) => fail(args, &e),
    }
}
