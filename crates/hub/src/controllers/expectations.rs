//! Expectations: an owner is not reconciled again until the controller's index has seen
//! the owner's own last writes.
//!
//! A controller that reconciles from an index fed by the change stream (not from the store
//! directly) could otherwise sync an owner right after creating 500 pods, before the 500
//! creations reached the index, and create them again. Kubernetes counts expected creations
//! and deletions per owner; the store here gives every write a global revision, so one
//! number per owner is enough: the highest revision its last sync wrote. The owner is
//! ready to sync again once the change stream has been read up to that revision.

use std::collections::HashMap;

use super::Key;

/// Per owner, the revision the change stream must reach before the owner is synced again.
#[derive(Debug, Default)]
pub struct Expectations {
    /// The revision of the last change read from the stream.
    seen: u64,
    want: HashMap<Key, u64>,
}

impl Expectations {
    /// The change stream has been read up to `revision`.
    pub fn observe(&mut self, revision: u64) {
        self.seen = self.seen.max(revision);
    }

    /// Owner `key` wrote up to `revision`.
    pub fn expect(&mut self, key: &Key, revision: u64) {
        if revision > self.seen {
            let e = self.want.entry(key.clone()).or_insert(revision);
            *e = (*e).max(revision);
        }
    }

    /// Whether every write of `key`'s last sync has been seen (forgets it once so).
    pub fn satisfied(&mut self, key: &Key) -> bool {
        match self.want.get(key) {
            Some(r) if *r > self.seen => false,
            Some(_) => {
                self.want.remove(key);
                true
            }
            None => true,
        }
    }

    /// Forgets an owner (deleted) or everything (after a resync from a fresh list).
    pub fn forget(&mut self, key: &Key) {
        self.want.remove(key);
    }

    pub fn clear(&mut self, revision: u64) {
        self.want.clear();
        self.seen = self.seen.max(revision);
    }

    /// Owners waiting for their writes (bounded by the number of owners).
    pub fn pending(&self) -> usize {
        self.want.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owner_waits_for_its_own_writes() {
        let a: Key = ("d".into(), "a".into());
        let b: Key = ("d".into(), "b".into());
        let mut e = Expectations::default();
        e.observe(10);
        // (step, action, a satisfied, b satisfied)
        enum Step {
            Observe(u64),
            Expect(bool, u64),
        }
        let (ka, kb) = (true, false);
        let steps = [
            ("nothing expected", Step::Observe(10), true, true),
            ("a wrote up to 15", Step::Expect(ka, 15), false, true),
            (
                "a wrote up to 13 as well",
                Step::Expect(ka, 13),
                false,
                true,
            ),
            ("seen 14", Step::Observe(14), false, true),
            (
                "b wrote what was already seen",
                Step::Expect(kb, 12),
                false,
                true,
            ),
            ("seen 15", Step::Observe(15), true, true),
            ("the stream never goes back", Step::Observe(3), true, true),
        ];
        for (what, step, want_a, want_b) in steps {
            match step {
                Step::Observe(r) => e.observe(r),
                Step::Expect(is_a, r) => e.expect(if is_a { &a } else { &b }, r),
            }
            assert_eq!(e.satisfied(&a), want_a, "{what}: a");
            assert_eq!(e.satisfied(&b), want_b, "{what}: b");
        }
        assert_eq!(e.pending(), 0, "satisfied expectations are forgotten");
        e.expect(&a, 100);
        e.forget(&a);
        assert!(e.satisfied(&a));
        e.expect(&b, 100);
        e.clear(50);
        assert!(e.satisfied(&b), "a resync starts from a fresh list");
    }
}
