//! The command table: every command the RESP front door knows, its arity (Redis's convention:
//! `n` exactly n words with the name, `-n` at least n) and its docs, which `describe` serves.

/// One argument of a command, for `COMMAND DOCS`.
pub struct Arg {
    /// Its name in the docs.
    pub name: &'static str,
    /// Redis's argument type: `key`, `string`, `integer`, `pattern`.
    pub kind: &'static str,
    /// `optional`, `multiple`.
    pub flags: &'static [&'static str],
}

/// One command or subcommand.
pub struct Spec {
    /// Its name, lower case; a subcommand is `parent|sub`.
    pub name: &'static str,
    /// Redis's arity: `n` exactly, `-n` at least (the name counts).
    pub arity: i64,
    /// Redis's command flags (`write`, `readonly`, `fast`...).
    pub flags: &'static [&'static str],
    /// First key, last key and step, as `COMMAND` reports them.
    pub keys: (i64, i64, i64),
    /// Redis's command group (`string`, `generic`, `server`, `connection`).
    pub group: &'static str,
    /// The Redis version that introduced it.
    pub since: &'static str,
    /// One line for people.
    pub summary: &'static str,
    /// Its arguments.
    pub args: &'static [Arg],
    /// Its subcommands.
    pub subcommands: &'static [Spec],
}

impl Spec {
    /// Whether `words` words (the name included) fit the arity.
    pub fn arity_ok(&self, words: usize) -> bool {
        let words = words as i64;
        if self.arity >= 0 {
            words == self.arity
        } else {
            words >= -self.arity
        }
    }

    /// The subcommand named `sub` (any case).
    pub fn subcommand(&self, sub: &[u8]) -> Option<&'static Spec> {
        self.subcommands.iter().find(|s| {
            s.name
                .split('|')
                .nth(1)
                .is_some_and(|own| own.as_bytes().eq_ignore_ascii_case(sub))
        })
    }
}

pub(super) const fn arg(
    name: &'static str,
    kind: &'static str,
    flags: &'static [&'static str],
) -> Arg {
    Arg { name, kind, flags }
}

pub(super) const fn cmd(
    name: &'static str,
    arity: i64,
    flags: &'static [&'static str],
    group: &'static str,
    since: &'static str,
    summary: &'static str,
    args: &'static [Arg],
) -> Spec {
    let keys = match group.as_bytes() {
        b"string" | b"generic" => (1, if arity < 0 { -1 } else { 1 }, 1),
        _ => (0, 0, 0),
    };
    Spec {
        name,
        arity,
        flags,
        keys,
        group,
        since,
        summary,
        args,
        subcommands: &[],
    }
}

const KEY: &[Arg] = &[arg("key", "key", &[])];
const KEYS: &[Arg] = &[arg("key", "key", &["multiple"])];
const NONE: &[Arg] = &[];
const FAST_READ: &[&str] = &["readonly", "fast"];
const FAST_WRITE: &[&str] = &["write", "denyoom", "fast"];
const CONN: &[&str] = &["noscript", "loading", "stale", "fast"];
const ADMIN: &[&str] = &["loading", "stale"];

/// `COMMAND`'s subcommands.
const COMMAND_SUBS: &[Spec] = &[
    cmd(
        "command|count",
        2,
        ADMIN,
        "server",
        "2.8.13",
        "Returns a count of commands.",
        NONE,
    ),
    cmd(
        "command|docs",
        -2,
        ADMIN,
        "server",
        "7.0.0",
        "Returns documentary information about one, multiple or all commands.",
        &[arg("command-name", "string", &["optional", "multiple"])],
    ),
    cmd(
        "command|info",
        -2,
        ADMIN,
        "server",
        "2.8.13",
        "Returns information about one, multiple or all commands.",
        &[arg("command-name", "string", &["optional", "multiple"])],
    ),
];

/// `CLIENT`'s subcommands.
const CLIENT_SUBS: &[Spec] = &[
    cmd(
        "client|getname",
        2,
        CONN,
        "connection",
        "2.6.9",
        "Returns the name of the connection.",
        NONE,
    ),
    cmd(
        "client|id",
        2,
        CONN,
        "connection",
        "5.0.0",
        "Returns the unique client ID of the connection.",
        NONE,
    ),
    cmd(
        "client|info",
        2,
        CONN,
        "connection",
        "6.2.0",
        "Returns information about the connection.",
        NONE,
    ),
    cmd(
        "client|kill",
        -3,
        &["admin", "noscript", "loading", "stale"],
        "connection",
        "2.4.0",
        "Terminates open connections.",
        &[arg("filter", "string", &["multiple"])],
    ),
    cmd(
        "client|list",
        -2,
        &["admin", "noscript", "loading", "stale"],
        "connection",
        "2.4.0",
        "Lists open connections.",
        &[arg("filter", "string", &["optional", "multiple"])],
    ),
    cmd(
        "client|setinfo",
        4,
        CONN,
        "connection",
        "7.2.0",
        "Sets information specific to the client or connection.",
        &[arg("attr", "string", &[]), arg("value", "string", &[])],
    ),
    cmd(
        "client|setname",
        3,
        CONN,
        "connection",
        "2.6.9",
        "Sets the connection name.",
        &[arg("connection-name", "string", &[])],
    ),
];

/// `CONFIG`'s subcommands.
const CONFIG_SUBS: &[Spec] = &[cmd(
    "config|get",
    -3,
    ADMIN,
    "server",
    "2.0.0",
    "Returns the effective values of configuration parameters.",
    &[arg("parameter", "pattern", &["multiple"])],
)];

/// Every command the RESP front door answers.
pub const COMMANDS: &[Spec] = &[
    cmd(
        "incr",
        2,
        FAST_WRITE,
        "string",
        "1.0.0",
        "Increments the counter of a key by one (creating it at 0 first).",
        KEY,
    ),
    cmd(
        "incrby",
        3,
        FAST_WRITE,
        "string",
        "1.0.0",
        "Increments the counter of a key by a number (negative: decrements it).",
        &[arg("key", "key", &[]), arg("increment", "integer", &[])],
    ),
    cmd(
        "decr",
        2,
        FAST_WRITE,
        "string",
        "1.0.0",
        "Decrements the counter of a key by one (creating it at 0 first).",
        KEY,
    ),
    cmd(
        "decrby",
        3,
        FAST_WRITE,
        "string",
        "1.0.0",
        "Decrements the counter of a key by a number.",
        &[arg("key", "key", &[]), arg("decrement", "integer", &[])],
    ),
    cmd(
        "get",
        2,
        FAST_READ,
        "string",
        "1.0.0",
        "Returns the counter of a key (nil if it was never written).",
        KEY,
    ),
    cmd(
        "mget",
        -2,
        FAST_READ,
        "string",
        "1.0.0",
        "Returns the counters of several keys.",
        KEYS,
    ),
    cmd(
        "exists",
        -2,
        FAST_READ,
        "generic",
        "1.0.0",
        "Counts how many of the keys exist (have a counter above 0).",
        KEYS,
    ),
    cmd(
        "dbsize",
        1,
        FAST_READ,
        "server",
        "1.0.0",
        "Returns the number of keys held by all nodes.",
        NONE,
    ),
    cmd(
        "ping",
        -1,
        CONN,
        "connection",
        "1.0.0",
        "Returns the server's liveliness response.",
        &[arg("message", "string", &["optional"])],
    ),
    cmd(
        "echo",
        2,
        CONN,
        "connection",
        "1.0.0",
        "Returns the given string.",
        &[arg("message", "string", &[])],
    ),
    cmd(
        "time",
        1,
        &["loading", "stale", "fast"],
        "server",
        "2.6.0",
        "Returns the wall clock of the process that answers: unix seconds and microseconds.",
        NONE,
    ),
    cmd(
        "info",
        -1,
        ADMIN,
        "server",
        "1.0.0",
        "Returns information and statistics about the server.",
        &[arg("section", "string", &["optional", "multiple"])],
    ),
    Spec {
        subcommands: COMMAND_SUBS,
        ..cmd(
            "command",
            -1,
            ADMIN,
            "server",
            "2.8.13",
            "Returns detailed information about all commands.",
            NONE,
        )
    },
    Spec {
        subcommands: CONFIG_SUBS,
        ..cmd(
            "config",
            -2,
            ADMIN,
            "server",
            "2.0.0",
            "A container for server configuration commands.",
            NONE,
        )
    },
    cmd(
        "hello",
        -1,
        CONN,
        "connection",
        "6.0.0",
        "Handshakes with the server (RESP2 only).",
        &[arg("protover", "integer", &["optional"])],
    ),
    Spec {
        subcommands: CLIENT_SUBS,
        ..cmd(
            "client",
            -2,
            CONN,
            "connection",
            "2.4.0",
            "A container for client connection commands.",
            NONE,
        )
    },
    cmd(
        "select",
        2,
        CONN,
        "connection",
        "1.0.0",
        "Changes the selected database (only 0 exists).",
        &[arg("index", "integer", &[])],
    ),
    cmd(
        "auth",
        -2,
        CONN,
        "connection",
        "1.0.0",
        "Authenticates the connection (ringkv has only the passwordless default user).",
        &[
            arg("username", "string", &["optional"]),
            arg("password", "string", &[]),
        ],
    ),
    cmd(
        "quit",
        -1,
        CONN,
        "connection",
        "1.0.0",
        "Closes the connection.",
        NONE,
    ),
];

/// Every command: [`COMMANDS`], then the keyspace, transaction and server commands of
/// `table_more`.
pub fn all() -> impl Iterator<Item = &'static Spec> {
    COMMANDS
        .iter()
        .chain(super::table_more::COMMANDS)
        .chain(super::table_writes::COMMANDS)
        .chain(super::table_expire::COMMANDS)
}

/// The command named `name` (any case).
pub fn find(name: &[u8]) -> Option<&'static Spec> {
    all().find(|s| s.name.as_bytes().eq_ignore_ascii_case(name))
}

/// How many commands there are (`COMMAND COUNT`).
pub fn count() -> usize {
    all().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arity_follows_redis() {
        let incr = find(b"INCR").unwrap();
        assert!(incr.arity_ok(2) && !incr.arity_ok(1) && !incr.arity_ok(3));
        let mget = find(b"mget").unwrap();
        assert!(mget.arity_ok(2) && mget.arity_ok(9) && !mget.arity_ok(1));
        let client = find(b"client").unwrap();
        assert_eq!(
            client.subcommand(b"SETNAME").unwrap().name,
            "client|setname"
        );
        assert!(find(b"nope").is_none());
    }
}
