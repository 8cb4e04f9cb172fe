//! What a direct request hands back: the value now, or what is still to wait for before the
//! answer may go out — log writes (`--fsync always`), the acks of replicas in other processes
//! that the write quorum needs, or the answer of the one replica in another process.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use smallvec::SmallVec;

use crate::actors::remote::{reply_from_wire, LinkReply};
use crate::actors::NodeReply;
use crate::error::{Error, Result};
use crate::persist::Ack;
use crate::quote;

/// A value served directly, and what to wait for before answering.
pub struct Served {
    /// The new value (an update) or the merged value (a read; 0 for a key that does not exist).
    /// For an update forwarded to another process, known once [`Served::synced`] answers.
    pub value: i64,
    /// Whether the key exists (always after an update).
    pub exists: bool,
    /// Acks of the log writes the answer must wait for; empty unless every write is synced.
    pub acks: Vec<Ack<()>>,
    /// Replicas in other processes still to hear from (boxed: a `Served` is moved along the
    /// request path, and nearly every one has none).
    pub(super) remote: Option<Box<Remote>>,
}

/// What is awaited from other processes.
pub(super) enum Remote {
    /// `need` acks among `waiting` (merges sent), within `timeout`.
    Acks {
        waiting: SmallVec<[LinkReply; 2]>,
        need: usize,
        timeout: Duration,
    },
    /// The answer of the replica the increment was forwarded to (R = 1).
    Forwarded { reply: LinkReply, timeout: Duration },
}

impl Served {
    /// A value with nothing to wait for (`None`: the key does not exist).
    pub fn now(value: Option<i64>) -> Served {
        Served {
            value: value.unwrap_or(0),
            exists: value.is_some(),
            acks: Vec::new(),
            remote: None,
        }
    }

    /// Whether the answer may go out at once.
    pub fn is_done(&self) -> bool {
        self.acks.is_empty() && self.remote.is_none()
    }

    /// Waits until the log writes are on disk and the other processes answered; answers the value
    /// (`key` names the request in errors).
    ///
    /// # Errors
    /// [`Error::Storage`] if a write failed or the log writer stopped; [`Error::Uncertain`] if
    /// fewer replicas than the write quorum acknowledged an update in time; the forwarded
    /// update's own error.
    pub async fn synced(self, key: &str) -> Result<i64> {
        for ack in self.acks {
            ack.await
                .map_err(|_| Error::Storage("the log writer stopped".into()))??;
        }
        let Some(remote) = self.remote else {
            return Ok(self.value);
        };
        match *remote {
            Remote::Acks {
                waiting,
                need,
                timeout,
            } => {
                gather(key, waiting, need, timeout).await?;
                Ok(self.value)
            }
            Remote::Forwarded { reply, timeout } => forwarded(key, reply, timeout).await,
        }
    }
}

/// Waits for `need` successful answers among `waiting`.
async fn gather(
    key: &str,
    waiting: SmallVec<[LinkReply; 2]>,
    need: usize,
    timeout: Duration,
) -> Result<()> {
    let counted = Acks::new(waiting, need);
    if matches!(tokio::time::timeout(timeout, counted).await, Ok(acks) if acks >= need) {
        return Ok(());
    }
    Err(Error::Uncertain(format!(
        "update of {} reached too few replicas in time (the write quorum needed {need} more): it may or may not be applied",
        quote::in_message(key)
    )))
}

/// A future of the number of successful answers among a few replies: ready once `need` of them
/// came, or every reply did. It polls the replies in place (an update waits on one or two), with
/// no task or allocation per reply as a `FuturesUnordered` would make.
struct Acks {
    pending: SmallVec<[Option<LinkReply>; 2]>,
    need: usize,
    acks: usize,
}

impl Acks {
    fn new(waiting: SmallVec<[LinkReply; 2]>, need: usize) -> Acks {
        Acks {
            pending: waiting.into_iter().map(Some).collect(),
            need,
            acks: 0,
        }
    }
}

impl Future for Acks {
    type Output = usize;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        let this = &mut *self;
        let mut open = false;
        for slot in this.pending.iter_mut() {
            let Some(reply) = slot else { continue };
            match Pin::new(reply).poll(cx) {
                Poll::Ready(answer) => {
                    *slot = None;
                    if matches!(answer, Ok(Ok(_))) {
                        this.acks += 1;
                    }
                }
                Poll::Pending => open = true,
            }
        }
        if this.acks >= this.need || !open {
            Poll::Ready(this.acks)
        } else {
            Poll::Pending
        }
    }
}

/// The value the replica in another process answered for a forwarded increment.
async fn forwarded(key: &str, reply: LinkReply, timeout: Duration) -> Result<i64> {
    let unknown = |why: &str| {
        Error::Uncertain(format!(
            "update of {} {why}: it may or may not be applied",
            quote::in_message(key)
        ))
    };
    match tokio::time::timeout(timeout, reply).await {
        Err(_) => Err(unknown("timed out")),
        Ok(Err(_)) => Err(unknown("lost its link")),
        Ok(Ok(Err(Error::Unavailable(_) | Error::Uncertain(_)))) => Err(unknown("lost its link")),
        Ok(Ok(Err(e))) => Err(e),
        Ok(Ok(Ok(reply))) => match reply_from_wire(reply) {
            NodeReply::State(Some(counter)) => Ok(counter.value()),
            _ => Err(Error::Server("a node gave a wrong answer".into())),
        },
    }
}
