//! Frames on the wire: RESP2 and RESP3 encoding of [`Frame`]. RESP2 replies are byte for byte what
//! Redis sends a RESP2 client; the RESP3 types (null, map, set, verbatim string) fall back to
//! their RESP2 forms there.

use bytes::BytesMut;

use super::reply::{Frame, Proto};

/// Appends the encoded `frame` to `out` in `proto`.
pub fn encode(out: &mut BytesMut, frame: &Frame, proto: Proto) {
    let resp3 = proto == Proto::Resp3;
    match frame {
        Frame::Int(n) => line(out, b':', decimal(*n, &mut [0; 20])),
        Frame::Bulk(data) => blob(out, b'$', b"", data),
        Frame::Simple(text) => line(out, b'+', text),
        Frame::Error(text) => line(out, b'-', text),
        Frame::Null if resp3 => out.extend_from_slice(b"_\r\n"),
        Frame::Null => out.extend_from_slice(b"$-1\r\n"),
        Frame::Array(items) => aggregate(out, b'*', items, proto),
        Frame::Set(items) => aggregate(out, if resp3 { b'~' } else { b'*' }, items, proto),
        Frame::Map(pairs) => {
            let len = if resp3 { pairs.len() } else { pairs.len() * 2 };
            header(out, if resp3 { b'%' } else { b'*' }, len);
            for (name, value) in pairs {
                encode(out, name, proto);
                encode(out, value, proto);
            }
        }
        Frame::Verbatim(text) if resp3 => blob(out, b'=', b"txt:", text),
        Frame::Verbatim(text) => blob(out, b'$', b"", text),
        Frame::Encoded(bytes) => out.extend_from_slice(bytes),
    }
}

/// `kind`, the count of `items`, and the items.
fn aggregate(out: &mut BytesMut, kind: u8, items: &[Frame], proto: Proto) {
    header(out, kind, items.len());
    for item in items {
        encode(out, item, proto);
    }
}

/// An aggregate's first line: `kind` and its length.
pub fn header(out: &mut BytesMut, kind: u8, len: usize) {
    line(out, kind, decimal(len as i64, &mut [0; 20]));
}

/// A length-prefixed string: `kind`, the length of `prefix` and `data`, CRLF, both, CRLF.
fn blob(out: &mut BytesMut, kind: u8, prefix: &[u8], data: &[u8]) {
    let len = prefix.len() + data.len();
    line(out, kind, decimal(len as i64, &mut [0; 20]));
    out.reserve(len + 2);
    out.extend_from_slice(prefix);
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// A counter as GET shows it: null for a key that does not exist, else a bulk string of its
/// decimal digits.
pub fn counter(out: &mut BytesMut, value: Option<i64>, proto: Proto) {
    let Some(value) = value else {
        return encode(out, &Frame::Null, proto);
    };
    let mut buf = [0; 20];
    let digits = decimal(value, &mut buf);
    line(out, b'$', decimal(digits.len() as i64, &mut [0; 20]));
    out.reserve(digits.len() + 2);
    out.extend_from_slice(digits);
    out.extend_from_slice(b"\r\n");
}

/// The decimal digits of `n` (with a `-` if negative), written at the end of `buf`.
pub fn decimal(n: i64, buf: &mut [u8; 20]) -> &[u8] {
    let at = buf.len() - unsigned(n.unsigned_abs(), buf).len();
    if n < 0 {
        buf[at - 1] = b'-';
        return &buf[at - 1..];
    }
    &buf[at..]
}

/// The decimal digits of `n`, written at the end of `buf` (a `u64` has at most 20).
fn unsigned(n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    let mut rest = n;
    loop {
        at -= 1;
        buf[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    &buf[at..]
}

/// Appends `kind`, `text` and CRLF.
pub fn line(out: &mut BytesMut, kind: u8, text: &[u8]) {
    out.reserve(text.len() + 3);
    out.extend_from_slice(&[kind]);
    out.extend_from_slice(text);
    out.extend_from_slice(b"\r\n");
}
