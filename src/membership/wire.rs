//! How foca's messages travel: each item foca hands us (a header, a member) is a two-byte
//! big-endian length and the item in our bincode encoding (`crate::protocol::codec`, the one
//! module that touches bincode); each datagram starts with the four bytes `RGKM` and a version.
//!
//! With a cluster secret the version is [`SEALED_VERSION`] and the datagram ends with an
//! HMAC-SHA256 tag of everything before it ([`ClusterSecret::seal`]): a datagram without the
//! right tag is refused before foca sees it. The tag does not stop a replay of a datagram
//! captured on the network; SWIM's incarnation numbers make an old one stale.

use bytes::{Buf, BufMut};
use foca::{Codec, Header, Member};
use serde::{de::DeserializeOwned, Serialize};

use super::identity::ProcessId;
use crate::auth::cluster_secret::{ClusterSecret, SEAL_LEN};
use crate::protocol::codec;

/// The four bytes every membership datagram starts with.
pub const MAGIC: [u8; 4] = *b"RGKM";
/// The membership wire version this build speaks.
pub const VERSION: u8 = 1;
/// The version of datagrams sealed with the cluster secret.
pub const SEALED_VERSION: u8 = 2;
/// Bytes before foca's own data in each datagram.
pub const PREFIX_LEN: usize = MAGIC.len() + 1;
/// Bytes a datagram may add to foca's data: the prefix and a seal.
pub const OVERHEAD: usize = PREFIX_LEN + SEAL_LEN;

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

/// foca's data as one datagram: the prefix, then the data, then its seal under `secret`.
pub fn frame(data: &[u8], secret: Option<&ClusterSecret>) -> bytes::Bytes {
    let mut out = Vec::with_capacity(OVERHEAD + data.len());
    out.extend_from_slice(&MAGIC);
    match secret {
        None => out.push(VERSION),
        Some(_) => out.push(SEALED_VERSION),
    }
    out.extend_from_slice(data);
    if let Some(secret) = secret {
        let seal = secret.seal(&out);
        out.extend_from_slice(&seal);
    }
    out.into()
}

/// foca's data inside a datagram, or why the datagram is refused: not one of ours, another
/// version, or (with `secret`) not sealed with it.
pub fn unframe<'a>(
    datagram: &'a [u8],
    secret: Option<&ClusterSecret>,
) -> Result<&'a [u8], WireError> {
    let Some((prefix, data)) = datagram.split_at_checked(PREFIX_LEN) else {
        return Err(WireError("not a ringkv membership datagram".into()));
    };
    if prefix[..4] != MAGIC {
        return Err(WireError("not a ringkv membership datagram".into()));
    }
    match (prefix[4], secret) {
        (VERSION, None) => Ok(data),
        (SEALED_VERSION, Some(secret)) => {
            let sealed = datagram
                .len()
                .checked_sub(SEAL_LEN)
                .filter(|&n| n >= PREFIX_LEN);
            let Some(end) = sealed else {
                return Err(WireError("a sealed datagram too short for its seal".into()));
            };
            let (body, seal) = datagram.split_at(end);
            if secret.open(body, seal) {
                Ok(&body[PREFIX_LEN..])
            } else {
                Err(WireError(
                    "a datagram not sealed with our cluster secret".into(),
                ))
            }
        }
        (VERSION, Some(_)) => Err(WireError(
            "an unsealed datagram: the sender has no cluster secret".into(),
        )),
        (SEALED_VERSION, None) => Err(WireError(
            "a sealed datagram: the sender has a cluster secret and this process none".into(),
        )),
        (other, _) => Err(WireError(format!(
            "membership version {other} (this build speaks {VERSION} and {SEALED_VERSION})"
        ))),
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
        assert_eq!(unframe(&frame(b"xy", None), None).expect("ours"), b"xy");
        assert!(unframe(b"RGKM", None).is_err());
        assert!(unframe(b"RGKV\x01xy", None).is_err());
        let wrong = unframe(b"RGKM\x09xy", None).expect_err("another version");
        assert!(wrong.to_string().contains("version 9"), "{wrong}");
    }

    #[test]
    fn sealed_datagrams_open_only_with_the_same_secret() {
        let ours = ClusterSecret::new(b"0123456789abcdef-ours").expect("secret");
        let theirs = ClusterSecret::new(b"0123456789abcdef-theirs").expect("secret");
        let sealed = frame(b"ping", Some(&ours));
        assert_eq!(sealed.len(), OVERHEAD + 4);
        assert_eq!(
            unframe(&sealed, Some(&ours)).expect("sealed by us"),
            b"ping"
        );
        for (datagram, secret) in [
            (sealed.clone(), Some(&theirs)),
            (sealed.clone(), None),
            (frame(b"ping", None), Some(&ours)),
        ] {
            assert!(unframe(&datagram, secret).is_err(), "{datagram:?}");
        }
        let mut flipped = sealed.to_vec();
        flipped[PREFIX_LEN] ^= 1;
        assert!(unframe(&flipped, Some(&ours)).is_err(), "a changed byte");
        assert!(
            unframe(&sealed[..PREFIX_LEN + 3], Some(&ours)).is_err(),
            "cut"
        );
    }
}
