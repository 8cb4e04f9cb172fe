//! Every connection of one RESP listener, for `CLIENT LIST` and `CLIENT KILL`: its address,
//! name, age, idle time, and the token that closes it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Instant;

use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use super::admin::Session;
use super::reply::{self, Frame};

/// What the listener knows of one connection.
#[derive(Debug)]
struct Client {
    peer: Option<SocketAddr>,
    local: Option<SocketAddr>,
    name: Option<String>,
    since: Instant,
    last: Instant,
    resp: i64,
    kill: CancellationToken,
}

/// The listener's connections, by client id.
#[derive(Debug, Default)]
pub struct Registry(Mutex<BTreeMap<u64, Client>>);

impl Registry {
    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<u64, Client>) -> T) -> T {
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut map)
    }

    /// Registers a new connection; `kill` closes it.
    pub fn add(&self, session: &Session, kill: CancellationToken) {
        let client = Client {
            peer: session.peer,
            local: session.local,
            name: None,
            since: session.since,
            last: session.since,
            resp: 2,
            kill,
        };
        self.with(|map| map.insert(session.id, client));
    }

    /// Notes the connection's name, protocol and last activity.
    pub fn touch(&self, session: &Session) {
        self.with(|map| {
            if let Some(client) = map.get_mut(&session.id) {
                client.last = session.last;
                client.resp = session.proto.number();
                if client.name != session.name {
                    client.name.clone_from(&session.name);
                }
            }
        });
    }

    /// Forgets a closed connection.
    pub fn remove(&self, id: u64) {
        self.with(|map| map.remove(&id));
    }

    /// `CLIENT LIST [TYPE normal|...] [ID id ...]`: one line per connection, as Redis writes it.
    pub fn list(&self, session: &Session, args: &[Bytes]) -> Frame {
        let ids = match list_filter(args) {
            Ok(ids) => ids,
            Err(frame) => return frame,
        };
        let text = self.with(|map| {
            let mut out = String::new();
            for (&id, client) in map.iter() {
                if ids.as_ref().is_none_or(|ids| ids.contains(&id)) {
                    out.push_str(&line(id, client, id == session.id));
                }
            }
            out
        });
        reply::verbatim(text)
    }

    /// `CLIENT KILL ip:port` (`OK`, or `ERR No such client`) and `CLIENT KILL <filter value>...`
    /// with `ID`, `ADDR`, `LADDR`, `USER`, `TYPE`, `SKIPME` (how many were closed).
    pub fn kill(&self, session: &Session, args: &[Bytes]) -> Frame {
        if let [addr] = args {
            let addr = String::from_utf8_lossy(addr);
            let killed = self.kill_where(|_, c| show(c.peer) == addr);
            return match killed {
                0 => reply::err("No such client"),
                _ => reply::ok(),
            };
        }
        let filter = match KillFilter::parse(args) {
            Ok(filter) => filter,
            Err(frame) => return frame,
        };
        let killed = self.kill_where(|id, c| filter.matches(id, c, session.id));
        reply::int(killed as i64)
    }

    fn kill_where(&self, pick: impl Fn(u64, &Client) -> bool) -> usize {
        self.with(|map| {
            let picked: Vec<&Client> = map
                .iter()
                .filter(|(&id, c)| pick(id, c))
                .map(|(_, c)| c)
                .collect();
            picked.iter().for_each(|c| c.kill.cancel());
            picked.len()
        })
    }
}

fn show(addr: Option<SocketAddr>) -> String {
    addr.map(|a| a.to_string()).unwrap_or_default()
}

/// The line of one client in `CLIENT LIST`.
fn line(id: u64, client: &Client, me: bool) -> String {
    let cmd = if me { "client|list" } else { "NULL" };
    format!(
        "id={id} addr={} laddr={} fd=-1 name={} age={} idle={} flags=N db=0 sub=0 psub=0 ssub=0 \
         multi=-1 user=default redir=-1 resp={} cmd={cmd}\n",
        show(client.peer),
        show(client.local),
        client.name.as_deref().unwrap_or(""),
        client.since.elapsed().as_secs(),
        client.last.elapsed().as_secs(),
        client.resp,
    )
}

/// The ids `CLIENT LIST` is limited to (`None`: all), from `TYPE normal` or `ID id...`.
fn list_filter(args: &[Bytes]) -> Result<Option<Vec<u64>>, Frame> {
    match args {
        [] => Ok(None),
        [kind, value] if kind.eq_ignore_ascii_case(b"type") => {
            let value = String::from_utf8_lossy(value).to_ascii_lowercase();
            match value.as_str() {
                "normal" => Ok(None),
                "master" | "replica" | "slave" | "pubsub" => Ok(Some(Vec::new())),
                _ => Err(reply::err(&format!("Unknown client type '{value}'"))),
            }
        }
        [id, ids @ ..] if id.eq_ignore_ascii_case(b"id") && !ids.is_empty() => ids
            .iter()
            .map(|w| {
                super::commands::parse_i64(w)
                    .filter(|&n| n > 0)
                    .map(|n| n as u64)
            })
            .collect::<Option<Vec<u64>>>()
            .map(Some)
            .ok_or_else(|| reply::err("Invalid client ID")),
        _ => Err(reply::syntax()),
    }
}

/// The filters of `CLIENT KILL <filter> <value> ...`.
#[derive(Default)]
struct KillFilter {
    id: Option<u64>,
    addr: Option<String>,
    laddr: Option<String>,
    /// `Some(false)`: a type or user no client has.
    any: Option<bool>,
    skip_me: bool,
}

impl KillFilter {
    fn parse(args: &[Bytes]) -> Result<KillFilter, Frame> {
        let mut filter = KillFilter {
            skip_me: true,
            ..KillFilter::default()
        };
        if args.is_empty() || !args.len().is_multiple_of(2) {
            return Err(reply::syntax());
        }
        for pair in args.chunks(2) {
            let name = String::from_utf8_lossy(&pair[0]).to_ascii_lowercase();
            let value = String::from_utf8_lossy(&pair[1]).into_owned();
            match name.as_str() {
                "id" => match super::commands::parse_i64(&pair[1]) {
                    Some(n) if n > 0 => filter.id = Some(n as u64),
                    _ => return Err(reply::err("client-id should be greater than 0")),
                },
                "addr" => filter.addr = Some(value),
                "laddr" => filter.laddr = Some(value),
                "type" => match value.to_ascii_lowercase().as_str() {
                    "normal" => {}
                    "master" | "replica" | "slave" | "pubsub" => filter.any = Some(false),
                    _ => return Err(reply::err(&format!("Unknown client type '{value}'"))),
                },
                "user" if value == "default" => {}
                "user" => return Err(reply::err(&format!("No such user '{value}'"))),
                "skipme" => match value.to_ascii_lowercase().as_str() {
                    "yes" => filter.skip_me = true,
                    "no" => filter.skip_me = false,
                    _ => return Err(reply::syntax()),
                },
                _ => return Err(reply::syntax()),
            }
        }
        Ok(filter)
    }

    fn matches(&self, id: u64, client: &Client, me: u64) -> bool {
        self.any != Some(false)
            && !(self.skip_me && id == me)
            && self.id.is_none_or(|want| want == id)
            && (self.addr.as_ref()).is_none_or(|a| *a == show(client.peer))
            && (self.laddr.as_ref()).is_none_or(|a| *a == show(client.local))
    }
}
