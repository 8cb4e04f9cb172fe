//! The HTTP port behind the same passwords as admin commands: with `--requirepass-file` and
//! `--users-file`, `/metrics`, `/api/*` and `/` ask for HTTP Basic credentials of an admin user
//! (401 without or with a wrong pair, 403 for a user below admin); without passwords it is open.

use crate::support::http;

use http::{get_with, HttpServe};
use ringkv::auth::hash_password;

/// `user:password` as an `Authorization: Basic` header line.
fn basic(pair: &str) -> String {
    const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in pair.as_bytes().chunks(3) {
        let n = chunk.iter().fold(0u32, |n, &b| n << 8 | u32::from(b)) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    format!("Authorization: Basic {out}\r\n")
}

#[test]
fn with_passwords_the_http_port_wants_an_admin() {
    let dir = tempfile::tempdir().unwrap();
    let pass = dir.path().join("pass");
    std::fs::write(&pass, "s3cret\n").unwrap();
    let users = dir.path().join("users");
    let hash = |pw: &str| hash_password(pw.as_bytes()).unwrap();
    let text = format!(
        "reader read {}\nboss admin {}\n",
        hash("r-pw"),
        hash("b-pw")
    );
    std::fs::write(&users, text).unwrap();
    let (pass, users) = (pass.to_str().unwrap(), users.to_str().unwrap());
    let server = HttpServe::start(&[
        "--in-memory",
        "--requirepass-file",
        pass,
        "--users-file",
        users,
    ]);

    for path in ["/metrics", "/api/status", "/"] {
        let (status, head, _) = get_with(server.http, path, "");
        assert_eq!(status, 401, "{path}: {head}");
        assert!(head.contains("www-authenticate: basic"), "{head}");
    }
    assert_eq!(
        get_with(server.http, "/metrics", &basic("boss:wrong")).0,
        401
    );
    let (status, _, body) = get_with(server.http, "/metrics", &basic("reader:r-pw"));
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("NOPERM"), "{body}");
    for pair in ["boss:b-pw", "default:s3cret"] {
        let (status, _, body) = get_with(server.http, "/metrics", &basic(pair));
        assert_eq!(status, 200, "{pair}");
        assert!(body.contains("ringkv_requests_total"), "{pair}");
    }
}

#[test]
fn without_passwords_the_http_port_is_open() {
    let server = HttpServe::start(&["--in-memory"]);
    assert_eq!(get_with(server.http, "/api/ring", "").0, 200);
}
