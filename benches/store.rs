//! Store benchmarks: increment of a key already held (returning the counter, or only the value),
//! increment that inserts a new key, and read.
//!
//! Run: `cargo bench --bench store`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use ringkv::store::Store;

const KEYS: usize = 100_000;

fn store(c: &mut Criterion) {
    let keys: Vec<String> = (0..KEYS).map(|i| format!("key:{i}")).collect();
    let mut full = Store::new();
    for key in &keys {
        let _ = full.increment(key, 1, 1);
    }
    let mut group = c.benchmark_group("store");
    group.bench_function("increment_existing_100k", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % KEYS;
            full.increment(black_box(&keys[i]), 1, 1)
        })
    });
    group.bench_function("increment_value_existing_100k", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % KEYS;
            full.increment_value(black_box(&keys[i]), 1, 1)
        })
    });
    group.bench_function("get_existing_100k", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % KEYS;
            full.get(black_box(&keys[i]))
        })
    });
    group.bench_function("increment_new_key", |b| {
        b.iter_custom(|iters| {
            // Fill fresh stores of up to KEYS keys; only the increments are timed.
            let mut total = Duration::ZERO;
            let mut left = iters as usize;
            while left > 0 {
                let n = left.min(KEYS);
                let mut fresh = Store::new();
                let started = Instant::now();
                for key in &keys[..n] {
                    let _ = fresh.increment(black_box(key), 1, 1);
                }
                total += started.elapsed();
                left -= n;
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, store);
criterion_main!(benches);
