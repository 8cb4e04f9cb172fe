//! The command table, continued: keyspace (`SCAN`, `KEYS`, `TYPE`...), transaction (`MULTI`,
//! `EXEC`...) and flush commands, in the shapes of `table`.

use super::table::{arg, cmd, Arg, Spec};

const NONE: &[Arg] = &[];
const KEY: &[Arg] = &[arg("key", "key", &[])];
const READ: &[&str] = &["readonly"];
const FAST_READ: &[&str] = &["readonly", "fast"];
const WRITE: &[&str] = &["write"];
const TXN: &[&str] = &["noscript", "loading", "stale", "fast", "allow_busy"];
const FLUSH_ARGS: &[Arg] = &[arg("flush-type", "oneof", &["optional"])];

/// A spec without keys (the `generic` group would give it one).
const fn keyless(spec: Spec) -> Spec {
    Spec {
        keys: (0, 0, 0),
        ..spec
    }
}

const OBJECT_SUBS: &[Spec] = &[Spec {
    keys: (2, 2, 1),
    ..cmd(
        "object|encoding",
        3,
        READ,
        "generic",
        "2.2.3",
        "Returns the internal encoding of a Redis object (always int).",
        KEY,
    )
}];

const FUNCTION_SUBS: &[Spec] = &[
    cmd(
        "function|flush",
        -2,
        &["write", "noscript"],
        "scripting",
        "7.0.0",
        "Deletes all library and functions (ringkv has none).",
        FLUSH_ARGS,
    ),
    cmd(
        "function|list",
        -2,
        &["noscript"],
        "scripting",
        "7.0.0",
        "Returns information about all libraries (ringkv has none).",
        NONE,
    ),
];

/// The commands of this part of the table.
pub const COMMANDS: &[Spec] = &[
    keyless(cmd(
        "scan",
        -2,
        READ,
        "generic",
        "2.8.0",
        "Iterates over the key names of the whole cluster, in ring order.",
        &[
            arg("cursor", "integer", &[]),
            arg("pattern", "pattern", &["optional"]),
            arg("count", "integer", &["optional"]),
            arg("type", "string", &["optional"]),
        ],
    )),
    keyless(cmd(
        "keys",
        2,
        READ,
        "generic",
        "1.0.0",
        "Returns all key names that match a pattern.",
        &[arg("pattern", "pattern", &[])],
    )),
    keyless(cmd(
        "randomkey",
        1,
        READ,
        "generic",
        "1.0.0",
        "Returns a random key name from the cluster.",
        NONE,
    )),
    cmd(
        "type",
        2,
        FAST_READ,
        "generic",
        "1.0.0",
        "Determines the type of value stored at a key (string, or none).",
        KEY,
    ),
    Spec {
        subcommands: OBJECT_SUBS,
        ..keyless(cmd(
            "object",
            -2,
            &[],
            "generic",
            "2.2.3",
            "A container for object introspection commands.",
            NONE,
        ))
    },
    cmd(
        "flushall",
        -1,
        WRITE,
        "server",
        "1.0.0",
        "Removes all keys from all nodes.",
        FLUSH_ARGS,
    ),
    cmd(
        "flushdb",
        -1,
        WRITE,
        "server",
        "1.0.0",
        "Removes all keys from the (only) database.",
        FLUSH_ARGS,
    ),
    Spec {
        subcommands: FUNCTION_SUBS,
        ..cmd(
            "function",
            -2,
            &[],
            "scripting",
            "7.0.0",
            "A container for function commands.",
            NONE,
        )
    },
    cmd(
        "multi",
        1,
        TXN,
        "transactions",
        "1.2.0",
        "Starts a transaction.",
        NONE,
    ),
    cmd(
        "exec",
        1,
        &["noscript", "loading", "stale", "skip_slowlog"],
        "transactions",
        "1.2.0",
        "Executes all commands in a transaction.",
        NONE,
    ),
    cmd(
        "discard",
        1,
        TXN,
        "transactions",
        "2.0.0",
        "Discards a transaction.",
        NONE,
    ),
    cmd(
        "watch",
        -2,
        TXN,
        "transactions",
        "2.2.0",
        "Refused: ringkv cannot watch keys for changes.",
        &[arg("key", "key", &["multiple"])],
    ),
    cmd(
        "unwatch",
        1,
        TXN,
        "transactions",
        "2.2.0",
        "Forgets about watched keys (there are none).",
        NONE,
    ),
];
