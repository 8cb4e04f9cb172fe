//! RESP2 replies: small constructors over `redis-protocol`'s frame type, its encoder, and the error
//! texts Redis clients know.

use bytes::{Bytes, BytesMut};
use redis_protocol::resp2::encode::extend_encode;

/// One RESP2 reply (or request) frame.
pub type Frame = redis_protocol::resp2::types::BytesFrame;

/// Replaces CR and LF with spaces: a simple string or an error must stay on one line.
fn one_line(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

/// `+OK`.
pub fn ok() -> Frame {
    simple("OK")
}

/// A simple string (`+text`).
pub fn simple(text: &str) -> Frame {
    Frame::SimpleString(Bytes::from(one_line(text)))
}

/// An error whose text starts with its code, e.g. `NOPROTO sorry...` (`-` is added on the wire).
pub fn error(text: &str) -> Frame {
    Frame::Error(one_line(text).into())
}

/// An `ERR` error.
pub fn err(message: &str) -> Frame {
    error(&format!("ERR {message}"))
}

/// An integer (`:n`).
pub fn int(n: i64) -> Frame {
    Frame::Integer(n)
}

/// A bulk string from bytes.
pub fn bulk(data: impl Into<Bytes>) -> Frame {
    Frame::BulkString(data.into())
}

/// A bulk string from text.
pub fn bulk_str(text: &str) -> Frame {
    Frame::BulkString(Bytes::copy_from_slice(text.as_bytes()))
}

/// The nil bulk string (`$-1`).
pub fn nil() -> Frame {
    Frame::Null
}

/// An array.
pub fn array(items: Vec<Frame>) -> Frame {
    Frame::Array(items)
}

/// A map as RESP2 sends it: a flat array of name, value, name, value...
pub fn map(pairs: Vec<(&str, Frame)>) -> Frame {
    let mut items = Vec::with_capacity(pairs.len() * 2);
    for (name, value) in pairs {
        items.push(bulk_str(name));
        items.push(value);
    }
    Frame::Array(items)
}

/// Appends the encoded `frame` to `out`.
pub fn encode(out: &mut BytesMut, frame: &Frame) {
    // The replies of the hot path (INCR, GET), written directly.
    match frame {
        Frame::Integer(n) => return line(out, b':', decimal(*n, &mut [0; 20])),
        Frame::BulkString(b) if b.len() < 64 => {
            line(out, b'$', decimal(b.len() as i64, &mut [0; 20]));
            out.extend_from_slice(b);
            out.extend_from_slice(b"\r\n");
            return;
        }
        _ => {}
    }
    let start = out.len();
    if extend_encode(out, frame, false).is_err() {
        out.truncate(start);
        out.extend_from_slice(b"-ERR internal error: cannot encode the reply\r\n");
    }
}

/// The decimal digits of `n` (with a `-` if negative), written at the end of `buf`.
fn decimal(n: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    let mut rest = n.unsigned_abs();
    loop {
        at -= 1;
        buf[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if n < 0 {
        at -= 1;
        buf[at] = b'-';
    }
    &buf[at..]
}

/// Appends `kind`, `text` and CRLF.
fn line(out: &mut BytesMut, kind: u8, text: &[u8]) {
    out.reserve(text.len() + 3);
    out.extend_from_slice(&[kind]);
    out.extend_from_slice(text);
    out.extend_from_slice(b"\r\n");
}

/// `ERR wrong number of arguments for 'NAME' command` (NAME as Redis spells it, e.g. `incr`,
/// `client|setname`).
pub fn wrong_arity(name: &str) -> Frame {
    err(&format!("wrong number of arguments for '{name}' command"))
}

/// `ERR value is not an integer or out of range`.
pub fn not_integer() -> Frame {
    err("value is not an integer or out of range")
}

/// `ERR syntax error`.
pub fn syntax() -> Frame {
    err("syntax error")
}

/// Redis's text for an unknown command: the name and up to 128 bytes of its arguments, quoted.
pub fn unknown_command(name: &[u8], args: &[Bytes]) -> Frame {
    let mut listed = String::new();
    for arg in args {
        if listed.len() >= 128 {
            break;
        }
        let budget = 128 - listed.len();
        let text = String::from_utf8_lossy(&arg[..arg.len().min(budget)]);
        listed.push_str(&format!("'{text}' "));
    }
    let name = String::from_utf8_lossy(&name[..name.len().min(128)]);
    err(&format!(
        "unknown command '{name}', with args beginning with: {listed}"
    ))
}

/// Redis's text for an unknown subcommand of a container command (`CLIENT`, `CONFIG`...).
pub fn unknown_subcommand(command: &str, sub: &[u8]) -> Frame {
    let sub = String::from_utf8_lossy(&sub[..sub.len().min(128)]);
    err(&format!(
        "unknown subcommand '{sub}'. Try {} HELP.",
        command.to_ascii_uppercase()
    ))
}

/// The error for what ringkv refuses because its counters only grow; `what` names it, e.g.
/// `DECR` or `a negative INCRBY increment`.
pub fn grow_only(what: &str) -> Frame {
    err(&format!(
        "ringkv counters only grow: {what} is not supported (use INCR, or INCRBY with an increment of 0 or more)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(frame: &Frame) -> String {
        let mut out = BytesMut::new();
        encode(&mut out, frame);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn hot_replies_encode_as_redis_does() {
        for (frame, wire) in [
            (int(0), &b":0\r\n"[..]),
            (int(-42), b":-42\r\n"),
            (int(i64::MIN), b":-9223372036854775808\r\n"),
            (int(i64::MAX), b":9223372036854775807\r\n"),
            (bulk_str("17"), b"$2\r\n17\r\n"),
        ] {
            let mut out = BytesMut::new();
            encode(&mut out, &frame);
            assert_eq!(&out[..], wire);
        }
    }

    #[test]
    fn frames_encode_as_resp2() {
        assert_eq!(wire(&ok()), "+OK\r\n");
        assert_eq!(wire(&int(-3)), ":-3\r\n");
        assert_eq!(wire(&nil()), "$-1\r\n");
        assert_eq!(wire(&bulk_str("hi")), "$2\r\nhi\r\n");
        assert_eq!(wire(&array(vec![int(1), nil()])), "*2\r\n:1\r\n$-1\r\n");
        assert_eq!(wire(&err("a\r\nb")), "-ERR a  b\r\n");
    }

    #[test]
    fn unknown_command_reads_like_redis() {
        let args = [Bytes::from_static(b"a"), Bytes::from_static(b"b")];
        assert_eq!(
            wire(&unknown_command(b"foo", &args)),
            "-ERR unknown command 'foo', with args beginning with: 'a' 'b' \r\n"
        );
        assert_eq!(
            wire(&unknown_command(b"foo", &[])),
            "-ERR unknown command 'foo', with args beginning with: \r\n"
        );
    }
}
