//! The counter checker shared by the Jepsen-style tests (`tests/jepsen.rs` in one process,
//! `tests/jepsen_multi.rs` over processes): operations recorded as invoke, then ok / fail /
//! unknown; each read bounded by the updates acknowledged before it and those attempted before it
//! completed; each final value the acknowledged total plus a subset of the unknown updates.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ringkv::Error;

/// How an update ended: acknowledged, refused before any replica took it, or either.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    Ok,
    Fail,
    Unknown,
}

/// One recorded operation on one key, with the times it was sent and answered.
#[derive(Debug, Clone)]
pub enum Op {
    Update {
        amount: i64,
        invoke: Instant,
        done: Instant,
        outcome: Outcome,
    },
    Read {
        value: i64,
        invoke: Instant,
        done: Instant,
    },
}

/// Every key's operations, as the workers record them.
pub type History = Arc<Mutex<HashMap<usize, Vec<Op>>>>;

/// The outcome of an update's answer.
pub fn classify(result: &Result<i64, Error>) -> Outcome {
    match result {
        Ok(_) => Outcome::Ok,
        // Refused before any replica took the increment.
        Err(Error::Unavailable(_)) | Err(Error::BadRequest(_)) | Err(Error::Overflow) => {
            Outcome::Fail
        }
        Err(_) => Outcome::Unknown,
    }
}

/// Whether `target` is a sum of some of `amounts` (of either sign).
pub fn subset_sum(amounts: &[i64], target: i64) -> bool {
    let low: i64 = amounts.iter().filter(|&&a| a < 0).sum();
    let high: i64 = amounts.iter().filter(|&&a| a > 0).sum();
    if target < low || target > high {
        return false;
    }
    // reachable[s - low]: some subset sums to s.
    let mut reachable = vec![false; (high - low) as usize + 1];
    reachable[(-low) as usize] = true;
    for &a in amounts {
        let before = reachable.clone();
        for (i, &r) in before.iter().enumerate() {
            let j = i as i64 + a;
            if r && j >= 0 && (j as usize) < reachable.len() {
                reachable[j as usize] = true;
            }
        }
    }
    reachable[(target - low) as usize]
}

/// Sorted event times with prefix sums of amounts: `sum_before(t)` sums the amounts of events
/// strictly before `t`.
pub struct Timeline {
    times: Vec<Instant>,
    sums: Vec<i64>,
}

impl Timeline {
    pub fn new(mut events: Vec<(Instant, i64)>) -> Self {
        events.sort_by_key(|&(t, _)| t);
        let mut sums = vec![0];
        for &(_, a) in &events {
            sums.push(sums.last().copied().unwrap_or(0) + a);
        }
        Timeline {
            times: events.into_iter().map(|(t, _)| t).collect(),
            sums,
        }
    }

    pub fn sum_before(&self, t: Instant) -> i64 {
        self.sums[self.times.partition_point(|&x| x < t)]
    }
}

/// Checks every read of one key; returns the problems found.
pub fn check_reads(key: usize, ops: &[Op]) -> Vec<String> {
    let updates = || {
        ops.iter().filter_map(|o| match o {
            Op::Update {
                amount,
                invoke,
                done,
                outcome,
            } => Some((*amount, *invoke, *done, *outcome)),
            Op::Read { .. } => None,
        })
    };
    // In the read for sure: acknowledged before it was sent. Perhaps: attempted before it
    // completed (the acknowledged ones among them too). Timelines of one sign each.
    let timeline = |positive: bool, acked: bool| {
        let events = updates()
            .filter(|u| (u.0 > 0) == positive)
            .filter(|u| {
                if acked {
                    u.3 == Outcome::Ok
                } else {
                    u.3 != Outcome::Fail
                }
            })
            .map(|u| (if acked { u.2 } else { u.1 }, u.0))
            .collect();
        Timeline::new(events)
    };
    let (acked_up, acked_down) = (timeline(true, true), timeline(false, true));
    let (tried_up, tried_down) = (timeline(true, false), timeline(false, false));
    let mut problems = Vec::new();
    for op in ops {
        let Op::Read {
            value,
            invoke,
            done,
        } = op
        else {
            continue;
        };
        let (up, down) = (acked_up.sum_before(*invoke), acked_down.sum_before(*invoke));
        let sure = up + down;
        let lower = sure + tried_down.sum_before(*done) - down;
        let upper = sure + tried_up.sum_before(*done) - up;
        if *value < lower || *value > upper {
            problems.push(format!(
                "key {key}: read {value} outside [{lower}, {upper}]"
            ));
        }
    }
    problems
}

/// What [`check_history`] found: problems, and how many acknowledged and unknown updates and
/// reads it judged.
#[derive(Debug, Default)]
pub struct Verdict {
    pub problems: Vec<String>,
    pub oks: usize,
    pub unknowns: usize,
    pub reads: usize,
}

/// Checks every read of every key and each key's final value (`finals[key]`) against `history`.
pub fn check_history(history: &HashMap<usize, Vec<Op>>, finals: &[i64]) -> Verdict {
    let mut verdict = Verdict::default();
    for (key, &v) in finals.iter().enumerate() {
        let ops = history.get(&key).cloned().unwrap_or_default();
        verdict.problems.extend(check_reads(key, &ops));
        let amounts = |want: Outcome| -> Vec<i64> {
            ops.iter()
                .filter_map(|o| match o {
                    Op::Update {
                        amount, outcome, ..
                    } if *outcome == want => Some(*amount),
                    _ => None,
                })
                .collect()
        };
        let (acked, unknown) = (amounts(Outcome::Ok), amounts(Outcome::Unknown));
        let acked_sum: i64 = acked.iter().sum();
        verdict.oks += acked.len();
        verdict.unknowns += unknown.len();
        verdict.reads += ops.iter().filter(|o| matches!(o, Op::Read { .. })).count();
        if !subset_sum(&unknown, v - acked_sum) {
            verdict.problems.push(format!(
                "key {key}: final {v}, acknowledged {acked_sum}, unknown {unknown:?}"
            ));
        }
    }
    verdict
}
