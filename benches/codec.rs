//! Codec benchmarks: encode and decode of every request type, and of the two hot responses, as
//! whole frames (header + bincode body) through `FrameCodec`.
//!
//! Run: `cargo bench --bench codec`.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use ringkv::protocol::codec::write_frame;
use ringkv::protocol::{Frame, FrameCodec, Request, Response};
use serde::{de::DeserializeOwned, Serialize};
use tokio_util::codec::Decoder;

fn requests() -> Vec<(&'static str, Request)> {
    vec![
        (
            "get",
            Request::Get {
                key: "key:12345".into(),
            },
        ),
        (
            "update",
            Request::Update {
                key: "key:12345".into(),
                amount: 1,
            },
        ),
        ("status", Request::Status),
        ("ring", Request::Ring),
        ("add_node", Request::AddNode { port: Some(5004) }),
        ("remove_node", Request::RemoveNode { port: 5004 }),
        ("kill_node", Request::KillNode { port: 5004 }),
    ]
}

fn responses() -> Vec<(&'static str, Response)> {
    vec![
        (
            "count",
            Response::Count {
                key: "key:12345".into(),
                value: 42,
            },
        ),
        (
            "updated",
            Response::Updated {
                key: "key:12345".into(),
                value: 43,
            },
        ),
    ]
}

/// Encode: the typed message to a whole frame in a reused buffer.
fn encode_one<T: Serialize>(id: u64, message: &T, buf: &mut BytesMut) {
    buf.clear();
    if let Ok(frame) = Frame::encode(id, message) {
        write_frame(frame.id, &frame.body, buf);
    }
}

/// Decode: a whole frame back to the typed message.
fn decode_one<T: DeserializeOwned>(codec: &mut FrameCodec, mut wire: BytesMut) -> Option<T> {
    codec.decode(&mut wire).ok().flatten()?.decode().ok()
}

fn bench_pair<T: Serialize + DeserializeOwned>(
    c: &mut Criterion,
    kind: &str,
    items: Vec<(&str, T)>,
) {
    let mut group = c.benchmark_group(format!("codec_{kind}"));
    let mut codec = FrameCodec::default();
    for (name, message) in items {
        let mut buf = BytesMut::with_capacity(256);
        group.bench_function(BenchmarkId::new("encode", name), |b| {
            b.iter(|| encode_one(black_box(7), black_box(&message), &mut buf))
        });
        let mut wire = BytesMut::new();
        encode_one(7, &message, &mut wire);
        group.bench_function(BenchmarkId::new("decode", name), |b| {
            // Copying the frame into a fresh buffer is setup, not timed.
            b.iter_batched(
                || wire.clone(),
                |w| decode_one::<T>(&mut codec, black_box(w)),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

fn codec(c: &mut Criterion) {
    bench_pair(c, "request", requests());
    bench_pair(c, "response", responses());
}

criterion_group!(benches, codec);
criterion_main!(benches);
