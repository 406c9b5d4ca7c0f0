//! The `metrics` crate's facade: a [`::metrics::Recorder`] whose counters, gauges and
//! histograms are exposed beside the HTTP families.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ::metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, SetRecorderError,
    SharedString, Unit,
};
use parking_lot::{Mutex, RwLock};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit as PromUnit;

use super::{sanitized_name, DroppedSamples, Interop, Reason, Source};
use crate::exposition::text::clean_help;
use crate::registry::names;
use crate::{ConfigError, Metrics};

/// Prometheus's own default buckets, the usual choice for a latency in seconds.
const DEFAULT_BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// A [`metrics::Recorder`](::metrics::Recorder) writing into a [`Metrics`]: what the `metrics`
/// crate's macros record is exposed on the same `/metrics`, in every format, under the
/// namespace and constant labels.
///
/// Histograms are classic Prometheus histograms; their buckets are chosen by name, then by
/// the longest matching prefix, then the default (Prometheus's default buckets unless set),
/// when a series is first recorded: the recorders of one `Metrics` share their series, and a
/// series keeps the buckets of the recorder that created it. A name first seen at record time that clashes with a name already exposed is not exposed:
/// its samples are counted in `http_metrics_dropped_samples_total{source="metrics"}`.
///
/// Every value keeps every format valid: a description (`describe_counter!` and the others,
/// which cannot fail) is cleaned, each control character (line feed, carriage return, NUL, …)
/// becoming a space and each backslash a `/`; a histogram value that would make the sum NaN
/// (a NaN, or `-inf` after `+inf`) is not recorded but counted in
/// `http_metrics_dropped_samples_total{source="metrics",reason="nan"}`; `±inf` is recorded
/// (in the first bucket or `+Inf`, and in the sum).
///
/// ```
/// use tower_prometheus::{Format, Metrics};
///
/// let metrics = Metrics::new();
/// let recorder = metrics.metrics_recorder().buckets_for_prefix("db_", [0.01, 0.1]).unwrap();
/// metrics::with_local_recorder(&recorder, || {
///     metrics::counter!("jobs_total", "queue" => "mail").increment(2);
///     metrics::histogram!("db_query_seconds").record(0.05);
/// });
/// let text = metrics.render(Format::PrometheusText).unwrap();
/// assert!(text.contains("jobs_total{queue=\"mail\"} 2"));
/// assert!(text.contains("db_query_seconds_bucket{le=\"0.1\"} 1"));
///
/// metrics::with_local_recorder(&recorder, || {
///     metrics::describe_gauge!("queue_depth", "Jobs waiting,\nper queue");
///     metrics::gauge!("queue_depth").set(1.0);
///     metrics::histogram!("db_query_seconds").record(f64::NAN);
/// });
/// let text = metrics.render(Format::OpenMetrics).unwrap();
/// assert!(text.contains("# HELP queue_depth Jobs waiting, per queue\n"));
/// assert!(text.contains("db_query_seconds_count 1\n"));
/// assert!(text.contains(r#"http_metrics_dropped_samples_total{source="metrics",reason="nan"} 1"#));
/// ```
#[derive(Clone)]
pub struct MetricsRecorder {
    metrics: Metrics,
    state: Arc<FacadeState>,
    dropped: Arc<DroppedSamples>,
    buckets: Arc<BucketChoice>,
}

impl fmt::Debug for MetricsRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsRecorder")
            .field("buckets", &self.buckets)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug)]
struct BucketChoice {
    default: Arc<[f64]>,
    by_name: Vec<(String, Arc<[f64]>)>,
    by_prefix: Vec<(String, Arc<[f64]>)>,
}

impl BucketChoice {
    fn for_name(&self, name: &str) -> Arc<[f64]> {
        if let Some((_, buckets)) = self.by_name.iter().find(|(taken, _)| taken == name) {
            return Arc::clone(buckets);
        }
        self.by_prefix
            .iter()
            .filter(|(prefix, _)| name.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map_or_else(|| Arc::clone(&self.default), |(_, buckets)| Arc::clone(buckets))
    }
}

impl Metrics {
    /// A [`MetricsRecorder`] exposing what the `metrics` crate records on this registry's
    /// exposition. Recorders of one `Metrics` share their metrics; install one globally with
    /// [`install_metrics_recorder`](Self::install_metrics_recorder) or
    /// [`MetricsRecorder::install`].
    ///
    /// ```
    /// use tower_prometheus::{Format, Metrics};
    ///
    /// let metrics = Metrics::builder().namespace("shop").build().unwrap();
    /// let recorder = metrics.metrics_recorder();
    /// metrics::with_local_recorder(&recorder, || metrics::gauge!("queue_depth").set(3.0));
    /// let text = metrics.render(Format::PrometheusText).unwrap();
    /// assert!(text.contains("shop_queue_depth 3"));
    /// ```
    #[must_use]
    pub fn metrics_recorder(&self) -> MetricsRecorder {
        let state = self.shared.interop().facade.get_or_init(|| {
            let state = Arc::new(FacadeState::default());
            let collector = FacadeCollector(Arc::clone(&state));
            self.add_part(|part| part.register_collector(Box::new(collector)));
            state
        });
        MetricsRecorder {
            metrics: self.clone(),
            state: Arc::clone(state),
            dropped: Interop::dropped(self, Source::Metrics),
            buckets: Arc::new(BucketChoice {
                default: Arc::from(DEFAULT_BUCKETS.as_slice()),
                by_name: Vec::new(),
                by_prefix: Vec::new(),
            }),
        }
    }

    /// Installs [`metrics_recorder`](Self::metrics_recorder) as the process's global
    /// `metrics` recorder, with the default buckets. Fails when a global recorder is already
    /// installed (the `metrics` crate allows one per process).
    ///
    /// ```
    /// use tower_prometheus::{Format, Metrics};
    ///
    /// let metrics = Metrics::new();
    /// metrics.install_metrics_recorder().unwrap();
    /// metrics::counter!("logins").increment(1);
    /// assert!(metrics.render(Format::PrometheusText).unwrap().contains("logins_total 1"));
    /// assert!(Metrics::new().install_metrics_recorder().is_err());
    /// ```
    pub fn install_metrics_recorder(&self) -> Result<(), SetRecorderError<MetricsRecorder>> {
        self.metrics_recorder().install()
    }
}

impl MetricsRecorder {
    /// Installs this recorder as the process's global `metrics` recorder.
    ///
    /// ```
    /// let metrics = tower_prometheus::Metrics::new();
    /// let recorder = metrics.metrics_recorder().default_buckets([2.5, 7.5]).unwrap();
    /// recorder.install().unwrap();
    /// metrics::histogram!("batch_size").record(4.0);
    /// let text = metrics.render(tower_prometheus::Format::PrometheusText).unwrap();
    /// assert!(text.contains("batch_size_bucket{le=\"7.5\"} 1"));
    /// ```
    pub fn install(self) -> Result<(), SetRecorderError<Self>> {
        ::metrics::set_global_recorder(self)
    }

    /// The buckets of every histogram that no name or prefix rule covers, checked as
    /// [`MetricsBuilder::latency_buckets`](crate::MetricsBuilder::latency_buckets) are.
    ///
    /// ```
    /// let metrics = tower_prometheus::Metrics::new();
    /// assert!(metrics.metrics_recorder().default_buckets([0.5, 1.0]).is_ok());
    /// let error = metrics.metrics_recorder().default_buckets([1.0, 0.5]).unwrap_err();
    /// assert_eq!(error.option(), "metrics_recorder.default_buckets");
    /// ```
    pub fn default_buckets(mut self, buckets: impl IntoIterator<Item = f64>) -> Result<Self, ConfigError> {
        let buckets = checked("metrics_recorder.default_buckets", buckets)?;
        Arc::make_mut(&mut self.buckets).default = buckets;
        Ok(self)
    }

    /// The buckets of the histogram recorded under exactly `name` (as recorded, before the
    /// namespace).
    ///
    /// ```
    /// let metrics = tower_prometheus::Metrics::new();
    /// let recorder = metrics.metrics_recorder().buckets_for_name("upload_bytes", [1e3, 1.5e3]).unwrap();
    /// metrics::with_local_recorder(&recorder, || metrics::histogram!("upload_bytes").record(1.2e3));
    /// let text = metrics.render(tower_prometheus::Format::PrometheusText).unwrap();
    /// assert!(text.contains("upload_bytes_bucket{le=\"1500\"} 1"));
    /// ```
    pub fn buckets_for_name(
        mut self,
        name: impl Into<String>,
        buckets: impl IntoIterator<Item = f64>,
    ) -> Result<Self, ConfigError> {
        let choice = bucket_choice(
            "metrics_recorder.buckets_for_name",
            &self.buckets.by_name,
            name.into(),
            buckets,
            "no histogram is named ``; give the name as recorded, such as `upload_bytes`",
        )?;
        Arc::make_mut(&mut self.buckets).by_name.push(choice);
        Ok(self)
    }

    /// The buckets of every histogram whose name starts with `prefix`; the longest matching
    /// prefix wins, an exact [`buckets_for_name`](Self::buckets_for_name) wins over any.
    ///
    /// ```
    /// let metrics = tower_prometheus::Metrics::new();
    /// let recorder = metrics.metrics_recorder().buckets_for_prefix("cache_", [0.001]).unwrap();
    /// metrics::with_local_recorder(&recorder, || metrics::histogram!("cache_get_seconds").record(0.0005));
    /// let text = metrics.render(tower_prometheus::Format::PrometheusText).unwrap();
    /// assert!(text.contains("cache_get_seconds_bucket{le=\"0.001\"} 1"));
    /// ```
    pub fn buckets_for_prefix(
        mut self,
        prefix: impl Into<String>,
        buckets: impl IntoIterator<Item = f64>,
    ) -> Result<Self, ConfigError> {
        let choice = bucket_choice(
            "metrics_recorder.buckets_for_prefix",
            &self.buckets.by_prefix,
            prefix.into(),
            buckets,
            "an empty prefix matches every histogram; use `default_buckets` for that",
        )?;
        Arc::make_mut(&mut self.buckets).by_prefix.push(choice);
        Ok(self)
    }

    fn register(&self, key: &Key, kind: FacadeKind) -> Option<Cell> {
        let labels = self.labels(key)?;
        let family = self.family(key.name(), kind)?;
        let mut series = family.series.lock();
        if let Some(cell) = series.get(&labels) {
            return Some(cell.clone());
        }
        let cell = match kind {
            FacadeKind::Counter => Cell::Counter(Arc::default()),
            FacadeKind::Gauge => Cell::Gauge(Arc::default()),
            FacadeKind::Histogram => Cell::Histogram(Arc::new(HistogramCell::new(
                self.buckets.for_name(key.name()),
                Arc::clone(&self.dropped),
            ))),
        };
        series.insert(labels, cell.clone());
        Some(cell)
    }

    /// The key's labels, sorted by name so that one label set is one series whatever the
    /// order it was recorded in; `None` when a label name would make the exposition invalid.
    fn labels(&self, key: &Key) -> Option<LabelSet> {
        let mut labels: LabelSet = key
            .labels()
            .map(|label| (label.key().to_owned(), label.value().to_owned()))
            .collect();
        labels.sort();
        let constant = self.metrics.shared.const_labels();
        let refused = |name: &str| {
            names::label_name_problem(name).is_some()
                || name == "le"
                || name == "quantile"
                || constant.iter().any(|(taken, _)| taken == name)
        };
        let repeated = labels.windows(2).any(|pair| pair[0].0 == pair[1].0);
        (!repeated && !labels.iter().any(|(name, _)| refused(name))).then_some(labels)
    }

    /// The family of `name`, created (and its exposed name claimed) on first sight; `None`
    /// when the name is refused or the family is of another kind.
    fn family(&self, name: &str, kind: FacadeKind) -> Option<Arc<FacadeFamily>> {
        let of_kind =
            |seen: &Option<Arc<FacadeFamily>>| seen.as_ref().filter(|family| family.kind == kind).cloned();
        if let Some(seen) = self.state.families.read().by_name.get(name) {
            return of_kind(seen);
        }
        let mut families = self.state.families.write();
        if let Some(seen) = families.by_name.get(name) {
            return of_kind(seen);
        }
        let described = self.state.descriptions.lock().get(name).cloned();
        let mut base = sanitized_name(name);
        if kind == FacadeKind::Counter {
            base = names::counter_base(&base).to_owned();
        }
        // The unit is exposed (OpenMetrics `# UNIT`) when the name already ends with it: a
        // name never changes with a description that may come after the first sample.
        let unit = described
            .and_then(|description| description.unit)
            .and_then(unit_suffix)
            .filter(|suffix| base.len() > suffix.len() + 1 && base.ends_with(&format!("_{suffix}")));
        if let Some(suffix) = unit {
            base.truncate(base.len() - suffix.len() - 1);
        }
        let mut exposed = base.clone();
        if let Some(suffix) = unit {
            exposed.push('_');
            exposed.push_str(suffix);
        }
        if kind == FacadeKind::Counter {
            exposed.push_str("_total");
        }
        if self
            .metrics
            .claim_exposed_names(&[self.metrics.prefixed(&exposed)])
            .is_err()
        {
            // Remembered: claims are never released, and a macro called on every record
            // registers every time.
            families.by_name.insert(name.to_owned(), None);
            return None;
        }
        let family = Arc::new(FacadeFamily {
            key_name: name.to_owned(),
            base,
            unit: unit.map(|suffix| PromUnit::Other(suffix.to_owned())),
            kind,
            series: Mutex::new(BTreeMap::new()),
        });
        families
            .by_name
            .insert(name.to_owned(), Some(Arc::clone(&family)));
        families.order.push(Arc::clone(&family));
        Some(family)
    }

    fn describe(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.state.descriptions.lock().insert(
            key.as_str().to_owned(),
            Description {
                help: clean_help(&description).into_owned(),
                unit,
            },
        );
    }

    fn dropped_handle(&self, reason: Reason) -> Arc<DroppedHandle> {
        Arc::new(DroppedHandle {
            dropped: Arc::clone(&self.dropped),
            reason,
        })
    }
}

/// A name or prefix with its buckets, refused when empty or already given: with two lists for
/// one key, which one applies would be an accident of lookup order.
fn bucket_choice(
    option: &'static str,
    taken: &[(String, Arc<[f64]>)],
    key: String,
    buckets: impl IntoIterator<Item = f64>,
    empty: &'static str,
) -> Result<(String, Arc<[f64]>), ConfigError> {
    let buckets = checked(option, buckets)?;
    if key.is_empty() {
        return Err(ConfigError::new(option, key, empty));
    }
    if taken.iter().any(|(earlier, _)| *earlier == key) {
        return Err(ConfigError::new(
            option,
            key,
            "these buckets are given twice; keep one list",
        ));
    }
    Ok((key, buckets))
}

fn checked(option: &'static str, buckets: impl IntoIterator<Item = f64>) -> Result<Arc<[f64]>, ConfigError> {
    let buckets: Vec<f64> = buckets.into_iter().collect();
    crate::builder::check_buckets(option, &buckets)?;
    Ok(Arc::from(buckets))
}

/// The name suffix of a unit, `None` for a plain count.
fn unit_suffix(unit: Unit) -> Option<&'static str> {
    Some(match unit {
        Unit::Count => return None,
        Unit::Percent => "percent",
        Unit::Seconds => "seconds",
        Unit::Milliseconds => "milliseconds",
        Unit::Microseconds => "microseconds",
        Unit::Nanoseconds => "nanoseconds",
        Unit::Tebibytes => "tebibytes",
        Unit::Gibibytes => "gibibytes",
        Unit::Mebibytes => "mebibytes",
        Unit::Kibibytes => "kibibytes",
        Unit::Bytes => "bytes",
        Unit::TerabitsPerSecond => "terabits_per_second",
        Unit::GigabitsPerSecond => "gigabits_per_second",
        Unit::MegabitsPerSecond => "megabits_per_second",
        Unit::KilobitsPerSecond => "kilobits_per_second",
        Unit::BitsPerSecond => "bits_per_second",
        Unit::CountPerSecond => "per_second",
    })
}

impl ::metrics::Recorder for MetricsRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(key, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(key, unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(key, unit, description);
    }

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        match self.register(key, FacadeKind::Counter) {
            Some(Cell::Counter(cell)) => Counter::from_arc(cell),
            _ => Counter::from_arc(self.dropped_handle(self.refusal(key))),
        }
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        match self.register(key, FacadeKind::Gauge) {
            Some(Cell::Gauge(cell)) => Gauge::from_arc(cell),
            _ => Gauge::from_arc(self.dropped_handle(self.refusal(key))),
        }
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        match self.register(key, FacadeKind::Histogram) {
            Some(Cell::Histogram(cell)) => Histogram::from_arc(cell),
            _ => Histogram::from_arc(self.dropped_handle(self.refusal(key))),
        }
    }
}

impl MetricsRecorder {
    /// Why `key` got no series: its labels, or else its name.
    fn refusal(&self, key: &Key) -> Reason {
        if self.labels(key).is_none() {
            Reason::InvalidLabel
        } else {
            Reason::NameClash
        }
    }
}

/// The handle of a refused series: every sample recorded through it is counted as dropped.
struct DroppedHandle {
    dropped: Arc<DroppedSamples>,
    reason: Reason,
}

impl CounterFn for DroppedHandle {
    fn increment(&self, _: u64) {
        self.dropped.add(Source::Metrics, self.reason, 1);
    }

    fn absolute(&self, _: u64) {
        self.dropped.add(Source::Metrics, self.reason, 1);
    }
}

impl GaugeFn for DroppedHandle {
    fn increment(&self, _: f64) {
        self.dropped.add(Source::Metrics, self.reason, 1);
    }

    fn decrement(&self, _: f64) {
        self.dropped.add(Source::Metrics, self.reason, 1);
    }

    fn set(&self, _: f64) {
        self.dropped.add(Source::Metrics, self.reason, 1);
    }
}

impl HistogramFn for DroppedHandle {
    fn record(&self, _: f64) {
        self.dropped.add(Source::Metrics, self.reason, 1);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FacadeKind {
    Counter,
    Gauge,
    Histogram,
}

#[derive(Clone, Debug)]
struct Description {
    help: String,
    unit: Option<Unit>,
}

/// Every family the facade recorded, in first-seen order, and the descriptions given.
#[derive(Default)]
pub(crate) struct FacadeState {
    families: RwLock<Families>,
    descriptions: Mutex<HashMap<String, Description>>,
}

#[derive(Default)]
struct Families {
    /// Every name seen, as recorded: its family, or `None` when its exposed name was refused.
    by_name: HashMap<String, Option<Arc<FacadeFamily>>>,
    /// The families in first-seen order, the exposition's.
    order: Vec<Arc<FacadeFamily>>,
}

struct FacadeFamily {
    /// The name as recorded, which the descriptions are keyed by.
    key_name: String,
    /// The exposed name without namespace, unit or `_total`: the encoder adds those.
    base: String,
    unit: Option<PromUnit>,
    kind: FacadeKind,
    series: Mutex<BTreeMap<LabelSet, Cell>>,
}

/// A series' labels, sorted by name; series are exposed in this order.
type LabelSet = Vec<(String, String)>;

#[derive(Clone)]
enum Cell {
    Counter(Arc<CounterCell>),
    Gauge(Arc<GaugeCell>),
    Histogram(Arc<HistogramCell>),
}

#[derive(Default)]
struct CounterCell(AtomicU64);

impl CounterFn for CounterCell {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Ordering::Relaxed);
    }

    fn absolute(&self, value: u64) {
        self.0.fetch_max(value, Ordering::Relaxed);
    }
}

/// An `f64` gauge, stored as its bits.
#[derive(Default)]
struct GaugeCell(AtomicU64);

impl GaugeCell {
    fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

fn add_f64(cell: &AtomicU64, delta: f64) {
    // A failed exchange only means another thread's update landed first: retry on it.
    let _ = cell.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
        Some((f64::from_bits(bits) + delta).to_bits())
    });
}

impl GaugeFn for GaugeCell {
    fn increment(&self, value: f64) {
        add_f64(&self.0, value);
    }

    fn decrement(&self, value: f64) {
        add_f64(&self.0, -value);
    }

    fn set(&self, value: f64) {
        self.0.store(value.to_bits(), Ordering::Relaxed);
    }
}

/// A classic histogram: one counter per bucket (the last one `+Inf`) and the sum.
struct HistogramCell {
    bounds: Arc<[f64]>,
    buckets: Box<[AtomicU64]>,
    sum: AtomicU64,
    dropped: Arc<DroppedSamples>,
}

impl HistogramCell {
    fn new(bounds: Arc<[f64]>, dropped: Arc<DroppedSamples>) -> Self {
        let buckets = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        Self {
            bounds,
            buckets,
            sum: AtomicU64::new(0f64.to_bits()),
            dropped,
        }
    }
}

impl HistogramFn for HistogramCell {
    /// Records `value`, unless it would make the sum NaN (a NaN, or an infinity opposite to
    /// an infinite sum): OpenMetrics forbids a NaN sum, and a strict parser rejects the whole
    /// scrape for one. Such a value is counted in `http_metrics_dropped_samples_total`
    /// instead. The sum is updated first, so that a dropped value leaves no bucket counted.
    fn record(&self, value: f64) {
        let summed = self
            .sum
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                let sum = f64::from_bits(bits) + value;
                (!sum.is_nan()).then_some(sum.to_bits())
            });
        if summed.is_err() {
            self.dropped.add(Source::Metrics, Reason::NotANumber, 1);
            return;
        }
        let bucket = self.bounds.partition_point(|bound| *bound < value);
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
    }
}

/// Encodes the facade's families on every scrape.
struct FacadeCollector(Arc<FacadeState>);

impl fmt::Debug for FacadeCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FacadeCollector").finish_non_exhaustive()
    }
}

impl Collector for FacadeCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), fmt::Error> {
        let families = self.0.families.read().order.clone();
        let descriptions = self.0.descriptions.lock().clone();
        let mut buckets: Vec<(f64, u64)> = Vec::new();
        for family in &families {
            let help = descriptions
                .get(&family.key_name)
                .map_or("", |description| description.help.as_str());
            let metric_type = match family.kind {
                FacadeKind::Counter => MetricType::Counter,
                FacadeKind::Gauge => MetricType::Gauge,
                FacadeKind::Histogram => MetricType::Histogram,
            };
            let mut descriptor =
                encoder.encode_descriptor(&family.base, help, family.unit.as_ref(), metric_type)?;
            let series = family.series.lock().clone();
            for (labels, cell) in &series {
                let mut metric = descriptor.encode_family(labels)?;
                match cell {
                    Cell::Counter(cell) => {
                        let value = cell.0.load(Ordering::Relaxed);
                        metric.encode_counter::<NoLabelSet, u64, u64>(&value, None)?;
                    }
                    Cell::Gauge(cell) => metric.encode_gauge(&cell.get())?,
                    Cell::Histogram(cell) => {
                        buckets.clear();
                        let upper_bounds = cell.bounds.iter().copied().chain([f64::INFINITY]);
                        buckets.extend(
                            upper_bounds.zip(cell.buckets.iter().map(|count| count.load(Ordering::Relaxed))),
                        );
                        // The count is the buckets' total, so that a scrape racing a record
                        // never shows a count its buckets do not add up to.
                        let count = buckets.iter().map(|(_, count)| count).sum();
                        let sum = f64::from_bits(cell.sum.load(Ordering::Relaxed));
                        metric.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)?;
                    }
                }
            }
        }
        Ok(())
    }
}
