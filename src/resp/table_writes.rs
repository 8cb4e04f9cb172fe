//! The command table, continued: the commands that reset or delete a counter (`SET`, `GETSET`,
//! `GETDEL`, `DEL`, `UNLINK`, `MSET`, `MSETNX`) and ringkv's exactly-once update (`RINGKV.INCRBY`), in the shapes of
//! `table`.

use super::table::{arg, cmd, Arg, Spec};

const KEY: &[Arg] = &[arg("key", "key", &[])];
const KEYS: &[Arg] = &[arg("key", "key", &["multiple"])];
const PAIRS: &[Arg] = &[
    arg("key", "key", &["multiple"]),
    arg("value", "integer", &["multiple"]),
];
const WRITE: &[&str] = &["write"];
const WRITE_FAST: &[&str] = &["write", "fast"];
const WRITE_DENYOOM: &[&str] = &["write", "denyoom"];

/// The commands of this part of the table.
pub const COMMANDS: &[Spec] = &[
    cmd(
        "set",
        -3,
        WRITE_DENYOOM,
        "string",
        "1.0.0",
        "Sets the counter of a key to an integer (NX, XX, GET and KEEPTTL; no expiry yet).",
        &[
            arg("key", "key", &[]),
            arg("value", "integer", &[]),
            arg("condition", "oneof", &["optional"]),
            arg("get", "pure-token", &["optional"]),
            arg("expiration", "oneof", &["optional"]),
        ],
    ),
    cmd(
        "getset",
        3,
        &["write", "denyoom", "fast"],
        "string",
        "1.0.0",
        "Sets the counter of a key to an integer and returns its value before.",
        &[arg("key", "key", &[]), arg("value", "integer", &[])],
    ),
    cmd(
        "getdel",
        2,
        WRITE_FAST,
        "string",
        "6.2.0",
        "Returns the counter of a key and deletes it.",
        KEY,
    ),
    cmd(
        "del",
        -2,
        WRITE,
        "generic",
        "1.0.0",
        "Deletes the counters of one or more keys; returns how many existed.",
        KEYS,
    ),
    cmd(
        "unlink",
        -2,
        WRITE_FAST,
        "generic",
        "4.0.0",
        "Deletes the counters of one or more keys (as DEL); returns how many existed.",
        KEYS,
    ),
    pairs(cmd(
        "mset",
        -3,
        WRITE_DENYOOM,
        "string",
        "1.0.1",
        "Sets the counters of several keys to integers (keys on one replica set).",
        PAIRS,
    )),
    pairs(cmd(
        "msetnx",
        -3,
        WRITE_DENYOOM,
        "string",
        "1.0.1",
        "Sets the counters of several keys to integers only if none of the keys exists.",
        PAIRS,
    )),
    cmd(
        "ringkv.incrby",
        4,
        WRITE_FAST,
        "string",
        "7.0.0",
        "Increments the counter of a key by a number once per token (a repeated token within the \
         dedup window adds nothing); returns the counter's value.",
        &[
            arg("key", "key", &[]),
            arg("increment", "integer", &[]),
            arg("token", "string", &[]),
        ],
    ),
];

/// `spec` with keys at every other word from the first (`MSET key value [key value ...]`).
const fn pairs(spec: Spec) -> Spec {
    Spec {
        keys: (1, -1, 2),
        ..spec
    }
}
