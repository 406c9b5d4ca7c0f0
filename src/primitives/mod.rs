//! Lock-free building blocks of the recording side, independent of HTTP and of any format:
//! per-thread striped counters, an atomic histogram, an append-only arena read without a
//! lock, and a family whose series are snapshotted for encoding.

pub(crate) mod atomic_histogram;
pub(crate) mod capped_map;
pub(crate) mod lock_free_index;
pub(crate) mod snapshot_family;
pub(crate) mod stripes;
pub(crate) mod view_arena;
