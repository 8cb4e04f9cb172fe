//! `Gateway`: how a request enters the cluster. Reads and updates whose replicas are all up take
//! the direct path ([`crate::direct`]) on the caller's task; everything else is a message to the
//! Router.
//!
//! Sessions keep their requests in order: once one of a connection's requests went to the Router,
//! the connection sends its later requests there too until the Router has answered them all (see
//! [`Gateway::start`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use actix::Addr;

use super::budget::Budget;
use super::change_lock::ChangeLock;
use super::router::{Exec, Router};
use super::standing::Standing;
use super::votes::Votes;
use crate::counter::tokens::{check_token, token_id};
use crate::direct::{Direct, Served};
use crate::error::{Error, Result};
use crate::protocol::{Request, Response};

/// A request's answer that is not ready yet.
pub type Later = Pin<Box<dyn Future<Output = Response> + Send>>;

/// A started request: answered at once, or later.
pub enum Started {
    /// The answer.
    Now(Response),
    /// The answer, once the cluster has it.
    Later(Later),
}

/// The way into one cluster: the Router's address and the direct path it publishes.
#[derive(Clone)]
pub struct Gateway {
    router: Addr<Router>,
    direct: Arc<Direct>,
    budget: Budget,
    changes: ChangeLock,
    votes: Votes,
    standing: Standing,
}

/// Per-connection order keeper: how many of its requests the Router has not answered yet.
#[derive(Debug, Default, Clone)]
pub struct Order(Arc<AtomicUsize>);

impl Order {
    /// A connection with nothing at the Router.
    pub fn new() -> Self {
        Order::default()
    }

    fn clear(&self) -> bool {
        self.0.load(Ordering::Acquire) == 0
    }
}

/// Counts a request as at the Router until dropped.
struct AtRouter(Order);

impl AtRouter {
    fn new(order: &Order) -> Self {
        order.0.fetch_add(1, Ordering::AcqRel);
        AtRouter(order.clone())
    }
}

impl Drop for AtRouter {
    fn drop(&mut self) {
        self.0 .0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Gateway {
    /// A gateway to `router`, with the direct path `direct` (which the Router publishes into)
    /// and the server's byte budget, shared by every connection that enters through it, and the
    /// Router's promise to membership changes ([`ChangeLock`]), its acceptor in the agreement on
    /// the next ring ([`Votes`]) and where the process stands ([`Standing`]: reads and writes
    /// wait while it catches up with the cluster's ring).
    pub fn new(
        router: Addr<Router>,
        direct: Arc<Direct>,
        budget: Budget,
        (changes, votes): (ChangeLock, Votes),
        standing: Standing,
    ) -> Self {
        Gateway {
            router,
            direct,
            budget,
            changes,
            votes,
            standing,
        }
    }

    /// Where this process stands: serving, catching up, or removed from its cluster.
    pub fn standing(&self) -> &Standing {
        &self.standing
    }

    /// The server's byte budget for requests in flight and answers not yet written.
    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    /// How many nodes the cluster has (as last published to the direct path).
    pub fn node_count(&self) -> usize {
        self.direct.node_count()
    }

    /// The direct path (the Router's published view).
    pub fn direct(&self) -> &Arc<Direct> {
        &self.direct
    }

    /// The Router's address.
    pub fn router(&self) -> &Addr<Router> {
        &self.router
    }

    /// Starts `request` for a connection whose order is kept by `order`: directly if it can and
    /// nothing of the connection is still at the Router, else through the Router. Its answer and
    /// latency are counted in [`crate::metrics`].
    pub fn start(&self, request: Request, order: &Order) -> Started {
        let meter = Meter {
            op: crate::metrics::op_of(&request),
            began: crate::metrics::sample_start(),
        };
        if let Request::Update { key, .. } | Request::UpdateToken { key, .. } = &request {
            crate::hotkeys::record(key);
        }
        match self.start_unmetered(request, order, meter) {
            Started::Now(response) => {
                meter.record(&response);
                Started::Now(response)
            }
            // Recorded by the future itself: one allocation per request, not two.
            later @ Started::Later(_) => later,
        }
    }

    /// Starts `request`; a future it returns records its answer with `meter`, an answer given
    /// now is recorded by the caller.
    fn start_unmetered(&self, request: Request, order: &Order, meter: Meter) -> Started {
        if let Some(e) = self.standing.refuse(&request) {
            return Started::Now(Response::from(e));
        }
        if let Some(answer) = self.membership(&request) {
            return Started::Now(answer);
        }
        let request = if order.clear() {
            match self.try_direct(request, meter) {
                Ok(started) => return started,
                Err(request) => request,
            }
        } else {
            request
        };
        let guard = AtRouter::new(order);
        let sent = self.router.send(Exec(request));
        Started::Later(Box::pin(async move {
            let response = sent
                .await
                .unwrap_or_else(|_| Response::from(Error::Shutdown));
            drop(guard);
            meter.record(&response);
            response
        }))
    }

    /// Answers the agreement's requests and promises a moving layout here, not behind a Router
    /// that may be busy running a change (`None`: the request goes on to the Router).
    fn membership(&self, request: &Request) -> Option<Response> {
        match request {
            Request::Prepare { ballot } => Some(
                self.votes
                    .prepare(*ballot)
                    .map_or_else(Response::from, Response::Vote),
            ),
            Request::Accept { ballot, layout } => Some(
                self.votes
                    .accept(*ballot, layout.clone())
                    .map_or_else(Response::from, Response::Vote),
            ),
            Request::CallOff { ballot, layout } => {
                self.votes.call_off(*ballot);
                if !self.changes.runs(layout) {
                    self.changes.release_layout(layout);
                }
                None
            }
            // This process copies towards that layout itself: it writes to it already, and
            // installs it when its copy ends.
            Request::PushLayout { layout, .. } if self.changes.runs(layout) => {
                Some(Response::Layout(layout.clone()))
            }
            Request::PushLayout {
                layout,
                moving: true,
            } => self.changes.promise(layout).err().map(Response::from),
            _ => None,
        }
    }

    /// Runs `request` (directly when it can) and answers.
    pub async fn execute(&self, request: Request) -> Response {
        match self.start(request, &Order::new()) {
            Started::Now(response) => response,
            Started::Later(later) => later.await,
        }
    }

    /// Serves a read or an update on the direct path; gives the request back if it cannot.
    fn try_direct(&self, request: Request, meter: Meter) -> std::result::Result<Started, Request> {
        match request {
            Request::Update { key, amount } => match self.direct.update(&key, amount) {
                Some(served) => Ok(answer(served, key, meter, |key, served| {
                    Response::Updated {
                        key,
                        value: served.value,
                    }
                })),
                None => Err(Request::Update { key, amount }),
            },
            Request::UpdateToken { key, amount, token } => {
                if let Err(e) = check_token(&token) {
                    return Ok(Started::Now(Response::from(e)));
                }
                match self.direct.update_token(&key, amount, token_id(&token)) {
                    Some(served) => Ok(answer(served, key, meter, |key, served| {
                        Response::Updated {
                            key,
                            value: served.value,
                        }
                    })),
                    None => Err(Request::UpdateToken { key, amount, token }),
                }
            }
            Request::Get { key } => match self.direct.get(&key) {
                Some(served) => Ok(answer(served, key, meter, |key, served| Response::Count {
                    key,
                    value: served.value,
                })),
                None => Err(Request::Get { key }),
            },
            Request::Read { key } => match self.direct.get(&key) {
                Some(served) => Ok(answer(served, key, meter, |key, served| Response::Value {
                    key,
                    value: served.exists.then_some(served.value),
                })),
                None => Err(Request::Read { key }),
            },
            other => Err(other),
        }
    }
}

/// The response to a direct request, now or once its log writes are synced and the replicas in
/// other processes answered.
fn answer(
    served: Result<Served>,
    key: String,
    meter: Meter,
    make: fn(String, &Served) -> Response,
) -> Started {
    match served {
        Err(e) => Started::Now(Response::from(e)),
        Ok(served) if served.is_done() => Started::Now(make(key, &served)),
        Ok(served) => Started::Later(Box::pin(async move {
            let exists = served.exists;
            let response = match served.synced(&key).await {
                Ok(value) => make(key, &Served::now(exists.then_some(value))),
                Err(e) => Response::from(e),
            };
            meter.record(&response);
            response
        })),
    }
}

/// What [`crate::metrics`] counts of one request: its kind and, if sampled, when it began.
#[derive(Clone, Copy)]
struct Meter {
    op: usize,
    began: Option<std::time::Instant>,
}

impl Meter {
    /// Counts the answer (and its latency, if sampled).
    fn record(self, response: &Response) {
        crate::metrics::request(self.op, response, self.began);
    }
}

/// Lets the other connections that have input run before this one writes its replies.
///
/// A read that brought a pipeline of requests is answered after the others' reads, as Redis
/// writes all its replies after a round of reads: replies that go out together wake their clients
/// once, where replies spread out wake a sleeping client each time (measured in BENCHMARKS.md:
/// the wake-ups cost more than the requests). Two turns, because a yielded task runs again right
/// after the next poll of the I/O driver, before the connections that poll made ready; a single
/// request is answered at once, so that latency does not pay for it.
pub async fn yield_to_other_connections() {
    tokio::task::yield_now().await;
    tokio::task::yield_now().await;
}
