//! `Client`: an async client for ringkv's framed protocol, with pipelining.
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

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

use crate::error::{Error, Result};
use crate::protocol::{Frame, FrameCodec, Request, Response, RingReport, StatusReport};

/// The largest response a client accepts, in bytes (a `status` of a big cluster is large).
pub const MAX_RESPONSE_LEN: usize = 1 << 30;

/// A connection to one ringkv node.
pub struct Client {
    addr: String,
    framed: Framed<TcpStream, FrameCodec>,
    next_id: u64,
    timeout: Duration,
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
        let framed = open(addr, timeout).await?;
        Ok(Client {
            addr: addr.to_owned(),
            framed,
            next_id: 1,
            timeout,
        })
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

    /// Sends every request without waiting, then collects the answers, in request order.
    ///
    /// # Errors
    /// Connection, timeout or protocol failures (the connection should then be dropped).
    pub async fn pipeline(&mut self, requests: &[Request]) -> Result<Vec<Response>> {
        let first = self.next_id;
        self.next_id += requests.len() as u64;
        let timeout = self.timeout;
        let work = async {
            for (i, request) in requests.iter().enumerate() {
                self.framed
                    .feed(Frame::encode(first + i as u64, request)?)
                    .await
                    .map_err(io)?;
            }
            self.framed.flush().await.map_err(io)?;
            collect(&mut self.framed, first, requests.len()).await
        };
        tokio::time::timeout(timeout, work).await.map_err(|_| {
            Error::Timeout(format!("no answer from {} within {timeout:?}", self.addr))
        })?
    }

    /// Like [`Client::request`], but a server error becomes `Err`.
    async fn call(&mut self, request: Request) -> Result<Response> {
        match self.request(&request).await? {
            Response::Error(reply) => Err(Error::from(reply)),
            other => Ok(other),
        }
    }

    /// Adds `amount` to `key`; returns the new value.
    ///
    /// # Errors
    /// Server errors (overflow, bad key, unavailable) and connection failures.
    pub async fn update(&mut self, key: &str, amount: u64) -> Result<u64> {
        let request = Request::Update {
            key: key.to_owned(),
            amount,
        };
        match self.call(request).await? {
            Response::Updated { value, .. } => Ok(value),
            other => Err(unexpected(other)),
        }
    }

    /// The value of `key`. A broken connection is reopened once, since a read is safe to repeat.
    ///
    /// # Errors
    /// Server errors and connection failures.
    pub async fn get(&mut self, key: &str) -> Result<u64> {
        let request = Request::Get {
            key: key.to_owned(),
        };
        let answer = match self.call(request.clone()).await {
            Err(Error::Io(_)) | Err(Error::Protocol(_)) => {
                self.framed = open(&self.addr, self.timeout).await?;
                self.call(request).await?
            }
            other => other?,
        };
        match answer {
            Response::Count { value, .. } => Ok(value),
            other => Err(unexpected(other)),
        }
    }

    /// Every node and its counters.
    ///
    /// # Errors
    /// Server errors and connection failures.
    pub async fn status(&mut self) -> Result<StatusReport> {
        match self.call(Request::Status).await? {
            Response::Status(report) => Ok(report),
            other => Err(unexpected(other)),
        }
    }

    /// Each node's share of the ring.
    ///
    /// # Errors
    /// Server errors and connection failures.
    pub async fn ring(&mut self) -> Result<RingReport> {
        match self.call(Request::Ring).await? {
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
}

async fn open(addr: &str, timeout: Duration) -> Result<Framed<TcpStream, FrameCodec>> {
    let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| Error::Timeout(format!("connecting to {addr} took over {timeout:?}")))?
        .map_err(|e| Error::Io(format!("cannot connect to {addr}: {e}")))?;
    stream.set_nodelay(true)?;
    Ok(Framed::new(stream, FrameCodec::new(MAX_RESPONSE_LEN)))
}

/// Reads answers until every id in `first..first + count` has one; returns them in id order.
async fn collect(
    framed: &mut Framed<TcpStream, FrameCodec>,
    first: u64,
    count: usize,
) -> Result<Vec<Response>> {
    let mut answers: HashMap<u64, Response> = HashMap::with_capacity(count);
    while answers.len() < count {
        let frame = match framed.next().await {
            Some(Ok(frame)) => frame,
            Some(Err(e)) => return Err(Error::Protocol(e.to_string())),
            None => return Err(Error::Io("the server closed the connection".into())),
        };
        let response: Response = frame.decode()?;
        if frame.id == 0 {
            // A connection-level error: the server closes after it.
            if let Response::Error(reply) = response {
                return Err(Error::from(reply));
            }
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

fn io(e: crate::protocol::FrameError) -> Error {
    Error::Io(e.to_string())
}

fn unexpected(response: Response) -> Error {
    Error::Protocol(format!("unexpected answer: {response:?}"))
}
