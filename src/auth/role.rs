//! Roles and command classes: what a user may run, as bitmasks checked once per request with one
//! `&` (the mask is computed when the user authenticates, never looked up per request).

use serde::{Deserialize, Serialize};

/// Reads: `get`, `status`, `ring`, GET/MGET/EXISTS/KEYS/SCAN/DBSIZE/INFO, and the connection's
/// own commands (PING, HELLO, CLIENT...).
pub const READ: u8 = 1;
/// Changes to counters: updates, deletes, sets.
pub const WRITE: u8 = 2;
/// Changes to the cluster: add/remove/kill/pause node, FLUSHALL/FLUSHDB (node-to-node calls are
/// [`NODE`]).
pub const ADMIN: u8 = 4;
/// Every class: what a connection may run when no password is configured.
pub const ALL: u8 = READ | WRITE | ADMIN;
/// Node-to-node calls (`NodeCall`, `Join`, `PushLayout`): with a cluster secret only a peer that
/// proved it may run them; without one, the admin role (or anyone, when there is no password).
/// Never part of a role's mask.
pub const NODE: u8 = 8;
/// No class: a connection that must authenticate first.
pub const NONE: u8 = 0;

/// What a user may do. Each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    /// Reads only. Tag 0.
    Read,
    /// Reads and changes to counters. Tag 1.
    Write,
    /// Everything, changes to the cluster included. Tag 2.
    Admin,
}

impl Role {
    /// The command classes this role may run.
    pub const fn mask(self) -> u8 {
        match self {
            Role::Read => READ,
            Role::Write => READ | WRITE,
            Role::Admin => ALL,
        }
    }

    /// Its name in a users file: `read`, `write`, `admin`.
    pub const fn name(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        }
    }

    /// The role named `name` (`read`, `write`, `admin`, any case).
    pub fn parse(name: &str) -> Option<Role> {
        match name.to_ascii_lowercase().as_str() {
            "read" => Some(Role::Read),
            "write" => Some(Role::Write),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Redis commands that change the whole data set or the server, whatever their flags say.
const ADMIN_COMMANDS: &[&str] = &[
    "flushall",
    "flushdb",
    "shutdown",
    "debug",
    "config|set",
    "config|resetstat",
    "config|rewrite",
    "client|kill",
    "client|pause",
    "failover",
    "replicaof",
    "slaveof",
    "save",
    "bgsave",
    "bgrewriteaof",
];

/// The class of a RESP command from its name (`parent|sub` for a subcommand) and Redis's flags:
/// [`ADMIN`] for the commands above and any flagged `admin` or `dangerous`, [`WRITE`] for those
/// flagged `write`, [`READ`] for the rest.
pub fn command_class(name: &str, flags: &[&str]) -> u8 {
    if ADMIN_COMMANDS.contains(&name) || flags.iter().any(|f| *f == "admin" || *f == "dangerous") {
        ADMIN
    } else if flags.contains(&"write") {
        WRITE
    } else {
        READ
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_includes_the_ones_before_it() {
        assert_eq!(Role::Read.mask() & WRITE, 0);
        assert_eq!(Role::Write.mask() & ADMIN, 0);
        assert_ne!(Role::Write.mask() & READ, 0);
        assert_eq!(Role::Admin.mask(), ALL);
        for role in [Role::Read, Role::Write, Role::Admin] {
            assert_eq!(Role::parse(role.name()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn commands_are_classed_by_name_then_flags() {
        assert_eq!(command_class("flushall", &["write"]), ADMIN);
        assert_eq!(command_class("incr", &["write", "fast"]), WRITE);
        assert_eq!(command_class("get", &["readonly", "fast"]), READ);
        assert_eq!(command_class("config|set", &[]), ADMIN);
        assert_eq!(command_class("ping", &["fast"]), READ);
    }
}
