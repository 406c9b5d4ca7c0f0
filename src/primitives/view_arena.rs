//! [`ViewArena`]: values (every `(view, method)` pair's handles) by a small copyable id.
//!
//! Holding a view's handles by `Arc` would cost a clone and a drop per request, two locked
//! instructions on the cache line that also holds the handles every request of that view
//! reads, so two threads serving one view would keep taking that line from each other. The
//! handles are never removed while the registry lives (the label-set cap bounds them), so a
//! request can hold an id instead and look the handles up again: two loads, no write.
//!
//! Storage is append-only: segment `k` holds `FIRST_SEGMENT << k` slots and is allocated the
//! first time an id falls in it, so existing handles never move and a lookup takes no lock.
//! Segment 0, which holds every id of most registries, is allocated up front and reached
//! without the segment lookup (a request looks its handles up three times).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

const FIRST_SEGMENT: usize = 64;
/// 64 × (2³² − 1) ids in all: more than a `u32` id can name.
const SEGMENTS: usize = 32;

/// One segment's slots, allocated whole.
type Segment<T> = Box<[OnceLock<Box<T>>]>;

/// The id of one value (a `(view, method)` pair's handles) in a [`ViewArena`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ViewId(u32);

/// Append-only storage, read without a lock.
pub(crate) struct ViewArena<T> {
    /// Segment 0.
    first: Box<[OnceLock<Box<T>>; FIRST_SEGMENT]>,
    /// Segments 1 and up (the slot of segment 0 stays empty).
    segments: [OnceLock<Segment<T>>; SEGMENTS],
    next: AtomicU32,
}

impl<T> Default for ViewArena<T> {
    fn default() -> Self {
        Self {
            first: Box::new(std::array::from_fn(|_| OnceLock::new())),
            segments: std::array::from_fn(|_| OnceLock::new()),
            next: AtomicU32::new(0),
        }
    }
}

impl<T> std::fmt::Debug for ViewArena<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ViewArena")
            .field("handles", &self.next.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// The segment of `id` and its position in it.
#[inline]
fn locate(id: u32) -> (usize, usize) {
    if (id as usize) < FIRST_SEGMENT {
        return (0, id as usize);
    }
    let block = id as usize / FIRST_SEGMENT + 1;
    let segment = block.ilog2() as usize;
    let start = FIRST_SEGMENT * ((1 << segment) - 1);
    (segment, id as usize - start)
}

impl<T> ViewArena<T> {
    /// Stores `handles` and returns their id. Callers store each pair's handles once (the
    /// pair's `OnceLock` slot serialises them), so ids are only ever taken for real pairs.
    pub(crate) fn push(&self, handles: T) -> ViewId {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (segment, index) = locate(id);
        let slots = match segment {
            0 => &self.first[..],
            _ => self.segments[segment]
                .get_or_init(|| (0..FIRST_SEGMENT << segment).map(|_| OnceLock::new()).collect()),
        };
        if slots[index].set(Box::new(handles)).is_err() {
            unreachable!("every id is taken once");
        }
        ViewId(id)
    }

    /// The handles of `id`, which `push` returned.
    #[inline]
    pub(crate) fn get(&self, id: ViewId) -> &T {
        let slot = match self.first.get(id.0 as usize) {
            Some(slot) => Some(slot),
            None => {
                let (segment, index) = locate(id.0);
                self.segments[segment].get().map(|slots| &slots[index])
            }
        };
        slot.and_then(OnceLock::get)
            .expect("a ViewId names handles pushed before it was handed out")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_fill_segments_that_double() {
        assert_eq!(locate(0), (0, 0));
        assert_eq!(locate(63), (0, 63));
        assert_eq!(locate(64), (1, 0));
        assert_eq!(locate(191), (1, 127));
        assert_eq!(locate(192), (2, 0));
        assert_eq!(locate(u32::MAX).0, 26);
    }

    #[test]
    fn values_in_the_first_segment_and_beyond_are_found_by_their_ids() {
        let arena = ViewArena::default();
        let ids: Vec<ViewId> = (0..4 * FIRST_SEGMENT).map(|value| arena.push(value)).collect();
        for (value, id) in ids.iter().enumerate() {
            assert_eq!(*arena.get(*id), value);
        }
        assert!(arena.segments[0].get().is_none(), "segment 0 is the up-front one");
    }
}
