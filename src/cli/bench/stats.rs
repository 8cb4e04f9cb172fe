//! Counters shared by every load thread, the once-a-second progress line, and the final report.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// The longest latency recorded exactly, in nanoseconds (longer ones are clamped to it).
const MAX_LATENCY_NS: u64 = 60_000_000_000;

/// A latency histogram in nanoseconds, 3 significant figures.
pub fn new_histogram() -> Histogram<u64> {
    // The bounds are constant and valid.
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).expect("valid histogram bounds")
}

/// State every connection reads and updates, once per batch.
pub struct Shared {
    limit: Option<u64>,
    claimed: AtomicU64,
    ok: AtomicU64,
    errors: AtomicU64,
    stop: AtomicBool,
    connect_failed: AtomicBool,
    deadline: OnceLock<Option<Instant>>,
    first_error: Mutex<Option<String>>,
}

impl Shared {
    /// Counters for a run of `limit` requests (`None`: until the deadline).
    pub fn new(limit: Option<u64>) -> Shared {
        Shared {
            limit,
            claimed: AtomicU64::new(0),
            ok: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            connect_failed: AtomicBool::new(false),
            deadline: OnceLock::new(),
            first_error: Mutex::new(None),
        }
    }

    /// Lets the connections go, to stop at `deadline` if there is one.
    pub fn start(&self, deadline: Option<Instant>) {
        let _ = self.deadline.set(deadline);
    }

    /// Asks every connection to stop after its current batch.
    pub fn stop(&self) {
        self.stop.store(true, Relaxed);
    }

    /// Claims the next batch: the run-wide number of its first request and how many it may send
    /// (at most `want`). A count of 0 means the run is over.
    pub fn claim(&self, want: u64) -> (u64, u64) {
        if self.stop.load(Relaxed) {
            return (0, 0);
        }
        if let Some(Some(deadline)) = self.deadline.get() {
            if Instant::now() >= *deadline {
                return (0, 0);
            }
        }
        let first = self.claimed.fetch_add(want, Relaxed);
        match self.limit {
            None => (first, want),
            Some(limit) => (first, want.min(limit.saturating_sub(first))),
        }
    }

    /// Counts answered requests and failed ones.
    pub fn add(&self, ok: u64, errors: u64) {
        self.ok.fetch_add(ok, Relaxed);
        self.errors.fetch_add(errors, Relaxed);
    }

    /// Notes a failure (the first one is kept for the final message).
    pub fn note_error(&self, message: impl FnOnce() -> String) {
        if let Ok(mut first) = self.first_error.lock() {
            first.get_or_insert_with(message);
        }
    }

    /// Marks that a connection could not be opened before the start.
    pub fn fail_connect(&self, message: String) {
        self.connect_failed.store(true, Relaxed);
        self.note_error(|| message);
    }

    /// Whether some connection could not be opened.
    pub fn connect_failed(&self) -> bool {
        self.connect_failed.load(Relaxed)
    }

    /// The first failure seen, if any.
    pub fn first_error(&self) -> Option<String> {
        self.first_error.lock().ok().and_then(|e| e.clone())
    }

    fn counts(&self) -> (u64, u64) {
        (self.ok.load(Relaxed), self.errors.load(Relaxed))
    }
}

/// Prints a progress line to stderr about once a second until `finished()` says the run is over.
pub fn progress(shared: &Shared, start: Instant, quiet: bool, finished: impl Fn() -> bool) {
    let terminal = std::io::stderr().is_terminal();
    let (mut last_done, mut last_at) = (0u64, start);
    let mut next = start + Duration::from_secs(1);
    while !finished() {
        std::thread::sleep(Duration::from_millis(20));
        let now = Instant::now();
        if now < next || quiet {
            continue;
        }
        let (ok, errors) = shared.counts();
        let rate = (ok + errors - last_done) as f64 / (now - last_at).as_secs_f64();
        let overall = (ok + errors) as f64 / (now - start).as_secs_f64();
        let end = if terminal { "\r" } else { "\n" };
        eprint!(
            "progress: {:.1}s {} done, {} errors, {:.0} req/s (overall {:.0} req/s){end}",
            (now - start).as_secs_f64(),
            ok + errors,
            errors,
            rate,
            overall
        );
        let _ = std::io::stderr().flush();
        (last_done, last_at) = (ok + errors, now);
        next += Duration::from_secs(1);
    }
    if terminal && !quiet {
        eprintln!();
    }
}

/// The outcome of a run.
pub struct Report {
    /// Requests answered without error.
    pub ok: u64,
    /// Requests answered with an error or lost with their connection.
    pub errors: u64,
    elapsed: Duration,
    percentiles: Vec<(&'static str, f64)>,
}

impl Report {
    /// The report of a run that took `elapsed`, with latencies in `histogram`.
    pub fn new(shared: &Shared, histogram: &Histogram<u64>, elapsed: Duration) -> Report {
        let (ok, errors) = shared.counts();
        let ms = |ns: u64| ns as f64 / 1e6;
        let percentiles = [("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p99.9", 99.9)]
            .into_iter()
            .map(|(name, q)| (name, ms(histogram.value_at_quantile(q / 100.0))))
            .chain(std::iter::once(("max", ms(histogram.max()))))
            .collect();
        Report {
            ok,
            errors,
            elapsed,
            percentiles,
        }
    }

    /// Requests (answered or failed) per second.
    pub fn throughput(&self) -> f64 {
        (self.ok + self.errors) as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Prints the summary to stdout: one line when `quiet`, a short block otherwise.
    pub fn print(&self, what: &str, quiet: bool) {
        let lat: Vec<String> = self
            .percentiles
            .iter()
            .map(|(name, v)| format!("{name}={v:.3}"))
            .collect();
        if quiet {
            println!(
                "ringkv bench: {:.2} requests per second, {} msec, errors={}",
                self.throughput(),
                lat.join(" "),
                self.errors
            );
            return;
        }
        println!("====== ringkv bench ======");
        println!("  target:     {what}");
        println!(
            "  requests:   {} in {:.3} s ({} ok, {} errors)",
            self.ok + self.errors,
            self.elapsed.as_secs_f64(),
            self.ok,
            self.errors
        );
        println!("  throughput: {:.2} requests per second", self.throughput());
        println!("  latency:    {} (msec)", lat.join("  "));
    }
}
