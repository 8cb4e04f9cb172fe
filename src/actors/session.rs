//! One client connection: read frames, start their requests through the [`Gateway`], write answers
//! as they come.
//!
//! Requests are pipelined: up to `max_pending` are in flight at once and answered in completion
//! order, each tagged with the id its request carried. Every buffer is bounded, so a client that
//! sends without reading cannot grow the server's memory: answers wait in a small output buffer,
//! then in the pending queue, and once the queue is full the session stops reading until answers
//! drain; the client's own socket then fills up. Requests answered at once (the direct path) go
//! straight to the output buffer, and decoding pauses while it is full. When that happens because
//! the client does not read (the output buffer is full too), it is logged once per connection.
//!
//! Bytes are bounded as well as requests: each request is charged what it and its answer may hold
//! ([`budget::cost`]) against the connection's budget (`max_connection_bytes`) and the server's
//! ([`Budget`]) until its answer is written to the socket. A request that does not fit waits,
//! decoded, and the session reads nothing more until it fits.
//!
//! A broken stream (bad magic or version, a frame too long or too short, a frame that does not arrive
//! within `frame_timeout` of its first byte) is answered with one error frame of id 0, then the
//! connection is closed. A body that does not decode is answered under its own id and the connection
//! goes on, since the framing is intact.
//!
//! When the server has passwords, the connection's [`Gate`] answers every request before an
//! `Auth` with a `NoAuth` error, and a request above the user's role with `NoPerm`; while an
//! `Auth` is checked, nothing after it starts.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use bytes::BytesMut;
use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{sleep_until, timeout, Duration, Instant};
use tokio_util::codec::Decoder;
use tokio_util::sync::CancellationToken;

use super::budget::{self, take_when_free, Budget, Held, Ledger};
use super::gate::Gate;
use super::gateway::{yield_to_other_connections, Gateway, Order, Started};
use super::listener::ServerLimits;
use super::remote::hello::{self, Opened};
use super::remote::serve::NodeCalls;
use crate::auth::Verdict;
use crate::error::Error;
use crate::protocol::codec::{encode, write_frame, HEADER_LEN};
use crate::protocol::{ErrorCode, Frame, FrameCodec, Request, Response};
use crate::tls::{Reader, Writer};

type Pending = Pin<Box<dyn Future<Output = (u64, Response, Held)> + Send>>;
/// A login being checked: the `Auth` request's id and the verdict.
type Login = Pin<Box<dyn Future<Output = (u64, Verdict)> + Send>>;

/// A decoded request that waits for room in a budget.
struct Waiting {
    id: u64,
    request: Request,
    cost: usize,
}

/// Answers are taken from the pending queue only while the output buffer holds less than this.
const OUT_HIGH_WATER: usize = 64 * 1024;
/// The read buffer grows by at least this much before each read.
const READ_CHUNK: usize = 8 * 1024;
/// How long a closing connection gets to take its last answer before the socket is dropped.
const LINGER: Duration = Duration::from_secs(1);

/// Serves one connection until the client leaves, breaks the protocol, or the node stops.
pub async fn run(
    stream: TcpStream,
    gateway: Gateway,
    limits: ServerLimits,
    calls: NodeCalls,
    shutdown: CancellationToken,
) {
    let peer = stream.peer_addr().ok();
    let accepted = tokio::select! {
        _ = shutdown.cancelled() => return,
        accepted = hello::accept(stream, &limits, peer) => accepted,
    };
    let Some(Opened {
        read,
        write,
        input,
        peer: node,
    }) = accepted
    else {
        return;
    };
    let ledger = Ledger::new(gateway.budget().clone(), limits.max_connection_bytes);
    let mut gate = Gate::new(limits.access.clone(), limits.cluster_secret.is_some(), peer);
    if node {
        gate.peer();
    }
    let mut session = Session {
        codec: FrameCodec::new(limits.max_frame_len),
        gate,
        login: None,
        limits,
        gateway,
        calls,
        order: Order::new(),
        peer,
        read,
        write,
        input,
        out: BytesMut::new(),
        pending: FuturesUnordered::new(),
        ledger,
        waiting: None,
        reading: true,
        frame_started: None,
        warned_full: false,
        warned_invalid: false,
    };
    let end = tokio::select! {
        _ = shutdown.cancelled() => {
            // The node stops (removed, killed, shut down): answer what is already in flight, for
            // a moment, so that e.g. `remove-node` sent to the node itself gets its answer.
            let _ = timeout(LINGER, session.finish()).await;
            return;
        }
        end = session.serve() => end,
    };
    if let End::Fatal(error) = end {
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = session.close_with(error) => {}
        }
    }
}

/// Why [`Session::serve`] returned.
enum End {
    /// The client closed and every answer was written, or the socket failed.
    Done,
    /// The client broke the protocol: answer with this error under id 0, then close.
    Fatal(Error),
}

struct Session {
    codec: FrameCodec,
    /// Who this connection logged in as, and what it may run.
    gate: Gate,
    /// An `Auth` being checked: nothing more is started until it is settled.
    login: Option<Login>,
    limits: ServerLimits,
    gateway: Gateway,
    /// Node calls from a Router in another process, for this port's node.
    calls: NodeCalls,
    /// Keeps this connection's requests in order across the direct path and the Router.
    order: Order,
    peer: Option<SocketAddr>,
    read: Reader,
    write: Writer,
    /// Bytes read and not yet decoded: at most one partial frame plus one read.
    input: BytesMut,
    /// Encoded answers not yet written.
    out: BytesMut,
    pending: FuturesUnordered<Pending>,
    /// What this connection is charged against its budget and the server's.
    ledger: Ledger,
    /// A decoded request that did not fit in a budget yet.
    waiting: Option<Waiting>,
    /// False once the client closed its side.
    reading: bool,
    /// When the first byte of the frame now in `input` arrived (`None` if `input` is empty).
    frame_started: Option<Instant>,
    warned_full: bool,
    /// Whether an invalid request (bad body, bad key...) was logged for this connection.
    warned_invalid: bool,
}

impl Session {
    fn queue_full(&self) -> bool {
        self.pending.len() >= self.limits.max_pending
    }

    /// Whether the output buffer is full: answers wait and no more requests are started.
    fn out_full(&self) -> bool {
        self.out.len() >= OUT_HIGH_WATER
    }

    fn can_read(&self) -> bool {
        self.reading && !self.held_back()
    }

    /// Whether no request may start now: the queue or the output is full, or a request waits
    /// for a budget or a login.
    fn held_back(&self) -> bool {
        self.queue_full() || self.out_full() || self.waiting.is_some() || self.login.is_some()
    }

    /// The server's budget for the waiting request, once it fits the connection's.
    fn charge_waiting(&self) -> Option<(usize, Budget)> {
        self.ledger.wait_for(self.waiting.as_ref()?.cost)
    }

    /// The main loop: decode, start requests, write answers, read more, watch the frame deadline.
    async fn serve(&mut self) -> End {
        loop {
            match self.decode_ready() {
                Err(e) => return End::Fatal(e),
                Ok(decoded) if decoded > 1 => yield_to_other_connections().await,
                Ok(_) => {}
            }
            let idle = self.pending.is_empty() && self.login.is_none();
            if !self.reading && idle && self.out.is_empty() {
                return End::Done;
            }
            let take_answers = !self.pending.is_empty() && self.out.len() < OUT_HIGH_WATER;
            let deadline = self.frame_started.map(|t| t + self.limits.frame_timeout);
            let far = Instant::now() + Duration::from_secs(86_400);
            if self.input.capacity() - self.input.len() < READ_CHUNK {
                self.input.reserve(READ_CHUNK);
            }
            let waiting = self.charge_waiting();
            tokio::select! {
                Some((id, response, held)) = self.pending.next(), if take_answers => {
                    self.queue_answer(id, &response, Some(held));
                }
                taken = take_when_free(waiting.clone()), if waiting.is_some() => {
                    self.start_waiting(taken);
                }
                Some((id, verdict)) = settled(&mut self.login), if self.login.is_some() => {
                    self.login = None;
                    let answer = self.gate.settle(verdict);
                    self.queue_answer(id, &answer, None);
                }
                written = self.write.write_buf(&mut self.out), if !self.out.is_empty() => {
                    match written {
                        Ok(n) if n > 0 => self.ledger.wrote(n),
                        _ => return End::Done,
                    }
                }
                read = self.read.read_buf(&mut self.input), if self.can_read() => {
                    match read {
                        Ok(0) => self.client_closed(),
                        Ok(_) => {}
                        Err(_) => return End::Done,
                    }
                }
                _ = sleep_until(deadline.unwrap_or(far)), if self.can_read() && deadline.is_some() => {
                    let e = format!("timed out: a frame took over {:?} to arrive", self.limits.frame_timeout);
                    return End::Fatal(Error::Protocol(e));
                }
            }
        }
    }

    /// Starts the waiting request, now that the server's budget gave it `taken` bytes.
    fn start_waiting(&mut self, taken: usize) {
        if let Some(Waiting { id, request, cost }) = self.waiting.take() {
            let held = self.ledger.charge_taken(cost, taken);
            self.run(id, request, held);
        }
    }

    /// Starts every whole frame in `input` while the queue has room; tracks the frame deadline.
    /// Returns how many frames were decoded.
    fn decode_ready(&mut self) -> Result<usize, Error> {
        let mut decoded = 0;
        while !self.held_back() {
            match self.codec.decode(&mut self.input) {
                Ok(Some(frame)) => {
                    self.start(frame);
                    decoded += 1;
                }
                Ok(None) => break,
                Err(e) => return Err(Error::Protocol(e.to_string())),
            }
        }
        // A full queue alone is normal backpressure (a deep pipeline); with the output buffer full
        // as well, the client is not reading its answers: say so, once per connection.
        let stuck = self.out_full() && (self.queue_full() || !self.input.is_empty());
        if stuck && self.reading && !self.warned_full {
            tracing::warn!(
                peer = ?self.peer,
                limit = self.limits.max_pending,
                "per-connection queue full: the client is not reading its answers; reads paused"
            );
            self.warned_full = true;
        }
        // The deadline runs from the first byte of a frame, and not while we hold the client back.
        let held_back = self.held_back();
        self.frame_started = if self.input.is_empty() || held_back {
            None
        } else if decoded > 0 || self.frame_started.is_none() {
            Some(Instant::now())
        } else {
            self.frame_started
        };
        Ok(decoded)
    }

    /// Stops reading and writes the answers of the requests already started.
    async fn finish(&mut self) {
        self.reading = false;
        self.input.clear();
        self.frame_started = None;
        let _ = self.serve().await;
    }

    /// The client closed its side: answer what is pending, then finish.
    fn client_closed(&mut self) {
        self.reading = false;
        if !self.input.is_empty() {
            tracing::info!(
                peer = ?self.peer,
                bytes = self.input.len(),
                "connection closed in the middle of a frame; partial frame dropped"
            );
            self.input.clear();
        }
        self.frame_started = None;
    }

    /// Decodes one frame and starts its request, or keeps it waiting if it does not fit in a
    /// budget; a body that does not decode is answered at once under its id.
    fn start(&mut self, frame: Frame) {
        let id = frame.id;
        let request = match frame.decode::<Request>() {
            Ok(request) => request,
            Err(e) => return self.queue_answer(id, &Response::from(e), None),
        };
        if let Request::Auth { user, password } = request {
            let login = self.gate.login(user, password.0, self.peer.map(|p| p.ip()));
            self.login = Some(Box::pin(async move { (id, login.await) }));
            return;
        }
        if let Some(refusal) = self.gate.refuse(&request) {
            return self.queue_answer(id, &refusal, None);
        }
        let nodes = match request {
            Request::Status | Request::Ring => self.gateway.node_count(),
            _ => 1,
        };
        let cost = budget::cost(&request, frame.body.len() + HEADER_LEN, nodes);
        match self.ledger.try_charge(cost) {
            Some(held) => self.run(id, request, held),
            None => self.waiting = Some(Waiting { id, request, cost }),
        }
    }

    /// Starts `request`, charged `held` until its answer is written.
    fn run(&mut self, id: u64, request: Request, held: Held) {
        let started = match request {
            Request::NodeCall(op) => Started::Later(self.calls.answer(op)),
            request => self.gateway.start(request, &self.order),
        };
        match started {
            Started::Now(response) => self.queue_answer(id, &response, Some(held)),
            Started::Later(later) => self.pending.push(Box::pin(async move {
                let response = later.await;
                (id, response, held)
            })),
        }
    }

    /// Encodes one answer into the output buffer; its charge is kept until it is written. The
    /// first invalid request of a connection (one the client should not have sent) is logged.
    fn queue_answer(&mut self, id: u64, response: &Response, held: Option<Held>) {
        if let Response::Error(reply) = response {
            let invalid = matches!(reply.code, ErrorCode::Protocol | ErrorCode::BadRequest);
            if invalid && !self.warned_invalid {
                tracing::warn!(peer = ?self.peer, "invalid request {id}: {}", reply.message);
                self.warned_invalid = true;
            }
        }
        let body = encode(response).or_else(|e| {
            tracing::error!("cannot encode an answer: {e}");
            encode(&Response::from(Error::Server(
                "cannot encode the answer".into(),
            )))
        });
        let before = self.out.len();
        if let Ok(body) = body {
            write_frame(id, &body, &mut self.out);
        }
        self.ledger.queued(self.out.len() - before, held);
    }

    /// Writes `error` under id 0 after any answers already encoded, then closes cleanly: our side is
    /// shut down and what the client still sends is read and dropped for a moment, so the kernel
    /// does not reset the connection before the client reads the error.
    async fn close_with(&mut self, error: Error) {
        tracing::warn!(peer = ?self.peer, "closing connection: {error}");
        self.warned_invalid = true; // just logged
        self.queue_answer(0, &Response::from(error), None);
        let flushed = timeout(LINGER, self.write.write_all_buf(&mut self.out)).await;
        if !matches!(flushed, Ok(Ok(()))) {
            return;
        }
        let _ = self.write.shutdown().await;
        let drain = async {
            let mut scrap = [0u8; 4096];
            while matches!(self.read.read(&mut scrap).await, Ok(n) if n > 0) {}
        };
        let _ = timeout(LINGER, drain).await;
    }
}

/// The verdict of the login in `login`, once it is checked.
async fn settled(login: &mut Option<Login>) -> Option<(u64, Verdict)> {
    match login {
        Some(login) => Some(login.await),
        None => None,
    }
}
