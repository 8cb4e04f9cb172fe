//! A `ringkv serve --http-port 0` child process and a minimal HTTP/1.1 GET over a plain socket
//! (127.0.0.1 only), for the HTTP port's tests.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `ringkv serve` with its node, RESP and HTTP ports.
pub struct HttpServe {
    pub child: Child,
    pub nodes: Vec<u16>,
    pub resp: Option<u16>,
    pub http: u16,
}

impl HttpServe {
    /// `ringkv serve --base-port 0 --http-port 0 ARGS`, once it printed its ports.
    pub fn start(args: &[&str]) -> HttpServe {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ringkv"))
            .args(["serve", "--base-port", "0", "--http-port", "0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("ringkv serve starts");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let (mut nodes, mut resp, mut http) = (Vec::new(), None, None);
        for line in lines.by_ref().map_while(Result::ok) {
            let port = |prefix: &str| {
                line.strip_prefix(prefix)
                    .and_then(|p| p.trim().parse().ok())
            };
            if let Some(p) = port("Node listening on port ") {
                nodes.push(p);
            } else if let Some(p) = port("RESP listening on port ") {
                resp = Some(p);
            } else if let Some(p) = port("HTTP listening on port ") {
                http = Some(p);
            } else if line.starts_with("Serving") {
                break;
            }
        }
        std::thread::spawn(move || for _ in lines {});
        let http = http.expect("ringkv serve prints its HTTP port");
        HttpServe {
            child,
            nodes,
            resp,
            http,
        }
    }

    /// `GET path`: the status code, the headers (lowercased names) and the body.
    pub fn get(&self, path: &str) -> (u16, String, String) {
        get(self.http, path)
    }

    /// Stops the process by its PID (SIGKILL) and waits for it.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for HttpServe {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `GET path` on 127.0.0.1:`port` with `Connection: close`.
pub fn get(port: u16, path: &str) -> (u16, String, String) {
    get_with(port, path, "")
}

/// Like [`get`], with `headers` (each line ending in `\r\n`) added to the request.
pub fn get_with(port: u16, path: &str, headers: &str) -> (u16, String, String) {
    get_at("127.0.0.1", port, path, headers)
}

/// Like [`get_with`], on `host` (an address of 127.0.0.0/8).
pub fn get_at(host: &str, port: u16, path: &str, headers: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect((host, port)).expect("connect to the HTTP port");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{headers}\r\n"
    )
    .expect("send the request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read the answer");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("headers end");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status code");
    (status, head.to_ascii_lowercase(), body.to_owned())
}
