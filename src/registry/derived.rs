//! Families computed when a scrape encodes them, as the total of another family of the table
//! that every request updates at the same point of its life: recording both would pay twice per
//! request for one fact.
//!
//! - `http_requests_total_by_method_total`, `http_requests_total_by_transport_total` and
//!   `http_requests_before_middlewares_total` are the totals by method, by transport and overall
//!   of one [`RequestGrid`] of counters by method and transport, which a request adds to once
//!   when it enters the layer (the three are counted at that point);
//! - `http_responses_total_by_status_total` is, status by status, the total of
//!   `http_responses_total_by_status_view_method_total` (both counted at the response head, the
//!   latter exactly once per response, into `<overflow>` when a cap refuses its series), and
//!   `http_responses_before_middlewares_total` its total;
//! - `http_requests_latency_including_middlewares_seconds` is the bucket-wise total of
//!   `http_requests_latency_seconds_by_view_method` (both observed with the same value, at the
//!   response head or the inner `Err`) when every series of the latter is a classic histogram
//!   over the family's buckets without exemplars: no per-view buckets, no native histograms, no
//!   trace-id source. Otherwise it is recorded per request ([`OverallLatency::Recorded`]).
//!
//! Totals of monotonic counters are monotonic, so the derived counters stay counters; a
//! derived family renders exactly as the recorded one did, `0` (or empty buckets) included
//! before any request.

use std::fmt;
use std::sync::{Arc, OnceLock};

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::{MetricType, TypedMetric};

use super::config::RecordingConfig;
use super::exemplars::{LatencyHistogram, LatencyHistograms};
use super::labels::{
    MethodLabel, MethodLabels, StatusLabel, StatusLabels, StatusViewMethodLabels, Transport, TransportLabels,
    ViewMethodLabels,
};
use crate::primitives::atomic_histogram::AtomicHistogram;
use crate::primitives::snapshot_family::SnapshotFamily;
use crate::primitives::stripes::StripedCounter;

const GRID_CELLS: usize = MethodLabel::COUNT * Transport::COUNT;

/// The requests counted when they enter the layer, by method and transport: one counter per
/// pair, created by the pair's first request.
#[derive(Clone)]
pub(crate) struct RequestGrid(Arc<[OnceLock<StripedCounter>; GRID_CELLS]>);

impl Default for RequestGrid {
    fn default() -> Self {
        Self(Arc::new(std::array::from_fn(|_| OnceLock::new())))
    }
}

impl RequestGrid {
    /// The counter of `(method, transport)`.
    #[inline]
    pub(crate) fn cell(&self, method: MethodLabel, transport: Transport) -> &StripedCounter {
        self.0[Self::index(method, transport)].get_or_init(StripedCounter::default)
    }

    #[inline]
    fn index(method: MethodLabel, transport: Transport) -> usize {
        method.index() * Transport::COUNT + transport.index()
    }

    /// Each pair that had a request, with its count, methods first.
    fn for_each_pair(&self, mut pair: impl FnMut(MethodLabel, Transport, u64)) {
        for method in MethodLabel::ALL {
            for transport in Transport::ALL {
                if let Some(counter) = self.0[Self::index(method, transport)].get() {
                    pair(method, transport, counter.get());
                }
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.0.iter().all(|cell| cell.get().is_none())
    }
}

/// One side of a [`RequestGrid`] whose totals a family exposes.
pub(crate) trait GridSide {
    /// The family's label set.
    type Labels;
    /// How many values the side has.
    const COUNT: usize;
    /// The pair's value on this side, by index.
    fn of(method: MethodLabel, transport: Transport) -> (usize, Self::Labels);
}

/// The totals by method: `http_requests_total_by_method_total`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ByMethod;

impl GridSide for ByMethod {
    type Labels = MethodLabels;
    const COUNT: usize = MethodLabel::COUNT;
    fn of(method: MethodLabel, _: Transport) -> (usize, MethodLabels) {
        (method.index(), MethodLabels { method })
    }
}

/// The totals by transport: `http_requests_total_by_transport_total`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ByTransport;

impl GridSide for ByTransport {
    type Labels = TransportLabels;
    const COUNT: usize = Transport::COUNT;
    fn of(_: MethodLabel, transport: Transport) -> (usize, TransportLabels) {
        (transport.index(), TransportLabels { transport })
    }
}

/// Counts that a labelled counter family adds up by group: each count goes to one group, with
/// that group's label set.
pub(crate) trait GroupedCounts {
    /// The family's label set.
    type Labels;
    /// How many groups there can be.
    const GROUPS: usize;
    /// Hands each count to `count` with its group's index and label set.
    fn for_each_count(&self, count: impl FnMut(usize, Self::Labels, u64));
    /// Whether nothing was counted yet.
    fn has_no_series(&self) -> bool;
}

/// A counter family whose series are the totals of [`GroupedCounts`] by group: a group shows
/// once it counted something.
#[derive(Clone)]
pub(crate) struct Totals<C>(C);

impl<C: GroupedCounts> Totals<C> {
    pub(crate) fn new(counts: C) -> Self {
        Self(counts)
    }

    /// Each group seen and its total now, in the order of the groups' indices.
    pub(crate) fn totals(&self) -> Vec<(C::Labels, u64)> {
        let mut by_index: Vec<Option<(C::Labels, u64)>> = (0..C::GROUPS).map(|_| None).collect();
        self.0.for_each_count(|index, labels, count| {
            let (_, total) = by_index[index].get_or_insert((labels, 0));
            *total = total.wrapping_add(count);
        });
        by_index.into_iter().flatten().collect()
    }

    /// Nothing counted yet: the family is left out of the exposition, as a labelled one is.
    pub(crate) fn has_no_series(&self) -> bool {
        self.0.has_no_series()
    }
}

impl<C> fmt::Debug for Totals<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Totals").finish_non_exhaustive()
    }
}

impl<C> TypedMetric for Totals<C> {
    const TYPE: MetricType = MetricType::Counter;
}

impl<C> EncodeMetric for Totals<C>
where
    C: GroupedCounts + Send + Sync,
    C::Labels: prometheus_client::encoding::EncodeLabelSet,
{
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> fmt::Result {
        for (labels, total) in self.totals() {
            encoder
                .encode_family(&labels)?
                .encode_counter::<NoLabelSet, _, u64>(&total, None)?;
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }

    fn is_empty(&self) -> bool {
        self.has_no_series()
    }
}

/// The counts of a [`RequestGrid`], grouped by one side `G`.
pub(crate) struct GridSideCounts<G> {
    grid: RequestGrid,
    side: std::marker::PhantomData<G>,
}

impl<G> Clone for GridSideCounts<G> {
    fn clone(&self) -> Self {
        Self {
            grid: self.grid.clone(),
            side: std::marker::PhantomData,
        }
    }
}

impl<G: GridSide> GroupedCounts for GridSideCounts<G> {
    type Labels = G::Labels;
    const GROUPS: usize = G::COUNT;

    fn for_each_count(&self, mut count: impl FnMut(usize, G::Labels, u64)) {
        self.grid.for_each_pair(|method, transport, value| {
            let (index, labels) = G::of(method, transport);
            count(index, labels, value);
        });
    }

    fn has_no_series(&self) -> bool {
        self.grid.is_empty()
    }
}

/// The totals of a [`RequestGrid`] along one side: `http_requests_total_by_method_total` and
/// `http_requests_total_by_transport_total`.
pub(crate) type RequestTotals<G> = Totals<GridSideCounts<G>>;

impl<G> GridSideCounts<G> {
    pub(crate) fn new(grid: RequestGrid) -> Self {
        Self {
            grid,
            side: std::marker::PhantomData,
        }
    }
}

impl<G: GridSide> RequestTotals<G> {
    /// The totals of `grid` along `G`.
    pub(crate) fn of_grid(grid: RequestGrid) -> Self {
        Self::new(GridSideCounts::new(grid))
    }

    /// The grid the family totals, which requests add to.
    pub(crate) fn grid(&self) -> &RequestGrid {
        &self.0.grid
    }
}

/// A counter without labels whose value is the total of every count of [`GroupedCounts`]:
/// `http_requests_before_middlewares_total` (every request of the [`RequestGrid`]) and
/// `http_responses_before_middlewares_total` (every response counted by status, view and
/// method).
#[derive(Clone)]
pub(crate) struct Total<C>(C);

impl<C: GroupedCounts> Total<C> {
    pub(crate) fn new(counts: C) -> Self {
        Self(counts)
    }

    /// The total now, each count read once.
    pub(crate) fn get(&self) -> u64 {
        let mut total: u64 = 0;
        self.0
            .for_each_count(|_, _, count| total = total.wrapping_add(count));
        total
    }
}

impl<C: GroupedCounts> fmt::Debug for Total<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Total").field(&self.get()).finish()
    }
}

impl<C> TypedMetric for Total<C> {
    const TYPE: MetricType = MetricType::Counter;
}

impl<C: GroupedCounts + Send + Sync> EncodeMetric for Total<C> {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> fmt::Result {
        encoder.encode_counter::<NoLabelSet, _, u64>(&self.get(), None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// The response counters labelled by status, view and method.
pub(crate) type ResponsesByStatusViewMethod = SnapshotFamily<StatusViewMethodLabels, Counter>;

/// The response counters by status, view and method, grouped by status.
#[derive(Clone)]
pub(crate) struct StatusCounts(pub(crate) ResponsesByStatusViewMethod);

impl GroupedCounts for StatusCounts {
    type Labels = StatusLabels;
    const GROUPS: usize = StatusLabel::COUNT;

    fn for_each_count(&self, mut count: impl FnMut(usize, StatusLabels, u64)) {
        self.0.for_each_series(|labels, counter| {
            count(
                labels.status.index(),
                StatusLabels {
                    status: labels.status,
                },
                counter.get(),
            );
        });
    }

    fn has_no_series(&self) -> bool {
        self.0.has_no_series()
    }
}

/// `http_responses_total_by_status_total`: status by status, the totals of the response
/// counters by status, view and method; a status shows once a response had it.
pub(crate) type StatusTotals = Totals<StatusCounts>;

impl StatusTotals {
    /// The totals of `by_status_view_method` by status.
    pub(crate) fn of_responses(by_status_view_method: ResponsesByStatusViewMethod) -> Self {
        Self::new(StatusCounts(by_status_view_method))
    }
}

/// The latency histograms labelled by view and method.
pub(crate) type LatencyByViewMethod = SnapshotFamily<ViewMethodLabels, LatencyHistogram, LatencyHistograms>;

/// A histogram without labels holding the bucket-wise total of the latency family by view and
/// method, whose every series is a classic histogram over `bounds`.
#[derive(Clone)]
pub(crate) struct LatencyTotal {
    bounds: Arc<[f64]>,
    by_view_method: LatencyByViewMethod,
}

impl LatencyTotal {
    /// The total now, as a histogram of its own (one small allocation per scrape).
    pub(crate) fn total(&self) -> AtomicHistogram {
        let mut counts = vec![0_u64; self.bounds.len() + 1];
        let mut sum = 0.0;
        self.by_view_method.for_each_series(|_, series| match series {
            LatencyHistogram::Classic(histogram) => {
                debug_assert_eq!(histogram.bounds(), &self.bounds);
                sum += histogram.read(|bucket, count| counts[bucket] += count);
            }
            // `OverallLatency::new` derives only when every series is classic.
            LatencyHistogram::Plain(_) | LatencyHistogram::WithExemplars(_) => {
                debug_assert!(false, "a derived latency total over a non-classic series");
            }
        });
        AtomicHistogram::with_counts(Arc::clone(&self.bounds), &counts, sum)
    }
}

impl fmt::Debug for LatencyTotal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LatencyTotal")
            .field("buckets", &(self.bounds.len() + 1))
            .finish_non_exhaustive()
    }
}

/// `http_requests_latency_including_middlewares_seconds`: the total of the latency family by
/// view and method where that total is exact, a histogram observed per request elsewhere.
#[derive(Clone, Debug)]
pub(crate) enum OverallLatency {
    Total(LatencyTotal),
    Recorded(LatencyHistogram),
}

impl OverallLatency {
    /// The total of `by_view_method` when `config` makes each of its series a classic
    /// histogram over `histograms`' buckets without exemplars; otherwise a histogram of its own.
    pub(crate) fn new(
        config: &RecordingConfig,
        histograms: &LatencyHistograms,
        by_view_method: &LatencyByViewMethod,
    ) -> Self {
        let classic_everywhere = config.view_latency_buckets.is_empty()
            && config.native_histograms.is_none()
            && config.trace_id_source.is_none();
        if classic_everywhere {
            Self::Total(LatencyTotal {
                bounds: Arc::clone(&histograms.buckets),
                by_view_method: by_view_method.clone(),
            })
        } else {
            Self::Recorded(histograms.new_striped_metric())
        }
    }

    /// The histogram a request observes, `None` when the total is computed at scrape time.
    #[inline]
    pub(crate) fn recorded(&self) -> Option<&LatencyHistogram> {
        match self {
            Self::Total(_) => None,
            Self::Recorded(histogram) => Some(histogram),
        }
    }
}

impl TypedMetric for OverallLatency {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for OverallLatency {
    fn encode(&self, encoder: MetricEncoder<'_>) -> fmt::Result {
        match self {
            Self::Total(total) => total.total().encode(encoder),
            Self::Recorded(histogram) => histogram.encode(encoder),
        }
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::families::HttpFamilies;

    fn overall_latency(config: &RecordingConfig) -> OverallLatency {
        HttpFamilies::new(config).latency_including_middlewares
    }

    #[test]
    fn the_latency_histogram_is_derived_only_where_the_total_is_exact() {
        assert!(overall_latency(&RecordingConfig::default()).recorded().is_none());
        let per_view = RecordingConfig {
            view_latency_buckets: vec![("/a".to_owned(), vec![1.0])],
            ..RecordingConfig::default()
        };
        let native = RecordingConfig {
            native_histograms: Some(crate::NativeHistograms::classic_and_native()),
            ..RecordingConfig::default()
        };
        let exemplars = RecordingConfig {
            trace_id_source: Some(super::super::exemplars::TraceIdSource::Traceparent),
            ..RecordingConfig::default()
        };
        for config in [per_view, native, exemplars] {
            assert!(overall_latency(&config).recorded().is_some(), "{config:?}");
        }
    }

    #[test]
    fn status_totals_add_up_views_and_methods_status_by_status_in_status_order() {
        use crate::registry::labels::{LabelValue, ViewLabel};
        let family = ResponsesByStatusViewMethod::default();
        let totals = StatusTotals::of_responses(family.clone());
        assert!(totals.has_no_series() && totals.totals().is_empty());
        let series = |status: u16, view: &str, method: MethodLabel| StatusViewMethodLabels {
            status: StatusLabel::of(http::StatusCode::from_u16(status).unwrap(), false),
            view: ViewLabel::new(LabelValue::new(view)),
            method,
        };
        family
            .get_or_create_owned(&series(404, "/a", MethodLabel::Get))
            .inc_by(2);
        family
            .get_or_create_owned(&series(200, "/a", MethodLabel::Get))
            .inc_by(3);
        family
            .get_or_create_owned(&series(200, "/b", MethodLabel::Post))
            .inc_by(4);
        let totals: Vec<(u16, u64)> = totals
            .totals()
            .into_iter()
            .map(|(labels, total)| (labels.status.index() as u16, total))
            .collect();
        assert_eq!(totals, [(200, 7), (404, 2)]);
    }

    #[test]
    fn a_total_reads_its_counts_as_they_are_now() {
        let grid = RequestGrid::default();
        let total = Total::new(GridSideCounts::<ByMethod>::new(grid.clone()));
        let clone = total.clone();
        assert_eq!(total.get(), 0);
        grid.cell(MethodLabel::Get, Transport::Http).inc();
        let post = grid.cell(MethodLabel::Post, Transport::Https);
        post.inc();
        post.inc();
        assert_eq!(total.get(), 3);
        assert_eq!(clone.get(), 3, "clones share the grid");
    }
}
