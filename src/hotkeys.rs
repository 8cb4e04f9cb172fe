//! `--hot-keys`: the keys updated most over the last minute, from a Space-Saving sketch per
//! ten-second window (bounded memory: [`WINDOWS`] sketches of `capacity` keys each).
//!
//! Space-Saving (Metwally et al.) keeps `capacity` counters. A key already held gets +1; a new
//! key takes the place of the key with the smallest count `m` and starts at `m + 1`, noting `m`
//! as its possible overcount. So every count is at least the key's true count and at most `m`
//! above it, and any key updated more than `n / capacity` times of `n` is held. The counters sit
//! in a binary min-heap with an index by key: each update is O(log capacity).
//!
//! Off unless [`enable`] was called: recording then costs one relaxed atomic load.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde::Serialize;

/// Ten-second windows kept: the last minute.
pub const WINDOWS: usize = 6;
/// The length of one window.
pub const WINDOW: Duration = Duration::from_secs(10);
/// Keys each window's sketch holds unless [`enable`] says otherwise.
pub const DEFAULT_CAPACITY: usize = 256;
/// How many keys `/metrics` lists.
pub const METRICS_TOP: usize = 10;

/// A key's estimated count and its possible overcount.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Slot {
    key: String,
    count: u64,
    error: u64,
}

/// One Space-Saving sketch.
#[derive(Debug, Clone)]
pub struct SpaceSaving {
    capacity: usize,
    /// A min-heap on `count`.
    heap: Vec<Slot>,
    /// Key → its place in `heap`.
    index: HashMap<String, usize>,
}

impl SpaceSaving {
    /// A sketch of at most `capacity` keys (at least 1).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        SpaceSaving {
            capacity,
            heap: Vec::with_capacity(capacity),
            index: HashMap::with_capacity(capacity),
        }
    }

    /// Counts `amount` updates of `key`.
    pub fn add(&mut self, key: &str, amount: u64) {
        if let Some(&at) = self.index.get(key) {
            self.heap[at].count = self.heap[at].count.saturating_add(amount);
            self.sift_down(at);
        } else if self.heap.len() < self.capacity {
            self.heap.push(Slot {
                key: key.to_owned(),
                count: amount,
                error: 0,
            });
            let at = self.heap.len() - 1;
            self.index.insert(key.to_owned(), at);
            self.sift_up(at);
        } else {
            let min = self.heap[0].count;
            let old = std::mem::replace(
                &mut self.heap[0],
                Slot {
                    key: key.to_owned(),
                    count: min.saturating_add(amount),
                    error: min,
                },
            );
            self.index.remove(&old.key);
            self.index.insert(key.to_owned(), 0);
            self.sift_down(0);
        }
    }

    /// Every held key with its estimated count and possible overcount.
    pub fn entries(&self) -> impl Iterator<Item = (&str, u64, u64)> {
        self.heap.iter().map(|s| (s.key.as_str(), s.count, s.error))
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        for at in [a, b] {
            if let Some(place) = self.index.get_mut(&self.heap[at].key) {
                *place = at;
            }
        }
    }

    fn sift_up(&mut self, mut at: usize) {
        while at > 0 {
            let parent = (at - 1) / 2;
            if self.heap[parent].count <= self.heap[at].count {
                break;
            }
            self.swap(parent, at);
            at = parent;
        }
    }

    fn sift_down(&mut self, mut at: usize) {
        loop {
            let (l, r) = (2 * at + 1, 2 * at + 2);
            let mut least = at;
            if l < self.heap.len() && self.heap[l].count < self.heap[least].count {
                least = l;
            }
            if r < self.heap.len() && self.heap[r].count < self.heap[least].count {
                least = r;
            }
            if least == at {
                return;
            }
            self.swap(at, least);
            at = least;
        }
    }
}

/// One key of the top list.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct HotKey {
    /// The key.
    pub key: String,
    /// Its estimated updates in the window.
    pub updates: u64,
    /// Updates per second over the window.
    pub per_second: f64,
}

/// The sketches of the last minute, one per window, oldest replaced first.
#[derive(Debug)]
pub struct Windows {
    started: Instant,
    capacity: usize,
    /// `(window number, sketch)`; window number = seconds since `started` / 10.
    slots: Vec<(u64, SpaceSaving)>,
}

impl Windows {
    /// Windows of `capacity` keys each, counted from `started`.
    pub fn new(capacity: usize, started: Instant) -> Self {
        Windows {
            started,
            capacity,
            slots: Vec::with_capacity(WINDOWS),
        }
    }

    fn window_at(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.started).as_secs() / WINDOW.as_secs()
    }

    /// Counts `amount` updates of `key` at `now`.
    pub fn add(&mut self, key: &str, amount: u64, now: Instant) {
        let window = self.window_at(now);
        let at = window as usize % WINDOWS;
        if self.slots.len() <= at {
            self.slots
                .resize_with(at + 1, || (u64::MAX, SpaceSaving::new(0)));
        }
        if self.slots[at].0 != window {
            self.slots[at] = (window, SpaceSaving::new(self.capacity));
        }
        self.slots[at].1.add(key, amount);
    }

    /// The `n` keys updated most in the minute before `now`, most first.
    pub fn top(&self, n: usize, now: Instant) -> Vec<HotKey> {
        let window = self.window_at(now);
        let first = window.saturating_sub(WINDOWS as u64 - 1);
        let mut sums: HashMap<&str, u64> = HashMap::new();
        for (w, sketch) in &self.slots {
            if *w != u64::MAX && *w >= first && *w <= window {
                for (key, count, _) in sketch.entries() {
                    *sums.entry(key).or_default() += count;
                }
            }
        }
        let span = now
            .saturating_duration_since(self.started)
            .min(WINDOW * WINDOWS as u32)
            .as_secs_f64()
            .max(1.0);
        let mut top: Vec<HotKey> = sums
            .into_iter()
            .map(|(key, updates)| HotKey {
                key: key.to_owned(),
                updates,
                per_second: updates as f64 / span,
            })
            .collect();
        top.sort_by(|a, b| b.updates.cmp(&a.updates).then_with(|| a.key.cmp(&b.key)));
        top.truncate(n);
        top
    }
}

static ENABLED: AtomicBool = AtomicBool::new(false);
static HOT: OnceLock<Mutex<Windows>> = OnceLock::new();

/// Turns the hot-keys view on, with `capacity` keys per window.
pub fn enable(capacity: usize) {
    let _ = HOT.set(Mutex::new(Windows::new(capacity, Instant::now())));
    ENABLED.store(true, Ordering::Release);
}

/// Whether `--hot-keys` is on.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Counts one update of `key` (nothing unless enabled).
#[inline]
pub fn record(key: &str) {
    if enabled() {
        if let Some(hot) = HOT.get() {
            let mut hot = hot.lock().unwrap_or_else(|p| p.into_inner());
            hot.add(key, 1, Instant::now());
        }
    }
}

/// The `n` keys updated most over the last minute (empty when off).
pub fn top(n: usize) -> Vec<HotKey> {
    match HOT.get() {
        Some(hot) if enabled() => {
            let hot = hot.lock().unwrap_or_else(|p| p.into_inner());
            hot.top(n, Instant::now())
        }
        _ => Vec::new(),
    }
}

/// The top list as text lines, as `hot-keys` prints it (`enabled`: whether the server tracks
/// hot keys).
pub fn lines(enabled: bool, top: &[HotKey]) -> Vec<String> {
    if !enabled {
        return vec!["Hot keys are off (start with --hot-keys)".to_owned()];
    }
    if top.is_empty() {
        return vec!["No updates in the last minute".to_owned()];
    }
    top.iter()
        .map(|k| {
            format!(
                "{}: {:.2} updates/s ({} in the last minute)",
                crate::quote::key(&k.key),
                k.per_second,
                k.updates
            )
        })
        .collect()
}

/// The body of `INFO hotkeys`: `hotkeys_enabled:1`, then one
/// `hotkey_N:key=K,updates_per_second=R,updates=U` line per key, most updated first.
pub fn info_section() -> String {
    let mut out = format!("hotkeys_enabled:{}\r\n", enabled() as u8);
    for (i, k) in top(10).iter().enumerate() {
        out.push_str(&format!(
            "hotkey_{i}:key={},updates_per_second={:.2},updates={}\r\n",
            crate::quote::key(&k.key),
            k.per_second,
            k.updates
        ));
    }
    out
}
