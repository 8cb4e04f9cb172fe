//! `--http-port` and `--hot-keys` for `ringkv` and `ringkv serve`: bind the HTTP port before the
//! cluster starts (a port in use fails first, in one line), then serve it and print its port.

use ringkv::http::{self, HttpPort};

use super::ClusterArgs;

impl ClusterArgs {
    /// Binds the HTTP port when `--http-port` asks for one, and turns on `--hot-keys`.
    pub(super) fn bind_http(&self) -> ringkv::Result<Option<std::net::TcpListener>> {
        if self.hot_keys {
            ringkv::hotkeys::enable(ringkv::hotkeys::DEFAULT_CAPACITY);
        }
        self.http_port
            .map(|port| http::bind(&self.bind, port))
            .transpose()
    }

    /// Serves the HTTP port on the listener from [`ClusterArgs::bind_http`], if any, and prints
    /// its port as node ports are printed. Call it inside the actix `System`.
    pub(super) fn start_http(
        &self,
        listener: Option<std::net::TcpListener>,
        cluster: &ringkv::Cluster,
    ) -> ringkv::Result<Option<HttpPort>> {
        let Some(listener) = listener else {
            return Ok(None);
        };
        let server = http::start(listener, cluster.gateway(), self.security.access())?;
        say!("HTTP listening on port {}", server.port());
        Ok(Some(server))
    }
}
