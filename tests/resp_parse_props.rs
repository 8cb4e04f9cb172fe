//! Properties of the RESP request parser: any bytes give requests, "need more", or one clean
//! protocol error, never a panic; well-formed requests come back word for word, however the bytes
//! are split across reads.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use ringkv::resp::parse::next_request;
use ringkv::resp::RespLimits;

/// The multibulk encoding of `words`.
fn encode(words: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", words.len()).into_bytes();
    for w in words {
        out.extend(format!("${}\r\n", w.len()).as_bytes());
        out.extend(w);
        out.extend(b"\r\n");
    }
    out
}

/// Parses `bytes` until they give no more requests: each call must consume a request, ask for
/// more, or fail, never return a request without progress. Panics propagate.
fn parses_with_progress(bytes: &[u8], limits: &RespLimits) -> bool {
    let mut buf = BytesMut::from(bytes);
    for _ in 0..=bytes.len() {
        let before = buf.len();
        match next_request(&mut buf, limits) {
            Ok(Some(_)) if buf.len() >= before => return false,
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return true,
        }
    }
    true
}

fn words() -> impl Strategy<Value = Vec<Vec<u8>>> {
    proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..6)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let limits = RespLimits { max_request_len: 128, max_args: 8, max_inline_len: 64, ..RespLimits::default() };
        prop_assert!(parses_with_progress(&bytes, &limits));
    }

    #[test]
    fn damaged_requests_never_panic(ws in words(), at in any::<usize>(), byte in any::<u8>(), cut in any::<usize>()) {
        let mut wire = encode(&ws);
        let i = at % wire.len();
        wire[i] = byte;
        wire.truncate(cut % (wire.len() + 1));
        let limits = RespLimits { max_request_len: 64, ..RespLimits::default() };
        prop_assert!(parses_with_progress(&wire, &limits));
    }

    #[test]
    fn requests_round_trip_across_any_split(requests in proptest::collection::vec(words(), 1..5), cut in 0usize..400) {
        let wire: Vec<u8> = requests.iter().flat_map(|w| encode(w)).collect();
        let cut = cut.min(wire.len());
        let limits = RespLimits::default();
        let mut buf = BytesMut::from(&wire[..cut]);
        let mut got: Vec<Vec<Bytes>> = Vec::new();
        while let Some(words) = next_request(&mut buf, &limits).unwrap() {
            got.push(words.to_vec());
        }
        buf.extend_from_slice(&wire[cut..]);
        while let Some(words) = next_request(&mut buf, &limits).unwrap() {
            got.push(words.to_vec());
        }
        prop_assert!(buf.is_empty());
        let want: Vec<Vec<Bytes>> = requests
            .iter()
            .map(|ws| ws.iter().map(|w| Bytes::from(w.clone())).collect())
            .collect();
        prop_assert_eq!(got, want);
    }
}
