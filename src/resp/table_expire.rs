//! The command table, continued: the expiry commands (`EXPIRE` and its family, `TTL`, `PTTL`,
//! `EXPIRETIME`, `PEXPIRETIME`, `PERSIST`, `GETEX`, `SETEX`, `PSETEX`), in the shapes of `table`.

use super::table::{arg, cmd, Arg, Spec};

const KEY: &[Arg] = &[arg("key", "key", &[])];
const WRITE_FAST: &[&str] = &["write", "fast"];
const READ_FAST: &[&str] = &["readonly", "fast"];
const WRITE_DENYOOM: &[&str] = &["write", "denyoom"];
const EXPIRE_SECONDS: &[Arg] = &[
    arg("key", "key", &[]),
    arg("seconds", "integer", &[]),
    arg("condition", "oneof", &["optional"]),
];
const EXPIRE_MS: &[Arg] = &[
    arg("key", "key", &[]),
    arg("milliseconds", "integer", &[]),
    arg("condition", "oneof", &["optional"]),
];
const EXPIRE_AT: &[Arg] = &[
    arg("key", "key", &[]),
    arg("unix-time-seconds", "unix-time", &[]),
    arg("condition", "oneof", &["optional"]),
];
const EXPIRE_AT_MS: &[Arg] = &[
    arg("key", "key", &[]),
    arg("unix-time-milliseconds", "unix-time", &[]),
    arg("condition", "oneof", &["optional"]),
];

/// The commands of this part of the table.
pub const COMMANDS: &[Spec] = &[
    cmd(
        "expire",
        -3,
        WRITE_FAST,
        "generic",
        "1.0.0",
        "Sets the time to live of a key's counter in seconds (NX, XX, GT, LT).",
        EXPIRE_SECONDS,
    ),
    cmd(
        "pexpire",
        -3,
        WRITE_FAST,
        "generic",
        "2.6.0",
        "Sets the time to live of a key's counter in milliseconds (NX, XX, GT, LT).",
        EXPIRE_MS,
    ),
    cmd(
        "expireat",
        -3,
        WRITE_FAST,
        "generic",
        "1.2.0",
        "Sets the expiry of a key's counter to a Unix time in seconds (NX, XX, GT, LT).",
        EXPIRE_AT,
    ),
    cmd(
        "pexpireat",
        -3,
        WRITE_FAST,
        "generic",
        "2.6.0",
        "Sets the expiry of a key's counter to a Unix time in milliseconds (NX, XX, GT, LT).",
        EXPIRE_AT_MS,
    ),
    cmd(
        "ttl",
        2,
        READ_FAST,
        "generic",
        "1.0.0",
        "Returns the time to live of a key's counter in seconds.",
        KEY,
    ),
    cmd(
        "pttl",
        2,
        READ_FAST,
        "generic",
        "2.6.0",
        "Returns the time to live of a key's counter in milliseconds.",
        KEY,
    ),
    cmd(
        "expiretime",
        2,
        READ_FAST,
        "generic",
        "7.0.0",
        "Returns the expiry of a key's counter as a Unix time in seconds.",
        KEY,
    ),
    cmd(
        "pexpiretime",
        2,
        READ_FAST,
        "generic",
        "7.0.0",
        "Returns the expiry of a key's counter as a Unix time in milliseconds.",
        KEY,
    ),
    cmd(
        "persist",
        2,
        WRITE_FAST,
        "generic",
        "2.2.0",
        "Removes the expiry of a key's counter.",
        KEY,
    ),
    cmd(
        "getex",
        -2,
        WRITE_FAST,
        "string",
        "6.2.0",
        "Returns the counter of a key after changing its expiry (EX, PX, EXAT, PXAT, PERSIST).",
        &[
            arg("key", "key", &[]),
            arg("expiration", "oneof", &["optional"]),
        ],
    ),
    cmd(
        "setex",
        4,
        WRITE_DENYOOM,
        "string",
        "2.0.0",
        "Sets the counter of a key to an integer with a time to live in seconds.",
        &[
            arg("key", "key", &[]),
            arg("seconds", "integer", &[]),
            arg("value", "integer", &[]),
        ],
    ),
    cmd(
        "psetex",
        4,
        WRITE_DENYOOM,
        "string",
        "2.6.0",
        "Sets the counter of a key to an integer with a time to live in milliseconds.",
        &[
            arg("key", "key", &[]),
            arg("milliseconds", "integer", &[]),
            arg("value", "integer", &[]),
        ],
    ),
];
