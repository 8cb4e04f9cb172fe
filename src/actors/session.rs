//! One client connection: read frames, hand requests to the Router, write answers as they come.
//!
//! Requests are pipelined: up to `max_pending` are in flight at once and answered in completion
//! order, each tagged with the id its request carried. A client that stops reading fills its socket,
//! the session stops reading in turn, and its memory stays bounded.

use std::future::Future;
use std::pin::Pin;

use actix::Addr;
use futures_util::stream::FuturesUnordered;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::sync::CancellationToken;

use super::listener::ServerLimits;
use super::{Exec, Router};
use crate::error::Error;
use crate::protocol::{Frame, FrameCodec, FrameError, Request, Response};

type Pending = Pin<Box<dyn Future<Output = (u64, Response)> + Send>>;
type Writer = FramedWrite<tokio::net::tcp::OwnedWriteHalf, FrameCodec>;

/// Serves one connection until the client leaves, breaks the protocol, or the node stops.
pub async fn run(
    stream: TcpStream,
    router: Addr<Router>,
    limits: ServerLimits,
    shutdown: CancellationToken,
) {
    let peer = stream.peer_addr().ok();
    let (read, write) = stream.into_split();
    let mut reader = FramedRead::new(read, FrameCodec::new(limits.max_frame_len));
    let mut writer = FramedWrite::new(write, FrameCodec::new(usize::MAX));
    let mut pending: FuturesUnordered<Pending> = FuturesUnordered::new();
    let mut reading = true;
    let mut warned_full = false;
    while reading || !pending.is_empty() {
        let can_read = reading && pending.len() < limits.max_pending;
        if reading && !can_read && !warned_full {
            tracing::warn!(
                ?peer,
                limit = limits.max_pending,
                "client queue full; not reading"
            );
            warned_full = true;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            Some((id, response)) = pending.next(), if !pending.is_empty() => {
                if send(&mut writer, id, &response).await.is_err() {
                    return;
                }
            }
            next = tokio::time::timeout(limits.frame_timeout, reader.next()), if can_read => {
                match next {
                    Err(_) if reader.read_buffer().is_empty() => continue,
                    Err(_) => {
                        let e = Error::Protocol("timed out waiting for the rest of a frame".into());
                        tracing::warn!(?peer, "{e}");
                        let _ = send(&mut writer, 0, &Response::from(e)).await;
                        return;
                    }
                    Ok(None) => reading = false,
                    Ok(Some(Ok(frame))) => pending.push(handle(&router, frame)),
                    Ok(Some(Err(FrameError::Io(_)))) => reading = false,
                    Ok(Some(Err(e))) => {
                        tracing::warn!(?peer, "closing connection: {e}");
                        let reply = Response::from(Error::Protocol(e.to_string()));
                        let _ = send(&mut writer, 0, &reply).await;
                        return;
                    }
                }
            }
        }
    }
}

/// Decodes one frame and starts its request; a body that does not decode is answered at once.
fn handle(router: &Addr<Router>, frame: Frame) -> Pending {
    let id = frame.id;
    match frame.decode::<Request>() {
        Ok(request) => {
            let sent = router.send(Exec(request));
            Box::pin(async move {
                let response = sent
                    .await
                    .unwrap_or_else(|_| Response::from(Error::Shutdown));
                (id, response)
            })
        }
        Err(e) => Box::pin(async move { (id, Response::from(e)) }),
    }
}

async fn send(writer: &mut Writer, id: u64, response: &Response) -> Result<(), FrameError> {
    let frame = Frame::encode(id, response).map_err(|e| std::io::Error::other(e.to_string()))?;
    writer.send(frame).await
}
