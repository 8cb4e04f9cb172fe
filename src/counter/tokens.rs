//! Idempotency tokens: exactly-once updates recorded inside a counter's replicated state.
//!
//! An update that carries a token is not added to a replica's slot. It becomes a [`TokenEntry`]
//! of the key's counter — the token's 128-bit id, the amount, the time it was first applied — and
//! the counter's value counts every entry a reset did not observe. Applying the same token again
//! finds the entry and adds nothing; and because the entry is a function of the token (not of the
//! coordinator), two attempts applied through coordinators that never saw each other write the
//! *same* entry, which the merge keeps once. So no retry, through whichever node, can count an
//! update twice while its entry is held.
//!
//! # Merge
//! Entries merge by union; two versions of one token's entry merge part by part (the larger
//! amount — a client that reuses a token for another amount gets one of them —, the later time,
//! observed if either was). A reset marks every entry it sees observed (its amount no longer
//! counts), as it records every slot it sees in its base.
//!
//! # Collection (the fold)
//! An entry older than twice the dedup window is *folded*: its amount moves into the fold slot
//! ([`FOLD_SLOT`], node 0 nonce 0, which no node and no set uses; an observed amount into the
//! base's fold slot too), and [`Tokens::folded_until`] rises to the fold's horizon. A merge drops
//! every entry at or before the larger horizon: those are counted in the fold slot of the state
//! that folded them. Folding is done only by a coordinator on the state it merged from a read of
//! every write target (at least Q answers: with `W + Q > R` that read holds every acknowledged
//! entry), so every state that folds up to a horizon has folded the same entries, and the fold
//! slot's parts only grow with the horizon. `docs/COUNTERS.md` has the whole argument and its
//! limits.
//!
//! # Laws
//! For states whose entries of one token carry one time, the merge of `(slots, base, tokens)`
//! stays commutative, associative and idempotent (`tests/counter_props.rs`), and folding changes
//! neither the value nor whether the key exists.

use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use super::{merge_base, merge_into, Counter, Slot};
use crate::counter::ReplicaId;
use crate::error::{Error, Result};

/// The slot folded token amounts are counted in: node 0, nonce 0 (sets draw their nonces from 1).
pub const FOLD_SLOT: ReplicaId = 0;

/// A token's identity: the 128 bits of murmur3 x64-128 (seed 0) of its bytes, as two words.
pub type TokenId = [u64; 2];

/// How long a retried tokened update is recognised by default (`--dedup-window`).
pub const DEFAULT_DEDUP_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);

/// `window` in milliseconds (saturating).
pub fn window_ms(window: std::time::Duration) -> u64 {
    u64::try_from(window.as_millis()).unwrap_or(u64::MAX)
}

/// The wall-clock time in milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, window_ms)
}

/// The longest token accepted, in bytes.
pub const MAX_TOKEN: usize = 256;

/// The id of `token`.
pub fn token_id(token: &[u8]) -> TokenId {
    let h = murmur3::murmur3_x64_128(&mut std::io::Cursor::new(token), 0).unwrap_or(0);
    [(h >> 64) as u64, h as u64]
}

/// Checks a token from outside: 1 to [`MAX_TOKEN`] bytes.
///
/// # Errors
/// [`Error::BadRequest`] for an empty or a too long token.
pub fn check_token(token: &[u8]) -> Result<()> {
    if token.is_empty() || token.len() > MAX_TOKEN {
        return Err(Error::BadRequest(format!(
            "a token must be 1 to {MAX_TOKEN} bytes"
        )));
    }
    Ok(())
}

/// One remembered tokened update. 40 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenEntry {
    /// The token's id.
    pub id: TokenId,
    /// The amount the update added (negative: took away).
    pub amount: i64,
    /// When it was first applied: milliseconds since the Unix epoch, on the coordinator's clock.
    pub at: u64,
    /// Whether a reset observed it (then its amount no longer counts).
    pub observed: bool,
}

/// The tokens a counter remembers: entries sorted by id, and the horizon up to which entries were
/// folded into the fold slot. The first entry is held inline (most tokened keys remember one
/// token at a time), so such a key costs one heap block for its tokens, not two; on the wire and
/// in the log the entries are a sequence, as a `Vec` is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tokens {
    folded_until: u64,
    entries: SmallVec<[TokenEntry; 1]>,
}

impl Tokens {
    /// The entries, sorted by id.
    pub fn entries(&self) -> &[TokenEntry] {
        &self.entries
    }

    /// Entries at or before this time (ms since the epoch) were folded.
    pub fn folded_until(&self) -> u64 {
        self.folded_until
    }

    /// The sum of the amounts no reset observed.
    fn value(&self) -> i128 {
        self.entries
            .iter()
            .filter(|e| !e.observed)
            .map(|e| i128::from(e.amount))
            .sum()
    }

    /// Whether some entry is unobserved (the key exists then).
    fn any_unobserved(&self) -> bool {
        self.entries.iter().any(|e| !e.observed)
    }

    /// The entry of `id`, if remembered.
    pub fn find(&self, id: TokenId) -> Option<&TokenEntry> {
        let at = self.entries.binary_search_by_key(&id, |e| e.id).ok()?;
        Some(&self.entries[at])
    }

    /// Marks every entry observed (a reset saw it); returns whether one was not.
    fn observe_all(&mut self) -> bool {
        let mut changed = false;
        for e in &mut self.entries {
            changed |= !e.observed;
            e.observed = true;
        }
        changed
    }

    /// Merges one entry in; returns whether `self` changed.
    fn merge_entry(&mut self, theirs: TokenEntry) -> bool {
        if theirs.at <= self.folded_until {
            return false;
        }
        match self.entries.binary_search_by_key(&theirs.id, |e| e.id) {
            Ok(at) => {
                let mine = &mut self.entries[at];
                let before = *mine;
                mine.amount = mine.amount.max(theirs.amount);
                mine.at = mine.at.max(theirs.at);
                mine.observed |= theirs.observed;
                *mine != before
            }
            Err(at) => {
                self.entries.insert(at, theirs);
                true
            }
        }
    }

    /// Merges `other` in: the larger horizon, the union of the entries after it (`other`'s marked
    /// observed if `observed`: a reset `other` missed saw them). Returns whether `self` changed.
    fn merge(&mut self, other: &Tokens, observed: bool) -> bool {
        let mut changed = false;
        if other.folded_until > self.folded_until {
            self.folded_until = other.folded_until;
            let horizon = self.folded_until;
            self.entries.retain(|e| e.at > horizon);
            changed = true;
        }
        for &e in &other.entries {
            changed |= self.merge_entry(TokenEntry {
                observed: e.observed || observed,
                ..e
            });
        }
        changed
    }
}

/// The parts an entry of `amount` adds to the fold slot: an amount of 0 counts as a touch
/// (`p` and `n` each 1), so a key that existed only by it still exists once it is folded.
fn fold_parts(amount: i64) -> (u64, u64) {
    match amount {
        0 => (1, 1),
        a if a > 0 => (a.unsigned_abs(), 0),
        a => (0, a.unsigned_abs()),
    }
}

/// `slot` grown by `(p, n)`, or `None` on a part past `u64::MAX`.
fn grown(slot: Slot, (p, n): (u64, u64)) -> Option<Slot> {
    Some(Slot {
        replica: slot.replica,
        p: slot.p.checked_add(p)?,
        n: slot.n.checked_add(n)?,
    })
}

/// The fold slot of `slots` (zero if absent).
fn fold_slot_of(slots: &[Slot]) -> Slot {
    slots
        .iter()
        .find(|s| s.replica == FOLD_SLOT)
        .copied()
        .unwrap_or_default()
}

/// What applying a token did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// The counter's value after it.
    pub value: i64,
    /// `false` if the token was already remembered (nothing was added).
    pub fresh: bool,
}

impl Counter {
    /// The tokens this counter remembers, if it ever took a tokened update.
    pub fn tokens(&self) -> Option<&Tokens> {
        self.tokens.as_deref()
    }

    /// Applies the update of `amount` carried by token `id` at `now` (ms since the epoch): adds
    /// nothing if the token is remembered, else remembers it with its amount. First folds the
    /// entries older than `2 × window_ms` (see the module docs: only on a state merged from a
    /// read of at least Q replicas).
    ///
    /// # Errors
    /// [`Error::Overflow`] if the value would leave `i64`; nothing changes then.
    pub fn apply_token(
        &mut self,
        id: TokenId,
        amount: i64,
        now: u64,
        window_ms: u64,
    ) -> Result<Applied> {
        self.fire_if_due_at(now);
        if self.tokens().and_then(|t| t.find(id)).is_some() {
            return Ok(Applied {
                value: self.value(),
                fresh: false,
            });
        }
        // Checked before the fold, which changes no value: a refused update changes nothing.
        i64::try_from(self.exact_value() + i128::from(amount)).map_err(|_| Error::Overflow)?;
        self.fold(now.saturating_sub(window_ms.saturating_mul(2)));
        self.remember_token(id, amount, now)
    }

    /// Whether [`Counter::apply_token`] at `now` would fold an entry: then it must run on a state
    /// merged from a quorum read; else [`Counter::remember_token`] on any replica's state is the
    /// same update.
    pub fn fold_due(&self, now: u64, window_ms: u64) -> bool {
        let horizon = now.saturating_sub(window_ms.saturating_mul(2));
        self.tokens()
            .is_some_and(|t| t.entries.iter().any(|e| e.at <= horizon))
    }

    /// Applies the update of `amount` carried by token `id` at `now` without folding anything:
    /// adds nothing if the token is remembered, else remembers it. A deadline passed at `now`
    /// fires first, as for a plain increment: a new token starts the key's next life, and a retry
    /// of a token counted in the life that ended finds its entry observed and adds nothing.
    ///
    /// # Errors
    /// [`Error::Overflow`] if the value would leave `i64`; nothing changes then.
    pub fn remember_token(&mut self, id: TokenId, amount: i64, now: u64) -> Result<Applied> {
        self.fire_if_due_at(now);
        if self.tokens().and_then(|t| t.find(id)).is_some() {
            return Ok(Applied {
                value: self.value(),
                fresh: false,
            });
        }
        let value =
            i64::try_from(self.exact_value() + i128::from(amount)).map_err(|_| Error::Overflow)?;
        let tokens = self.tokens.get_or_insert_with(Box::default);
        let at = now.max(tokens.folded_until + 1);
        tokens.merge_entry(TokenEntry {
            id,
            amount,
            at,
            observed: false,
        });
        Ok(Applied { value, fresh: true })
    }

    /// The entry remembered for token `id`, if any.
    pub fn token_entry(&self, id: TokenId) -> Option<TokenEntry> {
        self.tokens().and_then(|t| t.find(id)).copied()
    }

    /// Merges one remembered entry in, as merging a state that holds only it would; returns
    /// whether `self` changed.
    pub fn merge_token_entry(&mut self, entry: TokenEntry) -> bool {
        self.tokens
            .get_or_insert_with(Box::default)
            .merge_entry(entry)
    }

    /// Folds the entries at or before `horizon` into the fold slot (see the module docs). An
    /// entry whose fold would pass `u64::MAX` in a part is kept, and stops the fold there.
    pub fn fold(&mut self, horizon: u64) {
        let Some(tokens) = self.tokens.as_deref_mut() else {
            return;
        };
        if horizon <= tokens.folded_until {
            return;
        }
        let (mut slot, mut base) = (fold_slot_of(&self.slots), fold_slot_of(&self.base));
        let mut until = horizon;
        let mut old: Vec<TokenEntry> = tokens
            .entries
            .iter()
            .filter(|e| e.at <= horizon)
            .copied()
            .collect();
        old.sort_by_key(|e| e.at);
        for e in old {
            let parts = fold_parts(e.amount);
            let next_base = if e.observed {
                grown(base, parts)
            } else {
                Some(base)
            };
            match (grown(slot, parts), next_base) {
                (Some(s), Some(b)) => (slot, base) = (s, b),
                _ => {
                    until = e.at - 1;
                    break;
                }
            }
        }
        if until <= tokens.folded_until {
            return;
        }
        tokens.folded_until = until;
        tokens.entries.retain(|e| e.at > until);
        if slot != Slot::default() {
            merge_into(&mut self.slots, slot);
        }
        if base != Slot::default() || self.base.iter().any(|s| s.replica == FOLD_SLOT) {
            merge_base(&mut self.base, base);
        }
    }

    /// The value the remembered tokens add (hook for [`Counter::exact_value`]).
    pub(super) fn tokens_value(&self) -> i128 {
        self.tokens().map_or(0, Tokens::value)
    }

    /// Whether a remembered token makes the key exist (hook for [`Counter::present`]).
    pub(super) fn tokens_present(&self) -> bool {
        self.tokens().is_some_and(Tokens::any_unobserved)
    }

    /// Marks every remembered token observed (hook for [`Counter::reset`] and the expiry
    /// merge); returns whether one was not.
    pub(super) fn tokens_observe(&mut self) -> bool {
        self.tokens.as_deref_mut().is_some_and(Tokens::observe_all)
    }

    /// Merges `other`'s tokens in (hook for [`Counter::merge`]), marked observed if `observed`
    /// (the expiry merge observes a side that missed an expiry); returns whether `self` changed.
    pub(super) fn tokens_merge(&mut self, other: &Counter, observed: bool) -> bool {
        match (self.tokens.as_deref_mut(), other.tokens()) {
            (_, None) => false,
            (Some(mine), Some(theirs)) => mine.merge(theirs, observed),
            (None, Some(theirs)) => {
                let mut tokens = theirs.clone();
                if observed {
                    tokens.observe_all();
                }
                self.tokens = Some(Box::new(tokens));
                true
            }
        }
    }

    /// A counter with these parts (as logs and node calls carry them).
    pub fn with_tokens(mut self, tokens: Option<Tokens>) -> Counter {
        self.tokens = tokens.map(Box::new);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: u64 = 60_000;

    #[test]
    fn a_repeated_token_adds_nothing() {
        let mut c = Counter::with_count(1 << 32, 10);
        let t = token_id(b"t1");
        assert_eq!(
            c.apply_token(t, 5, 1_000, W).unwrap(),
            Applied {
                value: 15,
                fresh: true
            }
        );
        assert_eq!(
            c.apply_token(t, 5, 2_000, W).unwrap(),
            Applied {
                value: 15,
                fresh: false
            }
        );
        assert_eq!(
            c.apply_token(token_id(b"t2"), -3, 2_000, W).unwrap().value,
            12
        );
        assert_eq!(c.single_up(), None);
    }

    #[test]
    fn two_coordinators_applying_one_token_count_it_once() {
        let t = token_id(b"same");
        let (mut a, mut b) = (Counter::new(), Counter::new());
        a.apply_token(t, 7, 1_000, W).unwrap();
        b.apply_token(t, 7, 1_500, W).unwrap();
        a.merge(&b);
        assert_eq!(a.value(), 7);
    }

    #[test]
    fn folding_keeps_the_value_and_drops_old_entries_on_merge() {
        let mut c = Counter::new();
        c.apply_token(token_id(b"old"), 4, 1_000, W).unwrap();
        let stale = c.clone();
        c.apply_token(token_id(b"new"), 2, 1_000 + 3 * W, W)
            .unwrap();
        assert_eq!(c.value(), 6);
        assert_eq!(
            c.tokens().unwrap().entries().len(),
            1,
            "the old entry was folded"
        );
        c.merge(&stale);
        assert_eq!(c.value(), 6, "a stale copy of a folded entry is dropped");
        let mut s = stale;
        s.merge(&c);
        assert_eq!(s, c);
    }

    #[test]
    fn a_reset_observes_tokens_and_a_folded_observed_token_stays_reset() {
        let mut c = Counter::new();
        c.apply_token(token_id(b"a"), 4, 1_000, W).unwrap();
        c.reset();
        assert!(!c.present());
        assert_eq!(c.value(), 0);
        c.fold(1_000);
        assert!(!c.present());
        assert_eq!(c.value(), 0);
        let mut d = Counter::new();
        d.apply_token(token_id(b"z"), 0, 1_000, W).unwrap();
        d.fold(1_000);
        assert!(d.present(), "a folded touch still makes the key exist");
    }

    #[test]
    fn a_tokened_overflow_changes_nothing() {
        let mut c = Counter::with_count(1 << 32, i64::MAX as u64);
        let before = c.clone();
        assert!(matches!(
            c.apply_token(token_id(b"x"), 1, 1, W),
            Err(Error::Overflow)
        ));
        assert_eq!(c, before);
    }

    #[test]
    fn tokens_are_checked() {
        assert!(check_token(b"").is_err());
        assert!(check_token(&[b'a'; MAX_TOKEN + 1]).is_err());
        assert!(check_token(b"ok").is_ok());
        assert_ne!(token_id(b"a"), token_id(b"b"));
    }

    #[test]
    fn an_entry_is_40_bytes() {
        assert_eq!(std::mem::size_of::<TokenEntry>(), 40);
    }
}
