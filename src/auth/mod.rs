//! Who may do what: users and roles, login checks, and the command classes each role may run.
//!
//! Plain data and checks, no actors and no sockets: the RESP connection and the framed session
//! hold an [`Access`] and a bitmask of the classes their user may run ([`Role::mask`]), and test
//! each request with one `&` against its class ([`command_class`] for RESP; the framed session
//! classes its requests in `actors::gate`).
//!
//! - `role` — [`Role`] (`read`, `write`, `admin`) and the classes [`READ`], [`WRITE`], [`ADMIN`],
//!   [`NODE`].
//! - `secret` — argon2id hashes ([`hash_password`]) and constant-time compares.
//! - `users` — the users file and the requirepass file.
//! - `limiter` — failed logins per source address and per connection.
//! - `access` — [`Access`]: the users of a server, and the check of one login ([`Verdict`]).
//! - [`cluster_secret`] — the node-to-node challenge–response and the membership datagrams' HMAC.

mod access;
pub mod cluster_secret;
mod limiter;
mod role;
mod secret;
mod users;

pub use secret_text::Password;
mod secret_text;

pub use access::{Access, Verdict};
pub use role::{command_class, Role, ADMIN, ALL, NODE, NONE, READ, WRITE};
pub use secret::hash as hash_password;
pub use users::{parse_users, read_password, read_users, valid_name, User, DEFAULT_USER};
