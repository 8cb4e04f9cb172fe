//! The users file (`--users-file`) and the requirepass file (`--requirepass-file`).
//!
//! A users file holds one user a line, three words separated by spaces or tabs:
//!
//! ```text
//! # name   role   argon2 hash (from `ringkv passwd`)
//! alice    admin  $argon2id$v=19$m=19456,t=2,p=1$...$...
//! grafana  read   $argon2id$v=19$m=19456,t=2,p=1$...$...
//! ```
//!
//! Blank lines and lines starting with `#` are skipped. A name is 1 to 64 of `A-Z a-z 0-9 _ . -`
//! (and `@`); the role is `read`, `write` or `admin`; the hash is a PHC string, never the clear
//! password. A requirepass file holds the `default` user's clear password on its first line (as
//! Redis's `requirepass`); that user may do everything.

use std::collections::HashMap;
use std::path::Path;

use super::role::Role;
use super::secret::{self, Plain};
use crate::error::{Error, Result};

/// The user `AUTH password` (one argument) authenticates as.
pub const DEFAULT_USER: &str = "default";

/// The longest user name accepted.
pub const MAX_NAME_LEN: usize = 64;

/// How a user proves who it is.
#[derive(Clone)]
pub enum Proof {
    /// A clear password compared in constant time (`--requirepass-file`).
    Plain(Plain),
    /// An argon2 hash (a users file).
    Hash(String),
}

/// One user: its role and how it proves who it is.
#[derive(Clone)]
pub struct User {
    /// What it may do.
    pub role: Role,
    /// Its password or password hash.
    pub proof: Proof,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a password or a hash.
        f.debug_struct("User").field("role", &self.role).finish()
    }
}

/// Whether `name` may name a user.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-@".contains(&b))
}

/// Parses a users file's text; errors name the line.
///
/// # Errors
/// [`Error::BadRequest`] for a line that is not `name role hash`, an unknown role, a hash that is
/// not argon2, or a name given twice.
pub fn parse_users(text: &str) -> Result<HashMap<String, User>> {
    let mut users = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |what: String| Error::BadRequest(format!("line {}: {what}", n + 1));
        let words: Vec<&str> = line.split_whitespace().collect();
        let [name, role, hash] = words[..] else {
            return Err(bad("expected three words: name role hash".into()));
        };
        if !valid_name(name) {
            return Err(bad(format!(
                "'{name}' is not a user name (1 to {MAX_NAME_LEN} of A-Z a-z 0-9 _ . - @)"
            )));
        }
        let role = Role::parse(role)
            .ok_or_else(|| bad(format!("'{role}' is not a role (read, write or admin)")))?;
        secret::check_hash(hash).map_err(|e| bad(e.to_string()))?;
        let user = User {
            role,
            proof: Proof::Hash(hash.to_owned()),
        };
        if users.insert(name.to_owned(), user).is_some() {
            return Err(bad(format!("user '{name}' is given twice")));
        }
    }
    Ok(users)
}

/// Reads a users file.
///
/// # Errors
/// [`Error::BadRequest`] naming the file when it cannot be read or parsed.
pub fn read_users(path: &Path) -> Result<HashMap<String, User>> {
    let text = read(path)?;
    parse_users(&text).map_err(|e| Error::BadRequest(format!("{}: {e}", path.display())))
}

/// Reads the password on the first line of `path` (the line end is not part of it).
///
/// # Errors
/// [`Error::BadRequest`] when the file cannot be read or its first line is empty.
pub fn read_password(path: &Path) -> Result<String> {
    let text = read(path)?;
    let first = text.lines().next().unwrap_or("");
    if first.is_empty() {
        return Err(Error::BadRequest(format!(
            "{}: the first line (the password) is empty",
            path.display()
        )));
    }
    Ok(first.to_owned())
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| Error::BadRequest(format!("cannot read {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_users_file_is_parsed_and_checked() {
        let hash = secret::hash(b"pw").expect("hash");
        let text = format!("# comment\n\nalice admin {hash}\n bob\tread  {hash} \n");
        let users = parse_users(&text).expect("valid");
        assert_eq!(users.len(), 2);
        assert_eq!(users["alice"].role, Role::Admin);
        assert_eq!(users["bob"].role, Role::Read);
        assert!(format!("{:?}", users["bob"]).find("argon2").is_none());

        let twice = format!("alice read {hash}\nalice write {hash}\n");
        let e = parse_users(&twice).expect_err("twice");
        assert!(e.to_string().contains("line 2"), "{e}");
        for bad in [
            format!("alice root {hash}"),
            "alice read hunter2".to_owned(),
            format!("al ice read {hash}"),
            format!("al/ice read {hash}"),
        ] {
            assert!(parse_users(&bad).is_err(), "{bad}");
        }
    }
}
