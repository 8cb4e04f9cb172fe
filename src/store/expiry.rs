//! Active expiry: the deadlines that passed are fired in bounded steps, as Redis's active expire
//! cycle, so a key that expired and is never read again still becomes a tombstone (it leaves
//! `DBSIZE`, `KEYS`, `SCAN` and `status`) without a read having to find it.
//!
//! Every counter with expiry state is held in full form (the `multi` map; the compact one-slot
//! form has no room for it), so a step walks only that map, from where the last step stopped,
//! visiting at most `budget` items: a few microseconds per thousand, under the node's lock.
//! Firing is a deterministic function of the state and the clock (a reset observing the slots
//! held, see `src/counter/expiry.rs`), so it is not logged: a state read back from the log fires
//! again when it is next visited or read.

use super::cursor::Map;
use super::Store;
use crate::ring::Token;

impl Store {
    /// Fires the deadlines passed at `now` among the next `budget` full counters (wrapping
    /// around); returns how many fired.
    pub fn expire_step(&mut self, budget: usize, now: u64) -> usize {
        let len = self.multi.len();
        let mut fired = 0;
        for _ in 0..budget.min(len) {
            let at = self.expire_next % len;
            self.expire_next = at + 1;
            if self.multi.item(at).value.due_at(now) {
                self.digest_touch(Map::Multi, at);
                fired += usize::from(self.multi.value_mut(at).fire_if_due_at(now));
            }
        }
        fired
    }

    /// How many keys that exist and have a deadline in force have a token that satisfies `keep`,
    /// and the sum of their times to live at `now` in milliseconds (0 for a deadline passed).
    pub fn expiring_where(&self, now: u64, keep: impl Fn(Token) -> bool) -> (usize, u64) {
        self.multi
            .iter()
            .filter_map(|i| Some((i.value.deadline()?, i)))
            .filter(|(_, i)| i.value.present() && keep(super::token_of(&i.key)))
            .fold((0, 0), |(keys, ttl), (deadline, _)| {
                (keys + 1, ttl.saturating_add(deadline.saturating_sub(now)))
            })
    }
}

#[cfg(test)]
mod tests {
    use crate::counter::{now_ms, Counter};
    use crate::expire::set_deadline_at;
    use crate::store::Store;

    #[test]
    fn steps_fire_every_due_key_within_their_budget() {
        let mut store = Store::new();
        let now = now_ms();
        for i in 0..100u64 {
            let mut c = Counter::with_count(1 << 32, i + 1);
            let at = if i % 2 == 0 { now - 1 } else { now + 60_000 };
            c.set_deadline(c.next_stamp(now - 10), Some(at));
            store.merge_counter(&format!("k{i}"), &c);
        }
        store.merge_counter("plain", &Counter::with_count(1 << 32, 3));
        assert_eq!(store.expiring_where(now, |_| true), (50, 50 * 60_000));
        assert_eq!(store.list().len(), 51, "due keys read as absent at once");
        let mut fired = 0;
        for _ in 0..10 {
            let step = store.expire_step(10, now);
            assert!(step <= 10);
            fired += step;
        }
        assert_eq!(fired, 50);
        assert_eq!(store.expire_step(1000, now), 0, "fired once");
        // A fired key counts from 0 again, without its old deadline.
        assert_eq!(store.increment_value("k0", 2 << 32, 1).unwrap(), 1);
        assert_eq!(store.counter("k0").unwrap().deadline(), None);
        let mut gone = Counter::with_count(1 << 32, 5);
        set_deadline_at(&mut gone, Some(1), now);
        assert!(!gone.present());
    }

    #[test]
    fn a_counter_with_a_ttl_costs_one_boxed_expiry_beyond_the_full_form() {
        // The full form holds one pointer and the 8-byte due hint; the compact form (no TTL)
        // nothing.
        assert_eq!(
            std::mem::size_of::<Option<Box<crate::counter::Expiry>>>(),
            8
        );
        assert_eq!(std::mem::size_of::<crate::counter::Expiry>(), 48);
        let full = std::mem::size_of::<Counter>();
        assert!(full <= 80, "a full-form counter is {full} bytes");
        println!("full-form counter: {full} bytes");
    }
}
