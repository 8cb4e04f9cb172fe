//! TLS on the client ports, with certificates made at run time (rcgen): redis-cli `--tls
//! --cacert` and the `redis` crate... through RESP, `ringkv client --tls --cacert` and the Rust
//! `Client` through the framed port, mutual TLS with `--tls-ca-cert-file`, and a clean close for
//! a plaintext client on a TLS port.

use crate::support::resp_server;
use crate::support::serve;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use ringkv::resp::RespLimits;
use ringkv::tls::{TlsClient, TlsServer};
use ringkv::{Client, Error};

/// A CA, a server certificate for `localhost` and 127.0.0.1 and a client certificate, all
/// signed by the CA, written as PEM files in a temporary directory.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca_key = KeyPair::generate().expect("key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "ringkv test CA");
        let ca = ca_params.self_signed(&ca_key).expect("CA");
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).expect("write");
        for (name, sans) in [
            ("server", vec!["localhost", "127.0.0.1"]),
            ("client", vec!["client"]),
        ] {
            let key = KeyPair::generate().expect("key");
            let sans: Vec<String> = sans.into_iter().map(String::from).collect();
            let params = CertificateParams::new(sans).expect("params");
            let cert = params.signed_by(&key, &ca, &ca_key).expect("signed");
            std::fs::write(dir.path().join(format!("{name}.pem")), cert.pem()).expect("write");
            let key_file = dir.path().join(format!("{name}-key.pem"));
            std::fs::write(key_file, key.serialize_pem()).expect("write");
        }
        // Another CA, which signed nothing of the above.
        let other_key = KeyPair::generate().expect("key");
        let mut other = CertificateParams::new(Vec::<String>::new()).expect("params");
        other.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let other = other.self_signed(&other_key).expect("CA");
        std::fs::write(dir.path().join("other-ca.pem"), other.pem()).expect("write");
        Pki { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn arg(&self, name: &str) -> String {
        self.path(name).to_str().expect("utf-8").to_owned()
    }

    fn server(&self, client_ca: bool) -> TlsServer {
        let ca = self.path("ca.pem");
        let ca = client_ca.then_some(ca.as_path());
        TlsServer::from_files(&self.path("server.pem"), &self.path("server-key.pem"), ca)
            .expect("server TLS")
    }
}

fn have(tool: &str) -> bool {
    let found = Command::new(tool).arg("--version").output().is_ok();
    if !found {
        eprintln!("skipped: {tool} is not installed (Debian: apt-get install redis-tools)");
    }
    found
}

fn resp_tls_server(pki: &Pki) -> resp_server::Server {
    resp_server::Server::with_limits(RespLimits {
        tls: Some(pki.server(false)),
        ..RespLimits::default()
    })
}

#[test]
fn redis_cli_round_trips_over_tls() {
    if !have("redis-cli") {
        return;
    }
    let pki = Pki::new();
    let server = resp_tls_server(&pki);
    let port = server.port.to_string();
    let cli = |args: &[&str]| {
        let out = Command::new("redis-cli")
            .args(["-p", &port, "--tls", "--cacert", &pki.arg("ca.pem")])
            .args(args)
            .output()
            .expect("redis-cli runs");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert_eq!(cli(&["incr", "t"]), "1");
    assert_eq!(cli(&["incr", "t"]), "2");
    assert_eq!(cli(&["get", "t"]), "2");
    // Without --tls, redis-cli gets no answer: the connection is closed.
    let plain = Command::new("redis-cli")
        .args(["-p", &port, "incr", "t"])
        .output()
        .expect("redis-cli runs");
    assert!(!String::from_utf8_lossy(&plain.stdout).contains('3'));
    assert_eq!(cli(&["get", "t"]), "2", "the plaintext INCR was not served");
}

/// A plaintext client on a TLS port: the server closes without a reset (reads end with EOF).
fn assert_clean_close(port: u16, hello: &[u8]) {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    stream.write_all(hello).expect("write");
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => assert!(started.elapsed() < Duration::from_secs(15), "never closed"),
            Err(e) => panic!("not a clean close: {e}"),
        }
    }
}

#[test]
fn a_plaintext_client_on_a_tls_port_gets_a_clean_close() {
    let pki = Pki::new();
    let server = resp_tls_server(&pki);
    assert_clean_close(server.port, b"*1\r\n$4\r\nPING\r\n");
    let cert = pki.arg("server.pem");
    let key = pki.arg("server-key.pem");
    let framed = serve::Server::in_memory(&[
        "--nodes",
        "1",
        "--tls-cert-file",
        &cert,
        "--tls-key-file",
        &key,
    ]);
    let mut frame = vec![0, 0, 0, 15];
    frame.extend_from_slice(b"RGKV\x03\0\0\0\0\0\0\0\x01\0\0");
    assert_clean_close(framed.ports[0], &frame);
    framed.stop();
}

fn client(pki: &Pki, addr: &str, words: &[&str], extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ringkv"))
        .args([
            "client",
            "--addr",
            addr,
            "--tls",
            "--cacert",
            &pki.arg("ca.pem"),
        ])
        .args(extra)
        .args(words)
        .output()
        .expect("ringkv client runs")
}

fn text(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
fn ringkv_client_round_trips_over_tls_and_mutual_tls() {
    let pki = Pki::new();
    let (cert, key, ca) = (
        pki.arg("server.pem"),
        pki.arg("server-key.pem"),
        pki.arg("ca.pem"),
    );
    let server = serve::Server::in_memory(&[
        "--nodes",
        "2",
        "--tls-cert-file",
        &cert,
        "--tls-key-file",
        &key,
    ]);
    let addr = server.addr();
    let out = client(&pki, &addr, &["update", "a", "5"], &[]);
    assert!(text(&out).contains("Update successful"), "{}", text(&out));
    let out = client(&pki, &addr, &["get", "a"], &[]);
    assert!(text(&out).contains("Count for a: 5"), "{}", text(&out));
    let plain = Command::new(env!("CARGO_BIN_EXE_ringkv"))
        .args(["client", "--addr", &addr, "--timeout", "2", "get", "a"])
        .output()
        .expect("runs");
    assert!(!plain.status.success(), "a plaintext client is not served");
    server.stop();

    let mutual = [
        "--nodes",
        "1",
        "--tls-cert-file",
        &cert,
        "--tls-key-file",
        &key,
        "--tls-ca-cert-file",
        &ca,
    ];
    let server = serve::Server::in_memory(&mutual);
    let addr = server.addr();
    let out = client(&pki, &addr, &["update", "m"], &[]);
    assert!(
        !out.status.success(),
        "no client certificate: refused: {}",
        text(&out)
    );
    let identity = [
        "--cert",
        &pki.arg("client.pem"),
        "--key",
        &pki.arg("client-key.pem"),
    ];
    let out = client(&pki, &addr, &["update", "m"], &identity);
    assert!(text(&out).contains("Update successful"), "{}", text(&out));
    server.stop();
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

#[test]
fn the_rust_client_checks_the_servers_certificate() {
    let pki = Pki::new();
    let (cert, key) = (pki.arg("server.pem"), pki.arg("server-key.pem"));
    let server = serve::Server::in_memory(&[
        "--nodes",
        "1",
        "--tls-cert-file",
        &cert,
        "--tls-key-file",
        &key,
    ]);
    let wait = Duration::from_secs(10);
    let trusted = TlsClient::from_files(&pki.path("ca.pem"), None).expect("client TLS");
    let untrusted =
        TlsClient::from_files(Path::new(&pki.path("other-ca.pem")), None).expect("client TLS");
    block_on(async {
        let mut ok = Client::connect_tls(&server.addr(), wait, None, Some(trusted))
            .await
            .expect("TLS");
        assert_eq!(ok.update("c", 2).await.expect("update"), 2);
        let e = Client::connect_tls(&server.addr(), wait, None, Some(untrusted))
            .await
            .err();
        assert!(matches!(e, Some(Error::Io(_))), "{e:?}");
    });
    server.stop();
}
