//! The agreement on the next ring epoch (`ringkv::agreement`) over a simulated network: several
//! proposers at once, messages dropped, duplicated and delivered in any order, proposers that
//! retry with higher ballots, give up (call their proposal off) or stop half-way. Never are two
//! different values installed for one epoch, and each installed value was proposed by someone.

use proptest::prelude::*;
use ringkv::agreement::{Acceptor, Ballot, Promise, Proposer, Refusal, Step};

type B = Ballot<u8>;
const EPOCH: u64 = 2;

#[derive(Debug, Clone)]
enum Msg {
    Prepare {
        to: u8,
        ballot: B,
    },
    Accept {
        to: u8,
        ballot: B,
        value: u32,
    },
    CallOff {
        to: u8,
        ballot: B,
    },
    Learn {
        to: u8,
    },
    Promised {
        to: u8,
        from: u8,
        ballot: B,
        answer: Result<Promise<u32, u8>, Refusal<u8>>,
    },
    Accepted {
        to: u8,
        from: u8,
        ballot: B,
        answer: Result<(), Refusal<u8>>,
    },
}

struct Sim {
    voters: u8,
    acceptors: Vec<Acceptor<u32, u8>>,
    proposers: Vec<Option<Proposer<u32, u8>>>,
    seen: Vec<Option<B>>,
    net: Vec<Msg>,
    installed: Vec<u32>,
    coin: bool,
}

impl Sim {
    fn new(voters: u8, proposers: u8) -> Sim {
        let mut sim = Sim {
            voters,
            acceptors: (0..voters).map(|_| Acceptor::new(EPOCH - 1)).collect(),
            proposers: vec![None; proposers as usize],
            seen: vec![None; proposers as usize],
            net: Vec::new(),
            installed: Vec::new(),
            coin: false,
        };
        for p in 0..proposers {
            sim.start(p);
        }
        sim
    }

    /// Proposer `p` (also voter `p`) tries again under a ballot past every one it heard of.
    fn start(&mut self, p: u8) {
        let ballot = Ballot::after(EPOCH, p, self.seen[p as usize]);
        self.seen[p as usize] = Some(ballot);
        let value = 100 + u32::from(p);
        self.proposers[p as usize] = Some(Proposer::new(ballot, self.voters as usize, value));
        for to in 0..self.voters {
            self.net.push(Msg::Prepare { to, ballot });
        }
    }

    fn note(&mut self, p: u8, b: B) {
        let seen = &mut self.seen[p as usize];
        if seen.is_none_or(|s| b > s) {
            *seen = Some(b);
        }
    }

    fn step(&mut self, p: u8, ballot: B, step: Step<u32, u8>) {
        match step {
            Step::Wait | Step::Failed { .. } => {}
            Step::Accept(value) => {
                for to in 0..self.voters {
                    self.net.push(Msg::Accept { to, ballot, value });
                }
            }
            Step::Chosen { value, .. } => {
                if self.coin {
                    // The copy failed: the proposer calls its proposal off instead.
                    for to in 0..self.voters {
                        self.net.push(Msg::CallOff { to, ballot });
                    }
                } else {
                    self.installed.push(value);
                    for to in 0..self.voters {
                        self.net.push(Msg::Learn { to });
                    }
                }
                self.proposers[p as usize] = None;
            }
        }
    }

    fn deliver(&mut self, msg: Msg) {
        match msg {
            Msg::Prepare { to, ballot } => {
                let answer = self.acceptors[to as usize].prepare(ballot);
                let proposer = ballot.process;
                self.net.push(Msg::Promised {
                    to: proposer,
                    from: to,
                    ballot,
                    answer,
                });
            }
            Msg::Accept { to, ballot, value } => {
                let answer = self.acceptors[to as usize].accept(ballot, value);
                let proposer = ballot.process;
                self.net.push(Msg::Accepted {
                    to: proposer,
                    from: to,
                    ballot,
                    answer,
                });
            }
            Msg::CallOff { to, ballot } => self.acceptors[to as usize].call_off(ballot),
            Msg::Learn { to } => self.acceptors[to as usize].learn(EPOCH),
            Msg::Promised {
                to,
                from,
                ballot,
                answer,
            } => {
                if let Err(Refusal::Promised(b)) = answer {
                    self.note(to, b);
                }
                let Some(p) = self.proposers[to as usize].as_mut() else {
                    return;
                };
                if p.ballot() != ballot {
                    return;
                }
                let step = match answer {
                    Ok(promise) => p.promised(from, promise),
                    Err(r) => p.refused(from, Some(r)),
                };
                self.step(to, ballot, step);
            }
            Msg::Accepted {
                to,
                from,
                ballot,
                answer,
            } => {
                if let Err(Refusal::Promised(b)) = answer {
                    self.note(to, b);
                }
                let Some(p) = self.proposers[to as usize].as_mut() else {
                    return;
                };
                if p.ballot() != ballot {
                    return;
                }
                let step = match answer {
                    Ok(()) => p.accepted(from),
                    Err(r) => p.refused(from, Some(r)),
                };
                self.step(to, ballot, step);
            }
        }
    }

    fn run(&mut self, actions: &[(u8, u16)], retries: &mut u32) {
        for &(op, pick) in actions {
            // Whether the next proposer to get its value accepted calls it off (its copy failed).
            self.coin = pick % 3 == 0;
            if self.net.is_empty() && op < 8 {
                continue;
            }
            let i = pick as usize % self.net.len().max(1);
            match op {
                0..=5 => {
                    let msg = self.net.swap_remove(i);
                    self.deliver(msg);
                }
                6 => {
                    self.net.swap_remove(i);
                }
                7 => {
                    let msg = self.net[i].clone();
                    self.net.push(msg);
                }
                _ if *retries > 0 => {
                    *retries -= 1;
                    self.start((pick % self.proposers.len() as u16) as u8);
                }
                _ => {}
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn never_two_values_for_one_epoch(
        voters in 3u8..=5,
        proposers in 2u8..=3,
        actions in prop::collection::vec((0u8..=8, any::<u16>()), 0..400),
    ) {
        let mut sim = Sim::new(voters, proposers);
        let mut retries = 12;
        sim.run(&actions, &mut retries);
        // Then a quiet network delivers everything left, in order.
        let mut budget = 10_000;
        while let Some(msg) = (!sim.net.is_empty()).then(|| sim.net.remove(0)) {
            sim.deliver(msg);
            budget -= 1;
            prop_assert!(budget > 0);
        }
        let first = sim.installed.first().copied();
        for v in &sim.installed {
            prop_assert_eq!(Some(*v), first, "installed {:?}", &sim.installed);
            prop_assert!((100..100 + u32::from(proposers)).contains(v));
        }
    }
}

#[test]
fn one_proposer_on_a_quiet_network_installs_its_value() {
    let mut sim = Sim::new(3, 1);
    while !sim.net.is_empty() {
        let msg = sim.net.remove(0);
        sim.deliver(msg);
    }
    assert_eq!(sim.installed, vec![100]);
    assert!(sim.acceptors.iter().all(|a| a.decided() == EPOCH));
}

#[test]
fn a_proposer_that_stops_after_acceptance_is_finished_by_the_next() {
    let mut sim = Sim::new(3, 1);
    // Deliver the prepares, promises and accepts, but lose every answer to the accepts: the
    // first proposer stops there (it died), its value accepted by all three.
    while let Some(i) = sim
        .net
        .iter()
        .position(|m| !matches!(m, Msg::Accepted { .. }))
    {
        let msg = sim.net.remove(i);
        sim.deliver(msg);
    }
    sim.net.clear();
    sim.proposers[0] = None;
    // A second proposer (process 1) carries the accepted value on and installs it.
    sim.proposers.push(None);
    sim.seen.push(None);
    sim.start(1);
    while !sim.net.is_empty() {
        let msg = sim.net.remove(0);
        sim.deliver(msg);
    }
    assert_eq!(sim.installed, vec![100]);
}

#[test]
fn a_carrier_that_calls_off_does_not_erase_the_value_its_first_proposer_installs() {
    let b = |counter, process| Ballot {
        epoch: EPOCH,
        counter,
        process,
    };
    let mut acceptors: Vec<Acceptor<u32, u8>> = (0..3).map(|_| Acceptor::new(EPOCH - 1)).collect();
    // Proposer 0 gets 100 accepted by voters 0 and 1 (chosen): it installs it, but its learns
    // are slow.
    for a in &mut acceptors[..2] {
        a.prepare(b(1, 0)).unwrap();
        a.accept(b(1, 0), 100).unwrap();
    }
    // Proposer 1 carries 100 on under a higher ballot at voters 0 and 1, then calls it off.
    let mut carrier = Proposer::new(b(2, 1), 3, 101);
    let mut step = Step::Wait;
    for (i, a) in acceptors[..2].iter_mut().enumerate() {
        step = carrier.promised(i as u8, a.prepare(b(2, 1)).unwrap());
    }
    assert_eq!(step, Step::Accept(100));
    for a in &mut acceptors[..2] {
        a.accept(b(2, 1), 100).unwrap();
        a.call_off(b(2, 1));
    }
    // Proposer 2, at voters 1 and 2, must still find 100, not propose its own 102.
    let mut late = Proposer::new(b(3, 2), 3, 102);
    late.promised(2, acceptors[2].prepare(b(3, 2)).unwrap());
    let step = late.promised(1, acceptors[1].prepare(b(3, 2)).unwrap());
    assert_eq!(step, Step::Accept(100));
}
