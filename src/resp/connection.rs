//! One RESP connection: read requests, plan them, start them through the [`Gateway`], answer in
//! order.
//!
//! Requests are pipelined: up to `max_pending` run at once and their replies go out in request
//! order. Each request is started as soon as it is parsed (answered at once on the direct path, or
//! sent to the Router), so the requests of one connection reach the cluster in the order they were
//! written (an `INCR` then a `GET` of the
//! same key sees the increment). A client that stops reading fills its socket; the connection then
//! stops reading too, and its memory stays bounded. Each reply is encoded in the protocol
//! (RESP2 or RESP3) the connection spoke when its request was planned.
//!
//! Bytes are bounded as well: each request for the cluster is charged its own bytes and an
//! estimate of its reply against the connection's budget (`max_connection_bytes`) and the
//! server's ([`crate::actors::Budget`], shared with the framed ports) until its reply is written.
//! A request that does not fit waits, planned, and nothing more is read until it fits.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use futures_util::future::{join_all, ready};
use futures_util::stream::FuturesOrdered;
use futures_util::{FutureExt, StreamExt};
use smallvec::{smallvec, SmallVec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::admin::Session;
use super::commands::{self, Ask, Plan};
use super::fanout::{self, Fanout};
use super::info::Stats;
use super::login::{self, Gated, Guard, Login, Then};
use super::reply::{self, Frame, Proto};
use super::{parse, RespLimits};
use crate::actors::budget::{take_when_free, Held, Ledger};
use crate::actors::gateway::{yield_to_other_connections, Gateway, Order, Started};
use crate::tls::{self, Reader, Writer};

/// A reply, the protocol to encode it in, whether the connection closes after it, and the
/// charge its request holds until it is written.
struct Outcome {
    frame: Frame,
    proto: Proto,
    close: bool,
    held: Option<Held>,
}

/// A planned request that waits for room in a budget.
enum Deferred {
    Ask(Ask),
    Fanout(Fanout),
    Task(super::task::Task),
}

/// What a request of `words` is charged beyond its reply's keys.
const REQUEST_PART: usize = 64;
/// What each reply element (a counter, a key of MGET) is charged.
const REPLY_ITEM: usize = 32;

type Pending = Pin<Box<dyn Future<Output = Outcome>>>;

/// How many bytes to make room for before each read.
const READ_CHUNK: usize = 16 * 1024;
/// Replies are encoded into the output buffer only while it holds less than this.
const OUT_HIGH_WATER: usize = 64 * 1024;
/// The reply to a request the cluster did not answer within `request_timeout`.
const TIMED_OUT: &str = "timed out waiting for the cluster's answer";

/// The state of one connection, apart from its socket halves.
struct Conn {
    gateway: Gateway,
    /// Keeps this connection's requests in order across the direct path and the Router.
    order: Order,
    limits: RespLimits,
    stats: Arc<Stats>,
    session: Session,
    input: BytesMut,
    /// Encoded replies not yet written.
    output: BytesMut,
    /// Replies still being worked on, in request order (all after those in `output`).
    pending: FuturesOrdered<Pending>,
    reading: bool,
    /// The last reply is in `output`: close once it is written.
    closing: bool,
    /// A fan-out (a big MGET) runs: start nothing after it until it ends.
    fanout: fanout::Running,
    /// What this connection is charged against its budget and the server's.
    ledger: Ledger,
    /// A planned request that did not fit in a budget yet, with its cost.
    waiting: Option<(Deferred, usize)>,
    /// Who logged in, and what it may run (see `login`).
    guard: Guard,
    /// A login being checked: nothing more starts until it is settled.
    login: Option<Login>,
}

/// Serves one connection until the client leaves or QUITs, breaks the protocol, or `shutdown`.
pub async fn run(
    stream: TcpStream,
    gateway: Gateway,
    limits: RespLimits,
    stats: Arc<Stats>,
    shutdown: CancellationToken,
) {
    let limits = RespLimits {
        max_pending: limits.max_pending.max(1),
        ..limits
    };
    let (peer, local) = (stream.peer_addr().ok(), stream.local_addr().ok());
    let accepted = tokio::select! {
        _ = shutdown.cancelled() => return,
        accepted = tls::accept(stream, limits.tls.as_ref()) => accepted,
    };
    let Some((mut reader, mut writer)) = accepted else {
        return;
    };
    let id = stats.connected();
    let session = Session::new(id, peer, local);
    // CLIENT KILL closes this connection through its own token; shutdown closes them all.
    let kill = shutdown.child_token();
    stats.registry().add(&session, kill.clone());
    let ledger = Ledger::new(gateway.budget().clone(), limits.max_connection_bytes);
    let mut conn = Conn {
        guard: Guard::new(limits.access.clone()),
        gateway,
        order: Order::new(),
        limits,
        stats: stats.clone(),
        session,
        input: BytesMut::with_capacity(READ_CHUNK),
        output: BytesMut::new(),
        pending: FuturesOrdered::new(),
        reading: true,
        closing: false,
        fanout: fanout::Running::default(),
        ledger,
        waiting: None,
        login: None,
    };
    tokio::select! {
        _ = kill.cancelled() => {}
        _ = conn.serve(&mut reader, &mut writer) => {}
    }
    let _ = writer.shutdown().await;
    stats.registry().remove(id);
    stats.disconnected();
}

impl Conn {
    async fn serve(&mut self, reader: &mut Reader, writer: &mut Writer) {
        loop {
            if self.parse_available() > 1 {
                yield_to_other_connections().await;
            }
            let written = self.output.is_empty();
            let idle = self.pending.is_empty() && self.login.is_none();
            if written && (self.closing || (!self.reading && idle)) {
                return;
            }
            let room = self.output.len() < OUT_HIGH_WATER;
            let take = room && !self.closing && !self.pending.is_empty();
            let can_read = room && self.reading && self.has_room();
            let waiting = self
                .waiting
                .as_ref()
                .and_then(|(_, cost)| self.ledger.wait_for(*cost));
            tokio::select! {
                Some(outcome) = self.pending.next(), if take => self.take(outcome),
                taken = take_when_free(waiting.clone()), if waiting.is_some() => {
                    self.start_waiting(taken);
                }
                Some((verdict, then)) = login::settled(&mut self.login), if self.login.is_some() => {
                    self.logged_in(verdict, then);
                }
                sent = writer.write_buf(&mut self.output), if !written => {
                    match sent {
                        Ok(n) if n > 0 => self.ledger.wrote(n),
                        _ => return,
                    }
                }
                read = read_more(reader, &mut self.input, &self.limits), if can_read => {
                    match read {
                        Ok(0) | Err(ReadError::Io) => self.reading = false,
                        Ok(_) => {
                            self.session.last = Instant::now();
                            self.stats.registry().touch(&self.session);
                        }
                        Err(ReadError::Timeout) => {
                            let e = "ERR Protocol error: timed out waiting for the rest of the request";
                            self.close_with(reply::error(e));
                        }
                    }
                }
            }
        }
    }

    /// Starts every complete request in the input, while the pipeline and the output have room.
    /// Returns how many were started.
    fn parse_available(&mut self) -> usize {
        let mut started = 0;
        while self.reading && self.has_room() && self.output.len() < OUT_HIGH_WATER {
            match parse::next_request(&mut self.input, &self.limits) {
                Ok(None) => break,
                Ok(Some(words)) if words.is_empty() => {}
                Ok(Some(words)) => {
                    self.start(&words);
                    started += 1;
                }
                Err(e) => {
                    tracing::debug!(peer = ?self.session.peer, "closing RESP connection: {e}");
                    self.close_with(reply::error(&e.reply_text()));
                }
            }
        }
        started
    }

    /// Whether another request may start: the pipeline has room, no fan-out runs and no
    /// request waits for room in a budget.
    fn has_room(&self) -> bool {
        self.pending.len() < self.limits.max_pending
            && !self.fanout.now()
            && self.waiting.is_none()
            && self.login.is_none()
    }

    /// Answers a settled login; a HELLO that logged in runs now.
    fn logged_in(&mut self, verdict: crate::auth::Verdict, then: Then) {
        self.login = None;
        match (self.guard.settle(verdict), then) {
            (Err(refused), _) => self.reply(refused, false),
            (Ok(()), Then::Ok) => self.reply(reply::ok(), false),
            (Ok(()), Then::Hello(words)) => self.plan_and_run(&words),
        }
    }

    /// Encodes a finished reply, and every reply after it that is ready too.
    fn take(&mut self, outcome: Outcome) {
        self.encode(outcome);
        while !self.closing {
            match self.pending.next().now_or_never() {
                Some(Some(outcome)) => self.encode(outcome),
                _ => break,
            }
        }
    }

    fn encode(&mut self, outcome: Outcome) {
        let before = self.output.len();
        reply::encode(&mut self.output, &outcome.frame, outcome.proto);
        self.ledger.queued(self.output.len() - before, outcome.held);
        self.closing |= outcome.close;
    }

    /// Queues a reply behind the pending ones (or straight into the output when none is pending).
    fn reply(&mut self, frame: Frame, close: bool) {
        self.reply_held(frame, close, None);
    }

    /// Queues a reply whose request holds `held` until it is written.
    fn reply_held(&mut self, frame: Frame, close: bool, held: Option<Held>) {
        let proto = self.session.proto;
        let outcome = Outcome {
            frame,
            proto,
            close,
            held,
        };
        if self.pending.is_empty() {
            self.encode(outcome);
        } else {
            self.pending.push_back(Box::pin(ready(outcome)));
        }
    }

    /// Queues a last reply and stops reading.
    fn close_with(&mut self, frame: Frame) {
        self.reply(frame, true);
        self.reading = false;
    }

    fn start(&mut self, words: &[bytes::Bytes]) {
        self.stats.command();
        if self.guard.guarded() {
            match self.guard.gate(words, self.session.peer) {
                Gated::Pass => {}
                Gated::Reply(refused) => return self.reply(refused, false),
                Gated::Login(login) => {
                    self.login = Some(login);
                    return;
                }
            }
        }
        self.plan_and_run(words);
    }

    /// Plans a request that passed the gate and starts it.
    fn plan_and_run(&mut self, words: &[bytes::Bytes]) {
        let plan = commands::plan(words, &mut self.session, &self.stats);
        if words[0].eq_ignore_ascii_case(b"client") || words[0].eq_ignore_ascii_case(b"hello") {
            self.stats.registry().touch(&self.session);
        }
        let (deferred, items) = match plan {
            Plan::Reply(frame) => return self.reply(frame, false),
            Plan::Quit => return self.close_with(reply::ok()),
            Plan::Ask(ask) => {
                let items = ask.requests.len();
                (Deferred::Ask(ask), items)
            }
            Plan::Fanout(fanout) => {
                let items = fanout.len();
                (Deferred::Fanout(fanout), items)
            }
            Plan::Task(task) => (Deferred::Task(task), 1),
        };
        let request_bytes: usize = words.iter().map(|w| w.len() + 16).sum();
        let cost = request_bytes + REQUEST_PART + items * REPLY_ITEM;
        match self.ledger.try_charge(cost) {
            Some(held) => self.run(deferred, held),
            None => self.waiting = Some((deferred, cost)),
        }
    }

    /// Starts the waiting request, now that the server's budget gave it `taken` bytes.
    fn start_waiting(&mut self, taken: usize) {
        if let Some((deferred, cost)) = self.waiting.take() {
            let held = self.ledger.charge_taken(cost, taken);
            self.run(deferred, held);
        }
    }

    fn run(&mut self, deferred: Deferred, held: Held) {
        match deferred {
            Deferred::Ask(ask) => self.ask(ask, held),
            Deferred::Fanout(fanout) => self.fan_out(fanout, held),
            Deferred::Task(task) => self.run_task(task, held),
        }
    }

    /// Queues the reply of a task (SCAN, EXEC...); like a fan-out, nothing after it starts until
    /// it ends.
    fn run_task(&mut self, task: super::task::Task, held: Held) {
        let (gateway, order) = (self.gateway.clone(), self.order.clone());
        let (proto, timeout) = (self.session.proto, self.limits.request_timeout);
        let running = self.fanout.enter();
        self.pending.push_back(Box::pin(async move {
            let frame = tokio::time::timeout(timeout, task(gateway, order, proto))
                .await
                .unwrap_or_else(|_| reply::err(TIMED_OUT));
            drop(running);
            Outcome {
                frame,
                proto,
                close: false,
                held: Some(held),
            }
        }));
    }

    /// Queues the reply of a fan-out, which reads its keys as this connection's pending replies
    /// are polled; nothing after it starts until it ends.
    fn fan_out(&mut self, fanout: Fanout, held: Held) {
        let (gateway, order) = (self.gateway.clone(), self.order.clone());
        let (proto, timeout) = (self.session.proto, self.limits.request_timeout);
        let running = self.fanout.enter();
        self.pending.push_back(Box::pin(async move {
            let read = fanout.run(gateway, order, proto);
            let frame = tokio::time::timeout(timeout, read)
                .await
                .unwrap_or_else(|_| reply::err(TIMED_OUT));
            drop(running);
            Outcome {
                frame,
                proto,
                close: false,
                held: Some(held),
            }
        }));
    }

    /// Starts the plan's requests now (keeping their order); replies at once if they were all
    /// answered at once, else once the cluster answers.
    fn ask(&mut self, mut ask: Ask, held: Held) {
        if let [_] = ask.requests.as_slice() {
            // The common case (INCR, GET), without collecting.
            let request = ask.requests.pop().expect("one request");
            match self.gateway.start(request, &self.order) {
                Started::Now(response) => {
                    self.reply_held(ask.finish(smallvec![response]), false, Some(held))
                }
                Started::Later(later) => self.wait_for(ask, smallvec![Started::Later(later)], held),
            }
            return;
        }
        let requests = std::mem::take(&mut ask.requests);
        let started: SmallVec<[Started; 1]> = requests
            .into_iter()
            .map(|r| self.gateway.start(r, &self.order))
            .collect();
        if started.iter().all(|s| matches!(s, Started::Now(_))) {
            let responses = started
                .into_iter()
                .filter_map(|s| match s {
                    Started::Now(response) => Some(response),
                    Started::Later(_) => None,
                })
                .collect();
            self.reply_held(ask.finish(responses), false, Some(held));
            return;
        }
        self.wait_for(ask, started, held);
    }

    /// Queues the reply of `ask`, built once every started request is answered.
    fn wait_for(&mut self, ask: Ask, started: SmallVec<[Started; 1]>, held: Held) {
        let (proto, timeout) = (self.session.proto, self.limits.request_timeout);
        self.pending.push_back(Box::pin(async move {
            let frame = match tokio::time::timeout(timeout, answers(started)).await {
                Ok(responses) => ask.finish(responses),
                Err(_) => reply::err(TIMED_OUT),
            };
            Outcome {
                frame,
                proto,
                close: false,
                held: Some(held),
            }
        }));
    }
}

/// The answers of `started`, in order (one request, the common case, without `join_all`'s
/// allocations).
async fn answers(mut started: SmallVec<[Started; 1]>) -> commands::Responses {
    if started.len() == 1 {
        let response = match started.pop().expect("one request") {
            Started::Now(response) => response,
            Started::Later(later) => later.await,
        };
        return smallvec![response];
    }
    let all = join_all(started.into_iter().map(|s| match s {
        Started::Now(response) => ready(response).left_future(),
        Started::Later(later) => later.right_future(),
    }));
    all.await.into()
}

enum ReadError {
    Io,
    Timeout,
}

/// Reads more input; once a request has started arriving, its rest must come within
/// `partial_timeout`.
async fn read_more(
    reader: &mut Reader,
    input: &mut BytesMut,
    limits: &RespLimits,
) -> Result<usize, ReadError> {
    input.reserve(READ_CHUNK);
    if input.is_empty() {
        return reader.read_buf(input).await.map_err(|_| ReadError::Io);
    }
    match tokio::time::timeout(limits.partial_timeout, reader.read_buf(input)).await {
        Ok(read) => read.map_err(|_| ReadError::Io),
        Err(_) => Err(ReadError::Timeout),
    }
}
