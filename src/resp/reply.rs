//! Replies: one frame type for RESP2 and RESP3, small constructors, and the error texts Redis
//! clients know. How a frame goes on the wire in each protocol is in `encode`.

use bytes::{Bytes, BytesMut};

/// The protocol a connection speaks: RESP2 until `HELLO 3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Proto {
    /// RESP2, every connection's start.
    #[default]
    Resp2,
    /// RESP3, after `HELLO 3`.
    Resp3,
}

impl Proto {
    /// The protocol's number, as HELLO and CLIENT INFO show it.
    pub fn number(self) -> i64 {
        match self {
            Proto::Resp2 => 2,
            Proto::Resp3 => 3,
        }
    }
}

/// One reply. The types RESP3 added (null, map, set, verbatim string) are sent as RESP2 sends the
/// same Redis reply when the connection speaks RESP2.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// `+text`.
    Simple(Bytes),
    /// `-CODE text`.
    Error(Bytes),
    /// `:n`.
    Int(i64),
    /// `$len` and the bytes.
    Bulk(Bytes),
    /// RESP3 `_`; RESP2 `$-1`.
    Null,
    /// `*n` and the items.
    Array(Vec<Frame>),
    /// RESP3 `%n` and the pairs; RESP2 a flat array of name, value, name, value...
    Map(Vec<(Frame, Frame)>),
    /// RESP3 `~n` and the items; RESP2 an array.
    Set(Vec<Frame>),
    /// RESP3 `=len` with `txt:` before the text; RESP2 a bulk string.
    Verbatim(Bytes),
    /// Bytes already encoded in the connection's protocol (a reply built piece by piece).
    Encoded(Bytes),
}

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
    Frame::Simple(Bytes::from(one_line(text)))
}

/// An error whose text starts with its code, e.g. `NOPROTO unsupported...` (`-` is added on the
/// wire).
pub fn error(text: &str) -> Frame {
    Frame::Error(one_line(text).into())
}

/// An `ERR` error.
pub fn err(message: &str) -> Frame {
    error(&format!("ERR {message}"))
}

/// An integer (`:n`).
pub fn int(n: i64) -> Frame {
    Frame::Int(n)
}

/// A bulk string from bytes.
pub fn bulk(data: impl Into<Bytes>) -> Frame {
    Frame::Bulk(data.into())
}

/// A bulk string from text.
pub fn bulk_str(text: &str) -> Frame {
    Frame::Bulk(Bytes::copy_from_slice(text.as_bytes()))
}

/// The null reply: `$-1` in RESP2, `_` in RESP3.
pub fn nil() -> Frame {
    Frame::Null
}

/// An array.
pub fn array(items: Vec<Frame>) -> Frame {
    Frame::Array(items)
}

/// A set (an array in RESP2).
pub fn set(items: Vec<Frame>) -> Frame {
    Frame::Set(items)
}

/// A map with text names, in this order (a flat array in RESP2).
pub fn map(pairs: Vec<(&str, Frame)>) -> Frame {
    Frame::Map(pairs.into_iter().map(|(k, v)| (bulk_str(k), v)).collect())
}

/// A verbatim text (`=len txt:...` in RESP3, a bulk string in RESP2), as INFO answers.
pub fn verbatim(text: impl Into<Bytes>) -> Frame {
    Frame::Verbatim(text.into())
}

/// Appends the encoded `frame` to `out` in `proto`.
pub fn encode(out: &mut BytesMut, frame: &Frame, proto: Proto) {
    super::encode::encode(out, frame, proto);
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

/// The error for what ringkv refuses because its counters can only be counted up and down;
/// `what` names it, e.g. `SET`.
pub fn grow_only(what: &str) -> Frame {
    err(&format!(
        "ringkv counters are only counted up and down: {what} is not supported (use INCRBY or DECRBY)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire_in(frame: &Frame, proto: Proto) -> String {
        let mut out = BytesMut::new();
        encode(&mut out, frame, proto);
        String::from_utf8_lossy(&out).into_owned()
    }

    fn wire(frame: &Frame) -> String {
        wire_in(frame, Proto::Resp2)
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
            for proto in [Proto::Resp2, Proto::Resp3] {
                let mut out = BytesMut::new();
                encode(&mut out, &frame, proto);
                assert_eq!(&out[..], wire);
            }
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
        let pairs = map(vec![("a", int(1)), ("b", nil())]);
        assert_eq!(wire(&pairs), "*4\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n$-1\r\n");
        assert_eq!(wire(&set(vec![simple("x")])), "*1\r\n+x\r\n");
        assert_eq!(wire(&verbatim("a:1\r\n")), "$5\r\na:1\r\n\r\n");
    }

    #[test]
    fn frames_encode_as_resp3() {
        let resp3 = |frame: &Frame| wire_in(frame, Proto::Resp3);
        assert_eq!(resp3(&nil()), "_\r\n");
        assert_eq!(resp3(&array(vec![int(1), nil()])), "*2\r\n:1\r\n_\r\n");
        let pairs = map(vec![("a", int(1)), ("b", nil())]);
        assert_eq!(resp3(&pairs), "%2\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n_\r\n");
        assert_eq!(resp3(&set(vec![simple("x")])), "~1\r\n+x\r\n");
        assert_eq!(resp3(&verbatim("a:1\r\n")), "=9\r\ntxt:a:1\r\n\r\n");
        assert_eq!(resp3(&ok()), "+OK\r\n");
        assert_eq!(resp3(&err("x")), "-ERR x\r\n");
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
