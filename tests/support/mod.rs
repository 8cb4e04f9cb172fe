//! Helpers the integration tests share: spawned processes, RESP and HTTP clients, namespaces,
//! the history checker.

pub mod checker;
pub mod http;
pub mod netns;
pub mod piped;
pub mod procs;
pub mod resp_server;
pub mod serve;
pub mod spawned;
