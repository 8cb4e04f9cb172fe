//! The text commands shared by the REPL and `ringkv client`: parse a line into a typed command.

use crate::error::{Error, Result};
use crate::protocol::{ExpireCond, ExpireOp, Request};
use crate::quote;

/// The longest key accepted, in bytes.
pub const MAX_KEY_LEN: usize = 1024;

/// One parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// A request for the cluster.
    Request(Request),
    /// Print the list of commands.
    Help,
    /// Leave the REPL.
    Exit,
    /// `status --all`: every key of every node, fetched page by page (see [`crate::status_all`]).
    StatusAll,
}

/// The help text printed by `help`.
pub const HELP: &str = "\
Commands:
  status [--all]         show every node and its first counters (--all: every counter)
  get KEY                read a counter (0 if never updated)
  update KEY [AMOUNT] [--token T]
                         add AMOUNT (default 1, may be negative) to a counter (--token: once
                         per token T, however often it is retried within the dedup window)
  set KEY N              set a counter to N (an update concurrent with it is kept)
  delete KEY             delete a counter (an update concurrent with it is kept)
  expire KEY SECONDS     make a counter expire in SECONDS (0 or less: delete it now)
  ttl KEY                the seconds left before a counter expires (-1: never, -2: no such key)
  persist KEY            remove a counter's expiry
  ring                   show each node's share of the ring and its key count
  add-node [PORT]        start a new node (on PORT, or the next free port)
  remove-node PORT|HOST:PORT [--force]
                         stop a node after handing its keys to their new owners
                         (--force: even if fewer nodes than R copies would remain)
  kill-node PORT         crash a node: no handoff (it restarts and is refilled from replicas)
  pause-node PORT SECS   make a node stop answering for SECS seconds (like SIGSTOP)
  hot-keys [N]           the N keys (default 10) updated most over the last minute (--hot-keys)
  help                   show this help
  exit                   leave";

/// `hot-keys [N]`: N from 1 to [`crate::protocol::MAX_HOT_KEYS`], default 10.
fn parse_hot_keys(args: &[&str]) -> Result<Request> {
    let max = crate::protocol::MAX_HOT_KEYS;
    let limit = match args {
        [] => 10,
        [n] => match n.parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => n,
            _ => {
                return Err(bad(format!(
                    "bad number of keys {} (expected 1 to {max})",
                    quote::in_message(n)
                )))
            }
        },
        _ => return Err(bad("usage: hot-keys [N]".into())),
    };
    Ok(Request::HotKeys { limit })
}

/// Parses a command line. Blank lines give `Ok(None)`.
///
/// # Errors
/// [`Error::BadRequest`] naming what is wrong: an unknown command, a missing or extra argument, a
/// bad amount or port, a key over [`MAX_KEY_LEN`] bytes.
pub fn parse(line: &str) -> Result<Option<Command>> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let Some((&word, args)) = words.split_first() else {
        return Ok(None);
    };
    let request = match word.to_ascii_lowercase().as_str() {
        "help" => return no_args(word, args).map(|_| Some(Command::Help)),
        "exit" | "quit" => return no_args(word, args).map(|_| Some(Command::Exit)),
        "status" => match args {
            ["--all"] => return Ok(Some(Command::StatusAll)),
            [] => Request::Status,
            _ => return Err(bad("usage: status [--all]".into())),
        },
        "ring" => no_args(word, args).map(|_| Request::Ring)?,
        "get" => Request::Get {
            key: one_key(word, args)?,
        },
        "update" => parse_update(args)?,
        "set" => parse_set(args)?,
        "delete" => Request::Delete {
            key: one_key(word, args)?,
        },
        "expire" => parse_expire(args)?,
        "ttl" => Request::Expire {
            key: one_key(word, args)?,
            op: ExpireOp::Deadline,
        },
        "persist" => Request::Expire {
            key: one_key(word, args)?,
            op: ExpireOp::Persist,
        },
        "add-node" => Request::AddNode {
            port: optional_port(word, args)?,
        },
        "remove-node" => parse_remove(args)?,
        "kill-node" => Request::KillNode {
            port: one_port(word, args)?,
        },
        "pause-node" => parse_pause(args)?,
        "hot-keys" => parse_hot_keys(args)?,
        _ => {
            return Err(bad(format!(
                "unknown command {} (type 'help' for the list)",
                quote::in_message(word)
            )))
        }
    };
    Ok(Some(Command::Request(request)))
}

fn bad(message: String) -> Error {
    Error::BadRequest(message)
}

fn no_args(word: &str, args: &[&str]) -> Result<()> {
    if args.is_empty() {
        Ok(())
    } else {
        Err(bad(format!("'{word}' takes no arguments")))
    }
}

/// Checks a key: non-empty (guaranteed by splitting) and at most [`MAX_KEY_LEN`] bytes.
pub fn check_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(bad("the key is empty".into()));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(bad(format!(
            "key of {} bytes exceeds the maximum of {MAX_KEY_LEN} bytes",
            key.len()
        )));
    }
    Ok(())
}

fn one_key(word: &str, args: &[&str]) -> Result<String> {
    match args {
        [key] => check_key(key).map(|_| (*key).to_owned()),
        [] => Err(bad(format!("usage: {word} KEY (the key is missing)"))),
        _ => Err(bad(format!(
            "usage: {word} KEY (keys cannot contain spaces)"
        ))),
    }
}

/// `update KEY [AMOUNT] [--token T]`.
fn parse_update(args: &[&str]) -> Result<Request> {
    let (args, token) = split_token(args)?;
    let (key, amount) = match args.as_slice() {
        [key] => (*key, 1),
        [key, amount] => (*key, parse_amount(amount)?),
        [] => return Err(bad(format!("usage: {UPDATE_USAGE} (the key is missing)"))),
        _ => return Err(bad(format!("usage: {UPDATE_USAGE} (too many arguments)"))),
    };
    check_key(key)?;
    let key = key.to_owned();
    Ok(match token {
        None => Request::Update { key, amount },
        Some(token) => Request::UpdateToken { key, amount, token },
    })
}

/// `expire KEY SECONDS`: the deadline is SECONDS from now by this process's clock.
fn parse_expire(args: &[&str]) -> Result<Request> {
    let [key, seconds] = args else {
        return Err(bad("usage: expire KEY SECONDS".into()));
    };
    check_key(key)?;
    let seconds = seconds.parse::<i64>().map_err(|_| {
        bad(format!(
            "bad number of seconds {}: expected a whole number",
            quote::in_message(seconds)
        ))
    })?;
    let now = i64::try_from(crate::counter::now_ms()).unwrap_or(i64::MAX);
    let at = seconds.saturating_mul(1000).saturating_add(now);
    Ok(Request::Expire {
        key: (*key).to_owned(),
        op: ExpireOp::At {
            at,
            cond: ExpireCond::Always,
        },
    })
}

const UPDATE_USAGE: &str = "update KEY [AMOUNT] [--token T]";

/// `args` without `--token T`, and `T` (checked) if it was there.
fn split_token<'a>(args: &[&'a str]) -> Result<(Vec<&'a str>, Option<Vec<u8>>)> {
    let Some(at) = args.iter().position(|a| *a == "--token") else {
        return Ok((args.to_vec(), None));
    };
    let Some(token) = args.get(at + 1) else {
        return Err(bad(format!("usage: {UPDATE_USAGE} (the token is missing)")));
    };
    crate::counter::tokens::check_token(token.as_bytes())?;
    let rest = args[..at].iter().chain(&args[at + 2..]).copied().collect();
    Ok((rest, Some(token.as_bytes().to_vec())))
}

fn parse_set(args: &[&str]) -> Result<Request> {
    let [key, value] = args else {
        return Err(bad("usage: set KEY N".into()));
    };
    check_key(key)?;
    Ok(Request::Set {
        key: (*key).to_owned(),
        value: parse_amount(value)?,
    })
}

fn parse_amount(text: &str) -> Result<i64> {
    text.parse::<i64>().map_err(|_| {
        bad(format!(
            "bad amount {}: expected a whole number from {} to {}",
            quote::in_message(text),
            i64::MIN,
            i64::MAX
        ))
    })
}

fn parse_port(text: &str) -> Result<u16> {
    text.parse::<u16>().map_err(|_| {
        bad(format!(
            "bad port {}: expected a number from 0 to 65535",
            quote::in_message(text)
        ))
    })
}

fn parse_pause(args: &[&str]) -> Result<Request> {
    let [port, secs] = args else {
        return Err(bad("usage: pause-node PORT SECONDS".into()));
    };
    let port = parse_port(port)?;
    let secs: f64 = secs
        .parse()
        .ok()
        .filter(|s: &f64| s.is_finite() && *s >= 0.0 && *s <= 86_400.0)
        .ok_or_else(|| {
            bad(format!(
                "bad duration {}: expected seconds from 0 to 86400",
                quote::in_message(secs)
            ))
        })?;
    Ok(Request::PauseNode {
        port,
        millis: (secs * 1000.0).round() as u64,
    })
}

fn parse_remove(args: &[&str]) -> Result<Request> {
    let (node, force) = match args {
        [node] => (*node, false),
        [node, force] | [force, node] if force.eq_ignore_ascii_case("--force") => (*node, true),
        _ => return Err(bad("usage: remove-node PORT|HOST:PORT [--force]".into())),
    };
    if node.contains(':') {
        let addr = node.parse().map_err(|_| {
            bad(format!(
                "'{node}' is not a node address like 127.0.0.2:5001 (or give a PORT of this host)"
            ))
        })?;
        return Ok(Request::RemoveNodeAt { addr, force });
    }
    let port = parse_port(node)?;
    Ok(if force {
        Request::RemoveNodeForce { port }
    } else {
        Request::RemoveNode { port }
    })
}

fn one_port(word: &str, args: &[&str]) -> Result<u16> {
    match args {
        [port] => parse_port(port),
        _ => Err(bad(format!("usage: {word} PORT"))),
    }
}

fn optional_port(word: &str, args: &[&str]) -> Result<Option<u16>> {
    match args {
        [] => Ok(None),
        [port] => parse_port(port).map(Some),
        _ => Err(bad(format!("usage: {word} [PORT]"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(line: &str) -> Request {
        match parse(line).unwrap().unwrap() {
            Command::Request(r) => r,
            other => panic!("not a request: {other:?}"),
        }
    }

    #[test]
    fn parses_the_seed_commands() {
        assert_eq!(req("status"), Request::Status);
        assert_eq!(req("get a"), Request::Get { key: "a".into() });
        assert_eq!(
            req("  update   a "),
            Request::Update {
                key: "a".into(),
                amount: 1
            }
        );
        assert_eq!(
            req("update a -7"),
            Request::Update {
                key: "a".into(),
                amount: -7
            }
        );
        assert_eq!(
            req("update a 3 --token t-1"),
            Request::UpdateToken {
                key: "a".into(),
                amount: 3,
                token: b"t-1".to_vec()
            }
        );
        assert!(parse("update a 3 --token").is_err());
        assert!(parse("update a 3 --token t x").is_err());
        assert_eq!(parse("exit").unwrap(), Some(Command::Exit));
        assert_eq!(req("remove-node 5001"), Request::RemoveNode { port: 5001 });
        assert_eq!(
            req("remove-node 5001 --force"),
            Request::RemoveNodeForce { port: 5001 }
        );
        assert!(parse("remove-node 5001 --forc").is_err());
        assert_eq!(
            req("remove-node 127.0.0.2:5001 --force"),
            Request::RemoveNodeAt {
                addr: "127.0.0.2:5001".parse().unwrap(),
                force: true
            }
        );
        assert!(parse("remove-node 127.0.0.2:").is_err());
        assert_eq!(parse("   ").unwrap(), None);
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        for (line, needle) in [
            ("frobnicate", "unknown command 'frobnicate'"),
            ("get", "missing"),
            ("update a 1.5", "bad amount"),
            ("update a 9223372036854775808", "bad amount"),
            ("update a --1", "bad amount"),
            ("kill-node x", "bad port 'x'"),
            ("status now", "usage: status [--all]"),
            ("ring now", "takes no arguments"),
        ] {
            let err = parse(line).unwrap_err().to_string();
            assert!(err.contains(needle), "{line}: {err}");
        }
    }

    #[test]
    fn long_keys_are_refused() {
        let line = format!("get {}", "k".repeat(MAX_KEY_LEN + 1));
        assert!(parse(&line).is_err());
        let line = format!("get {}", "k".repeat(MAX_KEY_LEN));
        assert!(parse(&line).is_ok());
    }
}
