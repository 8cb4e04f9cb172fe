//! Ring benchmarks: building a 1,000-node ring, owner lookup at 10, 100 and 1,000 nodes × 256 vnodes, the preference list for
//! R=3, and the rebalance plan of an `add-node` over 1,000,000 keys (ring diff + assigning every key
//! token to the range that moves it).
//!
//! Run: `cargo bench --bench ring` (add `-- --warm-up-time 1 --measurement-time 2` for a quick look).

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ringkv::ring::{key_token, NodeId, RangeMove, Ring, Token, DEFAULT_VNODES};

const NODE_COUNTS: [u32; 3] = [10, 100, 1000];
const KEYS: usize = 1_000_000;

fn keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("key:{i}")).collect()
}

fn build_ring(nodes: u32) -> Ring {
    let started = Instant::now();
    let ring = Ring::with_nodes(DEFAULT_VNODES, 1..=nodes);
    eprintln!(
        "(setup) Ring::with_nodes({DEFAULT_VNODES}, 1..={nodes}) took {:?}",
        started.elapsed()
    );
    ring
}

fn hash(c: &mut Criterion) {
    let keys = keys(4096);
    c.bench_function("ring/key_token", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) & 4095;
            key_token(black_box(keys[i].as_bytes()))
        })
    });
}

fn build(c: &mut Criterion) {
    let mut group = c.benchmark_group("ring");
    group.sample_size(10);
    group.bench_function("with_nodes_256x1000", |b| {
        b.iter(|| Ring::with_nodes(DEFAULT_VNODES, 1..=black_box(1000)))
    });
    group.finish();
}

fn lookup(c: &mut Criterion) {
    let keys = keys(4096);
    let tokens: Vec<Token> = keys.iter().map(|k| key_token(k.as_bytes())).collect();
    let mut group = c.benchmark_group("ring");
    for nodes in NODE_COUNTS {
        let ring = build_ring(nodes);
        group.bench_with_input(BenchmarkId::new("owner", nodes), &ring, |b, ring| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) & 4095;
                ring.owner(black_box(keys[i].as_bytes()))
            })
        });
        group.bench_with_input(
            BenchmarkId::new("owner_of_token", nodes),
            &ring,
            |b, ring| {
                let mut i = 0;
                b.iter(|| {
                    i = (i + 1) & 4095;
                    ring.owner_of_token(black_box(tokens[i]))
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("preference_list_r3", nodes),
            &ring,
            |b, ring| {
                let mut i = 0;
                b.iter(|| {
                    i = (i + 1) & 4095;
                    ring.preference_list(black_box(keys[i].as_bytes()), 3)
                })
            },
        );
    }
    group.finish();
}

/// Which moves take each key: the keys' indices grouped by the node they go to.
fn plan(old: &Ring, new: &Ring, tokens: &[Token]) -> Vec<(NodeId, Vec<u32>)> {
    let moves: Vec<RangeMove> = old.diff(new);
    let mut out: Vec<(NodeId, Vec<u32>)> = Vec::new();
    for m in &moves {
        if !out.iter().any(|(to, _)| *to == m.to) {
            out.push((m.to, Vec::new()));
        }
    }
    for (i, &t) in tokens.iter().enumerate() {
        // Moves come sorted by range end; the arc holding `t` is the first ending at or after it,
        // or the one that wraps past the top of the ring (the first).
        let at = moves.partition_point(|m| m.range.end < t);
        let hit = [moves.get(at), moves.first()]
            .into_iter()
            .flatten()
            .find(|m| m.range.contains(t));
        if let Some(m) = hit {
            if let Some((_, list)) = out.iter_mut().find(|(to, _)| *to == m.to) {
                list.push(i as u32);
            }
        }
    }
    out
}

fn rebalance(c: &mut Criterion) {
    let tokens: Vec<Token> = keys(KEYS).iter().map(|k| key_token(k.as_bytes())).collect();
    let mut group = c.benchmark_group("rebalance");
    group.sample_size(10);
    for nodes in [10u32, 100] {
        let old = build_ring(nodes);
        let mut new = old.clone();
        new.add_node(nodes + 1);
        let moved: usize = plan(&old, &new, &tokens).iter().map(|(_, l)| l.len()).sum();
        let ideal = KEYS as f64 / f64::from(nodes + 1);
        eprintln!(
            "(check) add-node to {nodes} nodes moves {moved} of {KEYS} keys: {:.3}× the ideal 1/(N+1) share",
            moved as f64 / ideal
        );
        group.throughput(Throughput::Elements(KEYS as u64));
        group.bench_function(BenchmarkId::new("add_node_plan_1M_keys", nodes), |b| {
            b.iter(|| plan(black_box(&old), black_box(&new), black_box(&tokens)))
        });
        group.throughput(Throughput::Elements(1));
        group.bench_function(BenchmarkId::new("diff_only", nodes), |b| {
            b.iter(|| black_box(&old).diff(black_box(&new)))
        });
    }
    group.finish();
}

criterion_group!(benches, hash, build, lookup, rebalance);
criterion_main!(benches);
