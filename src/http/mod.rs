//! The HTTP port (`--http-port`): `/metrics` (Prometheus text), `/api/status` and `/api/ring`
//! (JSON), and `/`, a live dashboard of the ring. Served by actix-web on the actix system the
//! cluster runs on (one worker thread of its own), so a scrape never waits behind the nodes' I/O.

mod api;
mod guard;

pub use guard::Guard;

use std::net::TcpListener;
use std::rc::Rc;
use std::time::Instant;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpServer};

use crate::actors::Gateway;
use crate::auth::Access;
use crate::error::{Error, Result};
use crate::metrics::{self, PortKind};

/// What every handler shares: the way into the cluster (its Router and direct path), and when
/// the server started.
#[derive(Clone)]
pub struct HttpState {
    gateway: Gateway,
    started: Instant,
}

/// A running HTTP port.
pub struct HttpPort {
    port: u16,
    handle: ServerHandle,
}

impl HttpPort {
    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops accepting and closes the connections (without waiting for them).
    pub fn shutdown(&self) {
        let handle = self.handle.clone();
        actix_rt::spawn(async move { handle.stop(false).await });
    }
}

/// Binds `host:port` (0: any free port); done before the cluster starts so a port in use fails
/// first.
///
/// # Errors
/// [`Error::Bind`] with the operating system's reason.
pub fn bind(host: &str, port: u16) -> Result<TcpListener> {
    TcpListener::bind((host, port)).map_err(|e| Error::Bind {
        port,
        reason: e.to_string(),
    })
}

/// Serves the HTTP port on `listener` for the cluster `gateway` leads into; with passwords in
/// `access`, every page asks for an admin user's name and password (HTTP Basic). Call it inside
/// the actix `System`.
///
/// # Errors
/// [`Error::Bind`] if the listener cannot be used.
pub fn start(listener: TcpListener, gateway: Gateway, access: Access) -> Result<HttpPort> {
    let guard = Guard::new(access);
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let state = HttpState {
        gateway,
        started: Instant::now(),
    };
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(state.clone()))
            .app_data(web::Data::new(guard.clone()))
            .wrap(actix_web::middleware::from_fn(guard::check))
            .configure(api::routes)
    })
    .on_connect(|_, extensions| {
        extensions.insert(Rc::new(metrics::connection(PortKind::Http)));
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .map_err(|e| Error::Bind {
        port,
        reason: e.to_string(),
    })?
    .run();
    let handle = server.handle();
    actix_rt::spawn(server);
    Ok(HttpPort { port, handle })
}
