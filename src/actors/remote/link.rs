//! One TCP connection to a node in another process, carrying [`WireOp`]s and their answers.
//!
//! Calls are pipelined: a writer task takes every call waiting in its queue, encodes them all
//! into one buffer and writes it with one system call, so a burst of calls (a pipelined client's
//! batch fanned out to a remote replica) costs one round trip, not one per call; small merges in
//! the burst go out as one merge ([`super::batch`]). A reader task
//! matches answers to calls by request id. Reading and writing run apart, so a long batch cannot
//! deadlock against the peer's bounded queues. When the connection fails, every call in flight
//! fails with [`Error::Unavailable`] and the link ends; the next call opens a new one.
//!
//! Calls are numbered in the order they are sent ([`Link::mark`]), and a frame carries the number
//! of its first call, so [`Link::settled`] can tell when every call sent before a mark has been
//! answered: a membership change waits for that before it copies keys.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::FramedRead;

use crate::client::MAX_RESPONSE_LEN;
use crate::error::{Error, Result};
use crate::protocol::peer::{WireOp, WireReply};
use crate::protocol::{FrameCodec, Response};
use crate::tls::{Reader, Writer};

use super::batch::{Frames, Waiter};

/// How long opening the connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// A call's answer, as the link hands it back.
pub type Answer = oneshot::Sender<Result<WireReply>>;

/// One call waiting to be written, with its number.
pub(super) struct Outgoing {
    pub seq: u64,
    pub op: WireOp,
    pub answer: Answer,
}

/// The calls written and not answered yet, by the number of a frame's first call; up to which
/// number every call has been written; and why the link ended, once it has.
struct Calls {
    waiting: BTreeMap<u64, Waiter>,
    written_through: u64,
    ended: Option<String>,
}

type InFlight = Arc<Mutex<Calls>>;

/// An open link: send calls into it while [`Link::is_open`].
pub struct Link {
    tx: mpsc::UnboundedSender<Outgoing>,
    calls: InFlight,
    /// The number the next call gets (numbers start at 1: a frame id of 0 is the peer's own).
    next_seq: AtomicU64,
}

impl Link {
    /// Whether the link still carries calls.
    pub fn is_open(&self) -> bool {
        !self.tx.is_closed() && lock(&self.calls).ended.is_none()
    }

    /// Sends `op`; its answer arrives on `answer` (an error if the link ends first). Calls must be
    /// sent one at a time ([`super::SharedLink`] holds a lock), so that they are numbered in the
    /// order they are queued.
    pub fn send(&self, op: WireOp, answer: Answer) {
        let seq = self.next_seq.fetch_add(1, Ordering::SeqCst);
        let call = Outgoing { seq, op, answer };
        if let Err(mpsc::error::SendError(lost)) = self.tx.send(call) {
            let _ = lost
                .answer
                .send(Err(Error::Unavailable("the link closed".into())));
        }
    }

    /// The number of the next call: every call sent so far is below it.
    pub fn mark(&self) -> u64 {
        self.next_seq.load(Ordering::SeqCst)
    }

    /// Ends the link now, as if its connection had dropped (the failure detector says its
    /// process is down: answers to calls in flight would come only when TCP gives up).
    pub fn close(&self, why: String) {
        end(&self.calls, why);
    }

    /// Whether every call sent before `mark` has its answer (or the link ended, failing them).
    pub fn settled(&self, mark: u64) -> bool {
        let calls = lock(&self.calls);
        let answered = calls
            .waiting
            .keys()
            .next()
            .is_none_or(|&first| first >= mark);
        calls.ended.is_some() || (calls.written_through >= mark && answered)
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
    let calls: InFlight = Arc::new(Mutex::new(Calls {
        waiting: BTreeMap::new(),
        written_through: 1,
        ended: None,
    }));
    actix_rt::spawn(write_calls(write, rx, calls.clone()));
    actix_rt::spawn(read_answers(read, calls.clone(), addr.to_owned()));
    Ok(Link {
        tx,
        calls,
        next_seq: AtomicU64::new(1),
    })
}

/// Writes calls as they come, every waiting call in one write.
async fn write_calls(
    mut write: Writer,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    in_flight: InFlight,
) {
    let mut buf = BytesMut::new();
    while let Some(first) = rx.recv().await {
        let mut frames = Frames::new(&mut buf);
        let mut through = first.seq + 1;
        frames.push(first);
        while let Ok(more) = rx.try_recv() {
            through = through.max(more.seq + 1);
            frames.push(more);
        }
        frames.flush();
        let written = std::mem::take(&mut frames.written);
        {
            let mut calls = lock(&in_flight);
            calls.written_through = calls.written_through.max(through);
            if let Some(why) = &calls.ended {
                for (_, waiter) in written {
                    waiter.answer(Err(Error::Unavailable(why.clone())));
                }
                break;
            }
            calls.waiting.extend(written);
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
        let waiter = lock(&in_flight).waiting.remove(&frame.id);
        if let Some(waiter) = waiter {
            waiter.answer(answer);
        }
    };
    end(&in_flight, format!("node at {addr} is unreachable: {why}"));
}

/// Ends the link: every call waiting fails as uncertain, and no call is sent on it again.
fn end(in_flight: &InFlight, why: String) {
    let mut calls = lock(in_flight);
    if calls.ended.is_some() {
        return;
    }
    // These calls were written: the node may have applied them and lost only the answers.
    for (_, waiter) in std::mem::take(&mut calls.waiting) {
        waiter.answer(Err(Error::Uncertain(format!(
            "{why} (after the call was sent)"
        ))));
    }
    calls.ended = Some(why);
}

fn lock(in_flight: &InFlight) -> std::sync::MutexGuard<'_, Calls> {
    in_flight.lock().unwrap_or_else(|p| p.into_inner())
}
