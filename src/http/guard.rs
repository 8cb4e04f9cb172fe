//! Who may use the HTTP port: with passwords (`--requirepass-file`, `--users-file`), every page
//! asks for HTTP Basic credentials of a user with the `admin` role, as admin commands do; without
//! passwords the port is open, as the node ports are. A right pair is remembered for a minute, so a
//! dashboard polling every second pays one slow hash a minute, not one a poll.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, EitherBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{http::header, HttpResponse};

use crate::auth::{Access, Role, Verdict};

/// How long a checked `Authorization` header is taken as is.
const REMEMBER_FOR: Duration = Duration::from_secs(60);

/// The HTTP port's access: the server's users, and the last header that was right.
#[derive(Clone, Default)]
pub struct Guard {
    access: Access,
    known: Arc<Mutex<Option<(String, Instant)>>>,
}

impl Guard {
    /// A guard over `access` (open when it has no passwords).
    pub fn new(access: Access) -> Guard {
        Guard {
            access,
            known: Arc::default(),
        }
    }

    /// Whether `header` (an `Authorization` value) names an admin of this server.
    async fn admits(&self, header: Option<&str>, peer: Option<IpAddr>) -> Result<(), HttpResponse> {
        if !self.access.required() {
            return Ok(());
        }
        let header = header.ok_or_else(ask)?;
        if self.remembered(header) {
            return Ok(());
        }
        let (user, password) = basic(header).ok_or_else(ask)?;
        match self
            .access
            .check(user, password.into_bytes(), peer, 0)
            .await
        {
            Verdict::Granted {
                role: Role::Admin, ..
            } => {
                *self.lock() = Some((header.to_owned(), Instant::now()));
                Ok(())
            }
            Verdict::Granted { user, .. } => Err(HttpResponse::Forbidden().body(format!(
                "NOPERM User {user} has no permissions to use the HTTP port (admin role needed)\n"
            ))),
            Verdict::Denied | Verdict::Limited => Err(ask()),
        }
    }

    fn remembered(&self, header: &str) -> bool {
        self.lock()
            .as_ref()
            .is_some_and(|(h, at)| h == header && at.elapsed() < REMEMBER_FOR)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(String, Instant)>> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The answer that asks for credentials.
fn ask() -> HttpResponse {
    HttpResponse::Unauthorized()
        .insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"ringkv\""))
        .body("Authentication required: an admin user's name and password (HTTP Basic)\n")
}

/// The user and password of a `Basic` header.
fn basic(header: &str) -> Option<(String, String)> {
    let encoded = header.strip_prefix("Basic ")?.trim();
    let decoded = String::from_utf8(base64_decode(encoded)?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// Standard base64 (with or without padding); `None` for anything else.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let bytes = text.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= value(c)? << (18 - 6 * i);
        }
        let take = match chunk.len() {
            4 => 3,
            3 => 2,
            2 => 1,
            _ => return None,
        };
        out.extend_from_slice(&n.to_be_bytes()[1..=take]);
    }
    Some(out)
}

/// The middleware: every request passes the guard first.
pub async fn check(
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<EitherBody<BoxBody>>, actix_web::Error> {
    let guard = req
        .app_data::<actix_web::web::Data<Guard>>()
        .map(|g| g.get_ref().clone())
        .unwrap_or_default();
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned);
    let peer = req.peer_addr().map(|a| a.ip());
    match guard.admits(header.as_deref(), peer).await {
        Ok(()) => Ok(next.call(req).await?.map_into_left_body()),
        Err(refused) => Ok(req.into_response(refused).map_into_right_body()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_headers_decode() {
        // "admin:s3cret" and "a:b" in base64.
        assert_eq!(
            basic("Basic YWRtaW46czNjcmV0"),
            Some(("admin".into(), "s3cret".into()))
        );
        assert_eq!(basic("Basic YTpi"), Some(("a".into(), "b".into())));
        assert_eq!(basic("Bearer x"), None);
        assert_eq!(basic("Basic %%%"), None);
        assert_eq!(base64_decode("aGk="), Some(b"hi".to_vec()));
    }
}
