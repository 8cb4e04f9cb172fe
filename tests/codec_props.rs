//! Property tests of the framing codec: any bytes give frames or an error, never a panic; feeding
//! bytes in pieces changes nothing; every request survives a round trip.

use bytes::BytesMut;
use proptest::prelude::*;
use ringkv::protocol::codec::{decode, write_frame};
use ringkv::protocol::{Frame, FrameCodec, FrameError};
use ringkv::{Request, Response};
use tokio_util::codec::Decoder;

/// What decoding a stream gives: its frames, then how it ended (`None`: waiting for more bytes).
fn decode_all(codec: &mut FrameCodec, buf: &mut BytesMut) -> (Vec<Frame>, Option<String>) {
    let mut frames = Vec::new();
    loop {
        match codec.decode(buf) {
            Ok(Some(frame)) => {
                // Bodies too: decoding them must never panic either.
                let _ = decode::<Request>(&frame.body);
                let _ = decode::<Response>(&frame.body);
                frames.push(frame);
            }
            Ok(None) => return (frames, None),
            Err(e) => return (frames, Some(e.to_string())),
        }
    }
}

/// Bytes that start like a frame (so the decoder gets past the header checks) then go random.
fn framed_garbage() -> impl Strategy<Value = Vec<u8>> {
    (any::<u64>(), proptest::collection::vec(any::<u8>(), 0..64)).prop_map(|(id, body)| {
        let mut buf = BytesMut::new();
        write_frame(id, &body, &mut buf);
        buf.to_vec()
    })
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        ".{0,40}".prop_map(|key| Request::Get { key }),
        (".{0,40}", any::<i64>()).prop_map(|(key, amount)| Request::Update { key, amount }),
        Just(Request::Status),
        Just(Request::Ring),
        any::<Option<u16>>().prop_map(|port| Request::AddNode { port }),
        any::<u16>().prop_map(|port| Request::RemoveNode { port }),
        any::<u16>().prop_map(|port| Request::KillNode { port }),
        (any::<u16>(), any::<u64>()).prop_map(|(port, millis)| Request::PauseNode { port, millis }),
        (
            any::<u16>(),
            any::<bool>(),
            proptest::option::of(".{0,40}"),
            any::<u32>()
        )
            .prop_map(|(port, owned, after, limit)| Request::StatusPage {
                port,
                owned,
                after,
                limit
            }),
        any::<u16>().prop_map(|port| Request::RemoveNodeForce { port }),
    ]
}

proptest! {
    #[test]
    fn any_bytes_decode_or_fail_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let mut buf = BytesMut::from(&bytes[..]);
        let (frames, _) = decode_all(&mut FrameCodec::default(), &mut buf);
        prop_assert!(frames.len() <= bytes.len() / 17);
    }

    #[test]
    fn frames_with_random_bodies_never_panic(
        frames in proptest::collection::vec(framed_garbage(), 1..8),
        tail in proptest::collection::vec(any::<u8>(), 0..32),
    ) {
        let mut bytes: Vec<u8> = frames.concat();
        bytes.extend(tail);
        let mut buf = BytesMut::from(&bytes[..]);
        let (decoded, _) = decode_all(&mut FrameCodec::default(), &mut buf);
        prop_assert!(decoded.len() >= frames.len());
    }

    #[test]
    fn bytes_in_pieces_decode_as_bytes_at_once(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        frames in proptest::collection::vec(framed_garbage(), 0..4),
        cuts in proptest::collection::vec(1usize..64, 0..16),
    ) {
        let mut stream: Vec<u8> = frames.concat();
        stream.extend(bytes);
        let whole = decode_all(&mut FrameCodec::default(), &mut BytesMut::from(&stream[..]));
        let mut codec = FrameCodec::default();
        let (mut buf, mut frames, mut end, mut at) = (BytesMut::new(), Vec::new(), None, 0usize);
        for cut in cuts.into_iter().chain(std::iter::once(usize::MAX)) {
            let next = at.saturating_add(cut).min(stream.len());
            buf.extend_from_slice(&stream[at..next]);
            at = next;
            let (more, ended) = decode_all(&mut codec, &mut buf);
            frames.extend(more);
            if ended.is_some() {
                end = ended;
                break;
            }
        }
        prop_assert_eq!(frames, whole.0);
        prop_assert_eq!(end.is_some(), whole.1.is_some());
    }

    #[test]
    fn requests_round_trip(id in any::<u64>(), request in request()) {
        let mut buf = BytesMut::new();
        let frame = Frame::encode(id, &request).map_err(|e| TestCaseError::fail(e.to_string()))?;
        write_frame(frame.id, &frame.body, &mut buf);
        let back = FrameCodec::default().decode(&mut buf);
        let back = back.map_err(|e: FrameError| TestCaseError::fail(e.to_string()))?;
        let back = back.ok_or_else(|| TestCaseError::fail("no frame"))?;
        prop_assert_eq!(back.id, id);
        prop_assert_eq!(back.decode::<Request>().ok(), Some(request));
    }
}

#[test]
fn a_body_claiming_a_huge_string_fails_without_allocating_it() {
    // Get { key } whose length varint claims 512 MiB, and one claiming 2^60 bytes: the decode
    // limit follows the body's size, so neither is allocated.
    assert!(decode::<Request>(&[0, 0xfc, 0, 0, 0, 0x20]).is_err());
    assert!(decode::<Request>(&[0, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0x10]).is_err());
}
