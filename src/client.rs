//! `Client`: an async client for ringkv's framed protocol, with pipelining.
//!
//! Each request gets a fresh id; [`Client::pipeline`] writes a whole batch while it reads the
//! answers (so a long batch cannot deadlock against the server's bounded queues) and matches them
//! by id. Errors are typed: [`Error::Io`] (connection refused, reset or closed), [`Error::Timeout`],
//! [`Error::Protocol`] (the peer is not speaking ringkv's protocol, or says we are not), and the
//! server's own answers ([`Error::BadRequest`], [`Error::Overflow`], [`Error::Unavailable`],
//! [`Error::Uncertain`], [`Error::Server`]). After a connection-level failure the next call
//! reconnects first; reads (`get`, `status`, `ring`) that fail on a broken connection are retried
//! once on a new one; admin calls never are.
//!
//! # Updates are exactly once
//! [`Client::update`] sends every update with a fresh idempotency token (16 random bytes) and, when
//! its outcome is unknown — a timeout, a broken connection (a node killed or restarting), an answer
//! [`Error::Uncertain`] — sends it again with the *same* token, reconnecting as needed: the cluster
//! counts a token once, so the retries cannot count it twice (see `docs/COUNTERS.md`). It tries at
//! most [`UPDATE_ATTEMPTS`] times within [`UPDATE_RETRY_FOR`] (well inside the server's default
//! 60 s dedup window), waiting 50 ms, 100 ms, ... up to 1 s between attempts. A retry that is
//! refused ([`Error::Unavailable`]) is tried again too: the refusal is about that retry only, and
//! the attempt before it may have been applied. Only if every attempt
//! failed so does the call, with [`Error::Uncertain`] naming the token, which
//! [`Client::update_with_token`] may retry later within the window.
//!
//! On a server with passwords, [`Client::connect_with`] logs in with [`Credentials`] on every new
//! connection (reconnects included) before anything else.
//!
//! ```no_run
//! # async fn demo() -> ringkv::Result<()> {
//! let mut client = ringkv::Client::connect("127.0.0.1:5001").await?;
//! client.update("page-views", 1).await?;
//! println!("{}", client.get("page-views").await?);
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::time::Duration;

use futures_util::stream::SplitStream;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

use crate::auth::{Password, Role};
use crate::error::{Error, Result};
use crate::expire::{ExpireOp, Ttl};
use crate::protocol::{Frame, FrameCodec, FrameError, Request, Response, RingReport, StatusReport};
use crate::tls::{Io, TlsClient};

type Conn = Framed<Box<dyn Io>, FrameCodec>;

/// How many times [`Client::update`] sends an update whose outcome stays unknown.
pub const UPDATE_ATTEMPTS: u32 = 10;

/// How long [`Client::update`] keeps retrying an update whose outcome is unknown.
pub const UPDATE_RETRY_FOR: Duration = Duration::from_secs(20);

/// The largest response a client accepts, in bytes (a `status` of a big cluster is large).
pub const MAX_RESPONSE_LEN: usize = 1 << 30;

/// A connection to one ringkv node.
pub struct Client {
    addr: String,
    framed: Conn,
    next_id: u64,
    timeout: Duration,
    /// Set after a connection-level failure: the next call reconnects first.
    broken: bool,
    /// Who to log in as on each new connection.
    credentials: Option<Credentials>,
    /// TLS for each new connection, if the server speaks it.
    tls: Option<TlsClient>,
}

/// A user name and password to log in with (`default` for a `--requirepass-file` password).
/// `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user's name.
    pub user: String,
    password: Password,
}

impl Credentials {
    /// Credentials for `user` with `password`.
    pub fn new(user: &str, password: &str) -> Credentials {
        Credentials {
            user: user.to_owned(),
            password: Password::from(password),
        }
    }

    /// The `Auth` request that presents them.
    pub fn auth_request(&self) -> Request {
        Request::Auth {
            user: self.user.clone(),
            password: self.password.clone(),
        }
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &self.password)
            .finish()
    }
}

impl Client {
    /// Connects to `addr` (`HOST:PORT`) with a 5-second connect and request timeout.
    ///
    /// # Errors
    /// [`Error::Io`] if the connection is refused, [`Error::Timeout`] if it takes too long.
    pub async fn connect(addr: &str) -> Result<Client> {
        Client::connect_timeout(addr, Duration::from_secs(5)).await
    }

    /// Connects to `addr`; `timeout` bounds the connect and every later request.
    ///
    /// # Errors
    /// [`Error::Io`] if the connection is refused, [`Error::Timeout`] if it takes too long.
    pub async fn connect_timeout(addr: &str, timeout: Duration) -> Result<Client> {
        Client::connect_with(addr, timeout, None).await
    }

    /// Connects to `addr` and, with `credentials`, logs in (again on every reconnect); `timeout`
    /// bounds the connect, the login and every later request.
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::Timeout`] as for [`Client::connect_timeout`];
    /// [`Error::WrongPass`] if the server refuses the credentials.
    pub async fn connect_with(
        addr: &str,
        timeout: Duration,
        credentials: Option<Credentials>,
    ) -> Result<Client> {
        Client::connect_tls(addr, timeout, credentials, None).await
    }

    /// Like [`Client::connect_with`], over TLS when `tls` is given (on every reconnect too).
    ///
    /// # Errors
    /// As [`Client::connect_with`]; [`Error::Io`] when the TLS handshake fails.
    pub async fn connect_tls(
        addr: &str,
        timeout: Duration,
        credentials: Option<Credentials>,
        tls: Option<TlsClient>,
    ) -> Result<Client> {
        let framed = open(addr, timeout, tls.as_ref()).await?;
        let mut client = Client {
            addr: addr.to_owned(),
            framed,
            next_id: 1,
            timeout,
            broken: false,
            credentials,
            tls,
        };
        client.log_in().await?;
        Ok(client)
    }

    /// Presents the credentials, if any, on the current connection.
    async fn log_in(&mut self) -> Result<Option<Role>> {
        let Some(credentials) = &self.credentials else {
            return Ok(None);
        };
        let request = credentials.auth_request();
        let id = self.next_id;
        self.next_id += 1;
        let work = exchange(&mut self.framed, id, std::slice::from_ref(&request));
        let answered = tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| Error::Timeout(format!("no answer to Auth from {}", self.addr)))??;
        match answered.into_iter().next() {
            Some(Response::Authed { role, .. }) => Ok(Some(role)),
            Some(Response::Error(reply)) => Err(Error::from(reply)),
            Some(other) => Err(unexpected(other)),
            None => Err(Error::Protocol("no answer to Auth".into())),
        }
    }

    /// Logs in as `credentials` on this connection and on every later reconnect; returns the
    /// user's role.
    ///
    /// # Errors
    /// [`Error::WrongPass`] if the server refuses them; connection failures.
    pub async fn auth(&mut self, credentials: Credentials) -> Result<Role> {
        self.credentials = Some(credentials);
        match self.log_in().await {
            Ok(role) => Ok(role.unwrap_or(Role::Admin)),
            Err(e) => {
                self.broken |= matches!(e, Error::Io(_) | Error::Timeout(_));
                Err(e)
            }
        }
    }

    /// Drops the current connection and opens a new one to the same address.
    ///
    /// # Errors
    /// [`Error::Io`] if the connection is refused, [`Error::Timeout`] if it takes too long.
    pub async fn reconnect(&mut self) -> Result<()> {
        self.framed = open(&self.addr, self.timeout, self.tls.as_ref()).await?;
        self.broken = false;
        if let Err(e) = self.log_in().await {
            self.broken = true;
            return Err(e);
        }
        Ok(())
    }

    /// The address this client talks to.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Sends one request and returns the server's answer, [`Response::Error`] included.
    ///
    /// # Errors
    /// Connection, timeout or protocol failures.
    pub async fn request(&mut self, request: &Request) -> Result<Response> {
        let mut answers = self.pipeline(std::slice::from_ref(request)).await?;
        answers
            .pop()
            .ok_or_else(|| Error::Protocol("no answer".into()))
    }

    /// Sends every request without waiting for answers, reading answers as they come; returns them
    /// in request order. Per-request failures are [`Response::Error`] entries.
    ///
    /// # Errors
    /// Connection, timeout or protocol failures; the connection is then reopened on the next call.
    pub async fn pipeline(&mut self, requests: &[Request]) -> Result<Vec<Response>> {
        if self.broken {
            self.reconnect().await?;
        }
        let first = self.next_id;
        self.next_id += requests.len() as u64;
        let timeout = self.timeout;
        let work = exchange(&mut self.framed, first, requests);
        let result = match tokio::time::timeout(timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(Error::Timeout(format!(
                "no answer from {} within {timeout:?}",
                self.addr
            ))),
        };
        self.broken = result.is_err();
        result
    }

    /// Like [`Client::request`], but a server error becomes `Err`.
    async fn call(&mut self, request: Request) -> Result<Response> {
        match self.request(&request).await? {
            Response::Error(reply) => Err(Error::from(reply)),
            other => Ok(other),
        }
    }

    /// Like [`Client::call`] for a read: a broken connection is reopened and the read sent again.
    async fn call_read(&mut self, request: Request) -> Result<Response> {
        match self.call(request.clone()).await {
            Err(Error::Io(e)) => {
                tracing::debug!("retrying a read on a new connection after: {e}");
                self.call(request).await
            }
            other => other,
        }
    }

    /// Adds `amount` (negative: takes it away) to `key` exactly once; returns the new value. The
    /// update carries a fresh token and is retried while its outcome is unknown (see the module
    /// docs).
    ///
    /// # Errors
    /// Server errors that say the update was not applied (overflow, bad key); after
    /// [`UPDATE_ATTEMPTS`] attempts or [`UPDATE_RETRY_FOR`], [`Error::Uncertain`] with the token.
    pub async fn update(&mut self, key: &str, amount: i64) -> Result<i64> {
        let token = format!("{:032x}", rand::random::<u128>());
        self.update_with_token(key, amount, token.as_bytes()).await
    }

    /// Adds `amount` to `key` once per `token` (1 to 256 bytes, unique per update), retrying while
    /// the outcome is unknown as [`Client::update`] does. A token already counted within the
    /// server's dedup window adds nothing and answers the current value.
    ///
    /// # Errors
    /// As [`Client::update`].
    pub async fn update_with_token(&mut self, key: &str, amount: i64, token: &[u8]) -> Result<i64> {
        let request = Request::UpdateToken {
            key: key.to_owned(),
            amount,
            token: token.to_vec(),
        };
        let started = std::time::Instant::now();
        let mut pause = Duration::from_millis(50);
        let mut attempt = 1;
        loop {
            match self.call(request.clone()).await {
                Ok(Response::Updated { value, .. }) => return Ok(value),
                Ok(other) => return Err(unexpected(other)),
                // A refusal says this attempt was not applied; after an attempt whose outcome
                // was unknown it says nothing of that one, which may have been: keep retrying.
                Err(e) if attempt == 1 && !outcome_unknown(&e) => return Err(e),
                Err(e) if attempt >= UPDATE_ATTEMPTS || started.elapsed() >= UPDATE_RETRY_FOR => {
                    return Err(Error::Uncertain(format!(
                        "update of {key} with token {} still unknown after {attempt} attempts                          ({e}); retry it with the same token within the dedup window",
                        String::from_utf8_lossy(token)
                    )));
                }
                Err(e) => tracing::debug!("retrying an update with the same token after: {e}"),
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(1));
            attempt += 1;
        }
    }

    /// Deletes `key` (an observed reset: an update concurrent with it is kept, see
    /// `docs/COUNTERS.md`); returns its value before, `None` if it did not exist.
    ///
    /// # Errors
    /// Server errors (bad key, unavailable, outcome unknown) and connection failures.
    pub async fn delete(&mut self, key: &str) -> Result<Option<i64>> {
        let request = Request::Delete {
            key: key.to_owned(),
        };
        match self.call(request).await? {
            Response::Deleted { old, .. } => Ok(old),
            other => Err(unexpected(other)),
        }
    }

    /// Sets `key` to `value` (a reset, then an increment: an update concurrent with it adds to
    /// `value`); returns its value before, `None` if it did not exist.
    ///
    /// # Errors
    /// Server errors (bad key, unavailable, outcome unknown) and connection failures.
    pub async fn set(&mut self, key: &str, value: i64) -> Result<Option<i64>> {
        let request = Request::Set {
            key: key.to_owned(),
            value,
        };
        match self.call(request).await? {
            Response::Replaced { old, .. } => Ok(old),
            other => Err(unexpected(other)),
        }
    }

    /// Gives `key` a deadline `ttl` from now (Redis's `EXPIRE`; a zero `ttl` deletes it);
    /// returns whether the key existed. Deadlines are wall-clock, see `docs/COUNTERS.md`.
    ///
    /// # Errors
    /// Server errors (bad key, unavailable, outcome unknown) and connection failures.
    pub async fn expire(&mut self, key: &str, ttl: Duration) -> Result<bool> {
        Ok(self.expire_op(key, ExpireOp::after(ttl)).await? == 1)
    }

    /// Removes `key`'s deadline (Redis's `PERSIST`); returns whether it had one.
    ///
    /// # Errors
    /// Server errors (bad key, unavailable, outcome unknown) and connection failures.
    pub async fn persist(&mut self, key: &str) -> Result<bool> {
        Ok(self.expire_op(key, ExpireOp::Persist).await? == 1)
    }

    /// `key`'s time to live (Redis's `TTL`): missing, persistent, or the time left.
    ///
    /// # Errors
    /// Server errors (bad key, unavailable, outcome unknown) and connection failures.
    pub async fn ttl(&mut self, key: &str) -> Result<Ttl> {
        let answer = self.expire_op(key, ExpireOp::Deadline).await?;
        Ok(Ttl::of(answer, crate::counter::now_ms()))
    }

    /// Runs one expiry operation on `key` (any of [`ExpireOp`], `NX`/`XX`/`GT`/`LT` included);
    /// returns its answer as [`Response::Expiry`] documents it.
    ///
    /// # Errors
    /// Server errors (bad key, unavailable, outcome unknown) and connection failures.
    pub async fn expire_op(&mut self, key: &str, op: ExpireOp) -> Result<i64> {
        let request = Request::Expire {
            key: key.to_owned(),
            op,
        };
        match self.call(request).await? {
            Response::Expiry { answer, .. } => Ok(answer),
            other => Err(unexpected(other)),
        }
    }

    /// The value of `key`. A broken connection is reopened once, since a read is safe to repeat.
    ///
    /// # Errors
    /// Server errors and connection failures.
    pub async fn get(&mut self, key: &str) -> Result<i64> {
        let request = Request::Get {
            key: key.to_owned(),
        };
        match self.call_read(request).await? {
            Response::Count { value, .. } => Ok(value),
            other => Err(unexpected(other)),
        }
    }

    /// Every node and its counters.
    ///
    /// # Errors
    /// Server errors and connection failures.
    pub async fn status(&mut self) -> Result<StatusReport> {
        match self.call_read(Request::Status).await? {
            Response::Status(report) => Ok(report),
            other => Err(unexpected(other)),
        }
    }

    /// Each node's share of the ring.
    ///
    /// # Errors
    /// Server errors and connection failures.
    pub async fn ring(&mut self) -> Result<RingReport> {
        match self.call_read(Request::Ring).await? {
            Response::Ring(report) => Ok(report),
            other => Err(unexpected(other)),
        }
    }

    /// Adds a node (on `port`, or any free port); returns its port and how many keys moved to it.
    ///
    /// # Errors
    /// Server errors (port in use) and connection failures.
    pub async fn add_node(&mut self, port: Option<u16>) -> Result<(u16, u64)> {
        match self.call(Request::AddNode { port }).await? {
            Response::NodeAdded { port, keys_moved } => Ok((port, keys_moved)),
            other => Err(unexpected(other)),
        }
    }

    /// Removes the node on `port` after handoff; returns how many keys moved.
    ///
    /// # Errors
    /// Server errors (no such node) and connection failures.
    pub async fn remove_node(&mut self, port: u16) -> Result<u64> {
        match self.call(Request::RemoveNode { port }).await? {
            Response::NodeRemoved { keys_moved, .. } => Ok(keys_moved),
            other => Err(unexpected(other)),
        }
    }

    /// Removes the node on `port` even when fewer nodes than R remain (`remove-node PORT --force`).
    ///
    /// # Errors
    /// Server errors (no such node, the last node) and connection failures.
    pub async fn remove_node_force(&mut self, port: u16) -> Result<u64> {
        match self.call(Request::RemoveNodeForce { port }).await? {
            Response::NodeRemoved { keys_moved, .. } => Ok(keys_moved),
            other => Err(unexpected(other)),
        }
    }

    /// Crashes the node on `port`; returns how many keys were lost.
    ///
    /// # Errors
    /// Server errors (no such node) and connection failures.
    pub async fn kill_node(&mut self, port: u16) -> Result<u64> {
        match self.call(Request::KillNode { port }).await? {
            Response::NodeKilled { keys_lost, .. } => Ok(keys_lost),
            other => Err(unexpected(other)),
        }
    }

    /// Makes the node on `port` stop answering for `pause` (like SIGSTOP), to test failure handling.
    ///
    /// # Errors
    /// Server errors (no such node) and connection failures.
    pub async fn pause_node(&mut self, port: u16, pause: Duration) -> Result<()> {
        let millis = u64::try_from(pause.as_millis()).unwrap_or(u64::MAX);
        match self.call(Request::PauseNode { port, millis }).await? {
            Response::NodePaused { .. } => Ok(()),
            other => Err(unexpected(other)),
        }
    }
}

async fn open(addr: &str, timeout: Duration, tls: Option<&TlsClient>) -> Result<Conn> {
    let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| Error::Timeout(format!("connecting to {addr} took over {timeout:?}")))?
        .map_err(|e| Error::Io(format!("cannot connect to {addr}: {e}")))?;
    stream.set_nodelay(true)?;
    let stream: Box<dyn Io> = match tls {
        None => Box::new(stream),
        Some(tls) => tokio::time::timeout(timeout, tls.connect(addr, stream))
            .await
            .map_err(|_| {
                Error::Timeout(format!(
                    "the TLS handshake with {addr} took over {timeout:?}"
                ))
            })??,
    };
    Ok(Framed::new(stream, FrameCodec::new(MAX_RESPONSE_LEN)))
}

/// Writes the requests (ids from `first` on) while reading their answers; answers in id order.
async fn exchange(framed: &mut Conn, first: u64, requests: &[Request]) -> Result<Vec<Response>> {
    let (mut sink, mut stream) = framed.split();
    let send = async move {
        for (id, request) in (first..).zip(requests) {
            sink.feed(Frame::encode(id, request)?).await.map_err(io)?;
        }
        sink.flush().await.map_err(io)
    };
    let ((), answers) = futures_util::try_join!(send, collect(&mut stream, first, requests.len()))?;
    Ok(answers)
}

/// Reads answers until every id in `first..first + count` has one; returns them in id order.
/// Answers to other ids (left over from an abandoned batch) are skipped.
async fn collect(
    stream: &mut SplitStream<&mut Conn>,
    first: u64,
    count: usize,
) -> Result<Vec<Response>> {
    let mut answers: HashMap<u64, Response> = HashMap::with_capacity(count);
    while answers.len() < count {
        let frame = match stream.next().await {
            Some(Ok(frame)) => frame,
            Some(Err(FrameError::Io(e))) => return Err(Error::Io(e.to_string())),
            Some(Err(e)) => return Err(Error::Protocol(e.to_string())),
            None => return Err(Error::Io("the server closed the connection".into())),
        };
        let response: Response = frame.decode()?;
        if frame.id == 0 {
            // A connection-level error: the server closes after it.
            return Err(match response {
                Response::Error(reply) => Error::from(reply),
                other => unexpected(other),
            });
        }
        if frame.id >= first && frame.id < first + count as u64 {
            answers.insert(frame.id, response);
        }
    }
    (first..first + count as u64)
        .map(|id| {
            answers
                .remove(&id)
                .ok_or_else(|| Error::Protocol("missing answer".into()))
        })
        .collect()
}

fn io(e: FrameError) -> Error {
    Error::Io(e.to_string())
}

/// Whether `e` leaves an update's outcome unknown: then a tokened update is sent again. Every
/// other error says it was not applied (`Unavailable`: too few replicas or connections, checked
/// before anything was written).
fn outcome_unknown(e: &Error) -> bool {
    matches!(
        e,
        Error::Uncertain(_) | Error::Timeout(_) | Error::Io(_) | Error::Shutdown
    )
}

fn unexpected(response: Response) -> Error {
    Error::Protocol(format!("unexpected answer: {response:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A framed server on a free port that answers its requests with `script`, in order.
    async fn scripted(script: Vec<Response>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let mut framed = tokio_util::codec::Framed::new(socket, FrameCodec::default());
            for answer in script {
                let Some(Ok(frame)) = framed.next().await else {
                    return;
                };
                let reply = Frame::encode(frame.id, &answer).unwrap();
                framed.send(reply).await.unwrap();
            }
        });
        addr
    }

    #[tokio::test]
    async fn a_refused_retry_after_an_unknown_attempt_is_not_taken_as_not_applied() {
        let script = vec![
            Response::from(Error::Uncertain("lost the link".into())),
            Response::from(Error::Unavailable("too few replicas".into())),
            Response::Updated {
                key: "k".into(),
                value: 5,
            },
        ];
        let mut client = Client::connect(&scripted(script).await).await.unwrap();
        let answer = client.update_with_token("k", 5, b"t1").await;
        assert_eq!(
            answer.unwrap(),
            5,
            "the first attempt may have counted: a refused retry must be retried, not reported"
        );
    }

    #[tokio::test]
    async fn a_refused_first_attempt_is_reported_at_once() {
        let script = vec![Response::from(Error::Unavailable(
            "too few replicas".into(),
        ))];
        let mut client = Client::connect(&scripted(script).await).await.unwrap();
        let answer = client.update_with_token("k", 5, b"t1").await;
        assert!(matches!(answer, Err(Error::Unavailable(_))), "{answer:?}");
    }
}
