//! Framing and encoding: `length | magic | version | request id | bincode body`.
//!
//! This is the only module that touches bincode, so the encoding could be swapped in one place.
//! Bodies use bincode 2's standard configuration (little-endian, variable-length integers); the
//! header is fixed-size and big-endian. See `docs/PROTOCOL.md` for the byte-by-byte description.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde::{de::DeserializeOwned, Serialize};
use tokio_util::codec::{Decoder, Encoder};

use crate::error::{Error, Result};

/// The four bytes every frame starts with after its length: `RGKV`.
pub const MAGIC: [u8; 4] = *b"RGKV";
/// The protocol version this build speaks.
pub const VERSION: u8 = 6;
/// The default maximum length of a frame (what follows the length prefix), in bytes: 1 MiB.
pub const MAX_FRAME_LEN: usize = 1 << 20;
/// Bytes of header after the length prefix: magic (4), version (1), request id (8).
pub const HEADER_LEN: usize = 13;
/// Bytes of the length prefix.
const PREFIX_LEN: usize = 4;
/// The decoder reserves at most this much ahead for a frame it has only the header of, so a
/// hostile length field cannot make it allocate; the buffer grows as bytes really arrive.
const RESERVE_AHEAD: usize = 64 * 1024;

/// Decodes with a bincode allocation limit that fits the body: a valid message claims at most 8
/// bytes per byte it has (a one-byte varint counts as a `u64`), so the limit is the first step
/// above `8 * len`. A hostile length inside the body then fails instead of allocating gigabytes.
fn decode_fitting<T: DeserializeOwned>(
    bytes: &[u8],
) -> std::result::Result<(T, usize), bincode::error::DecodeError> {
    use bincode::config::standard;
    use bincode::serde::decode_from_slice as from;
    let need = bytes.len().saturating_mul(8);
    if need <= 1 << 16 {
        from(bytes, standard().with_limit::<{ 1 << 16 }>())
    } else if need <= 1 << 20 {
        from(bytes, standard().with_limit::<{ 1 << 20 }>())
    } else if need <= 1 << 24 {
        from(bytes, standard().with_limit::<{ 1 << 24 }>())
    } else if need <= 1 << 28 {
        from(bytes, standard().with_limit::<{ 1 << 28 }>())
    } else {
        from(bytes, standard().with_limit::<{ usize::MAX }>())
    }
}

/// Encodes `value` with bincode's standard configuration.
///
/// # Errors
/// [`Error::Protocol`] if serde refuses the value.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    bincode::serde::encode_to_vec(value, bincode::config::standard())
        .map_err(|e| Error::Protocol(e.to_string()))
}

/// Encodes `value` at the end of `out` (no allocation once `out` has room).
///
/// # Errors
/// [`Error::Protocol`] if serde refuses the value.
pub fn encode_into<T: Serialize>(value: &T, out: &mut Vec<u8>) -> Result<()> {
    bincode::serde::encode_into_std_write(value, out, bincode::config::standard())
        .map(|_| ())
        .map_err(|e| Error::Protocol(e.to_string()))
}

/// The longest body [`decode_borrowed`] takes (its allocation limit is 8 bytes per byte).
pub const BORROWED_MAX: usize = 8 << 10;

/// Decodes a `T` that may borrow from `bytes` (a `&str` in it points into them) and must fill
/// them exactly: no allocation for such fields. For bodies of at most [`BORROWED_MAX`] bytes.
///
/// # Errors
/// [`Error::Protocol`] if the bytes are longer than that, not a valid `T`, or bytes are left over.
pub fn decode_borrowed<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> Result<T> {
    if bytes.len() > BORROWED_MAX {
        return Err(Error::Protocol("the message is too long to borrow".into()));
    }
    let config = bincode::config::standard().with_limit::<{ BORROWED_MAX * 8 }>();
    let (value, used) = bincode::serde::borrow_decode_from_slice(bytes, config)
        .map_err(|e| Error::Protocol(format!("cannot decode the message: {}", describe(&e))))?;
    if used != bytes.len() {
        return Err(Error::Protocol(format!(
            "{} trailing bytes after the message",
            bytes.len() - used
        )));
    }
    Ok(value)
}

/// Decodes a `T` that must fill `bytes` exactly.
///
/// # Errors
/// [`Error::Protocol`] if the bytes are not a valid `T` or bytes are left over.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    let (value, used) = decode_fitting(bytes)
        .map_err(|e| Error::Protocol(format!("cannot decode the message: {}", describe(&e))))?;
    if used != bytes.len() {
        return Err(Error::Protocol(format!(
            "{} trailing bytes after the message",
            bytes.len() - used
        )));
    }
    Ok(value)
}

/// What is wrong with a body that does not decode, as a sentence for people (bincode's own
/// errors read as Rust debug text).
fn describe(e: &bincode::error::DecodeError) -> String {
    use bincode::error::DecodeError as D;
    match e {
        D::UnexpectedEnd { additional } => {
            format!("it ends too early ({additional} more bytes were expected)")
        }
        D::LimitExceeded => "a length inside it claims more bytes than it holds".into(),
        D::Utf8 { .. } => "a string in it is not valid UTF-8".into(),
        D::InvalidBooleanValue(b) => {
            format!("a boolean in it is {b}, where only 0 (false) and 1 (true) are valid")
        }
        D::InvalidIntegerType { .. } => {
            "a number in it starts with an invalid varint byte (254 or 255)".into()
        }
        D::OutsideUsizeRange(n) => format!("a length of {n} in it is out of range"),
        D::Other(text) => (*text).to_owned(),
        D::OtherString(text) => plain_serde_error(text),
        other => other.to_string(),
    }
}

/// Serde's "invalid value: integer `8`, expected variant index 0 <= i < 8" as "unknown tag 8 ...";
/// other serde messages are sentences already.
fn plain_serde_error(text: &str) -> String {
    let tag = text
        .strip_prefix("invalid value: integer `")
        .and_then(|rest| rest.split_once('`'))
        .and_then(|(tag, rest)| {
            let known = rest.strip_prefix(", expected variant index 0 <= i < ")?;
            Some((tag, known.parse::<u64>().ok()?))
        });
    match tag {
        Some((tag, known)) if known > 0 => format!(
            "unknown tag {tag} (this protocol version knows tags 0 to {})",
            known - 1
        ),
        _ => text.to_owned(),
    }
}

/// One frame with a valid header: the request id and the still-encoded body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The request id chosen by the client and echoed in the response.
    pub id: u64,
    /// The bincode body.
    pub body: Bytes,
}

impl Frame {
    /// A frame carrying `message` encoded.
    ///
    /// # Errors
    /// [`Error::Protocol`] if the message cannot be encoded.
    pub fn encode<T: Serialize>(id: u64, message: &T) -> Result<Frame> {
        Ok(Frame {
            id,
            body: Bytes::from(encode(message)?),
        })
    }

    /// The body decoded as a `T`.
    ///
    /// # Errors
    /// [`Error::Protocol`] if the body is not exactly one valid `T`.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T> {
        decode(&self.body)
    }
}

/// A broken stream: after one of these the connection cannot be trusted and is closed.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The length prefix announces more than the maximum.
    #[error("frame of {len} bytes exceeds the maximum of {max} bytes")]
    TooLarge {
        /// The announced length.
        len: u64,
        /// The maximum.
        max: usize,
    },
    /// The length prefix announces less than a header.
    #[error("frame of {0} bytes is shorter than the {HEADER_LEN}-byte header")]
    TooShort(usize),
    /// The frame does not start with [`MAGIC`].
    #[error("bad magic: expected {expected:02x?} (\"RGKV\"), received {received:02x?}")]
    BadMagic {
        /// What we expect.
        expected: [u8; 4],
        /// What came.
        received: [u8; 4],
    },
    /// The peer speaks another protocol version.
    #[error("unsupported protocol version: expected {expected}, received {received}")]
    BadVersion {
        /// What we speak.
        expected: u8,
        /// What came.
        received: u8,
    },
    /// The socket failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// The framing codec for `tokio_util::codec::Framed`: decodes [`Frame`]s, encodes [`Frame`]s.
#[derive(Debug, Clone)]
pub struct FrameCodec {
    max_len: usize,
}

impl FrameCodec {
    /// A codec refusing frames longer than `max_len` bytes (after the length prefix).
    pub fn new(max_len: usize) -> Self {
        FrameCodec { max_len }
    }
}

impl Default for FrameCodec {
    fn default() -> Self {
        FrameCodec::new(MAX_FRAME_LEN)
    }
}

/// Checks what can be checked of a header from the bytes already buffered.
fn check_header(buf: &[u8], max_len: usize) -> std::result::Result<usize, FrameError> {
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if buf.len() >= PREFIX_LEN + 4 {
        let received = [buf[4], buf[5], buf[6], buf[7]];
        if received != MAGIC {
            return Err(FrameError::BadMagic {
                expected: MAGIC,
                received,
            });
        }
    }
    if len > max_len {
        return Err(FrameError::TooLarge {
            len: len as u64,
            max: max_len,
        });
    }
    if len < HEADER_LEN {
        return Err(FrameError::TooShort(len));
    }
    if buf.len() > PREFIX_LEN + 4 && buf[8] != VERSION {
        return Err(FrameError::BadVersion {
            expected: VERSION,
            received: buf[8],
        });
    }
    Ok(len)
}

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = FrameError;

    fn decode(&mut self, buf: &mut BytesMut) -> std::result::Result<Option<Frame>, FrameError> {
        if buf.len() < PREFIX_LEN {
            return Ok(None);
        }
        let len = check_header(buf, self.max_len)?;
        if buf.len() < PREFIX_LEN + len {
            buf.reserve((PREFIX_LEN + len - buf.len()).min(RESERVE_AHEAD));
            return Ok(None);
        }
        buf.advance(PREFIX_LEN + 5);
        let id = buf.get_u64();
        let body = buf.split_to(len - HEADER_LEN).freeze();
        Ok(Some(Frame { id, body }))
    }
}

impl Encoder<Frame> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> std::result::Result<(), FrameError> {
        write_frame(frame.id, &frame.body, dst);
        Ok(())
    }
}

/// Appends one whole frame (prefix, header, body) to `dst`.
pub fn write_frame(id: u64, body: &[u8], dst: &mut BytesMut) {
    dst.reserve(PREFIX_LEN + HEADER_LEN + body.len());
    dst.put_u32((HEADER_LEN + body.len()) as u32);
    dst.put_slice(&MAGIC);
    dst.put_u8(VERSION);
    dst.put_u64(id);
    dst.put_slice(body);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Request, Response};

    #[test]
    fn round_trip_with_exact_length() {
        let req = Request::Update {
            key: "a".into(),
            amount: 1,
        };
        let mut buf = BytesMut::new();
        FrameCodec::default()
            .encode(Frame::encode(7, &req).unwrap(), &mut buf)
            .unwrap();
        // prefix 4 + header 13 + body: tag 1, len 1, 'a', amount 1
        assert_eq!(buf.len(), 4 + 13 + 4);
        let frame = FrameCodec::default().decode(&mut buf).unwrap().unwrap();
        assert_eq!(frame.id, 7);
        assert_eq!(frame.decode::<Request>().unwrap(), req);
        assert!(buf.is_empty());
    }

    #[test]
    fn trailing_bytes_are_an_error() {
        let mut body = encode(&Request::Status).unwrap();
        body.push(0);
        assert!(decode::<Request>(&body).is_err());
    }

    #[test]
    fn huge_length_fails_before_the_body_arrives() {
        let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xff, b'R', b'G', b'K', b'V'][..]);
        let err = FrameCodec::default().decode(&mut buf).unwrap_err();
        assert!(matches!(err, FrameError::TooLarge { .. }), "{err}");
    }

    #[test]
    fn a_big_announced_frame_is_not_allocated_ahead() {
        let mut buf = BytesMut::new();
        buf.put_u32(MAX_FRAME_LEN as u32);
        buf.put_slice(&MAGIC);
        buf.put_u8(VERSION);
        assert!(FrameCodec::default().decode(&mut buf).unwrap().is_none());
        assert!(buf.capacity() <= 2 * RESERVE_AHEAD, "{}", buf.capacity());
    }

    #[test]
    fn wrong_magic_and_version_are_named() {
        let mut buf = BytesMut::from(&b"GET / HTTP/1.1\r\n"[..]);
        let err = FrameCodec::default().decode(&mut buf).unwrap_err();
        assert!(err.to_string().contains("bad magic"), "{err}");
        let mut buf = BytesMut::new();
        write_frame(1, &[2], &mut buf);
        buf[8] = 9;
        let err = FrameCodec::default().decode(&mut buf).unwrap_err();
        let expected = format!("expected {VERSION}, received 9");
        assert!(err.to_string().contains(&expected), "{err}");
    }

    #[test]
    fn bodies_that_do_not_decode_are_told_in_plain_sentences() {
        let message = |body: &[u8]| match decode::<Request>(body) {
            Err(Error::Protocol(m)) => m,
            other => panic!("not a protocol error: {other:?}"),
        };
        assert_eq!(
            message(&[99]),
            "cannot decode the message: unknown tag 99 (this protocol version knows tags 0 to 26)"
        );
        let cut = message(&[0, 5, b'a']);
        assert!(cut.contains("it ends too early"), "{cut}");
        let utf8 = message(&[0, 1, 0xff]);
        assert!(utf8.contains("not valid UTF-8"), "{utf8}");
        let boolean = message(&[8, 1, 7]);
        assert!(boolean.contains("a boolean in it is 7"), "{boolean}");
        for m in [cut, utf8, boolean] {
            assert!(!m.contains('{') && !m.contains("Unexpected"), "{m}");
        }
    }

    #[test]
    fn responses_round_trip() {
        let resp = Response::Count {
            key: "k".into(),
            value: 300,
        };
        assert_eq!(decode::<Response>(&encode(&resp).unwrap()).unwrap(), resp);
    }
}
