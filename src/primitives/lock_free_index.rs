//! [`LockFreeIndex`]: the first keys of a map, findable without taking its lock.
//!
//! Every request looks up its view (and its request labels' values); a read lock is two
//! atomic writes to one cache line shared by every thread, so the first keys sit in an
//! append-only open-addressing table in front of the locked map, read with plain loads. A key
//! that finds no free slot in its probe range stays in the map only.

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};
use std::sync::OnceLock;

/// How far a lookup probes from a key's home slot.
const PROBES: usize = 8;

/// An append-only table of `SLOTS` `(key, value)` pairs (a power of two), read without locks.
pub(crate) struct LockFreeIndex<K, V, const SLOTS: usize> {
    /// A fixed length, so that a probe's index is masked by a constant, without a bounds check.
    slots: Box<[OnceLock<(K, V)>; SLOTS]>,
    /// foldhash, not SipHash: the keys are bounded by the caps and chosen by the application
    /// or bounded per label, and hashing is most of a warm lookup's cost.
    hasher: foldhash::fast::RandomState,
}

impl<K, V, const SLOTS: usize> std::fmt::Debug for LockFreeIndex<K, V, SLOTS> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let used = self.slots.iter().filter(|slot| slot.get().is_some()).count();
        f.debug_struct("LockFreeIndex")
            .field("slots", &self.slots.len())
            .field("used", &used)
            .finish()
    }
}

impl<K: Hash + Eq, V, const SLOTS: usize> LockFreeIndex<K, V, SLOTS> {
    const MASK: usize = {
        assert!(
            SLOTS.is_power_of_two() && SLOTS >= PROBES,
            "a power of two, at least PROBES"
        );
        SLOTS - 1
    };

    pub(crate) fn new() -> Self {
        let slots: Box<[OnceLock<(K, V)>]> = (0..SLOTS).map(|_| OnceLock::new()).collect();
        Self {
            slots: slots
                .try_into()
                .unwrap_or_else(|_| unreachable!("SLOTS slots were made")),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    /// The slots a key whose hash is `hash` may sit in, in probe order.
    #[inline]
    fn probe_range(&self, hash: u64) -> impl Iterator<Item = &OnceLock<(K, V)>> {
        (0..PROBES).map(move |probe| &self.slots[(hash as usize).wrapping_add(probe) & Self::MASK])
    }

    /// The value of `key`, if the table holds it.
    #[inline]
    pub(crate) fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        for slot in self.probe_range(self.hasher.hash_one(key)) {
            match slot.get() {
                Some((known, value)) if known.borrow() == key => return Some(value),
                Some(_) => {}
                None => return None,
            }
        }
        None
    }

    /// Adds `key` if a slot of its probe range is free, and says whether it did; a key left
    /// out is still in the map behind the table, so callers need not look. Callers add a key
    /// once, under the lock of that map, so a key is never in the table twice.
    pub(crate) fn insert(&self, key: K, value: V) -> bool {
        debug_assert!(self.get(&key).is_none(), "a key is added to the table once");
        let hash = self.hasher.hash_one(&key);
        let mut entry = Some((key, value));
        for slot in self.probe_range(hash) {
            if slot.get().is_some() {
                continue;
            }
            // A concurrent insertion of another key may take the slot first: try the next.
            match slot.set(entry.take().expect("not taken yet")) {
                Ok(()) => return true,
                Err(back) => entry = Some(back),
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_beyond_the_probe_range_are_refused_and_found_nowhere() {
        let index: LockFreeIndex<String, usize, 8> = LockFreeIndex::new();
        let inserted: Vec<usize> = (0..64).filter(|i| index.insert(format!("k{i}"), *i)).collect();
        assert_eq!(inserted.len(), 8, "a table of 8 slots holds 8 keys");
        for i in 0..64 {
            let found = index.get(format!("k{i}").as_str()).copied();
            assert_eq!(found, inserted.contains(&i).then_some(i), "k{i}");
        }
    }

    #[test]
    fn concurrent_insertions_of_distinct_keys_lose_none_that_report_success() {
        let index: LockFreeIndex<u32, u32, 256> = LockFreeIndex::new();
        let inserted: Vec<Vec<u32>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..4u32)
                .map(|thread| {
                    let index = &index;
                    scope.spawn(move || {
                        (0..100u32)
                            .map(|i| thread * 1000 + i)
                            .filter(|key| index.insert(*key, key + 1))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers.into_iter().map(|worker| worker.join().unwrap()).collect()
        });
        let inserted: Vec<u32> = inserted.into_iter().flatten().collect();
        // 400 distinct keys into 256 slots: most slots fill, so the loop below checks many.
        assert!(inserted.len() > 128, "{} keys inserted", inserted.len());
        for key in inserted {
            assert_eq!(index.get(&key), Some(&(key + 1)));
        }
    }
}
