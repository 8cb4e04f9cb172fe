//! `Votes`: this process's acceptor in the majority agreement on the next ring, shared by the
//! Router and its gateways so that a process busy running a change of its own still answers
//! another's `Prepare` and `Accept` at once (as it answers a layout push).
//!
//! With a data directory the acceptor is durable: every change to it is written to
//! [`VOTES_FILE`] (atomically, fsynced) before the vote is answered, so a process that restarts
//! keeps what it promised and accepted for the epoch being voted on (see docs/CLUSTER.md, "What
//! is promised"). If the write fails, the vote is not given and the acceptor is left as it was.
//! Without a data directory (`--in-memory`) it lives in memory only.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::agreement::Acceptor;
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::persist::{write_atomically, DataDir};
use crate::protocol::codec::{decode, encode};
use crate::protocol::{LayoutBallot, Vote};

/// The file inside the data directory that holds the acceptor's state.
pub const VOTES_FILE: &str = "votes.bin";

type Ballots = Acceptor<Layout, SocketAddr>;

/// One process's acceptor (cheap to clone: every clone is the same acceptor).
#[derive(Debug, Clone)]
pub struct Votes(Arc<Mutex<Kept>>);

/// The acceptor and where it is kept.
#[derive(Debug)]
struct Kept {
    acceptor: Ballots,
    /// The file it is written to (`None`: memory only).
    file: Option<PathBuf>,
    /// What the file holds now, so an unchanged acceptor is not written again.
    saved: Vec<u8>,
}

impl Default for Votes {
    fn default() -> Self {
        Votes::with(Acceptor::new(1), None, Vec::new())
    }
}

impl Votes {
    /// The acceptor kept in `data` (as it was left there, or a fresh one), or in memory only.
    ///
    /// # Errors
    /// [`Error::Storage`] if the votes file cannot be read or is damaged.
    pub fn open(data: Option<&DataDir>) -> Result<Votes> {
        let Some(data) = data else {
            return Ok(Votes::default());
        };
        let file = data.path().join(VOTES_FILE);
        let saved = match std::fs::read(&file) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Votes::with(Acceptor::new(1), Some(file), Vec::new()));
            }
            Err(e) => return Err(Error::Storage(format!("{}: {e}", file.display()))),
        };
        let acceptor = decode(&saved).map_err(|e| {
            Error::Storage(format!(
                "{} is damaged ({e}); it holds this process's votes on ring changes: remove it \
                 only if no membership change is under way",
                file.display()
            ))
        })?;
        Ok(Votes::with(acceptor, Some(file), saved))
    }

    fn with(acceptor: Ballots, file: Option<PathBuf>, saved: Vec<u8>) -> Votes {
        Votes(Arc::new(Mutex::new(Kept {
            acceptor,
            file,
            saved,
        })))
    }

    /// Phase 1: promise `ballot`, or say why not.
    ///
    /// # Errors
    /// [`Error::Storage`] if the promise cannot be written down (it is then not given).
    pub fn prepare(&self, ballot: LayoutBallot) -> Result<Vote> {
        self.change(|a| Vote::of_prepare(a.prepare(ballot)))
    }

    /// Phase 2: accept `layout` under `ballot`, or say why not.
    ///
    /// # Errors
    /// [`Error::BadRequest`] if the layout is not for the ballot's epoch or is not valid;
    /// [`Error::Storage`] if the acceptance cannot be written down (it is then not given).
    pub fn accept(&self, ballot: LayoutBallot, layout: Layout) -> Result<Vote> {
        if layout.epoch != ballot.epoch {
            return Err(Error::BadRequest(format!(
                "a layout of ring epoch {} proposed under a ballot for epoch {}",
                layout.epoch, ballot.epoch
            )));
        }
        layout.check()?;
        self.change(|a| Vote::of_accept(ballot, a.accept(ballot, layout)))
    }

    /// Forgets the proposal accepted under `ballot` (its proposer called it off).
    pub fn call_off(&self, ballot: LayoutBallot) -> Vote {
        self.change_or_warn(|a| a.call_off(ballot));
        Vote::Accepted { ballot }
    }

    /// The layout of `epoch` is in force here: votes move to the next epoch.
    pub fn learn(&self, epoch: u64) {
        self.change_or_warn(|a| a.learn(epoch));
    }

    /// The highest ballot promised for the epoch voted on now, if any.
    pub fn promised(&self) -> Option<LayoutBallot> {
        self.lock().acceptor.promised()
    }

    /// Applies `f` and writes the acceptor down before answering; if that fails, undoes `f`.
    fn change<T>(&self, f: impl FnOnce(&mut Ballots) -> T) -> Result<T> {
        let mut kept = self.lock();
        // Only a kept acceptor can fail to save, so only it needs a copy to undo with.
        let before = kept.file.is_some().then(|| kept.acceptor.clone());
        let answer = f(&mut kept.acceptor);
        match kept.save() {
            Ok(()) => Ok(answer),
            Err(e) => {
                if let Some(before) = before {
                    kept.acceptor = before;
                }
                tracing::warn!("a vote on a ring change was not given: {e}");
                Err(e)
            }
        }
    }

    /// [`Self::change`] for what only ever forgets: kept in memory even if the write fails (the
    /// file then still holds the older, more cautious state).
    fn change_or_warn(&self, f: impl FnOnce(&mut Ballots)) {
        let mut kept = self.lock();
        f(&mut kept.acceptor);
        if let Err(e) = kept.save() {
            tracing::warn!("votes on ring changes not written down: {e}");
        }
    }

    fn lock(&self) -> MutexGuard<'_, Kept> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Kept {
    /// Writes the acceptor to its file if it changed since the last write.
    fn save(&mut self) -> Result<()> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let bytes = encode(&self.acceptor)?;
        if bytes != self.saved {
            write_atomically(file, &bytes)?;
            self.saved = bytes;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(epoch: u64) -> Layout {
        Layout::empty(epoch)
    }

    fn ballot(epoch: u64, counter: u64) -> LayoutBallot {
        LayoutBallot {
            epoch,
            counter,
            process: "127.0.0.1:5001".parse().unwrap(),
        }
    }

    #[test]
    fn votes_answer_as_the_acceptor_does() {
        let votes = Votes::default();
        votes.learn(3);
        assert_eq!(votes.prepare(ballot(3, 1)).unwrap(), Vote::Decided(3));
        let promised = votes.prepare(ballot(4, 2)).unwrap();
        assert_eq!(
            promised,
            Vote::Promised {
                ballot: ballot(4, 2),
                accepted: None
            }
        );
        assert!(votes.accept(ballot(4, 2), layout(5)).is_err());
        assert_eq!(
            votes.accept(ballot(4, 1), layout(4)).unwrap(),
            Vote::Outbid(ballot(4, 2))
        );
        assert_eq!(
            votes.accept(ballot(4, 2), layout(4)).unwrap(),
            Vote::Accepted {
                ballot: ballot(4, 2)
            }
        );
        let again = votes.prepare(ballot(4, 3)).unwrap();
        let accepted = Some((ballot(4, 2), layout(4)));
        assert_eq!(
            again,
            Vote::Promised {
                ballot: ballot(4, 3),
                accepted
            }
        );
        votes.call_off(ballot(4, 2));
        assert_eq!(
            votes.prepare(ballot(4, 4)).unwrap(),
            Vote::Promised {
                ballot: ballot(4, 4),
                accepted: None
            }
        );
    }

    #[test]
    fn votes_kept_in_a_data_directory_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path(), crate::persist::FsyncPolicy::Never).unwrap();
        let votes = Votes::open(Some(&data)).unwrap();
        votes.learn(3);
        votes.prepare(ballot(4, 2)).unwrap();
        votes.accept(ballot(4, 2), layout(4)).unwrap();
        drop(votes);
        let again = Votes::open(Some(&data)).unwrap();
        assert_eq!(again.promised(), Some(ballot(4, 2)), "the promise holds");
        assert_eq!(
            again.prepare(ballot(4, 1)).unwrap(),
            Vote::Outbid(ballot(4, 2)),
            "a lower ballot is still refused after the restart"
        );
        assert_eq!(
            again.prepare(ballot(4, 3)).unwrap(),
            Vote::Promised {
                ballot: ballot(4, 3),
                accepted: Some((ballot(4, 2), layout(4)))
            },
            "and the accepted layout is reported to the next proposer"
        );
        assert_eq!(again.prepare(ballot(3, 9)).unwrap(), Vote::Decided(3));
    }

    #[test]
    fn a_damaged_votes_file_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path(), crate::persist::FsyncPolicy::Never).unwrap();
        std::fs::write(dir.path().join(VOTES_FILE), b"\xff\xff\xff").unwrap();
        let err = Votes::open(Some(&data)).unwrap_err().to_string();
        assert!(err.contains(VOTES_FILE) && err.contains("damaged"), "{err}");
        assert!(!err.contains('\n'), "one line: {err}");
    }

    #[test]
    fn a_vote_that_cannot_be_written_down_is_not_given() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("missing").join(VOTES_FILE);
        let votes = Votes::with(Acceptor::new(3), Some(file), Vec::new());
        assert!(votes.prepare(ballot(4, 2)).is_err());
        assert_eq!(votes.promised(), None, "the acceptor is as it was");
        assert!(votes.accept(ballot(4, 2), layout(4)).is_err());
        std::fs::create_dir(dir.path().join("missing")).unwrap();
        assert!(matches!(
            votes.prepare(ballot(4, 1)).unwrap(),
            Vote::Promised { accepted: None, .. }
        ));
    }
}
