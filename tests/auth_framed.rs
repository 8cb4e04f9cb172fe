//! Passwords and roles on the framed port: typed errors before `Auth` and above the role, every
//! role against every request class through the Rust `Client`, and `ringkv client` / `ringkv
//! bench` logging in with `--user`, `--password-file` and `RINGKV_PASSWORD`.

use crate::support::serve;

use crate::common;

use std::process::Command;
use std::time::Duration;

use common::{addr, cluster, WAIT};
use ringkv::actors::ServerLimits;
use ringkv::auth::{hash_password, parse_users, Access, Role};
use ringkv::client::Credentials;
use ringkv::{Client, Error, Request, Response};

const ROOT_PASSWORD: &str = "s3cret";

fn users_text() -> String {
    let mut text = String::new();
    for (name, role) in [("reader", "read"), ("writer", "write"), ("boss", "admin")] {
        let hash = hash_password(format!("{name}-pw").as_bytes()).expect("hash");
        text.push_str(&format!("{name} {role} {hash}\n"));
    }
    text
}

fn limits() -> ServerLimits {
    let users = parse_users(&users_text()).expect("users");
    ServerLimits {
        access: Access::new(Some(ROOT_PASSWORD), users).expect("access"),
        ..ServerLimits::default()
    }
}

fn creds(user: &str) -> Credentials {
    let password = if user == "default" {
        ROOT_PASSWORD.to_owned()
    } else {
        format!("{user}-pw")
    };
    Credentials::new(user, &password)
}

fn code(response: &Response) -> Option<ringkv::protocol::ErrorCode> {
    match response {
        Response::Error(reply) => Some(reply.code),
        _ => None,
    }
}

#[actix_rt::test]
async fn requests_before_auth_get_no_auth_and_wrong_pairs_wrong_pass() {
    let cluster = cluster(limits());
    let mut client = Client::connect_timeout(&addr(&cluster), WAIT)
        .await
        .expect("connect");
    use ringkv::protocol::ErrorCode::{NoAuth, WrongPass};
    for request in [
        Request::Get { key: "a".into() },
        Request::Update {
            key: "a".into(),
            amount: 1,
        },
        Request::Status,
        Request::KillNode {
            port: cluster.ports()[1],
        },
    ] {
        let answer = client.request(&request).await.expect("answered");
        assert_eq!(code(&answer), Some(NoAuth), "{request:?}: {answer:?}");
    }
    let wrong = Request::Auth {
        user: "writer".into(),
        password: "reader-pw".into(),
    };
    let answer = client.request(&wrong).await.expect("answered");
    assert_eq!(code(&answer), Some(WrongPass), "{answer:?}");
    let e = client
        .auth(creds("nobody"))
        .await
        .expect_err("no such user");
    assert!(matches!(e, Error::WrongPass(_)), "{e:?}");
    assert_eq!(
        client.auth(creds("writer")).await.expect("logs in"),
        Role::Write
    );
    assert_eq!(client.update("a", 2).await.expect("update"), 2);
    let boss = Some(Credentials::new("boss", "x"));
    let refused = Client::connect_with(&addr(&cluster), WAIT, boss).await;
    assert!(
        matches!(refused, Err(Error::WrongPass(_))),
        "{:?}",
        refused.err()
    );
    cluster.shutdown().await;
}

#[actix_rt::test]
async fn every_role_against_every_request_class() {
    let cluster = cluster(limits());
    let victim = cluster.ports()[2];
    for (user, writes, admin) in [
        ("reader", false, false),
        ("writer", true, false),
        ("boss", true, true),
        ("default", true, true),
    ] {
        let mut client = Client::connect_with(&addr(&cluster), WAIT, Some(creds(user)))
            .await
            .expect("logs in");
        for read in [
            Request::Get { key: "k".into() },
            Request::Status,
            Request::Ring,
            // TTL reads a deadline: a read, as in Redis's ACL (@read).
            Request::Expire {
                key: "k".into(),
                op: ringkv::protocol::ExpireOp::Deadline,
            },
        ] {
            let answer = client.request(&read).await.expect("answered");
            assert_eq!(code(&answer), None, "{user} {read:?}: {answer:?}");
        }
        let update = client.update("k", 1).await;
        assert_eq!(update.is_ok(), writes, "{user}: {update:?}");
        let persist = Request::Expire {
            key: "k".into(),
            op: ringkv::protocol::ExpireOp::Persist,
        };
        let answer = client.request(&persist).await.expect("answered");
        let refused = code(&answer) == Some(ringkv::protocol::ErrorCode::NoPerm);
        assert_eq!(refused, !writes, "{user} PERSIST changes a key: {answer:?}");
        if !writes {
            assert!(matches!(update, Err(Error::NoPerm(_))), "{update:?}");
        }
        // A pause of 1 ms stands for every admin request (kill/remove/add are tried below).
        let pause = client.pause_node(victim, Duration::from_millis(1)).await;
        assert_eq!(pause.is_ok(), admin, "{user}: {pause:?}");
        if !admin {
            let e = pause.expect_err("refused");
            assert!(matches!(e, Error::NoPerm(_)), "{e:?}");
            assert!(
                e.to_string().contains(&format!("user {user} has the")),
                "{e}"
            );
            for request in [
                Request::KillNode { port: victim },
                Request::RemoveNode { port: victim },
                Request::AddNode { port: None },
            ] {
                let answer = client.request(&request).await.expect("answered");
                use ringkv::protocol::ErrorCode::NoPerm;
                assert_eq!(code(&answer), Some(NoPerm), "{user} {request:?}");
            }
        }
    }
    let mut boss = Client::connect_with(&addr(&cluster), WAIT, Some(creds("boss")))
        .await
        .expect("logs in");
    assert_eq!(
        boss.get("k").await.expect("get"),
        3,
        "three users may update"
    );
    boss.kill_node(victim)
        .await
        .expect("an admin may kill a node");
    cluster.shutdown().await;
}

fn ringkv(args: &[&str], env: Option<&str>) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ringkv"));
    command.args(args).env_remove("RINGKV_PASSWORD");
    if let Some(password) = env {
        command.env("RINGKV_PASSWORD", password);
    }
    command.output().expect("ringkv runs")
}

fn text(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
fn ringkv_client_and_bench_log_in_from_a_file_or_the_environment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pass = dir.path().join("pass");
    std::fs::write(&pass, format!("{ROOT_PASSWORD}\n")).expect("write");
    let users = dir.path().join("users");
    std::fs::write(&users, users_text()).expect("write");
    let (pass, users) = (
        pass.to_str().expect("utf-8"),
        users.to_str().expect("utf-8"),
    );
    let server = serve::Server::in_memory(&["--requirepass-file", pass, "--users-file", users]);
    let addr = server.addr();

    let out = ringkv(&["client", "--addr", &addr, "update", "a", "3"], None);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("authentication required"),
        "{}",
        text(&out)
    );

    let out = ringkv(
        &[
            "client",
            "--addr",
            &addr,
            "--password-file",
            pass,
            "update",
            "a",
            "3",
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("Update successful"), "{}", text(&out));

    let reader = ["client", "--addr", &addr, "--user", "reader", "get", "a"];
    let out = ringkv(&reader, Some("reader-pw"));
    assert!(text(&out).contains("Count for a: 3"), "{}", text(&out));
    let out = ringkv(
        &[
            "client",
            "--addr",
            &addr,
            "--user",
            "reader",
            "kill-node",
            &server.ports[0].to_string(),
        ],
        Some("reader-pw"),
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("permission denied: user reader has the read role"),
        "{}",
        text(&out)
    );
    let out = ringkv(
        &["client", "--addr", &addr, "--user", "reader", "get", "a"],
        None,
    );
    assert!(
        text(&out).contains("--user reader needs a password"),
        "{}",
        text(&out)
    );
    let out = ringkv(
        &["client", "--addr", &addr, "--user", "reader", "get", "a"],
        Some("bad"),
    );
    assert!(
        text(&out).contains("authentication failed"),
        "{}",
        text(&out)
    );

    let bench = [
        "bench", "--addr", &addr, "-c", "4", "-n", "2000", "-q", "--user", "writer",
    ];
    let out = ringkv(&bench, Some("writer-pw"));
    assert!(out.status.success(), "{}", text(&out));
    let out = ringkv(&bench, Some("wrong"));
    assert!(!out.status.success());
    assert!(text(&out).contains("cannot log in"), "{}", text(&out));
    let out = ringkv(
        &[
            "client",
            "--addr",
            &addr,
            "--password-file",
            pass,
            "get",
            "key:0",
        ],
        None,
    );
    assert!(
        text(&out).contains("Count for key:0: 2000"),
        "{}",
        text(&out)
    );
    server.stop();
}
