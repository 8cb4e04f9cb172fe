//! One RESP connection: read requests, plan them, ask the Router, answer in order.
//!
//! Requests are pipelined: up to `max_pending` run at once and their replies go out in request
//! order. Each request's messages to the Router are sent as soon as it is parsed, so the requests of
//! one connection reach the cluster in the order they were written (an `INCR` then a `GET` of the
//! same key sees the increment). A client that stops reading fills its socket; the connection then
//! stops reading too, and its memory stays bounded.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use actix::Addr;
use bytes::BytesMut;
use futures_util::future::{join_all, ready};
use futures_util::stream::FuturesOrdered;
use futures_util::{FutureExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::admin::Session;
use super::commands::{self, Ask, Plan};
use super::info::Stats;
use super::reply::{self, Frame};
use super::{parse, RespLimits};
use crate::actors::{Exec, Router};
use crate::error::Error;
use crate::protocol::Response;

/// A reply, and whether the connection closes after it.
struct Outcome {
    frame: Frame,
    close: bool,
}

type Pending = Pin<Box<dyn Future<Output = Outcome>>>;

/// How many bytes to make room for before each read.
const READ_CHUNK: usize = 16 * 1024;

/// The state of one connection, apart from its socket halves.
struct Conn {
    router: Addr<Router>,
    limits: RespLimits,
    stats: Arc<Stats>,
    session: Session,
    input: BytesMut,
    pending: FuturesOrdered<Pending>,
    reading: bool,
}

/// Serves one connection until the client leaves or QUITs, breaks the protocol, or `shutdown`.
pub async fn run(
    stream: TcpStream,
    router: Addr<Router>,
    limits: RespLimits,
    stats: Arc<Stats>,
    shutdown: CancellationToken,
) {
    let limits = RespLimits {
        max_pending: limits.max_pending.max(1),
        ..limits
    };
    let id = stats.connected();
    let session = Session::new(id, stream.peer_addr().ok(), stream.local_addr().ok());
    let (mut reader, mut writer) = stream.into_split();
    let mut conn = Conn {
        router,
        limits,
        stats: stats.clone(),
        session,
        input: BytesMut::with_capacity(READ_CHUNK),
        pending: FuturesOrdered::new(),
        reading: true,
    };
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = conn.serve(&mut reader, &mut writer) => {}
    }
    let _ = writer.shutdown().await;
    stats.disconnected();
}

impl Conn {
    async fn serve(&mut self, reader: &mut OwnedReadHalf, writer: &mut OwnedWriteHalf) {
        let mut output = BytesMut::new();
        loop {
            self.parse_available();
            if !self.reading && self.pending.is_empty() {
                return;
            }
            let can_read = self.reading && self.pending.len() < self.limits.max_pending;
            tokio::select! {
                Some(outcome) = self.pending.next(), if !self.pending.is_empty() => {
                    match flush(writer, &mut output, outcome, &mut self.pending).await {
                        Ok(false) => {}
                        Ok(true) | Err(_) => return,
                    }
                }
                read = read_more(reader, &mut self.input, &self.limits), if can_read => {
                    match read {
                        Ok(0) | Err(ReadError::Io) => self.reading = false,
                        Ok(_) => {}
                        Err(ReadError::Timeout) => {
                            let e = "ERR Protocol error: timed out waiting for the rest of the request";
                            self.close_with(reply::error(e));
                        }
                    }
                }
            }
        }
    }

    /// Starts every complete request in the input, while the pipeline has room.
    fn parse_available(&mut self) {
        while self.reading && self.pending.len() < self.limits.max_pending {
            match parse::next_request(&mut self.input, &self.limits) {
                Ok(None) => return,
                Ok(Some(words)) if words.is_empty() => {}
                Ok(Some(words)) => self.start(&words),
                Err(e) => {
                    tracing::debug!(peer = ?self.session.peer, "closing RESP connection: {e}");
                    self.close_with(reply::error(&e.reply_text()));
                }
            }
        }
    }

    /// Queues a last reply and stops reading.
    fn close_with(&mut self, frame: Frame) {
        self.pending
            .push_back(Box::pin(ready(Outcome { frame, close: true })));
        self.reading = false;
    }

    fn start(&mut self, words: &[bytes::Bytes]) {
        self.stats.command();
        self.session.last = Instant::now();
        match commands::plan(words, &mut self.session, &self.stats) {
            Plan::Reply(frame) => {
                let done = ready(Outcome {
                    frame,
                    close: false,
                });
                self.pending.push_back(Box::pin(done));
            }
            Plan::Quit => self.close_with(reply::ok()),
            Plan::Ask(ask) => {
                let running = self.ask(ask);
                self.pending.push_back(running);
            }
        }
    }

    /// Sends the plan's requests to the Router now (keeping their order) and waits for the answers.
    fn ask(&self, mut ask: Ask) -> Pending {
        let requests = std::mem::take(&mut ask.requests);
        let sent: Vec<_> = requests
            .into_iter()
            .map(|r| self.router.send(Exec(r)))
            .collect();
        let timeout = self.limits.request_timeout;
        Box::pin(async move {
            let Ok(answers) = tokio::time::timeout(timeout, join_all(sent)).await else {
                let frame = reply::err("timed out waiting for the cluster's answer");
                return Outcome {
                    frame,
                    close: false,
                };
            };
            let responses = answers
                .into_iter()
                .map(|a| a.unwrap_or_else(|_| Response::from(Error::Shutdown)))
                .collect();
            Outcome {
                frame: ask.finish(responses),
                close: false,
            }
        })
    }
}

enum ReadError {
    Io,
    Timeout,
}

/// Reads more input; once a request has started arriving, its rest must come within
/// `partial_timeout`.
async fn read_more(
    reader: &mut OwnedReadHalf,
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

/// Writes `first` and every reply already done after it, in one write. Returns whether the
/// connection must close now.
async fn flush(
    writer: &mut OwnedWriteHalf,
    output: &mut BytesMut,
    first: Outcome,
    pending: &mut FuturesOrdered<Pending>,
) -> std::io::Result<bool> {
    reply::encode(output, &first.frame);
    let mut close = first.close;
    while !close {
        match pending.next().now_or_never() {
            Some(Some(outcome)) => {
                reply::encode(output, &outcome.frame);
                close = outcome.close;
            }
            _ => break,
        }
    }
    writer.write_all(output).await?;
    output.clear();
    Ok(close)
}
