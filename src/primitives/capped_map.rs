//! [`CappedMap`]: label values (keys) to their series' handles, at most `cap` of them; beyond
//! the cap every new key shares one overflow handle, so a client that sends endless distinct
//! values cannot grow the exposition.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;

use parking_lot::RwLock;

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Where a value was found, for the caller's overflow accounting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// The key has its own entry.
    Own,
    /// The cap was reached: the key shares the overflow entry.
    Folded,
}

/// A read-mostly map with a cap on its distinct keys.
pub(crate) struct CappedMap<K, V> {
    entries: RwLock<FastMap<K, V>>,
    /// The overflow entry is kept apart, so that it never counts against the cap.
    overflow: RwLock<Option<V>>,
    cap: usize,
}

impl<K, V> fmt::Debug for CappedMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CappedMap")
            .field("entries", &self.entries.read().len())
            .field("cap", &self.cap)
            .finish_non_exhaustive()
    }
}

impl<K: Eq + Hash, V: Clone> CappedMap<K, V> {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            entries: RwLock::default(),
            overflow: RwLock::default(),
            cap,
        }
    }

    /// Calls `f` on the value of `key` if the map holds one, under the read lock and without
    /// cloning it: the warm path.
    #[inline]
    pub(crate) fn with<Q, R>(&self, key: &Q, f: impl FnOnce(&V) -> R) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries.read().get(key).map(f)
    }

    /// The value of `key`, creating it with `create` (or the overflow value with
    /// `create_overflow`, once the cap is reached) under the write lock, so that creators are
    /// serialised and the cap counts each key exactly once.
    pub(crate) fn get_or_admit<Q>(
        &self,
        key: &Q,
        create: impl FnOnce(&Q) -> (K, V),
        create_overflow: impl FnOnce() -> V,
    ) -> (V, Admission)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        {
            let entries = self.entries.read();
            if let Some(value) = entries.get(key) {
                return (value.clone(), Admission::Own);
            }
            // Once the map is full, a new key folds without the write lock: values beyond the
            // cap may keep coming (from clients, for request labels), and every one of them
            // would otherwise serialise on it.
            if entries.len() >= self.cap {
                drop(entries);
                if let Some(overflow) = self.overflow.read().as_ref() {
                    return (overflow.clone(), Admission::Folded);
                }
            }
        }
        self.admit(key, create, create_overflow)
    }

    #[cold]
    fn admit<Q>(
        &self,
        key: &Q,
        create: impl FnOnce(&Q) -> (K, V),
        create_overflow: impl FnOnce() -> V,
    ) -> (V, Admission)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut entries = self.entries.write();
        if let Some(value) = entries.get(key) {
            return (value.clone(), Admission::Own);
        }
        if entries.len() < self.cap {
            let (key, value) = create(key);
            entries.insert(key, value.clone());
            return (value, Admission::Own);
        }
        drop(entries);
        let mut overflow = self.overflow.write();
        (
            overflow.get_or_insert_with(create_overflow).clone(),
            Admission::Folded,
        )
    }
}

impl<K: Eq + Hash, V: Clone> CappedMap<K, V> {
    /// The entry of `key` (the stored key and its value), creating it with `create` only
    /// while the cap and `allowed()` both let a new key in; `None` when they do not, for a
    /// caller that keeps its own overflow (the views, whose cap counts `(view, method)` pairs
    /// rather than views). The stored key is handed back so that callers can share it.
    pub(crate) fn get_or_insert_within<Q>(
        &self,
        key: &Q,
        allowed: impl FnOnce() -> bool,
        create: impl FnOnce(&Q) -> (K, V),
    ) -> Option<(K, V)>
    where
        K: Borrow<Q> + Clone,
        Q: Hash + Eq + ?Sized,
    {
        let entry = |entries: &FastMap<K, V>| {
            entries
                .get_key_value(key)
                .map(|(key, value)| (key.clone(), value.clone()))
        };
        {
            let entries = self.entries.read();
            if let Some(entry) = entry(&entries) {
                return Some(entry);
            }
            // Full: refused without the write lock, which every later new key would otherwise
            // take just to learn it.
            if entries.len() >= self.cap {
                return None;
            }
        }
        let mut entries = self.entries.write();
        if let Some(entry) = entry(&entries) {
            return Some(entry);
        }
        if entries.len() >= self.cap || !allowed() {
            return None;
        }
        let (key, value) = create(key);
        entries.insert(key.clone(), value.clone());
        Some((key, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_beyond_the_cap_share_the_overflow_value() {
        let map: CappedMap<String, u32> = CappedMap::new(2);
        let create = |key: &str| (key.to_owned(), key.len() as u32);
        assert_eq!(map.get_or_admit("a", create, || 0), (1, Admission::Own));
        assert_eq!(map.get_or_admit("bb", create, || 0), (2, Admission::Own));
        assert_eq!(map.get_or_admit("ccc", create, || 99), (99, Admission::Folded));
        assert_eq!(map.get_or_admit("dddd", create, || 7), (99, Admission::Folded));
        assert_eq!(map.get_or_admit("a", create, || 0), (1, Admission::Own));
    }

    #[test]
    fn keys_are_refused_when_the_caller_says_so_or_the_cap_is_reached() {
        let map: CappedMap<String, u32> = CappedMap::new(2);
        let create = |key: &str| (key.to_owned(), 1);
        let entry = |key: &str| Some((key.to_owned(), 1));
        assert_eq!(map.get_or_insert_within("a", || false, create), None);
        assert_eq!(map.get_or_insert_within("a", || true, create), entry("a"));
        let known = map.get_or_insert_within("a", || false, create);
        assert_eq!(known, entry("a"), "known keys stay");
        assert_eq!(map.get_or_insert_within("b", || true, create), entry("b"));
        assert_eq!(map.get_or_insert_within("c", || true, create), None, "the cap");
    }

    #[test]
    fn a_cap_of_zero_folds_everything() {
        let map: CappedMap<String, u32> = CappedMap::new(0);
        let (_, admission) = map.get_or_admit("a", |key: &str| (key.to_owned(), 1), || 0);
        assert_eq!(admission, Admission::Folded);
    }
}
