//! Big MGET and EXISTS: their keys are read [`CHUNK`] at a time, and the connection lets the
//! others run between chunks, so one request of 60,000 keys cannot hold the thread that serves
//! every connection. The MGET reply is encoded as the chunks are read, without a frame per key;
//! it is at most about four times the request's size, which `max_request_len` bounds.
//!
//! While a fan-out runs its connection starts nothing after it ([`Running`]): the later requests
//! see the counters after the fan-out read them, as they do behind a small MGET (and in Redis,
//! which runs one command at a time).

use std::cell::Cell;
use std::rc::Rc;

use bytes::{Bytes, BytesMut};

use super::commands::{key, value_of};
use super::encode;
use super::reply::{self, Frame, Proto};
use crate::actors::gateway::{Gateway, Order, Started};
use crate::protocol::Request;

/// How many keys are read between two yields; an MGET or EXISTS of more keys fans out.
pub const CHUNK: usize = 512;

/// What the keys are read for.
pub enum Kind {
    /// MGET: an array of the values (null for 0).
    MGet,
    /// EXISTS: how many keys are above 0.
    Exists,
}

/// A big MGET or EXISTS, to run with [`Fanout::run`].
pub struct Fanout {
    keys: Vec<Bytes>,
    kind: Kind,
}

impl Fanout {
    /// How many keys it reads.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// A fan-out over `keys`.
    pub fn new(keys: &[Bytes], kind: Kind) -> Fanout {
        Fanout {
            keys: keys.to_vec(),
            kind,
        }
    }

    /// Reads every key through `gateway`, chunk by chunk, yielding between chunks, and builds the
    /// reply in `proto`. An error answer for any key becomes the reply.
    pub async fn run(self, gateway: Gateway, order: Order, proto: Proto) -> Frame {
        let mut out = BytesMut::new();
        let mut found = 0i64;
        if let Kind::MGet = self.kind {
            encode::header(&mut out, b'*', self.keys.len());
        }
        for chunk in self.keys.chunks(CHUNK) {
            let values = match read(chunk, &gateway, &order).await {
                Ok(values) => values,
                Err(frame) => return frame,
            };
            for value in values {
                match self.kind {
                    Kind::MGet => encode::counter(&mut out, value, proto),
                    Kind::Exists => found += i64::from(value.is_some()),
                }
            }
            tokio::task::yield_now().await;
        }
        match self.kind {
            Kind::MGet => Frame::Encoded(out.freeze()),
            Kind::Exists => reply::int(found),
        }
    }
}

/// The values of `keys` (`None` for a key that does not or cannot exist), or the reply for the
/// first error.
async fn read(keys: &[Bytes], gateway: &Gateway, order: &Order) -> Result<Vec<Option<i64>>, Frame> {
    let started: Vec<Option<Started>> = keys
        .iter()
        .map(|word| key(word).map(|key| gateway.start(Request::Read { key }, order)))
        .collect();
    let mut values = Vec::with_capacity(keys.len());
    for started in started {
        let response = match started {
            None => {
                values.push(None);
                continue;
            }
            Some(Started::Now(response)) => response,
            Some(Started::Later(later)) => later.await,
        };
        values.push(value_of(response)?);
    }
    Ok(values)
}

/// Whether a connection's fan-out is running; cloned into the fan-out, whose [`Guard`] clears it.
#[derive(Debug, Default)]
pub struct Running(Rc<Cell<bool>>);

impl Running {
    /// Whether a fan-out runs now.
    pub fn now(&self) -> bool {
        self.0.get()
    }

    /// Marks a fan-out as running until the guard is dropped.
    pub fn enter(&self) -> Guard {
        self.0.set(true);
        Guard(self.0.clone())
    }
}

/// Clears [`Running`] when the fan-out ends (or is dropped with its connection).
pub struct Guard(Rc<Cell<bool>>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.set(false);
    }
}
