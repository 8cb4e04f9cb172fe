//! Flipped bytes in the middle of a node's log, through the binary: with `--replicas 1` only the
//! keys of damaged records that cannot be mended are lost, the loss is reported per node as an error line, and the damaged
//! file is kept aside. The seed is printed so a failing run can be repeated.

use crate::support::serve;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use ringkv::persist::record::{index, Record};
use ringkv::Client;
use serve::{block_on, counts, Server};

/// Keys written, each updated once by `i + 1`.
const KEYS: usize = 1500;

/// Two nodes with one replica per key: every key lives in one log. Stopped cleanly.
fn two_logs(dir: &Path) -> Vec<PathBuf> {
    let server = Server::start(dir, &["--nodes", "2", "--replicas", "1"]);
    block_on(async {
        let mut client = Client::connect(&server.addr()).await.unwrap();
        for i in 0..KEYS {
            client.update(&format!("k{i}"), i as i64 + 1).await.unwrap();
        }
    });
    server.stop();
    (1..=2).map(|n| dir.join(format!("node-{n}/log"))).collect()
}

/// What flipping bytes at `flips` should cost a log whose records are `records`.
#[derive(Debug, Default)]
struct Expected {
    /// Keys whose (only) record is damaged and not repairable.
    lost: BTreeSet<String>,
    /// Records that cannot be mended: more than one damaged byte, not all in the length field
    /// (a damaged length alone is repaired, one damaged byte is corrected by the checksum).
    records: usize,
}

fn expected(records: &[(u64, u64, Record)], flips: &[usize]) -> Expected {
    let mut out = Expected::default();
    for (start, end, record) in records {
        let hits: Vec<u64> = flips
            .iter()
            .map(|&f| f as u64)
            .filter(|f| (start..end).contains(&f))
            .collect();
        if hits.len() < 2 || hits.iter().all(|f| f - start < 4) {
            continue;
        }
        out.records += 1;
        if let Record::Put(entry) = record {
            out.lost.insert(entry.key.clone());
        }
    }
    out
}

/// The number just before `word` in `line` ("lost 3 records": `number_before(line, " records")`).
fn number_before(line: &str, word: &str) -> usize {
    let head = &line[..line
        .find(word)
        .unwrap_or_else(|| panic!("no {word:?} in {line}"))];
    let digits = head.rsplit(' ').next().unwrap_or_default();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no number before {word:?} in {line}"))
}

/// Flips a random bit of `n` random bytes in each log past its header, every other one with a
/// second byte a few bytes on (often in the same record); answers the flips per log.
fn flip(logs: &[PathBuf], n: usize, rng: &mut impl Rng) -> Vec<(Vec<u8>, Vec<usize>)> {
    logs.iter()
        .map(|log| {
            let mut bytes = std::fs::read(log).unwrap();
            let mut distinct = BTreeSet::new();
            for k in 0..n {
                let at = rng.gen_range(8..bytes.len());
                distinct.insert(at);
                if k % 2 == 0 {
                    distinct.insert((at + rng.gen_range(1..6)).min(bytes.len() - 1));
                }
            }
            let flips: Vec<usize> = distinct.into_iter().collect();
            for &at in &flips {
                bytes[at] ^= 1 << rng.gen_range(0..8);
            }
            std::fs::write(log, &bytes).unwrap();
            (bytes, flips)
        })
        .collect()
}

/// The one line about `node`'s damaged log: an error when records were lost.
fn report(server: &Server, node: usize, lost: bool) -> String {
    let start = format!("node {node}: its log ");
    assert!(
        server.wait_for_stderr(&start, Duration::from_secs(5)),
        "no report for node {node}: {}",
        server.stderr()
    );
    let text = server.stderr();
    let line = text.lines().find(|l| l.contains(&start)).unwrap();
    if lost {
        assert!(line.contains("ERROR"), "{line}");
    } else {
        assert!(
            line.contains("WARN") && line.contains("all mended"),
            "{line}"
        );
    }
    line.to_owned()
}

#[test]
fn flipped_bytes_lose_only_the_damaged_records_and_say_so() {
    let seed: u64 = std::env::var("RINGKV_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for round in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let logs = two_logs(dir.path());
        let clean: Vec<_> = logs
            .iter()
            .map(|l| index(&std::fs::read(l).unwrap()).unwrap())
            .collect();
        let damaged = flip(&logs, [3, 12, 40][round], &mut rng);
        let server = Server::start(dir.path(), &[]);
        let got = block_on(counts(&server.addr(), KEYS));
        let zero: BTreeSet<String> = (0..KEYS)
            .filter(|&i| got[i] == 0)
            .map(|i| format!("k{i}"))
            .collect();
        let (mut lost, mut whys) = (BTreeSet::new(), Vec::new());
        for (n, ((bytes, flips), records)) in damaged.iter().zip(&clean).enumerate() {
            let want = expected(records, flips);
            let line = report(&server, n + 1, want.records > 0);
            let found = ringkv::persist::record::recover(bytes).unwrap().damage;
            let why = format!("{line}\n{found:?}\nflips {flips:?} (seed {seed})");
            whys.push(why.clone());
            if want.records == 0 {
                lost.extend(want.lost);
                continue;
            }
            // An estimate where length fields are damaged: bytes that cannot be read as records
            // count as one record, however many they held.
            let records = number_before(&line, " records");
            assert!(
                records <= 2 * want.records && 2 * records >= want.records,
                "{why}"
            );
            let keys = number_before(&line, " keys (");
            let node_lost: Vec<&String> = want.lost.iter().filter(|k| zero.contains(*k)).collect();
            assert_eq!(node_lost.len(), want.lost.len(), "seed {seed}");
            // A flip may turn a key's name into another's: then it is counted as possibly behind.
            assert!(keys <= want.lost.len(), "{line} (seed {seed})");
            let kept = line.rsplit("kept as ").next().unwrap().trim();
            assert_eq!(&std::fs::read(kept).unwrap(), bytes, "seed {seed}");
            assert!(
                kept.contains(&format!("node-{}/log.damaged-", n + 1)),
                "{kept}"
            );
            lost.extend(want.lost);
        }
        assert_eq!(zero, lost, "the keys at 0: {whys:#?}");
        for (i, value) in got.iter().enumerate() {
            if *value != 0 {
                assert_eq!(*value, i as i64 + 1, "k{i} (seed {seed})");
            }
        }
        server.stop();
    }
}

#[test]
fn a_flipped_length_field_of_the_first_records_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let logs = two_logs(dir.path());
    for log in &logs {
        let mut bytes = std::fs::read(log).unwrap();
        let records = index(&bytes).unwrap();
        // The incarnation record's length, and the first counter's.
        bytes[records[0].0 as usize] ^= 0x20;
        bytes[records[1].0 as usize + 3] ^= 0x01;
        std::fs::write(log, &bytes).unwrap();
    }
    let server = Server::start(dir.path(), &[]);
    let got = block_on(counts(&server.addr(), KEYS));
    let want: Vec<i64> = (1..=KEYS as i64).collect();
    assert_eq!(got, want, "{}", server.stderr());
    let stderr = server.stderr();
    assert!(!stderr.contains("ERROR"), "{stderr}");
    assert!(
        stderr.contains("node 1: its log ") && stderr.contains("all mended"),
        "{stderr}"
    );
}

#[test]
fn with_more_replicas_the_damage_is_a_warning_that_they_repair_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--nodes", "3", "--replicas", "3"]);
    block_on(async {
        let mut client = Client::connect(&server.addr()).await.unwrap();
        for i in 0..200 {
            client.update(&format!("k{i}"), i as i64 + 1).await.unwrap();
        }
    });
    server.stop();
    let log = dir.path().join("node-2/log");
    let mut bytes = std::fs::read(&log).unwrap();
    let records = index(&bytes).unwrap();
    let middle = &records[records.len() / 2];
    bytes[middle.0 as usize + 9] ^= 0x04;
    bytes[middle.0 as usize + 11] ^= 0x10;
    std::fs::write(&log, &bytes).unwrap();
    let server = Server::start(dir.path(), &[]);
    let line = "node 2: its log ";
    assert!(server.wait_for_stderr(line, Duration::from_secs(5)));
    let text = server.stderr();
    let report = text.lines().find(|l| l.contains(line)).unwrap();
    assert!(
        report.contains("WARN") && report.contains("lost at least 1 records"),
        "{report}"
    );
    assert!(report.contains("the other 2 replicas"), "{report}");
    let got = block_on(counts(&server.addr(), 200));
    assert_eq!(got, (1..=200).collect::<Vec<i64>>());
}
