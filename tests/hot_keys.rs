//! The hot-keys sketch (Space-Saving): its guarantees under proptest, its one-minute window, and
//! `INFO hotkeys` / `hot-keys` against a running `ringkv serve --hot-keys`.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use ringkv::hotkeys::{SpaceSaving, Windows, WINDOW};

fn stream() -> impl Strategy<Value = Vec<u8>> {
    // Skewed: small key numbers come far more often.
    prop::collection::vec(prop_oneof![4 => 0u8..4, 1 => 0u8..200], 1..2000)
}

proptest! {
    /// Every count is at least the true count and at most its noted overcount above it; every key
    /// updated more than n / capacity times is held; memory stays within the capacity.
    #[test]
    fn space_saving_bounds(keys in stream(), capacity in 1usize..40) {
        let mut sketch = SpaceSaving::new(capacity);
        let mut truth: HashMap<String, u64> = HashMap::new();
        for k in &keys {
            let key = format!("k{k}");
            sketch.add(&key, 1);
            *truth.entry(key).or_default() += 1;
        }
        let held: HashMap<&str, (u64, u64)> = sketch.entries().map(|(k, c, e)| (k, (c, e))).collect();
        prop_assert!(held.len() <= capacity);
        let total: u64 = held.values().map(|(c, _)| c).sum();
        prop_assert_eq!(total, keys.len() as u64, "counts add up to the stream's length");
        for (key, &(count, error)) in &held {
            let real = truth[*key];
            prop_assert!(count >= real, "{key}: {count} < true {real}");
            prop_assert!(count - error <= real, "{key}: {count} - {error} > true {real}");
        }
        let n = keys.len() as u64;
        for (key, &real) in &truth {
            if real * capacity as u64 > n {
                prop_assert!(held.contains_key(key.as_str()), "{key} ({real} of {n}) missing");
            }
        }
    }
}

#[test]
fn windows_forget_updates_older_than_a_minute() {
    let start = Instant::now();
    let mut windows = Windows::new(8, start);
    for _ in 0..50 {
        windows.add("old", 1, start);
    }
    let later = start + WINDOW * 3;
    for _ in 0..20 {
        windows.add("new", 1, later);
    }
    let top = windows.top(5, later);
    assert_eq!(top[0].key, "old");
    assert_eq!(top[0].updates, 50);
    assert_eq!(top[1].key, "new");
    let much_later = start + WINDOW * 7 + Duration::from_secs(1);
    let top = windows.top(5, much_later);
    assert_eq!(top.len(), 1, "the first window fell out: {top:?}");
    assert_eq!(top[0].key, "new");
    assert!((top[0].per_second - 20.0 / 60.0).abs() < 1e-9);
}
