//! Store benchmarks: increment of a key already held (returning the counter, or only the value;
//! also with the anti-entropy digests kept), increment that inserts a new key, and read; the
//! anti-entropy digests of 1,000,000 unchanged keys, from scratch and as kept up to date.
//!
//! Run: `cargo bench --bench store`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use ringkv::ring::Ring;
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
    let ring = Arc::new(Ring::with_nodes(256, 1..=3));
    let mut tracked = full.clone();
    while tracked.digest_step(&ring, usize::MAX).is_none() {}
    group.bench_function("increment_existing_100k_digests_kept", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % KEYS;
            tracked.increment(black_box(&keys[i]), 1, 1)
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

/// One node's share of an anti-entropy pass over 1,000,000 unchanged keys on a 3-node ring.
fn anti_entropy(c: &mut Criterion) {
    const MANY: usize = 1_000_000;
    let ring = Arc::new(Ring::with_nodes(256, 1..=3));
    let mut store = Store::new();
    for i in 0..MANY {
        let _ = store.increment(&format!("key:{i}"), 1, 1);
    }
    let mut group = c.benchmark_group("anti_entropy");
    group.sample_size(10);
    group.bench_function("digests_from_scratch_1M", |b| {
        b.iter(|| store.digests(|t| ring.arc_of(t)))
    });
    while store.digest_step(&ring, usize::MAX).is_none() {}
    group.bench_function("digests_kept_unchanged_1M", |b| {
        b.iter(|| store.digest_step(black_box(&ring), 8192))
    });
    group.finish();
    steps(c, &mut store, &ring);
}

/// The longest a scan holds a node's lock at a time: one step of 8,192 items over 1,000,000 keys.
fn steps(c: &mut Criterion, store: &mut Store, ring: &Arc<Ring>) {
    let mut group = c.benchmark_group("scan_step");
    let mut walk = store.walk_start();
    let arcs: Vec<usize> = (0..ring.arcs().len()).step_by(4).collect();
    let quarter = ringkv::rebalance::ArcSet::with_arcs(ring.clone(), &arcs);
    group.bench_function("walk_copy_8192_of_1M", |b| {
        b.iter(|| {
            let mut out = Vec::new();
            if store.walk_copy(walk, 8192, |t| quarter.contains(t), &mut out) != Some(false) {
                // Done: walk again.
                store.walk_end(walk);
                walk = store.walk_start();
            }
            out.len()
        })
    });
    group.bench_function("digest_step_8192_dirty_of_1M", |b| {
        let other = Arc::new(Ring::with_nodes(256, 1..=4));
        let mut flip = false;
        b.iter(|| {
            // A report for another ring starts afresh: every key is dirty again.
            flip = !flip;
            let r = if flip { &other } else { ring };
            store.digest_step(black_box(r), 8192)
        })
    });
    group.finish();
}

criterion_group!(benches, store, anti_entropy);
criterion_main!(benches);
