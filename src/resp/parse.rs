//! Bytes → requests. A request is an array of bulk strings (`*2\r\n$4\r\nINCR\r\n$1\r\na\r\n`),
//! or an inline line (see `inline`).
//!
//! One scan of the headers finds the words and enforces the limits: the array length, each bulk
//! length and the whole request's size are checked as soon as their header arrives, so a hostile
//! `*99999999` or `$2000000000` is refused at once instead of being waited for. Once the whole
//! request is in, its words are slices of the input (no copy). The texts follow Redis's
//! `Protocol error: ...` replies.

use bytes::{Bytes, BytesMut};
use smallvec::SmallVec;

use super::inline;
use super::RespLimits;

/// The words of one request (name first); most requests have at most three.
pub type Words = SmallVec<[Bytes; 3]>;

/// The longest header line (`*N` or `$N`) accepted; longer is refused as an invalid length.
const MAX_HEADER_LEN: usize = 32;

/// The input broke the protocol; the client gets `-ERR Protocol error: <message>` and the
/// connection is closed, as Redis does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(String);

impl ProtocolError {
    /// An error with this message (without the `Protocol error: ` prefix).
    pub fn new(message: impl Into<String>) -> Self {
        ProtocolError(message.into())
    }

    /// The error text as sent, after `-`: `ERR Protocol error: ...`.
    pub fn reply_text(&self) -> String {
        format!("ERR Protocol error: {}", self.0)
    }
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Protocol error: {}", self.0)
    }
}

/// Takes the next request from the front of `buf`. `Ok(None)`: more bytes are needed.
/// `Ok(Some(words))` with no words is an empty request (`*0`, a blank line): it gets no reply.
///
/// # Errors
/// [`ProtocolError`] when the bytes cannot be a valid request within `limits`.
pub fn next_request(
    buf: &mut BytesMut,
    limits: &RespLimits,
) -> Result<Option<Words>, ProtocolError> {
    match buf.first() {
        None => Ok(None),
        Some(b'*') => multibulk(buf, limits),
        Some(_) => inline::take_line(buf, limits.max_inline_len),
    }
}

/// Takes one multibulk request once all of it has arrived.
fn multibulk(buf: &mut BytesMut, limits: &RespLimits) -> Result<Option<Words>, ProtocolError> {
    let Some(scan) = scan_multibulk(buf, limits)? else {
        return Ok(None);
    };
    match scan {
        Scan::Empty(len) => {
            let _ = buf.split_to(len);
            Ok(Some(Words::new()))
        }
        Scan::Complete { len, words } => {
            let request = buf.split_to(len).freeze();
            let words = words.iter().map(|&(at, n)| request.slice(at..at + n));
            Ok(Some(words.collect()))
        }
    }
}

/// What the header scan found.
#[derive(Debug, PartialEq, Eq)]
enum Scan {
    /// An empty or null array of this many bytes: skip it.
    Empty(usize),
    /// A whole request of `len` bytes is in the buffer; each word is `(offset, length)`.
    Complete {
        len: usize,
        words: SmallVec<[(usize, usize); 4]>,
    },
}

/// Checks the headers of the multibulk request at the front of `buf` against `limits`.
/// `Ok(None)`: valid so far, but not all there.
fn scan_multibulk(buf: &[u8], limits: &RespLimits) -> Result<Option<Scan>, ProtocolError> {
    let Some((count, mut pos)) = header(buf, 1, "invalid multibulk length")? else {
        return Ok(None);
    };
    if count <= 0 {
        return Ok(Some(Scan::Empty(pos)));
    }
    if count as u64 > limits.max_args as u64 {
        return Err(ProtocolError::new("invalid multibulk length"));
    }
    let mut words = SmallVec::new();
    for _ in 0..count {
        let Some(&kind) = buf.get(pos) else {
            return Ok(None);
        };
        if kind != b'$' {
            return Err(ProtocolError::new(format!(
                "expected '$', got '{}'",
                char::from(kind).escape_default()
            )));
        }
        let Some((len, next)) = header(buf, pos + 1, "invalid bulk length")? else {
            return Ok(None);
        };
        if len < 0 || len as u64 > limits.max_request_len as u64 {
            return Err(ProtocolError::new("invalid bulk length"));
        }
        let end = next + len as usize;
        pos = end + 2;
        if pos > limits.max_request_len {
            return Err(too_large(limits));
        }
        match buf.get(end..pos) {
            Some(b"\r\n") => words.push((next, len as usize)),
            Some(_) => return Err(ProtocolError::new("expected CRLF after a bulk string")),
            None => return Ok(None),
        }
    }
    Ok(Some(Scan::Complete { len: pos, words }))
}

fn too_large(limits: &RespLimits) -> ProtocolError {
    ProtocolError::new(format!(
        "request larger than the limit of {} bytes",
        limits.max_request_len
    ))
}

/// Reads the number on the header line starting at `start`; returns it and the position after
/// its CRLF. `Ok(None)`: the line is not complete yet.
fn header(buf: &[u8], start: usize, what: &str) -> Result<Option<(i64, usize)>, ProtocolError> {
    let rest = buf.get(start..).unwrap_or_default();
    let window = &rest[..rest.len().min(MAX_HEADER_LEN + 2)];
    let Some(end) = window.iter().position(|&b| b == b'\r') else {
        if rest.len() > MAX_HEADER_LEN {
            return Err(ProtocolError::new(what));
        }
        return Ok(None);
    };
    match rest.get(end + 1) {
        None => return Ok(None),
        Some(b'\n') => {}
        Some(_) => return Err(ProtocolError::new(what)),
    }
    let number = parse_number(&rest[..end]).ok_or_else(|| ProtocolError::new(what))?;
    Ok(Some((number, start + end + 2)))
}

/// A decimal `i64` with an optional `-`, nothing else.
fn parse_number(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    if digits.is_empty() {
        return None;
    }
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(i64::from(d - b'0'))?;
    }
    Some(if negative { -n } else { n })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(input: &[u8]) -> Result<Option<Words>, ProtocolError> {
        next_request(&mut BytesMut::from(input), &RespLimits::default())
    }

    #[test]
    fn decodes_a_multibulk_request_and_leaves_the_rest() {
        let mut buf = BytesMut::from(&b"*2\r\n$4\r\nINCR\r\n$1\r\na\r\n*1\r\n$4\r\nPI"[..]);
        let limits = RespLimits::default();
        let words = next_request(&mut buf, &limits).unwrap().unwrap();
        assert_eq!(
            words.as_slice(),
            [Bytes::from_static(b"INCR"), Bytes::from_static(b"a")]
        );
        assert_eq!(next_request(&mut buf, &limits).unwrap(), None);
        buf.extend_from_slice(b"NG\r\n");
        let words = next_request(&mut buf, &limits).unwrap().unwrap();
        assert_eq!(words.as_slice(), [Bytes::from_static(b"PING")]);
        assert!(buf.is_empty());
    }

    #[test]
    fn empty_arrays_are_skipped() {
        assert_eq!(parse(b"*0\r\n").unwrap(), Some(Words::new()));
        assert_eq!(parse(b"*-1\r\n").unwrap(), Some(Words::new()));
    }

    #[test]
    fn hostile_headers_are_refused_at_once() {
        let e = parse(b"*99999999\r\n").unwrap_err();
        assert_eq!(
            e.reply_text(),
            "ERR Protocol error: invalid multibulk length"
        );
        let e = parse(b"*1\r\n$2000000000\r\n").unwrap_err();
        assert_eq!(e.reply_text(), "ERR Protocol error: invalid bulk length");
        assert_eq!(parse(b"*2\r\n$600000\r\n").unwrap(), None);
        let e = parse(b"*1\r\n:5\r\n").unwrap_err();
        assert_eq!(e.reply_text(), "ERR Protocol error: expected '$', got ':'");
        assert!(parse(b"*abc\r\n").is_err());
        assert!(parse(&[b'*'; 100]).is_err());
    }

    #[test]
    fn the_sum_of_arguments_is_bounded() {
        let limits = RespLimits {
            max_request_len: 100,
            ..RespLimits::default()
        };
        let mut buf = BytesMut::from(&b"*3\r\n$40\r\n"[..]);
        buf.extend_from_slice(&[b'x'; 40]);
        buf.extend_from_slice(b"\r\n$60\r\n");
        let e = next_request(&mut buf, &limits).unwrap_err();
        assert!(e.reply_text().contains("limit of 100 bytes"), "{e}");
    }

    #[test]
    fn a_bulk_string_must_end_with_crlf() {
        let e = parse(b"*1\r\n$4\r\nPINGxx").unwrap_err();
        assert!(e.reply_text().contains("CRLF"), "{e}");
        assert_eq!(parse(b"*1\r\n$4\r\nPING\r").unwrap(), None);
        assert!(parse(b"*1\r\n$4x\r\n").is_err());
        assert!(parse(b"*1\r\n$-\r\n").is_err());
    }

    #[test]
    fn other_bytes_are_inline() {
        assert_eq!(
            parse(b"PING\r\n").unwrap(),
            Some(Words::from_iter([Bytes::from_static(b"PING")]))
        );
        assert_eq!(parse(b"\r\n").unwrap(), Some(Words::new()));
    }
}
