//! One request to another process, on a connection of its own: how processes tell each other
//! about membership (a join, a new layout). Rare and small, so no connection is kept. It dials as
//! the node links do (TLS, cluster secret: [`super::NodeLinks`]).

use std::time::Duration;

use bytes::BytesMut;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio_util::codec::FramedRead;

use crate::client::MAX_RESPONSE_LEN;
use crate::error::{Error, Result};
use crate::protocol::codec::{encode, write_frame};
use crate::protocol::{FrameCodec, Request, Response};

/// Sends `request` to the node port at `addr` and returns the answer (an error answer as
/// `Err`), all within `timeout`.
///
/// # Errors
/// [`Error::Unavailable`] if the process cannot be reached or does not answer in time;
/// [`Error::WrongPass`] if it does not share the cluster secret; the answer's own error otherwise.
pub async fn ask(addr: &str, request: &Request, timeout: Duration) -> Result<Response> {
    let exchange = async {
        let (read, mut write) = super::dial::dial(addr, timeout).await?;
        let mut buf = BytesMut::new();
        write_frame(1, &encode(request)?, &mut buf);
        write.write_all_buf(&mut buf).await?;
        let mut frames = FramedRead::new(read, FrameCodec::new(MAX_RESPONSE_LEN));
        match frames.next().await {
            Some(frame) => frame
                .map_err(|e| Error::Protocol(e.to_string()))?
                .decode::<Response>(),
            None => Err(Error::Unavailable("the connection closed".into())),
        }
    };
    let answer = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| Error::Unavailable(format!("{addr} did not answer within {timeout:?}")))?
        .map_err(|e| match e {
            Error::Io(e) => Error::Unavailable(format!("{addr} is unreachable: {e}")),
            other => other,
        })?;
    match answer {
        Response::Error(reply) => Err(Error::from(reply)),
        other => Ok(other),
    }
}
