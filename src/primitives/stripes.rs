//! [`StripedCells`]: counters that every request adds to, kept per thread so that threads do
//! not take turns owning one cache line, and [`StripedCounter`], a counter striped the same way.
//!
//! The families without a `view` label (requests by method, by transport, responses by
//! status, the global latency and body-size histograms…) see every request of the process:
//! with one shared atomic each, two threads serving requests pass a dozen cache lines back and
//! forth on every request. Here each thread adds into its own stripe and a scrape sums the
//! stripes. The first [`EXCLUSIVE_STRIPES`] threads that record own their stripe outright and
//! add with a plain load and store (no locked instruction at all); any further thread shares
//! one of the remaining stripes and adds atomically. A thread's stripe is handed to the next
//! new thread when it exits.
//!
//! Only families with a bounded number of series are striped: a striped counter takes
//! [`STRIPES`] × 128 bytes, too much for one series per `(view, method)` pair.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::{MetricType, TypedMetric};

/// Stripes per set of cells.
pub(crate) const STRIPES: usize = 16;
/// Stripes owned by a single thread; the rest are shared by every thread beyond those.
pub(crate) const EXCLUSIVE_STRIPES: usize = 14;
/// A cache line holds 8 cells: a gap of 8 unused cells between stripes keeps any two stripes
/// off a common line whatever the allocation's alignment.
const CELLS_PER_LINE: usize = 8;

/// Exclusive stripes left behind by exited threads.
static FREED_STRIPES: Mutex<Vec<usize>> = parking_lot::const_mutex(Vec::new());
/// Stripes handed out so far (the exclusive ones first).
static CLAIMED_STRIPES: AtomicUsize = AtomicUsize::new(0);

/// Owns this thread's exclusive stripe and hands it back when the thread exits.
struct StripeOwner(usize);

impl Drop for StripeOwner {
    fn drop(&mut self) {
        // Anything this thread records from here on (another thread-local's destructor, say)
        // goes to a shared stripe: the next owner of ours must be its only writer.
        let _ = STRIPE.try_with(|stripe| stripe.set(EXCLUSIVE_STRIPES));
        // The mutex orders this thread's last additions before the next owner's first.
        FREED_STRIPES.lock().push(self.0);
    }
}

thread_local! {
    /// This thread's stripe, `UNASSIGNED` until it first records. A `const` thread-local
    /// without a destructor: reading it is one load, with no lazy-initialisation check.
    static STRIPE: Cell<usize> = const { Cell::new(UNASSIGNED) };
    static OWNER: RefCell<Option<StripeOwner>> = const { RefCell::new(None) };
}

const UNASSIGNED: usize = usize::MAX;

/// The calling thread's stripe.
#[inline]
fn current_stripe() -> usize {
    let stripe = STRIPE.with(Cell::get);
    if stripe == UNASSIGNED {
        claim_stripe()
    } else {
        stripe
    }
}

/// The calling thread's stripe, looked up once for several additions made in one go. Neither
/// `Send` nor `Sync`: an exclusive stripe is added to with a plain load and store, so a stripe
/// used on another thread (or after an `.await` that moved the task) would lose counts.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stripe(usize, PhantomData<*const ()>);

impl Stripe {
    #[inline]
    pub(crate) fn current() -> Self {
        Self(current_stripe(), PhantomData)
    }
}

#[cold]
fn claim_stripe() -> usize {
    let freed = FREED_STRIPES.lock().pop();
    let stripe = freed.unwrap_or_else(|| {
        let claimed = CLAIMED_STRIPES.fetch_add(1, Ordering::Relaxed);
        if claimed < EXCLUSIVE_STRIPES {
            claimed
        } else {
            EXCLUSIVE_STRIPES + claimed % (STRIPES - EXCLUSIVE_STRIPES)
        }
    });
    let owned = stripe < EXCLUSIVE_STRIPES
        && OWNER
            .try_with(|owner| *owner.borrow_mut() = Some(StripeOwner(stripe)))
            .is_ok();
    if stripe < EXCLUSIVE_STRIPES && !owned {
        // Thread-local storage is being torn down: give the stripe back, use a shared one.
        FREED_STRIPES.lock().push(stripe);
        return EXCLUSIVE_STRIPES;
    }
    STRIPE.with(|current| current.set(stripe));
    stripe
}

/// `cells` counters (integers or `f64` bits), one copy per stripe.
pub(crate) struct StripedCells {
    stride: usize,
    cells: Box<[AtomicU64]>,
}

impl StripedCells {
    pub(crate) fn new(cells: usize) -> Self {
        let stride = cells.div_ceil(CELLS_PER_LINE) * CELLS_PER_LINE + CELLS_PER_LINE;
        Self {
            stride,
            cells: (0..stride * STRIPES).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Adds `value` to `cell` in the calling thread's stripe (histograms add through
    /// [`Self::observe`], counters are [`StripedCounter`]s).
    #[cfg(test)]
    pub(crate) fn add(&self, cell: usize, value: u64) {
        self.add_to(current_stripe(), cell, value);
    }

    /// One histogram observation, with one stripe lookup: 1 to `bucket`, `value` to the `f64`
    /// cell `sum`.
    #[inline]
    pub(crate) fn observe(&self, bucket: usize, sum: usize, value: f64) {
        let stripe = current_stripe();
        self.add_to(stripe, bucket, 1);
        self.add_f64_to(stripe, sum, value);
    }

    #[inline]
    fn add_to(&self, stripe: usize, cell: usize, value: u64) {
        let target = &self.cells[stripe * self.stride + cell];
        if stripe < EXCLUSIVE_STRIPES {
            // Only this thread writes this stripe: no other writer can slip in between.
            target.store(
                target.load(Ordering::Relaxed).wrapping_add(value),
                Ordering::Relaxed,
            );
        } else {
            target.fetch_add(value, Ordering::Relaxed);
        }
    }

    #[inline]
    fn add_f64_to(&self, stripe: usize, cell: usize, value: f64) {
        let target = &self.cells[stripe * self.stride + cell];
        let add = |bits: u64| (f64::from_bits(bits) + value).to_bits();
        if stripe < EXCLUSIVE_STRIPES {
            target.store(add(target.load(Ordering::Relaxed)), Ordering::Relaxed);
        } else {
            let mut current = target.load(Ordering::Relaxed);
            while let Err(actual) =
                target.compare_exchange_weak(current, add(current), Ordering::Relaxed, Ordering::Relaxed)
            {
                current = actual;
            }
        }
    }

    /// The total of `cell` over every stripe.
    pub(crate) fn sum(&self, cell: usize) -> u64 {
        self.stripes(cell)
            .fold(0, |total, value| total.wrapping_add(value))
    }

    /// The total of the `f64` cell `cell` over every stripe.
    pub(crate) fn sum_f64(&self, cell: usize) -> f64 {
        self.stripes(cell).map(f64::from_bits).sum()
    }

    fn stripes(&self, cell: usize) -> impl Iterator<Item = u64> + '_ {
        (0..STRIPES).map(move |stripe| self.cells[stripe * self.stride + cell].load(Ordering::Relaxed))
    }
}

impl fmt::Debug for StripedCells {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripedCells")
            .field("cells", &(self.stride - CELLS_PER_LINE))
            .finish_non_exhaustive()
    }
}

/// A monotonic counter striped per thread; renders like prometheus-client's `Counter`.
///
/// One cell per stripe in a fixed array rather than [`StripedCells`]: a stripe's cell is then
/// found by its index alone (no stride to multiply by, no bounds to check), and every request
/// adds to several of these counters.
#[derive(Clone)]
pub(crate) struct StripedCounter(Arc<[Line; STRIPES]>);

/// One stripe's cell, alone on two cache lines (the pair the adjacent-line prefetcher fetches
/// together), like the gap [`StripedCells`] leaves between stripes.
#[repr(align(128))]
struct Line(AtomicU64);

impl Default for StripedCounter {
    fn default() -> Self {
        Self(Arc::new(std::array::from_fn(|_| Line(AtomicU64::new(0)))))
    }
}

impl StripedCounter {
    #[inline]
    pub(crate) fn inc(&self) {
        self.inc_in(Stripe::current());
    }

    /// [`Self::inc`] in `stripe`, the calling thread's.
    #[inline]
    pub(crate) fn inc_in(&self, Stripe(stripe, _): Stripe) {
        let target = &self.0[stripe % STRIPES].0;
        if stripe < EXCLUSIVE_STRIPES {
            // Only this thread writes this stripe: no other writer can slip in between.
            target.store(target.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
        } else {
            target.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.iter().fold(0, |total, line| {
            total.wrapping_add(line.0.load(Ordering::Relaxed))
        })
    }
}

impl fmt::Debug for StripedCounter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StripedCounter").field(&self.get()).finish()
    }
}

impl TypedMetric for StripedCounter {
    const TYPE: MetricType = MetricType::Counter;
}

impl EncodeMetric for StripedCounter {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> fmt::Result {
        encoder.encode_counter::<NoLabelSet, _, u64>(&self.get(), None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// A series of a family whose label values are not bounded by us (charsets): striped for
/// the value nearly every response carries, a plain counter for the others.
#[derive(Clone, Debug)]
pub(crate) enum MaybeStripedCounter {
    Striped(StripedCounter),
    Plain(Counter),
}

impl Default for MaybeStripedCounter {
    fn default() -> Self {
        Self::Plain(Counter::default())
    }
}

impl MaybeStripedCounter {
    #[inline]
    pub(crate) fn inc(&self) {
        match self {
            Self::Striped(counter) => counter.inc(),
            Self::Plain(counter) => {
                counter.inc();
            }
        }
    }

    pub(crate) fn get(&self) -> u64 {
        match self {
            Self::Striped(counter) => counter.get(),
            Self::Plain(counter) => counter.get(),
        }
    }
}

impl TypedMetric for MaybeStripedCounter {
    const TYPE: MetricType = MetricType::Counter;
}

impl EncodeMetric for MaybeStripedCounter {
    fn encode(&self, encoder: MetricEncoder<'_>) -> fmt::Result {
        match self {
            Self::Striped(counter) => counter.encode(encoder),
            Self::Plain(counter) => counter.encode(encoder),
        }
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn additions_from_many_threads_all_count() {
        let cells = Arc::new(StripedCells::new(3));
        // More threads than exclusive stripes, so shared stripes are exercised too.
        let threads: Vec<_> = (0..2 * STRIPES)
            .map(|_| {
                let cells = Arc::clone(&cells);
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        cells.add(0, 2);
                        cells.observe(1, 2, 0.5);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(cells.sum(0), 2 * STRIPES as u64 * 2000);
        assert_eq!(cells.sum(1), 2 * STRIPES as u64 * 1000);
        assert_eq!(cells.sum_f64(2), 2.0 * STRIPES as f64 * 500.0);
    }

    #[test]
    fn exited_threads_hand_their_stripe_on_and_lose_nothing() {
        let counter = StripedCounter::default();
        // One thread after another: each takes the stripe the previous one gave back, so
        // the number of stripes ever claimed stays far below the number of threads.
        for _ in 0..200 {
            let counter = counter.clone();
            std::thread::spawn(move || (0..10).for_each(|_| counter.inc()))
                .join()
                .unwrap();
        }
        assert_eq!(counter.get(), 2_000);
        // Other tests of this binary claim stripes too, at most a few at a time.
        assert!(CLAIMED_STRIPES.load(Ordering::Relaxed) < 100);
    }

    #[test]
    fn a_counter_reads_the_sum_of_its_stripes() {
        let counter = StripedCounter::default();
        let clone = counter.clone();
        std::thread::scope(|scope| {
            scope.spawn(|| (0..5).for_each(|_| clone.inc()));
            scope.spawn(|| (0..7).for_each(|_| counter.inc()));
        });
        assert_eq!(counter.get(), 12);
    }
}
