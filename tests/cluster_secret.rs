//! The cluster secret (`--cluster-secret-file`) and node-to-node TLS between `ringkv serve`
//! processes on 127.0.0.1/2/3: processes that share the secret form a cluster and count exactly;
//! one with a wrong secret or none cannot join and changes nothing; a client without the secret
//! cannot make node calls, even logged in as an admin; membership datagrams not sealed with the
//! secret are dropped (while the same datagram sealed with it is taken); and two processes with
//! TLS, passwords and the secret serve an update through one and a read through the other.

use crate::support::procs;

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use procs::{block_on, converges, layout_at, update_all, Proc, KEYS};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use ringkv::auth::cluster_secret::ClusterSecret;
use ringkv::client::Credentials;
use ringkv::membership::{MembershipConfig, MembershipCore, ProcessId};
use ringkv::protocol::peer::WireOp;
use ringkv::protocol::ErrorCode;
use ringkv::tls::TlsClient;
use ringkv::{Client, Request, Response};

const WAIT: Duration = Duration::from_secs(5);

/// A temporary directory with the files the processes read: secrets, a password, certificates.
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Files {
        let files = Files {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        files.write("secret", "0123456789abcdef-our-cluster-secret\n");
        files.write("wrong-secret", "0123456789abcdef-another-secret\n");
        files.write("password", "s3cret-admin-pw\n");
        files
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path(name), text).expect("write");
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn arg(&self, name: &str) -> String {
        self.path(name).to_str().expect("utf-8").to_owned()
    }

    fn flag(&self, flag: &str, name: &str) -> Vec<String> {
        vec![flag.to_owned(), self.arg(name)]
    }

    /// A CA, and for each host a certificate naming its IP, signed by the CA.
    fn pki(&self, hosts: &[&str]) {
        let ca_key = KeyPair::generate().expect("key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "ringkv test cluster CA");
        let ca = ca_params.self_signed(&ca_key).expect("CA");
        self.write("ca.pem", &ca.pem());
        for host in hosts {
            let key = KeyPair::generate().expect("key");
            let params = CertificateParams::new(vec![(*host).to_owned()]).expect("params");
            let cert = params.signed_by(&key, &ca, &ca_key).expect("signed");
            self.write(&format!("{host}.pem"), &cert.pem());
            self.write(&format!("{host}-key.pem"), &key.serialize_pem());
        }
    }

    /// The TLS flags of the process on `host`: its certificate, and the CA for mutual TLS.
    fn tls_flags(&self, host: &str) -> Vec<String> {
        let mut flags = self.flag("--tls-cert-file", &format!("{host}.pem"));
        flags.extend(self.flag("--tls-key-file", &format!("{host}-key.pem")));
        flags.extend(self.flag("--tls-ca-cert-file", "ca.pem"));
        flags
    }

    /// A client's TLS: trusts the CA, presents the certificate of `host` (mutual TLS).
    fn tls_client(&self, host: &str) -> TlsClient {
        let (cert, key) = (
            self.path(&format!("{host}.pem")),
            self.path(&format!("{host}-key.pem")),
        );
        TlsClient::from_files(&self.path("ca.pem"), Some((&cert, &key))).expect("client TLS")
    }
}

fn start(host: &str, port: u16, dir: &Path, join: Option<&str>, extra: &[String]) -> Proc {
    Proc::try_start_with(host, port, dir, join, extra).expect("the process serves")
}

/// Starts a process that must not serve; answers what it printed on stderr.
fn refused(host: &str, port: u16, dir: &Path, join: &str, extra: &[String]) -> String {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_ringkv"));
    command
        .args(["serve", "--nodes", "2", "--bind", host])
        .args(["--base-port", &port.to_string(), "--data-dir"])
        .arg(dir)
        .args(["--join", join])
        .args(extra);
    let out = command.output().expect("ringkv serve runs");
    assert!(
        !out.status.success(),
        "a refused process exits with an error"
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Waits (bounded) until `proc`'s stderr holds `text`.
fn logged(proc: &Proc, text: &str) -> bool {
    let deadline = Instant::now() + WAIT;
    loop {
        if proc.stderr.lock().expect("log").contains(text) {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn processes_sharing_the_secret_count_and_others_cannot_join() {
    let files = Files::new();
    let dirs: Vec<_> = (0..4)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    let secret = files.flag("--cluster-secret-file", "secret");
    let first = start("127.0.0.1", 0, dirs[0].path(), None, &secret);
    let port = first.ports[0];
    let contact = first.addrs()[0].clone();
    let second = start("127.0.0.2", port, dirs[1].path(), Some(&contact), &secret);
    let addrs: Vec<String> = [&first, &second].iter().flat_map(|p| p.addrs()).collect();
    for addr in &addrs {
        assert_eq!(block_on(update_all(addr)), (KEYS as u64, 0), "via {addr}");
    }
    let want = vec![addrs.len() as u64; KEYS];
    assert!(
        converges(&addrs, &want, WAIT),
        "every node reads 4 of each key"
    );
    let before = block_on(layout_at(&contact)).expect("a layout");
    assert_eq!(before.processes().len(), 2);

    let wrong = files.flag("--cluster-secret-file", "wrong-secret");
    let said = refused("127.0.0.3", port, dirs[2].path(), &contact, &wrong);
    assert!(said.contains("cannot join the cluster"), "{said}");
    assert!(said.contains("cluster secret"), "{said}");
    assert!(
        logged(&first, "refused a node"),
        "the contacted process says why"
    );
    assert!(logged(&first, "does not know our cluster secret"));

    let said = refused("127.0.0.3", port, dirs[3].path(), &contact, &[]);
    assert!(said.contains("cannot join the cluster"), "{said}");
    assert!(said.contains("need the cluster secret"), "{said}");

    let after = block_on(layout_at(&contact)).expect("a layout");
    assert_eq!(
        after.epoch, before.epoch,
        "the refused joins changed nothing"
    );
    assert_eq!(after.processes(), before.processes());
    assert!(converges(&addrs, &want, WAIT), "the counts are unchanged");
}

/// A node call of each kind a client might forge, all refused without the secret.
fn node_calls(layout: ringkv::layout::Layout) -> Vec<Request> {
    vec![
        Request::NodeCall(WireOp::Increment {
            key: "forged".into(),
            amount: 1000,
            hint_for: None,
        }),
        Request::Join {
            process: SocketAddr::from(([127, 0, 0, 9], 7001)),
            nodes: vec![(77, SocketAddr::from(([127, 0, 0, 9], 7001)))],
        },
        Request::PushLayout {
            layout,
            moving: false,
        },
    ]
}

#[test]
fn a_client_without_the_secret_cannot_make_node_calls_even_as_admin() {
    let files = Files::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut extra = files.flag("--cluster-secret-file", "secret");
    extra.extend(files.flag("--requirepass-file", "password"));
    let node = start("127.0.0.1", 0, dir.path(), None, &extra);
    let addr = node.addrs()[0].clone();
    let admin = Credentials::new("default", "s3cret-admin-pw");
    block_on(async {
        let mut client = Client::connect_with(&addr, WAIT, Some(admin))
            .await
            .expect("logs in");
        let layout = match client.request(&Request::Layout).await.expect("answered") {
            Response::Layout(layout) => layout,
            other => panic!("no layout: {other:?}"),
        };
        for request in node_calls(layout) {
            let answer = client.request(&request).await.expect("answered");
            let Response::Error(e) = &answer else {
                panic!("{request:?} was served: {answer:?}");
            };
            assert_eq!(e.code, ErrorCode::NoAuth, "{e:?}");
            assert!(e.message.contains("cluster secret"), "{e:?}");
        }
        assert_eq!(
            client.get("forged").await.expect("get"),
            0,
            "nothing was counted"
        );
    });
    // A forged hello with no valid proof: the node refuses it and closes the connection.
    use std::io::{Read, Write};
    let mut raw = std::net::TcpStream::connect(&addr).expect("connect");
    raw.set_read_timeout(Some(WAIT)).expect("timeout");
    let mut hello = b"RGKS\x01".to_vec();
    hello.extend_from_slice(&[7u8; 32]);
    raw.write_all(&hello).expect("hello");
    let mut answer = [0u8; 64];
    raw.read_exact(&mut answer).expect("the node's challenge");
    raw.write_all(&[0u8; 32]).expect("a wrong proof");
    let mut rest = Vec::new();
    let _ = raw.read_to_end(&mut rest);
    assert_eq!(rest, vec![0], "refused (0), then closed");
    assert!(logged(&node, "refused a node"));
}

/// The datagrams a membership core at `from` sends to announce itself to `to`, sealed with
/// `secret` if given.
fn announce(from: SocketAddr, to: SocketAddr, secret: Option<&str>) -> Vec<Vec<u8>> {
    let id = ProcessId::new(from, 1);
    let mut core = MembershipCore::new(id, &MembershipConfig::default(), 7).expect("core");
    if let Some(secret) = secret {
        core.seal(ClusterSecret::new(secret.as_bytes()).expect("secret"));
    }
    core.join(&[to]).expect("announces");
    let sends = core.drain().sends;
    assert!(!sends.is_empty(), "an announce goes out");
    sends.into_iter().map(|d| d.data.to_vec()).collect()
}

#[test]
fn membership_datagrams_not_sealed_with_the_secret_are_dropped() {
    let files = Files::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let node = start(
        "127.0.0.1",
        0,
        dir.path(),
        None,
        &files.flag("--cluster-secret-file", "secret"),
    );
    let first = node.ports.iter().copied().min().expect("ports");
    let target = SocketAddr::from(([127, 0, 0, 1], first));
    let socket = UdpSocket::bind("127.0.0.3:0").expect("a UDP socket");
    let from = socket.local_addr().expect("address");
    for forged in [None, Some("0123456789abcdef-another-secret")] {
        for datagram in announce(from, target, forged) {
            socket.send_to(&datagram, target).expect("sent");
        }
    }
    assert!(
        logged(&node, "membership: dropped"),
        "forged datagrams are logged"
    );
    assert!(logged(&node, "(2 dropped so far)"), "and counted");
    let mut buf = [0u8; 2048];
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    assert!(
        socket.recv_from(&mut buf).is_err(),
        "a dropped announce gets no answer"
    );
    assert!(!node.stderr.lock().expect("log").contains("membership: Up"));
    // The control: the same announce sealed with the secret is taken and answered.
    for datagram in announce(from, target, Some("0123456789abcdef-our-cluster-secret")) {
        socket.send_to(&datagram, target).expect("sent");
    }
    socket.set_read_timeout(Some(WAIT)).expect("timeout");
    assert!(
        socket.recv_from(&mut buf).is_ok(),
        "a sealed announce is answered"
    );
}

#[test]
fn two_processes_with_tls_passwords_and_the_secret_serve_end_to_end() {
    let files = Files::new();
    files.pki(&["127.0.0.1", "127.0.0.2"]);
    let dirs: Vec<_> = (0..2)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    let flags = |host: &str| {
        let mut flags = files.tls_flags(host);
        flags.extend(files.flag("--cluster-secret-file", "secret"));
        flags.extend(files.flag("--requirepass-file", "password"));
        flags
    };
    let first = start("127.0.0.1", 0, dirs[0].path(), None, &flags("127.0.0.1"));
    let port = first.ports[0];
    let contact = first.addrs()[0].clone();
    let second = start(
        "127.0.0.2",
        port,
        dirs[1].path(),
        Some(&contact),
        &flags("127.0.0.2"),
    );
    let admin = || Some(Credentials::new("default", "s3cret-admin-pw"));
    block_on(async {
        let tls = Some(files.tls_client("127.0.0.1"));
        let mut one = Client::connect_tls(&contact, WAIT, admin(), tls)
            .await
            .expect("connects");
        for i in 0..KEYS {
            assert_eq!(one.update(&format!("k{i}"), 5).await.expect("update"), 5);
        }
        for addr in second.addrs() {
            let tls = Some(files.tls_client("127.0.0.2"));
            let mut two = Client::connect_tls(&addr, WAIT, admin(), tls)
                .await
                .expect("connects");
            for i in 0..KEYS {
                assert_eq!(
                    two.get(&format!("k{i}")).await.expect("get"),
                    5,
                    "k{i} via {addr}"
                );
            }
        }
        // A plaintext client gets nothing from a TLS node port.
        let plain = Client::connect_with(&contact, Duration::from_secs(2), admin()).await;
        assert!(plain.is_err(), "plaintext on a TLS port");
    });
    let status = first.stderr.lock().expect("log").clone();
    assert!(!status.contains("refused a node"), "{status}");
}

#[test]
fn passwords_or_tls_without_what_other_processes_need_refuse_a_multi_process_start() {
    let files = Files::new();
    files.pki(&["127.0.0.3"]);
    let dir = tempfile::tempdir().expect("tempdir");
    // No process listens at the address to join: the refusal comes before any connection.
    let join = "127.0.0.1:1";
    let said = refused(
        "127.0.0.3",
        0,
        dir.path(),
        join,
        &files.flag("--requirepass-file", "password"),
    );
    assert!(said.contains("no --cluster-secret-file"), "{said}");
    assert_eq!(said.trim().lines().count(), 1, "one line: {said}");
    let mut tls = files.flag("--tls-cert-file", "127.0.0.3.pem");
    tls.extend(files.flag("--tls-key-file", "127.0.0.3-key.pem"));
    let said = refused("127.0.0.3", 0, dir.path(), join, &tls);
    assert!(said.contains("no --tls-ca-cert-file"), "{said}");
}
