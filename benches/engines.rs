//! The storage engine choice: ringkv's append-only log against redb, on the same stream of
//! counter-state writes (one key's full G-counter state per update, 10,000 keys).
//!
//! `cargo bench --features bench-redb --bench engines` runs four measurements:
//! - durable, concurrent (what `--fsync always` needs): `RINGKV_ENGINE_CLIENTS` threads (default
//!   50) each write and wait until the write is on disk: the log's group commit against one redb
//!   transaction with `Durability::Immediate` per update, and redb with batching done for it
//!   (one thread, one `Immediate` transaction per batch of that many updates);
//! - not synced per update (what `--fsync every-second` needs): one thread writes everything, then
//!   one final sync: the log against redb transactions with `Durability::None` and a final
//!   `Immediate` commit.
//!
//! `RINGKV_ENGINE_UPDATES` (default 20,000) updates per measurement.

use std::sync::Arc;
use std::time::Instant;

use redb::{Database, Durability, TableDefinition};
use ringkv::counter::Counter;
use ringkv::persist::record::Record;
use ringkv::persist::{FsyncPolicy, NodeLog};
use ringkv::protocol::codec::encode;
use ringkv::store::Entry;

const TABLE: TableDefinition<&str, &[u8]> = TableDefinition::new("counters");
const KEYS: u64 = 10_000;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The `i`th update: a key and its counter state.
fn update(i: u64) -> Entry {
    Entry {
        key: format!("key{}", i % KEYS),
        counter: Counter::with_count(1, i / KEYS + 1),
    }
}

fn redb_write(db: &Database, entry: &Entry, durability: Durability) {
    let value = encode(&entry.counter).expect("encodes");
    let mut tx = db.begin_write().expect("a write transaction");
    let _ = tx.set_durability(durability);
    {
        let mut table = tx.open_table(TABLE).expect("the table");
        table
            .insert(entry.key.as_str(), value.as_slice())
            .expect("insert");
    }
    tx.commit().expect("commit");
}

/// Runs `work(thread, i)` for `updates` updates spread over `threads` threads; updates per second.
fn measure(threads: u64, updates: u64, work: impl Fn(u64) + Send + Sync + 'static) -> f64 {
    let work = Arc::new(work);
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let work = work.clone();
            std::thread::spawn(move || {
                (t..updates).step_by(threads as usize).for_each(|i| work(i));
            })
        })
        .collect();
    handles
        .into_iter()
        .for_each(|h| h.join().expect("a bench thread"));
    updates as f64 / start.elapsed().as_secs_f64()
}

fn log_rate(policy: FsyncPolicy, threads: u64, updates: u64) -> f64 {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let log = NodeLog::open(dir.path(), 1, policy).expect("a log").log;
    let writer = log.clone();
    let rate = measure(threads, updates, move |i| {
        if let Some(ack) = writer.append(&[Record::Put(update(i))]).expect("append") {
            ack.blocking_recv().expect("an answer").expect("on disk");
        }
    });
    let start = Instant::now();
    log.sync()
        .expect("sync")
        .blocking_recv()
        .expect("an answer")
        .expect("synced");
    let total = updates as f64 / rate + start.elapsed().as_secs_f64();
    updates as f64 / total
}

fn redb_rate(durability: Durability, threads: u64, updates: u64) -> f64 {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = Arc::new(Database::create(dir.path().join("db.redb")).expect("a database"));
    let writer = db.clone();
    let rate = measure(threads, updates, move |i| {
        redb_write(&writer, &update(i), durability)
    });
    let start = Instant::now();
    redb_write(&db, &update(0), Durability::Immediate);
    let total = updates as f64 / rate + start.elapsed().as_secs_f64();
    updates as f64 / total
}

/// redb with our own group commit in front: one `Immediate` transaction per `batch` updates.
fn redb_batched_rate(batch: u64, updates: u64) -> f64 {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = Database::create(dir.path().join("db.redb")).expect("a database");
    let start = Instant::now();
    for first in (0..updates).step_by(batch as usize) {
        let tx = db.begin_write().expect("a write transaction");
        {
            let mut table = tx.open_table(TABLE).expect("the table");
            for entry in (first..(first + batch).min(updates)).map(update) {
                let value = encode(&entry.counter).expect("encodes");
                table
                    .insert(entry.key.as_str(), value.as_slice())
                    .expect("insert");
            }
        }
        tx.commit().expect("commit");
    }
    updates as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let clients = setting("RINGKV_ENGINE_CLIENTS", 50);
    let updates = setting("RINGKV_ENGINE_UPDATES", 20_000);
    println!("{updates} counter-state writes over {KEYS} keys");
    let rows = [
        (
            format!("log, group commit, {clients} threads"),
            log_rate(FsyncPolicy::Always, clients, updates),
        ),
        (
            format!("redb, Immediate per update, {clients} threads"),
            redb_rate(Durability::Immediate, clients, updates),
        ),
        (
            format!("redb, Immediate per {clients} updates, 1 thread"),
            redb_batched_rate(clients, updates),
        ),
        (
            "log, one sync at the end, 1 thread".to_owned(),
            log_rate(FsyncPolicy::Never, 1, updates),
        ),
        (
            "redb, Durability::None + final sync, 1 thread".to_owned(),
            redb_rate(Durability::None, 1, updates),
        ),
    ];
    for (name, rate) in rows {
        println!("{name:>48}: {rate:>10.0} updates/s");
    }
}
