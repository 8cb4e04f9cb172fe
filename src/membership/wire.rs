//! How foca's messages travel: each item foca hands us (a header, a member) is a two-byte
//! big-endian length and the item in our bincode encoding (`crate::protocol::codec`, the one
//! module that touches bincode); each datagram starts with the four bytes `RGKM` and a version.

use bytes::{Buf, BufMut};
use foca::{Codec, Header, Member};
use serde::{de::DeserializeOwned, Serialize};

use super::identity::ProcessId;
use crate::protocol::codec;

/// The four bytes every membership datagram starts with.
pub const MAGIC: [u8; 4] = *b"RGKM";
/// The membership wire version this build speaks.
pub const VERSION: u8 = 1;
/// Bytes before foca's own data in each datagram.
pub const PREFIX_LEN: usize = MAGIC.len() + 1;

/// Why an item could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
#[error("membership wire: {0}")]
pub struct WireError(String);

/// foca's codec, on top of ours.
#[derive(Debug, Clone, Copy, Default)]
pub struct WireCodec;

fn put<T: Serialize>(value: &T, mut buf: impl BufMut) -> Result<(), WireError> {
    let body = codec::encode(value).map_err(|e| WireError(e.to_string()))?;
    let len = u16::try_from(body.len()).map_err(|_| WireError("item too long".into()))?;
    if buf.remaining_mut() < 2 + body.len() {
        return Err(WireError("no room for the item".into()));
    }
    buf.put_u16(len);
    buf.put_slice(&body);
    Ok(())
}

fn take<T: DeserializeOwned>(mut buf: impl Buf) -> Result<T, WireError> {
    if buf.remaining() < 2 {
        return Err(WireError("truncated item length".into()));
    }
    let len = usize::from(buf.get_u16());
    let chunk = buf.chunk();
    if chunk.len() < len {
        return Err(WireError(format!("item of {len} bytes truncated")));
    }
    let value = codec::decode(&chunk[..len]).map_err(|e| WireError(e.to_string()))?;
    buf.advance(len);
    Ok(value)
}

impl Codec<ProcessId> for WireCodec {
    type Error = WireError;

    fn encode_header(
        &mut self,
        header: &Header<ProcessId>,
        buf: impl BufMut,
    ) -> Result<(), WireError> {
        put(header, buf)
    }

    fn decode_header(&mut self, buf: impl Buf) -> Result<Header<ProcessId>, WireError> {
        take(buf)
    }

    fn encode_member(
        &mut self,
        member: &Member<ProcessId>,
        buf: impl BufMut,
    ) -> Result<(), WireError> {
        put(member, buf)
    }

    fn decode_member(&mut self, buf: impl Buf) -> Result<Member<ProcessId>, WireError> {
        take(buf)
    }
}

/// foca's data as one datagram: the prefix, then the data.
pub fn frame(data: &[u8]) -> bytes::Bytes {
    let mut out = Vec::with_capacity(PREFIX_LEN + data.len());
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.extend_from_slice(data);
    out.into()
}

/// foca's data inside a datagram, or why the datagram is not one of ours.
pub fn unframe(datagram: &[u8]) -> Result<&[u8], WireError> {
    match datagram.split_at_checked(PREFIX_LEN) {
        Some((prefix, data)) if prefix[..4] == MAGIC && prefix[4] == VERSION => Ok(data),
        Some((prefix, _)) if prefix[..4] == MAGIC => Err(WireError(format!(
            "membership version {} (this build speaks {VERSION})",
            prefix[4]
        ))),
        _ => Err(WireError("not a ringkv membership datagram".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn member() -> Member<ProcessId> {
        Member::alive(ProcessId::new(SocketAddr::from(([127, 0, 0, 1], 5001)), 3))
    }

    #[test]
    fn a_member_round_trips_and_advances_past_itself() {
        let mut buf = Vec::new();
        WireCodec
            .encode_member(&member(), &mut buf)
            .expect("encodes");
        buf.push(0xAA);
        let mut rest = &buf[..];
        let back = WireCodec.decode_member(&mut rest).expect("decodes");
        assert_eq!(back, member());
        assert_eq!(rest, &[0xAA]);
    }

    #[test]
    fn no_room_leaves_the_buffer_clean() {
        let mut store = [0u8; 4];
        let mut buf = &mut store[..];
        assert!(WireCodec.encode_member(&member(), &mut buf).is_err());
        assert_eq!(store, [0; 4]);
    }

    #[test]
    fn hostile_items_are_refused() {
        for bad in [
            &[][..],
            &[0][..],
            &[0, 9, 1, 2][..],
            &[0, 3, 0xFF, 0xFF, 0xFF][..],
        ] {
            let mut rest = bad;
            assert!(WireCodec.decode_member(&mut rest).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn datagrams_carry_magic_and_version() {
        assert_eq!(unframe(&frame(b"xy")).expect("ours"), b"xy");
        assert!(unframe(b"RGKM").is_err());
        assert!(unframe(b"RGKV\x01xy").is_err());
        let wrong = unframe(b"RGKM\x09xy").expect_err("another version");
        assert!(wrong.to_string().contains("version 9"), "{wrong}");
    }
}
