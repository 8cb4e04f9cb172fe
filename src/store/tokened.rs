//! Tokened updates applied in place: the coordinator remembers a token in the counter it holds
//! (no copy of the state), and the other replicas merge the one entry (a delta of the state,
//! which merges to the same result as the whole state would for the entry: see
//! [`crate::counter::tokens`]).

use super::cursor::Map;
use super::{At, Store};
use crate::counter::tokens::{Applied, TokenEntry, TokenId};
use crate::counter::Counter;
use crate::error::Result;

impl Store {
    /// Where `key` is held, looking in the full form first: a key with tokens is kept there, so
    /// a tokened operation finds it with one probe of the index instead of two.
    fn find_full_first(&self, hash: u64, key: &str) -> Option<At> {
        if let Some(at) = self.multi.find(hash, key) {
            return Some(At::Multi(at));
        }
        self.single.find(hash, key).map(At::Single)
    }

    /// The full-form item of `key` (hash `hash`, found at `found`), moving a compact key there or
    /// adding an empty one.
    fn multi_at(&mut self, hash: u64, key: &str, found: Option<At>) -> usize {
        match found {
            Some(At::Multi(at)) => at,
            Some(At::Single(at)) => {
                let (replica, count) = self.single.item(at).value;
                match self.promote(hash, at, Counter::with_count(replica, count)) {
                    At::Multi(at) => at,
                    At::Single(_) => unreachable!("promote puts a key in the full form"),
                }
            }
            None => match self.put_multi(hash, key.into(), Counter::new()) {
                At::Multi(at) => at,
                At::Single(_) => unreachable!("put_multi puts a key in the full form"),
            },
        }
    }

    /// Remembers the update of `amount` carried by token `id` in `key`'s counter at `now`,
    /// without folding ([`Counter::remember_token`]), and returns what it did and the token's
    /// entry as held now (to merge into the other replicas), where that alone is the update.
    /// `None`, changing nothing, if an entry of `key` is due to fold at `now` with a dedup window
    /// of `window_ms` ([`Counter::fold_due`]: a fold needs a read of the key's replicas first) or
    /// the key has expiry state (a firing must reach the other replicas with the whole state, not
    /// with one token entry). One lookup of the key for all of it.
    ///
    /// # Errors
    /// [`crate::Error::Overflow`] if the value would leave `i64`; nothing changes then (a key
    /// that was not held is not added).
    pub fn remember_in_place(
        &mut self,
        key: &str,
        (id, amount, now): (TokenId, i64, u64),
        window_ms: u64,
    ) -> Option<Result<(Applied, TokenEntry)>> {
        let hash = self.hash(key);
        let found = self.find_full_first(hash, key);
        if let Some(At::Multi(at)) = found {
            let counter = &self.multi.item(at).value;
            if counter.fold_due(now, window_ms) || counter.has_expiry() {
                return None;
            }
        }
        Some(self.remember_found(hash, key, found, (id, amount, now)))
    }

    /// [`Store::remember_in_place`] of a key already looked up.
    ///
    /// # Errors
    /// [`crate::Error::Overflow`] if the value would leave `i64`; nothing changes then (a key
    /// that was not held is not added).
    fn remember_found(
        &mut self,
        hash: u64,
        key: &str,
        found: Option<At>,
        (id, amount, now): (TokenId, i64, u64),
    ) -> Result<(Applied, TokenEntry)> {
        let held = found.is_some();
        let at = self.multi_at(hash, key, found);
        self.digest_touch(Map::Multi, at);
        let counter = self.multi.value_mut(at);
        match counter.remember_token(id, amount, now) {
            Ok(applied) => {
                let entry = counter.token_entry(id).ok_or(crate::Error::Overflow)?;
                Ok((applied, entry))
            }
            Err(e) => {
                if !held {
                    self.remove(key);
                }
                Err(e)
            }
        }
    }

    /// Merges one token entry into `key`'s counter (adding the key if not held); returns whether
    /// anything changed.
    pub fn merge_token(&mut self, key: &str, entry: TokenEntry) -> bool {
        let hash = self.hash(key);
        let found = self.find_full_first(hash, key);
        let at = self.multi_at(hash, key, found);
        self.digest_touch(Map::Multi, at);
        self.multi.value_mut(at).merge_token_entry(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counter::tokens::token_id;

    /// A tokened update with a window no entry here is due to fold in.
    fn remember(
        s: &mut Store,
        key: &str,
        token: &[u8],
        amount: i64,
        now: u64,
    ) -> Result<(Applied, TokenEntry)> {
        s.remember_in_place(key, (token_id(token), amount, now), 1 << 40)
            .expect("nothing due, no expiry")
    }

    #[test]
    fn an_entry_merged_alone_gives_the_state_the_whole_state_gives() {
        let (mut a, mut b, mut whole) = (Store::new(), Store::new(), Store::new());
        for s in [&mut a, &mut b, &mut whole] {
            s.increment("k", 1 << 32, 4).unwrap();
        }
        let (applied, entry) = remember(&mut a, "k", b"t", 3, 1_000).unwrap();
        assert!(applied.fresh);
        assert_eq!(applied.value, 7);
        assert!(b.merge_token("k", entry));
        assert!(
            !b.merge_token("k", entry),
            "merging it again changes nothing"
        );
        whole.merge_counter("k", &a.counter("k").unwrap());
        assert_eq!(b.counter("k"), whole.counter("k"));
        let (again, _) = remember(&mut a, "k", b"t", 3, 2_000).unwrap();
        assert!(!again.fresh);
        assert_eq!(a.get("k"), 7);
        let mut fresh = Store::new();
        assert!(fresh.merge_token("new", entry));
        assert_eq!(fresh.get("new"), 3);
        let mut big = Store::new();
        big.increment("max", 1 << 32, i64::MAX).unwrap();
        assert!(remember(&mut big, "max", b"x", 1, 1).is_err());
        assert!(remember(&mut big, "none", b"x", 0, 1).is_ok());
        let before = big.len();
        let _ = remember(&mut big, "gone", b"y", 1, 1);
        assert_eq!(big.len(), before + 1);
    }

    #[test]
    fn an_update_due_to_fold_changes_nothing_and_says_so() {
        let mut s = Store::new();
        s.increment("compact", 1 << 32, 2).unwrap();
        let window = 100;
        let first = s.remember_in_place("compact", (token_id(b"a"), 5, 1_000), window);
        assert_eq!(
            first.unwrap().unwrap().0.value,
            7,
            "a compact key is promoted"
        );
        let later = 1_000 + 2 * window;
        let due = s.remember_in_place("compact", (token_id(b"b"), 1, later), window);
        assert!(
            due.is_none(),
            "the entry at 1,000 is due to fold at {later}"
        );
        assert_eq!(s.get("compact"), 7);
        let fresh = s.remember_in_place("new", (token_id(b"c"), 1, later), window);
        assert_eq!(fresh.unwrap().unwrap().0.value, 1);
    }

    #[test]
    fn a_key_with_expiry_state_is_not_updated_in_place() {
        use crate::counter::Stamp;
        let mut s = Store::new();
        let mut c = Counter::with_count(1 << 32, 2);
        c.set_deadline(Stamp { ms: 1, tie: 0 }, Some(u64::MAX - 1));
        s.merge_counter("ttl", &c);
        let before = s.counter("ttl");
        let update = (token_id(b"t"), 1, 1_000);
        assert!(s.remember_in_place("ttl", update, 100).is_none());
        assert_eq!(s.counter("ttl"), before, "nothing changed");
    }
}
