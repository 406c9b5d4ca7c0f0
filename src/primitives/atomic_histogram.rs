//! [`AtomicHistogram`]: a classic histogram whose observers never wait for each other.
//!
//! prometheus-client's `Histogram` keeps its state behind a mutex (it also carries the native
//! histogram's state, about 480 bytes a series); every request observes two or three
//! histograms, so two threads serving requests queued on those mutexes. Here an observation
//! is one `fetch_add` on its bucket and one compare-exchange on the `f64` sum; the count is the
//! sum of the buckets, read at scrape time, so `_count` always equals the `+Inf` bucket. The
//! bounds are shared by every histogram of a family, so a series costs one allocation of
//! `8 × (buckets + 2)` bytes plus the `Arc` header.
//!
//! Encoding hands prometheus-client's encoders exactly what its own `Histogram` hands them
//! (sum, count, per-bucket counts with the implicit `+Inf` bucket, no exemplars), so every
//! format renders the same bytes. A scrape racing an observation may see the new bucket count
//! without the new sum (never a `_count` different from the `+Inf` bucket).

use std::fmt;
use std::iter::once;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};

use super::stripes::StripedCells;

/// A classic histogram with lock-free observations.
#[derive(Clone)]
pub(crate) struct AtomicHistogram {
    /// The finite upper bounds, sorted and unique; the `+Inf` bucket is implicit.
    bounds: Arc<[f64]>,
    /// `[sum as f64 bits, bucket 0, …, bucket n-1, +Inf bucket]`, each bucket non-cumulative.
    cells: Cells,
}

/// Where the cells live: once per series, or once per thread stripe for the few histograms
/// every request observes (see [`super::stripes`]).
#[derive(Clone)]
enum Cells {
    Shared(Arc<[AtomicU64]>),
    /// With whether the bounds are 0 then powers of two from 1 (django's body sizes), where a
    /// size's bucket follows from its bit length.
    Striped(Arc<StripedCells>, bool),
}

/// 0 then 1 … 2^52: the longest such list whose bounds every size compares with as `observe`
/// compares its `f64`.
const MAX_POWER_OF_TWO_BOUNDS: usize = 54;

const SUM: usize = 0;
const FIRST_BUCKET: usize = 1;

impl AtomicHistogram {
    /// A histogram over `bounds`, which must be finite, sorted and unique (the builder's
    /// `sanitize_buckets` guarantees it).
    pub(crate) fn new(bounds: Arc<[f64]>) -> Self {
        debug_assert!(bounds.iter().all(|bound| bound.is_finite()));
        debug_assert!(bounds.windows(2).all(|pair| pair[0] < pair[1]));
        let cells = Cells::Shared((0..bounds.len() + 2).map(|_| AtomicU64::new(0)).collect());
        Self { bounds, cells }
    }

    /// A histogram over `bounds` already holding `counts` (each bucket's own count, `+Inf`
    /// last) and `sum`: the total of other histograms, built at scrape time.
    pub(crate) fn with_counts(bounds: Arc<[f64]>, counts: &[u64], sum: f64) -> Self {
        debug_assert_eq!(counts.len(), bounds.len() + 1);
        let cells = once(sum.to_bits())
            .chain(counts.iter().copied())
            .map(AtomicU64::new)
            .collect();
        Self {
            bounds,
            cells: Cells::Shared(cells),
        }
    }

    /// A histogram whose observations go to the calling thread's stripe: for the histograms
    /// without labels, which every request observes.
    pub(crate) fn new_striped(bounds: Arc<[f64]>) -> Self {
        // Up to 2^52 only: a size past 2^53 rounds to an even f64, so the scan that
        // `observe` makes of a larger bound can disagree with the size's bit length.
        let powers_of_two = bounds.len() <= MAX_POWER_OF_TWO_BOUNDS
            && bounds.iter().enumerate().all(|(index, bound)| {
                *bound
                    == if index == 0 {
                        0.0
                    } else {
                        (1u64 << (index - 1)) as f64
                    }
            });
        let cells = Cells::Striped(Arc::new(StripedCells::new(bounds.len() + 2)), powers_of_two);
        Self { bounds, cells }
    }

    /// Records `value` in the first bucket whose bound is at least `value` (`NaN` goes to
    /// `+Inf`, as in prometheus-client).
    #[inline]
    pub(crate) fn observe(&self, value: f64) {
        // A linear scan from the smallest bound, as prometheus-client does: request latencies
        // and small bodies land in the first buckets, where it beats a binary search. `NaN`
        // is below no bound and lands in `+Inf`.
        let bucket = self
            .bounds
            .iter()
            .position(|bound| value <= *bound)
            .unwrap_or(self.bounds.len());
        let cells = match &self.cells {
            Cells::Shared(cells) => cells,
            Cells::Striped(cells, _) => {
                cells.observe(FIRST_BUCKET + bucket, SUM, value);
                return;
            }
        };
        cells[FIRST_BUCKET + bucket].fetch_add(1, Ordering::Relaxed);
        let sum = &cells[SUM];
        let mut current = sum.load(Ordering::Relaxed);
        loop {
            let added = (f64::from_bits(current) + value).to_bits();
            match sum.compare_exchange_weak(current, added, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }
}

impl AtomicHistogram {
    /// Records a size in bytes: as [`Self::observe`] does, in constant time when the bounds
    /// are 0 then powers of two (a linear scan of them compares one more bound per doubling
    /// of the size). Always inlined: it is on every request's path, at two call sites.
    #[inline(always)]
    pub(crate) fn observe_bytes(&self, bytes: u64) {
        if let Cells::Striped(cells, true) = &self.cells {
            // The first bound at least `bytes`: 0 for 0, else the bound 2^(k-1) at index k,
            // with k = ⌈log₂ bytes⌉ + 1; past the last bound, `+Inf`.
            let bucket = match bytes {
                0 => 0,
                _ => (65 - (bytes - 1).leading_zeros() as usize).min(self.bounds.len()),
            };
            cells.observe(FIRST_BUCKET + bucket, SUM, bytes as f64);
            return;
        }
        self.observe(bytes as f64);
    }
}

impl AtomicHistogram {
    /// The finite upper bounds (shared by every histogram of a family).
    pub(crate) fn bounds(&self) -> &Arc<[f64]> {
        &self.bounds
    }

    /// Hands each bucket's own (non-cumulative) count to `bucket`, the `+Inf` bucket last,
    /// then returns the sum: the same reads, in the same order, as `EncodeMetric::encode`.
    pub(crate) fn read(&self, mut bucket: impl FnMut(usize, u64)) -> f64 {
        match &self.cells {
            Cells::Shared(cells) => {
                for (index, count) in cells[FIRST_BUCKET..].iter().enumerate() {
                    bucket(index, count.load(Ordering::Relaxed));
                }
                f64::from_bits(cells[SUM].load(Ordering::Relaxed))
            }
            Cells::Striped(cells, _) => {
                for index in 0..=self.bounds.len() {
                    bucket(index, cells.sum(FIRST_BUCKET + index));
                }
                cells.sum_f64(SUM)
            }
        }
    }
}

impl fmt::Debug for AtomicHistogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AtomicHistogram")
            .field("buckets", &(self.bounds.len() + 1))
            .finish_non_exhaustive()
    }
}

impl TypedMetric for AtomicHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for AtomicHistogram {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> fmt::Result {
        let mut counts = Vec::with_capacity(self.bounds.len() + 1);
        let sum = self.read(|_, count| counts.push(count));
        let buckets: Vec<(f64, u64)> = self
            .bounds
            .iter()
            .copied()
            .chain(once(f64::INFINITY))
            .zip(counts)
            .collect();
        let count = buckets.iter().map(|(_, count)| count).sum();
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::metrics::family::Family;
    use prometheus_client::metrics::histogram::Histogram;
    use prometheus_client::registry::{Registry, Unit};

    use super::*;

    const BOUNDS: &[f64] = &[-1.0, 0.0, 0.005, 0.25, 1.0, 2.5, 1e9];

    const VALUES: &[f64] = &[
        0.0,
        -0.0,
        -5.0,
        -1.0,
        0.004,
        0.005,
        0.1,
        0.25,
        0.3,
        1.0,
        2.5,
        7.0,
        1e9,
        1e12,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MIN_POSITIVE,
        1.0 / 3.0,
    ];

    /// The same observations in ours and in prometheus-client's, registered alike.
    fn registries(values: &[f64]) -> (Registry, Registry) {
        let ours = AtomicHistogram::new(BOUNDS.into());
        let theirs = Histogram::new(BOUNDS.iter().copied());
        let labelled_ours: Family<Vec<(String, String)>, AtomicHistogram, _> =
            Family::new_with_constructor(|| AtomicHistogram::new(BOUNDS.into()));
        let labelled_theirs: Family<Vec<(String, String)>, Histogram, _> =
            Family::new_with_constructor(|| Histogram::new(BOUNDS.iter().copied()));
        let labels = vec![("view".to_owned(), "a \"b\"\n\\".to_owned())];
        for value in values {
            ours.observe(*value);
            theirs.observe(*value);
            labelled_ours.get_or_create(&labels).observe(*value);
            labelled_theirs.get_or_create(&labels).observe(*value);
        }
        let (mut ours_registry, mut theirs_registry) = (Registry::default(), Registry::default());
        ours_registry.register_with_unit("latency", "Latency", Unit::Seconds, ours);
        theirs_registry.register_with_unit("latency", "Latency", Unit::Seconds, theirs);
        ours_registry.register("labelled", "Labelled", labelled_ours);
        theirs_registry.register("labelled", "Labelled", labelled_theirs);
        (ours_registry, theirs_registry)
    }

    fn texts(registry: &Registry) -> (String, String) {
        let mut openmetrics = String::new();
        prometheus_client::encoding::text::encode(&mut openmetrics, registry).unwrap();
        let mut prometheus = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut prometheus, registry).unwrap();
        (openmetrics, prometheus)
    }

    #[test]
    fn encodes_exactly_like_prometheus_clients_histogram() {
        for values in [&[][..], &[0.3], VALUES] {
            let (ours, theirs) = registries(values);
            assert_eq!(texts(&ours), texts(&theirs), "{values:?}");
            #[cfg(feature = "protobuf")]
            assert_eq!(
                prometheus_client::encoding::prometheus_protobuf::encode_to_vec(&ours).unwrap(),
                prometheus_client::encoding::prometheus_protobuf::encode_to_vec(&theirs).unwrap(),
            );
        }
        let (ours, _) = registries(VALUES);
        let (_, prometheus) = texts(&ours);
        assert!(prometheus.contains("latency_seconds_count 18\n"), "{prometheus}");
        assert!(
            prometheus.contains("latency_seconds_bucket{le=\"0\"} 5\n"),
            "{prometheus}"
        );
        assert!(
            prometheus.contains("latency_seconds_bucket{le=\"+Inf\"} 18\n"),
            "{prometheus}"
        );
    }

    #[test]
    fn a_striped_histogram_encodes_like_a_shared_one() {
        for values in [&[][..], &[0.3], VALUES, &[1.0, f64::NAN, 2.0]] {
            let (striped, shared) = (
                AtomicHistogram::new_striped(BOUNDS.into()),
                AtomicHistogram::new(BOUNDS.into()),
            );
            // Observed from several threads, so that several stripes hold counts.
            std::thread::scope(|scope| {
                for chunk in values.chunks(5) {
                    let striped = &striped;
                    scope.spawn(move || chunk.iter().for_each(|value| striped.observe(*value)));
                }
            });
            values.iter().for_each(|value| shared.observe(*value));
            let registry = |histogram: AtomicHistogram| {
                let mut registry = Registry::default();
                registry.register_with_unit("latency", "Latency", Unit::Seconds, histogram);
                registry
            };
            assert_eq!(texts(&registry(striped)), texts(&registry(shared)), "{values:?}");
        }
    }

    #[test]
    fn striped_observers_lose_nothing() {
        let histogram = AtomicHistogram::new_striped(BOUNDS.into());
        // More threads than exclusive stripes: shared stripes take atomic additions.
        std::thread::scope(|scope| {
            for _ in 0..2 * crate::primitives::stripes::STRIPES {
                scope.spawn(|| (0..1_000).for_each(|_| histogram.observe(0.25)));
            }
        });
        let mut buckets = Vec::new();
        let sum = histogram.read(|_, count| buckets.push(count));
        let observations = 2 * crate::primitives::stripes::STRIPES as u64 * 1_000;
        assert_eq!(buckets.iter().sum::<u64>(), observations);
        assert_eq!(buckets[3], observations, "0.25 is the fourth bound");
        assert_eq!(sum, 0.25 * observations as f64);
    }

    #[test]
    fn nan_counts_in_inf_and_poisons_the_sum_like_prometheus_client() {
        let (ours, theirs) = registries(&[1.0, f64::NAN, 2.0]);
        assert_eq!(texts(&ours), texts(&theirs));
        let (_, prometheus) = texts(&ours);
        assert!(prometheus.contains("latency_seconds_sum NaN\n"), "{prometheus}");
        assert!(
            prometheus.contains("latency_seconds_bucket{le=\"2.5\"} 2\n"),
            "{prometheus}"
        );
        assert!(
            prometheus.contains("latency_seconds_bucket{le=\"+Inf\"} 3\n"),
            "{prometheus}"
        );
    }

    #[test]
    fn concurrent_observers_lose_nothing() {
        let histogram = AtomicHistogram::new(BOUNDS.into());
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..10_000 {
                        histogram.observe(0.25);
                    }
                });
            }
        });
        let mut registry = Registry::default();
        registry.register("latency", "Latency", histogram);
        let (openmetrics, _) = texts(&registry);
        assert!(openmetrics.contains("latency_count 40000\n"), "{openmetrics}");
        assert!(openmetrics.contains("latency_sum 10000.0\n"), "{openmetrics}");
        assert!(
            openmetrics.contains("latency_bucket{le=\"0.25\"} 40000\n"),
            "{openmetrics}"
        );
        assert!(
            openmetrics.contains("latency_bucket{le=\"0.005\"} 0\n"),
            "{openmetrics}"
        );
    }
    #[test]
    fn a_scrape_racing_observers_shows_a_count_equal_to_the_inf_bucket() {
        let histogram = AtomicHistogram::new(BOUNDS.into());
        let mut registry = Registry::default();
        registry.register("latency", "Latency", histogram.clone());
        let done = std::sync::atomic::AtomicBool::new(false);
        let sample = |text: &str, prefix: &str| -> u64 {
            let line = text.lines().find(|line| line.starts_with(prefix)).expect(prefix);
            line.rsplit(' ').next().unwrap().parse().expect("a count")
        };
        std::thread::scope(|scope| {
            for value in [0.001, 3.0] {
                let (histogram, done) = (&histogram, &done);
                scope.spawn(move || {
                    while !done.load(Ordering::Relaxed) {
                        histogram.observe(value);
                    }
                });
            }
            // Stops the observers even when an assertion below fails, so the test fails
            // instead of hanging.
            struct StopOnDrop<'a>(&'a std::sync::atomic::AtomicBool);
            impl Drop for StopOnDrop<'_> {
                fn drop(&mut self) {
                    self.0.store(true, Ordering::Relaxed);
                }
            }
            let _stop = StopOnDrop(&done);
            let mut last = 0;
            for _ in 0..200 {
                let (openmetrics, _) = texts(&registry);
                let count = sample(&openmetrics, "latency_count ");
                assert_eq!(count, sample(&openmetrics, "latency_bucket{le=\"+Inf\"} "));
                assert!(count >= last, "counts only grow");
                last = count;
            }
        });
    }

    /// Sizes take the bucket a linear scan of the bounds gives them, with django's bounds
    /// (found from the bit length) and with others (scanned).
    #[test]
    fn sizes_land_in_the_bucket_a_scan_gives() {
        let mut sizes: Vec<u64> = (0..=4_200).collect();
        for shift in 0..64 {
            let power = 1u64 << shift;
            sizes.extend([power - 1, power, power + 1, power.saturating_mul(3) / 2]);
        }
        sizes.push(u64::MAX);
        let powers =
            |count: u32| -> Vec<f64> { once(0.0).chain((0..count).map(|k| (1u64 << k) as f64)).collect() };
        let bounds_sets: [Vec<f64>; 6] = [
            crate::defaults::SIZE_BUCKETS.to_vec(),
            vec![0.0, 1.0, 2.0, 4.0],
            vec![0.0, 1.0, 3.0, 100.0],
            // Past 2^53 sizes round as `f64`s: the longest lists a bit length can bucket, and
            // longer ones.
            powers(53),
            powers(56),
            powers(63),
        ];
        for bounds in bounds_sets {
            let bounds: Arc<[f64]> = bounds.into();
            for size in &sizes {
                let by_bytes = AtomicHistogram::new_striped(Arc::clone(&bounds));
                by_bytes.observe_bytes(*size);
                let scanned = AtomicHistogram::new(Arc::clone(&bounds));
                scanned.observe(*size as f64);
                let mut counts = (Vec::new(), Vec::new());
                let sums = (
                    by_bytes.read(|_, count| counts.0.push(count)),
                    scanned.read(|_, count| counts.1.push(count)),
                );
                assert_eq!(counts.0, counts.1, "{size} bytes over {bounds:?}");
                assert_eq!(sums.0, sums.1, "{size} bytes");
            }
        }
    }
}
