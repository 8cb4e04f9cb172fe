//! Plans that run as one async task on the connection: SCAN, KEYS, FLUSHALL, EXEC... They may
//! ask the Router several times; the connection starts nothing after them until they end, so
//! the requests that follow see what they did (as behind a fan-out).

use futures_util::future::{join_all, ready, LocalBoxFuture};
use futures_util::FutureExt;

use super::commands::Plan;
use super::reply::{self, Frame, Proto};
use crate::actors::gateway::{Gateway, Order, Started};
use crate::protocol::{Request, Response};

/// A task: given the way into the cluster, this connection's order keeper and its protocol, the
/// future of the reply.
pub type Task = Box<dyn FnOnce(Gateway, Order, Proto) -> LocalBoxFuture<'static, Frame>>;

/// Wraps an async reply maker as a [`Plan::Task`].
pub fn plan<F>(make: impl FnOnce(Gateway, Order, Proto) -> F + 'static) -> Plan
where
    F: std::future::Future<Output = Frame> + 'static,
{
    Plan::Task(Box::new(move |gateway, order, proto| {
        make(gateway, order, proto).boxed_local()
    }))
}

/// Runs any plan to its reply (the commands of an `EXEC`, one after the other). `QUIT` inside a
/// transaction answers `OK` and closes nothing, as in Redis.
pub async fn run(plan: Plan, gateway: &Gateway, order: &Order, proto: Proto) -> Frame {
    match plan {
        Plan::Reply(frame) => frame,
        Plan::Quit => reply::ok(),
        Plan::Ask(mut ask) => {
            let requests = std::mem::take(&mut ask.requests);
            let responses = start_all(gateway, order, requests.into_iter()).await;
            ask.finish(responses.into())
        }
        Plan::Fanout(fanout) => fanout.run(gateway.clone(), order.clone(), proto).await,
        Plan::Task(task) => task(gateway.clone(), order.clone(), proto).await,
    }
}

/// Starts every request at once and waits for all their answers, in order.
pub async fn start_all(
    gateway: &Gateway,
    order: &Order,
    requests: impl Iterator<Item = Request>,
) -> Vec<Response> {
    let started = requests.map(|r| match gateway.start(r, order) {
        Started::Now(response) => ready(response).left_future(),
        Started::Later(later) => later.right_future(),
    });
    join_all(started).await
}

/// The reply for a Router that is gone (the cluster shuts down).
pub fn router_gone() -> Frame {
    reply::err("the cluster is shutting down")
}
