//! Fuzzes the frame decoder and the body decoder with arbitrary bytes, fed in pieces the way a
//! socket delivers them. Any input must give frames or an error, never a panic, an endless loop or
//! a huge allocation.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use ringkv::protocol::{FrameCodec, Request, Response};
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    // The first byte sets how many bytes each simulated read delivers.
    let Some((&piece, stream)) = data.split_first() else {
        return;
    };
    let mut codec = FrameCodec::new(64 * 1024);
    let mut buf = BytesMut::new();
    for chunk in stream.chunks(usize::from(piece).max(1)) {
        buf.extend_from_slice(chunk);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(frame)) => {
                    let _ = frame.decode::<Request>();
                    let _ = frame.decode::<Response>();
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
