//! Figures for `docs/DURABILITY.md`, not checks: what random flips cost a 50,000-counter log, and
//! how long a 100 MB log takes to read back. Run with
//! `cargo test --release --test all log_damage_figures:: -- --ignored --nocapture`.

use std::collections::BTreeSet;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use ringkv::counter::Counter;
use ringkv::persist::record::{frame, index, recover, Record, FILE_MAGIC};
use ringkv::store::Entry;

/// A log of `records` puts over `keys` keys (round-robin, counts rising).
fn log(keys: usize, records: usize) -> Vec<u8> {
    let mut out = FILE_MAGIC.to_vec();
    out.extend(frame(&Record::Incarnation(0)).unwrap());
    for i in 0..records {
        let entry = Entry {
            key: format!("key-{}", i % keys),
            counter: Counter::with_count(1 << 8, (i / keys) as u64 + 1),
        };
        out.extend(frame(&Record::Put(entry)).unwrap());
    }
    out
}

#[test]
#[ignore]
fn keys_lost_to_random_flips() {
    let clean = log(50_000, 50_000);
    let records = index(&clean).unwrap();
    println!("log of 50,000 counters: {} bytes", clean.len());
    println!("damage | keys in damaged records | keys lost now | keys after the first flip");
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let cases = [1, 10, 100, 1000].map(|n| (n, false));
    for (flips, pairs) in cases.into_iter().chain([10, 100, 1000].map(|n| (n, true))) {
        let mut at = BTreeSet::new();
        for _ in 0..flips {
            let a = rng.gen_range(8..clean.len() - 8);
            at.insert(a);
            if pairs {
                at.insert(a + rng.gen_range(1..6));
            }
        }
        let mut bytes = clean.clone();
        for &a in &at {
            bytes[a] ^= 1 << rng.gen_range(0..8);
        }
        let hit = |s: u64, e: u64| at.range(s as usize..e as usize).next().is_some();
        let damaged = records.iter().filter(|(s, e, _)| hit(*s, *e)).count();
        let first = *at.iter().next().unwrap() as u64;
        let before = records.iter().filter(|(_, e, _)| *e > first).count();
        let got = recover(&bytes).unwrap();
        let lost = 50_000 - got.store.len();
        let what = if pairs {
            "pairs of bytes"
        } else {
            "single bits"
        };
        println!(
            "{flips} {what} | {damaged} | {lost} (reported {} records, {} keys, {} mended) | {before}",
            got.lost_records(),
            got.lost_keys().len(),
            got.repaired
        );
    }
}

#[test]
#[ignore]
fn time_to_read_a_100_mb_log() {
    // 3.4 M records over 50,000 keys: a log that has not been compacted for a while.
    let clean = log(50_000, 3_400_000);
    println!("log: {} MB", clean.len() >> 20);
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut flipped = clean.clone();
    for _ in 0..100 {
        let at = rng.gen_range(8..flipped.len());
        flipped[at] ^= 1 << rng.gen_range(0..8);
    }
    let mut garbage = clean.clone();
    let middle = garbage.len() / 2;
    for (i, b) in garbage[middle..middle + (1 << 20)].iter_mut().enumerate() {
        *b = (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[2];
    }
    for (name, bytes) in [
        ("clean", &clean),
        ("100 flipped bytes", &flipped),
        ("1 MiB of garbage in the middle", &garbage),
    ] {
        let best = (0..3)
            .map(|_| {
                let started = Instant::now();
                let got = recover(bytes).unwrap();
                assert!(got.records > 3_000_000);
                started.elapsed()
            })
            .min()
            .unwrap();
        println!("{name}: {best:?} (best of 3)");
    }
}
