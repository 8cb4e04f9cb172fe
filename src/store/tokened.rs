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
    /// Whether `key`'s remembered tokens are due to fold at `now` ([`Counter::fold_due`]).
    pub fn fold_due_of(&self, key: &str, now: u64, window_ms: u64) -> bool {
        match self.find(self.hash(key), key) {
            Some(At::Multi(at)) => self.multi.item(at).value.fold_due(now, window_ms),
            _ => false,
        }
    }

    /// The full-form item of `key`, moving a compact key there or adding an empty one.
    fn multi_at(&mut self, key: &str) -> usize {
        let hash = self.hash(key);
        match self.find(hash, key) {
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
    /// without folding ([`Counter::remember_token`]); returns what it did and the token's entry
    /// as held now (to merge into the other replicas).
    ///
    /// # Errors
    /// [`crate::Error::Overflow`] if the value would leave `i64`; nothing changes then (a key
    /// that was not held is not added).
    pub fn remember_token(
        &mut self,
        key: &str,
        id: TokenId,
        amount: i64,
        now: u64,
    ) -> Result<(Applied, TokenEntry)> {
        let held = self.find(self.hash(key), key).is_some();
        let at = self.multi_at(key);
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
        let at = self.multi_at(key);
        self.digest_touch(Map::Multi, at);
        self.multi.value_mut(at).merge_token_entry(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counter::tokens::token_id;

    #[test]
    fn an_entry_merged_alone_gives_the_state_the_whole_state_gives() {
        let (mut a, mut b, mut whole) = (Store::new(), Store::new(), Store::new());
        for s in [&mut a, &mut b, &mut whole] {
            s.increment("k", 1 << 32, 4).unwrap();
        }
        let (applied, entry) = a.remember_token("k", token_id(b"t"), 3, 1_000).unwrap();
        assert!(applied.fresh);
        assert_eq!(applied.value, 7);
        assert!(b.merge_token("k", entry));
        assert!(
            !b.merge_token("k", entry),
            "merging it again changes nothing"
        );
        whole.merge_counter("k", &a.counter("k").unwrap());
        assert_eq!(b.counter("k"), whole.counter("k"));
        let (again, _) = a.remember_token("k", token_id(b"t"), 3, 2_000).unwrap();
        assert!(!again.fresh);
        assert_eq!(a.get("k"), 7);
        let mut fresh = Store::new();
        assert!(fresh.merge_token("new", entry));
        assert_eq!(fresh.get("new"), 3);
        let mut big = Store::new();
        big.increment("max", 1 << 32, i64::MAX).unwrap();
        assert!(big.remember_token("max", token_id(b"x"), 1, 1).is_err());
        assert!(big.remember_token("none", token_id(b"x"), 0, 1).is_ok());
        let before = big.len();
        let _ = big.remember_token("gone", token_id(b"y"), 1, 1);
        assert_eq!(big.len(), before + 1);
    }
}
