//! One TCP connection to a node in another process, carrying [`WireOp`]s and their answers.
//!
//! Calls are pipelined: a writer task takes every call waiting in its queue, encodes them all
//! into one buffer and writes it with one system call, so a burst of calls (a pipelined client's
//! batch fanned out to a remote replica) costs one round trip, not one per call. A reader task
//! matches answers to calls by request id. Reading and writing run apart, so a long batch cannot
//! deadlock against the peer's bounded queues. When the connection fails, every call in flight
//! fails with [`Error::Unavailable`] and the link ends; the next call opens a new one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::FramedRead;

use crate::client::MAX_RESPONSE_LEN;
use crate::error::{Error, Result};
use crate::protocol::codec::{encode, write_frame};
use crate::protocol::peer::{WireOp, WireReply};
use crate::protocol::{FrameCodec, Request, Response};
use crate::tls::{Reader, Writer};

/// How long opening the connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// A call's answer, as the link hands it back.
pub type Answer = oneshot::Sender<Result<WireReply>>;

/// One call waiting to be written.
struct Outgoing {
    op: WireOp,
    answer: Answer,
}

/// The calls written and not answered yet, by request id, and why the link ended, once it has.
#[derive(Default)]
struct Calls {
    waiting: HashMap<u64, Answer>,
    ended: Option<String>,
}

type InFlight = Arc<Mutex<Calls>>;

/// An open link: send calls into it while [`Link::is_open`].
pub struct Link {
    tx: mpsc::UnboundedSender<Outgoing>,
    calls: InFlight,
}

impl Link {
    /// Whether the link still carries calls.
    pub fn is_open(&self) -> bool {
        !self.tx.is_closed() && lock(&self.calls).ended.is_none()
    }

    /// Sends `op`; its answer arrives on `answer` (an error if the link ends first).
    pub fn send(&self, op: WireOp, answer: Answer) {
        if let Err(mpsc::error::SendError(lost)) = self.tx.send(Outgoing { op, answer }) {
            let _ = lost
                .answer
                .send(Err(Error::Unavailable("the link closed".into())));
        }
    }
}

/// Opens a link to `addr` (TLS and the cluster secret as this process's
/// [`NodeLinks`](super::NodeLinks) say).
///
/// # Errors
/// [`Error::Unavailable`] if the connection cannot be opened within a second;
/// [`Error::WrongPass`] if the node and this process do not share the cluster secret.
pub async fn open(addr: &str) -> Result<Link> {
    let (read, write) = super::dial::dial(addr, CONNECT_TIMEOUT).await?;
    let (tx, rx) = mpsc::unbounded_channel();
    let calls: InFlight = Arc::default();
    actix_rt::spawn(write_calls(write, rx, calls.clone()));
    actix_rt::spawn(read_answers(read, calls.clone(), addr.to_owned()));
    Ok(Link { tx, calls })
}

/// Writes calls as they come, every waiting call in one write.
async fn write_calls(
    mut write: Writer,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    in_flight: InFlight,
) {
    let mut next_id = 1u64;
    let mut buf = BytesMut::new();
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        for Outgoing { op, answer } in batch {
            let mut calls = lock(&in_flight);
            if let Some(why) = &calls.ended {
                let _ = answer.send(Err(Error::Unavailable(why.clone())));
                continue;
            }
            match encode(&Request::NodeCall(op)) {
                Ok(body) => {
                    write_frame(next_id, &body, &mut buf);
                    calls.waiting.insert(next_id, answer);
                    next_id += 1;
                }
                Err(e) => {
                    let _ = answer.send(Err(e));
                }
            }
        }
        if buf.is_empty() {
            break;
        }
        if write.write_all_buf(&mut buf).await.is_err() {
            break;
        }
    }
    // The link is over: whatever is still in flight fails once the reader sees the close.
    let _ = write.shutdown().await;
}

/// Reads answers and hands each to its call; on a failure, fails every call in flight.
async fn read_answers(read: Reader, in_flight: InFlight, addr: String) {
    let mut frames = FramedRead::new(read, FrameCodec::new(MAX_RESPONSE_LEN));
    let why = loop {
        let frame = match frames.next().await {
            Some(Ok(frame)) => frame,
            Some(Err(e)) => break e.to_string(),
            None => break "the connection closed".to_owned(),
        };
        let answer = match frame.decode::<Response>() {
            Ok(Response::NodeReply(Ok(reply))) => Ok(reply),
            Ok(Response::NodeReply(Err(reply))) => Err(Error::from(reply)),
            Ok(Response::Error(reply)) => Err(Error::from(reply)),
            Ok(_) => Err(Error::Protocol("a node call got a client's answer".into())),
            Err(e) => Err(e),
        };
        if frame.id == 0 {
            break format!("{:?}", answer.err());
        }
        if let Some(waiting) = lock(&in_flight).waiting.remove(&frame.id) {
            let _ = waiting.send(answer);
        }
    };
    let mut calls = lock(&in_flight);
    let why = format!("node at {addr} is unreachable: {why}");
    for (_, waiting) in calls.waiting.drain() {
        let _ = waiting.send(Err(Error::Unavailable(why.clone())));
    }
    calls.ended = Some(why);
}

fn lock(in_flight: &InFlight) -> std::sync::MutexGuard<'_, Calls> {
    in_flight.lock().unwrap_or_else(|p| p.into_inner())
}
