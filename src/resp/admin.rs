//! The connection and server commands answered without the cluster: PING, ECHO, HELLO, AUTH,
//! CLIENT, CONFIG GET and SELECT (COMMAND is in `describe`). They read and change only the
//! connection's [`Session`].

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;

use super::info::{Stats, REDIS_VERSION};
use super::reply::{self, Frame, Proto};
use super::table::Spec;

/// What one connection remembers about its client.
#[derive(Debug)]
pub struct Session {
    /// The client id (`CLIENT ID`).
    pub id: u64,
    /// The client's address.
    pub peer: Option<SocketAddr>,
    /// The listener's address as the client reached it.
    pub local: Option<SocketAddr>,
    /// The name set by `CLIENT SETNAME` or `HELLO ... SETNAME`.
    pub name: Option<String>,
    /// `CLIENT SETINFO LIB-NAME` and `LIB-VER`.
    pub lib: (String, String),
    /// When the connection was accepted.
    pub since: Instant,
    /// When the last command came.
    pub last: Instant,
    /// The protocol the client chose with `HELLO` (RESP2 until then).
    pub proto: Proto,
    /// The transaction being queued, between `MULTI` and `EXEC` (see `txn`).
    pub multi: Option<super::txn::Queue>,
}

impl Session {
    /// A fresh session for client `id`.
    pub fn new(id: u64, peer: Option<SocketAddr>, local: Option<SocketAddr>) -> Session {
        let now = Instant::now();
        Session {
            id,
            peer,
            local,
            name: None,
            lib: Default::default(),
            since: now,
            last: now,
            proto: Proto::Resp2,
            multi: None,
        }
    }
}

/// Runs a command of this module; `args` excludes the name, the arity is already checked.
pub fn run(spec: &Spec, args: &[Bytes], session: &mut Session, stats: &Stats) -> Frame {
    match spec.name {
        "ping" => ping(args),
        "echo" => reply::bulk(args[0].clone()),
        "time" => time(),
        "hello" => hello(args, session),
        "client" => client(spec, args, session, stats),
        "config" => config(spec, args, stats),
        "select" => select(&args[0]),
        "auth" => auth(args),
        "command" => super::describe::run(spec, args),
        other => reply::err(&format!("internal error: '{other}' has no handler")),
    }
}

/// `TIME`: this process's wall clock as Redis answers it, unix seconds and microseconds.
fn time() -> Frame {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    reply::array(vec![
        reply::bulk(now.as_secs().to_string()),
        reply::bulk(now.subsec_micros().to_string()),
    ])
}

fn ping(args: &[Bytes]) -> Frame {
    match args {
        [] => reply::simple("PONG"),
        [message] => reply::bulk(message.clone()),
        _ => reply::wrong_arity("ping"),
    }
}

fn select(index: &[u8]) -> Frame {
    match super::commands::parse_i64(index) {
        None => reply::not_integer(),
        Some(0) => reply::ok(),
        Some(_) => reply::err("SELECT is not allowed in cluster mode"),
    }
}

/// The subcommand `args[0]` of a container command, arity checked; `Err` is the reply to send.
pub fn sub(spec: &Spec, args: &[Bytes]) -> Result<&'static Spec, Frame> {
    let sub = spec
        .subcommand(&args[0])
        .ok_or_else(|| reply::unknown_subcommand(spec.name, &args[0]))?;
    if sub.arity_ok(args.len() + 1) {
        Ok(sub)
    } else {
        Err(reply::wrong_arity(sub.name))
    }
}

/// `HELLO [protover [AUTH user password] [SETNAME name]]`: switches the connection to RESP2 or
/// RESP3 (only once every option is valid, as Redis does) and answers the server map.
fn hello(args: &[Bytes], session: &mut Session) -> Frame {
    let proto = match args.first().map(|v| super::commands::parse_i64(v)) {
        None => session.proto,
        Some(None) => return reply::err("Protocol version is not an integer or out of range"),
        Some(Some(2)) => Proto::Resp2,
        Some(Some(3)) => Proto::Resp3,
        Some(Some(_)) => return reply::error("NOPROTO unsupported protocol version"),
    };
    let name = match hello_options(args.get(1..).unwrap_or_default()) {
        Ok(name) => name,
        Err(e) => return e,
    };
    if let Some(Err(e)) = name.map(|name| set_name(session, name)) {
        return e;
    }
    session.proto = proto;
    reply::map(vec![
        ("server", reply::bulk_str("redis")),
        ("version", reply::bulk_str(REDIS_VERSION)),
        ("proto", reply::int(proto.number())),
        ("id", reply::int(session.id as i64)),
        ("mode", reply::bulk_str("standalone")),
        ("role", reply::bulk_str("master")),
        ("modules", reply::array(Vec::new())),
    ])
}

/// `AUTH [user] password`, as Redis answers with no password configured: the `default` user
/// takes any password (it is `nopass`), other users do not exist, and the one-argument form says
/// no password is configured.
fn auth(args: &[Bytes]) -> Frame {
    match args {
        [_] => reply::err(
            "AUTH <password> called without any password configured for the default user. \
             Are you sure your configuration is correct?",
        ),
        [user, _] => check_user(user).map_or_else(|e| e, |()| reply::ok()),
        _ => reply::syntax(),
    }
}

fn check_user(user: &[u8]) -> Result<(), Frame> {
    if user == b"default" {
        Ok(())
    } else {
        let text = "WRONGPASS invalid username-password pair or user is disabled.";
        Err(reply::error(text))
    }
}

/// HELLO's `AUTH user password` (only the passwordless `default` user exists) and `SETNAME name`;
/// gives the name to set. As Redis: the name is checked as it is read, an option that cannot be
/// read is named as the client spelled it, the user is checked once every option was read.
fn hello_options(options: &[Bytes]) -> Result<Option<&Bytes>, Frame> {
    let (mut name, mut user) = (None, None);
    let mut at = 0;
    while let Some(option) = options.get(at) {
        let left = options.len() - at - 1;
        if option.eq_ignore_ascii_case(b"auth") && left >= 2 {
            user = Some(&options[at + 1]);
            at += 3;
        } else if option.eq_ignore_ascii_case(b"setname") && left >= 1 {
            valid_name(&options[at + 1])?;
            name = Some(&options[at + 1]);
            at += 2;
        } else {
            let option = String::from_utf8_lossy(option);
            return Err(reply::err(&format!(
                "Syntax error in HELLO option '{option}'"
            )));
        }
    }
    if let Some(user) = user {
        check_user(user)?;
    }
    Ok(name)
}

/// Redis refuses client names with spaces, newlines and other special characters.
fn valid_name(name: &[u8]) -> Result<(), Frame> {
    if name.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
        return Err(reply::err(
            "Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    Ok(())
}

/// Sets the connection's name (an empty name clears it).
fn set_name(session: &mut Session, name: &[u8]) -> Result<(), Frame> {
    valid_name(name)?;
    session.name = (!name.is_empty()).then(|| String::from_utf8_lossy(name).into_owned());
    Ok(())
}

fn client(spec: &Spec, args: &[Bytes], session: &mut Session, stats: &Stats) -> Frame {
    let sub = match sub(spec, args) {
        Ok(sub) => sub,
        Err(e) => return e,
    };
    match sub.name {
        "client|setname" => set_name(session, &args[1]).map_or_else(|e| e, |()| reply::ok()),
        "client|getname" => session
            .name
            .as_deref()
            .map_or(reply::nil(), reply::bulk_str),
        "client|id" => reply::int(session.id as i64),
        "client|info" => reply::verbatim(client_info(session)),
        "client|list" => stats.registry().list(session, &args[1..]),
        "client|kill" => stats.registry().kill(session, &args[1..]),
        _ => set_info(session, &args[1], &args[2]),
    }
}

fn set_info(session: &mut Session, attr: &[u8], value: &[u8]) -> Frame {
    let value = String::from_utf8_lossy(value).into_owned();
    match String::from_utf8_lossy(attr).to_ascii_lowercase().as_str() {
        "lib-name" => session.lib.0 = value,
        "lib-ver" => session.lib.1 = value,
        other => return reply::err(&format!("Unrecognized option '{other}'")),
    }
    reply::ok()
}

/// The `CLIENT INFO` line, with the fields Redis gives that mean something here.
fn client_info(session: &Session) -> String {
    let addr = |a: Option<SocketAddr>| a.map(|a| a.to_string()).unwrap_or_default();
    format!(
        "id={} addr={} laddr={} name={} age={} idle={} flags=N db=0 sub=0 psub=0 ssub=0 \
         multi=-1 user=default lib-name={} lib-ver={} resp={} cmd=client|info\n",
        session.id,
        addr(session.peer),
        addr(session.local),
        session.name.as_deref().unwrap_or(""),
        session.since.elapsed().as_secs(),
        session.last.elapsed().as_secs(),
        session.lib.0,
        session.lib.1,
        session.proto.number(),
    )
}

fn config(spec: &Spec, args: &[Bytes], stats: &Stats) -> Frame {
    if args[0].eq_ignore_ascii_case(b"set") {
        return reply::err(
            "CONFIG SET is not supported: ringkv is configured by its command-line flags",
        );
    }
    if let Err(e) = sub(spec, args) {
        return e;
    }
    let params = [
        ("save", String::new()),
        ("appendonly", "no".to_owned()),
        ("databases", "1".to_owned()),
        ("maxmemory", "0".to_owned()),
        ("maxmemory-policy", "noeviction".to_owned()),
        ("timeout", "0".to_owned()),
        ("port", stats.port().to_string()),
        ("proto-max-bulk-len", stats.max_request_len().to_string()),
    ];
    let mut out = Vec::new();
    for (name, value) in &params {
        let wanted = args[1..]
            .iter()
            .any(|p| glob(&p.to_ascii_lowercase(), name.as_bytes()));
        if wanted {
            out.push((*name, reply::bulk_str(value)));
        }
    }
    reply::map(out)
}

/// Glob matching with `*` and `?`, as `CONFIG GET` patterns use. Iterative, so a hostile pattern
/// costs at most pattern × text steps.
pub fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_config_patterns() {
        assert!(glob(b"*", b"save"));
        assert!(glob(b"app*", b"appendonly"));
        assert!(glob(b"s?ve", b"save"));
        assert!(!glob(b"save", b"saves"));
        assert!(!glob(b"x*", b"save"));
        assert!(glob(b"*a*e*", b"save"));
        assert!(glob(&[b'*'; 100_000], b"save"));
    }
}
