//! The registry: [`Metrics`], its [`MetricsBuilder`], the HTTP (and gRPC) metric families, and
//! the rules that turn requests into label values.
//!
//! A [`Metrics`] owns one prometheus-client [`Registry`] holding the HTTP families, plus any
//! metric you register beside them. It is cheap to clone (an `Arc`), `Send + Sync`, and
//! independent of every other instance: two `Metrics` in one process never share series.

mod atomic_histogram;
mod builder;
mod config_error;
mod error;
pub(crate) mod exemplars;
mod families;
pub(crate) mod grpc;
pub(crate) mod labels;
pub(crate) mod names;
mod native_histograms;
pub(crate) mod prometheus_text;
pub(crate) mod recorder;
mod snapshot_family;
pub(crate) mod stripes;
pub(crate) mod view_arena;

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use prometheus_client::collector::Collector;
use prometheus_client::registry::{Metric, Registry, Unit};

#[cfg(feature = "server")]
pub(crate) use builder::check_path;
pub use builder::{
    MetricsBuilder, DEFAULT_LATENCY_BUCKETS, DEFAULT_MAX_LABEL_SETS, DEFAULT_METRICS_PATH,
    DEFAULT_SIZE_BUCKETS,
};
pub use config_error::ConfigError;
pub use error::RegistrationError;
pub use labels::{ViewName, INVALID_METHOD, NO_CHARSET, OVERFLOW, PANIC_TYPE, UNNAMED_VIEW};
pub use native_histograms::NativeHistograms;

use crate::exposition::self_metrics::ScrapeMetrics;
use crate::exposition::EncodeErrorPolicy;
use exemplars::TraceIdSource;
use families::{HttpFamilies, EXPOSED_NAMES};
use recorder::Recorder;

/// The HTTP metrics of one service: the registry, the families, and the configuration.
///
/// Create one with [`Metrics::new`] or [`Metrics::builder`], then hand [`Metrics::layer`] to
/// your router. See the [crate documentation](crate) for a complete example.
///
/// ```
/// let metrics = tower_prometheus::Metrics::new();
/// let layer = metrics.layer();
/// # let _ = layer;
/// ```
#[derive(Clone)]
pub struct Metrics {
    pub(crate) shared: Arc<Shared>,
}

/// What every clone of a [`Metrics`], its layers and services share.
pub(crate) struct Shared {
    pub(crate) registry: RwLock<Registry>,
    pub(crate) recorder: Recorder,
    pub(crate) config: Config,
    custom_names: Mutex<Vec<String>>,
    /// One registry per custom registration, encoded after ours, so that a failing metric
    /// or collector can be left out on its own (see `EncodeErrorPolicy`).
    pub(crate) custom_parts: RwLock<Vec<Registry>>,
    /// The namespace and constant labels every custom part is created with.
    part_prefix: Option<String>,
    part_labels: Vec<(Cow<'static, str>, Cow<'static, str>)>,
    pub(crate) scrape_metrics: ScrapeMetrics,
    pub(crate) grpc: grpc::GrpcMetrics,
}

#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) namespace: Option<String>,
    pub(crate) latency_buckets: Vec<f64>,
    pub(crate) size_buckets: Vec<f64>,
    pub(crate) metrics_path: Option<String>,
    pub(crate) excluded_paths: Vec<String>,
    pub(crate) group_status_codes: bool,
    pub(crate) view_resolver: Option<ViewResolver>,
    pub(crate) forwarded_proto_header: Option<http::HeaderName>,
    pub(crate) max_label_sets: usize,
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    pub(crate) process_metrics: bool,
    pub(crate) native_histograms: Option<NativeHistograms>,
    pub(crate) trace_id_source: Option<TraceIdSource>,
    pub(crate) encode_error_policy: EncodeErrorPolicy,
    pub(crate) metrics_bearer_token: Option<crate::exposition::auth::BearerToken>,
}

type ResolveView = dyn Fn(&http::request::Parts) -> Option<ViewName> + Send + Sync;

/// The builder's view resolver closure.
#[derive(Clone)]
pub(crate) struct ViewResolver(pub(crate) Arc<ResolveView>);

impl fmt::Debug for ViewResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ViewResolver(..)")
    }
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Metrics with every default: no namespace, django's buckets, served at `/metrics`.
    ///
    /// ```
    /// let metrics = tower_prometheus::Metrics::new();
    /// assert_eq!(metrics.metrics_path(), Some("/metrics"));
    /// ```
    #[must_use]
    pub fn new() -> Self {
        MetricsBuilder::new()
            .build()
            .expect("the default configuration is valid")
    }

    /// A builder for every option.
    ///
    /// ```
    /// let metrics = tower_prometheus::Metrics::builder().namespace("shop").build().unwrap();
    /// # let _ = metrics;
    /// ```
    pub fn builder() -> MetricsBuilder {
        MetricsBuilder::new()
    }

    pub(crate) fn from_config(config: Config, const_labels: Vec<(String, String)>) -> Self {
        let part_labels: Vec<(Cow<'static, str>, Cow<'static, str>)> = const_labels
            .into_iter()
            .map(|(name, value)| (Cow::Owned(name), Cow::Owned(value)))
            .collect();
        let part_prefix = config.namespace.clone();
        let mut registry = new_part(&part_prefix, &part_labels);
        let families = HttpFamilies::new(&config);
        families.register(&mut registry);
        let grpc = grpc::GrpcMetrics::new(config.max_label_sets);
        let scrape_metrics = ScrapeMetrics::new();
        register_after_http_families(&mut registry, &grpc, &scrape_metrics);
        #[cfg_attr(not(feature = "process"), allow(unused_mut))]
        let mut custom_parts = Vec::new();
        // The standard `process_*` names keep no namespace: a part with the labels only.
        #[cfg(feature = "process")]
        if config.process_metrics {
            let mut process = new_part(&None, &part_labels);
            process.register_collector(Box::new(crate::process::ProcessCollector::new()));
            custom_parts.push(process);
        }
        let recorder = Recorder::new(families, config.max_label_sets);
        Self {
            shared: Arc::new(Shared {
                registry: RwLock::new(registry),
                recorder,
                config,
                custom_names: Mutex::new(Vec::new()),
                custom_parts: RwLock::new(custom_parts),
                part_prefix,
                part_labels,
                scrape_metrics,
                grpc,
            }),
        }
    }

    /// The path the layer serves the exposition on, `None` when disabled.
    ///
    /// ```
    /// assert_eq!(tower_prometheus::Metrics::new().metrics_path(), Some("/metrics"));
    /// ```
    #[must_use]
    pub fn metrics_path(&self) -> Option<&str> {
        self.shared.config.metrics_path.as_deref()
    }

    /// Registers your own metric beside the HTTP families, under the same namespace and
    /// constant labels; it appears in every exposition.
    ///
    /// As with prometheus-client, give counters their name without `_total`. A name that
    /// would collide with one of ours or with an earlier registration is refused.
    ///
    /// ```
    /// use prometheus_client::metrics::counter::Counter;
    ///
    /// let metrics = tower_prometheus::Metrics::new();
    /// let orders: Counter = Counter::default();
    /// metrics.register("orders_placed", "Orders placed", orders.clone()).unwrap();
    /// orders.inc();
    /// let text = metrics.render(tower_prometheus::Format::PrometheusText).unwrap();
    /// assert!(text.contains("orders_placed_total 1"));
    ///
    /// let clash: Counter = Counter::default();
    /// assert!(metrics.register("http_ajax_requests", "clash", clash).is_err());
    /// ```
    pub fn register(
        &self,
        name: impl Into<String>,
        help: impl Into<String>,
        metric: impl Metric,
    ) -> Result<(), RegistrationError> {
        let name = name.into();
        self.claim_name(&name)?;
        let name = without_counter_suffix(name, &metric);
        self.add_part(|part| part.register(name, help.into(), metric));
        Ok(())
    }

    /// Registers your own metric with a unit, which the exposition appends to its name.
    ///
    /// ```
    /// use prometheus_client::metrics::gauge::Gauge;
    /// use prometheus_client::registry::Unit;
    ///
    /// let metrics = tower_prometheus::Metrics::new();
    /// let queue: Gauge = Gauge::default();
    /// metrics.register_with_unit("queue_size", "Bytes queued", Unit::Bytes, queue).unwrap();
    /// let text = metrics.render(tower_prometheus::Format::PrometheusText).unwrap();
    /// assert!(text.contains("queue_size_bytes 0"));
    /// ```
    pub fn register_with_unit(
        &self,
        name: impl Into<String>,
        help: impl Into<String>,
        unit: Unit,
        metric: impl Metric,
    ) -> Result<(), RegistrationError> {
        let name = without_counter_suffix(name.into(), &metric);
        self.claim_name(&format!("{name}_{}", unit.as_str()))?;
        self.add_part(|part| part.register_with_unit(name, help.into(), unit, metric));
        Ok(())
    }

    /// Registers a prometheus-client [`Collector`], called on every scrape. The names it
    /// emits are its own responsibility: they are not checked against ours.
    ///
    /// ```
    /// use prometheus_client::collector::Collector;
    /// use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
    /// use prometheus_client::metrics::gauge::ConstGauge;
    ///
    /// #[derive(Debug)]
    /// struct Answer;
    /// impl Collector for Answer {
    ///     fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
    ///         let gauge = ConstGauge::new(42);
    ///         let metric = encoder.encode_descriptor("answer", "The answer", None, gauge.metric_type())?;
    ///         gauge.encode(metric)
    ///     }
    /// }
    ///
    /// let metrics = tower_prometheus::Metrics::new();
    /// metrics.register_collector(Box::new(Answer));
    /// let text = metrics.render(tower_prometheus::Format::PrometheusText).unwrap();
    /// assert!(text.contains("answer 42"));
    /// ```
    pub fn register_collector(&self, collector: Box<dyn Collector>) {
        self.add_part(|part| part.register_collector(collector));
    }

    /// Registers into a registry of its own, under our namespace and constant labels.
    fn add_part(&self, register: impl FnOnce(&mut Registry)) {
        let mut part = new_part(&self.shared.part_prefix, &self.shared.part_labels);
        register(&mut part);
        self.shared.custom_parts.write().push(part);
    }

    /// Reserves an exposed name, refusing clashes with every name the exposition already
    /// holds (ours, the gRPC family, the scrape self-metrics, the `process_*` names when
    /// process metrics are on) and with earlier registrations.
    fn claim_name(&self, name: &str) -> Result<(), RegistrationError> {
        if names::metric_name_problem(name).is_some() {
            return Err(RegistrationError::InvalidName(name.to_owned()));
        }
        let exposed = self.prefixed(name);
        // A histogram `x` also exposes `x_bucket`, `x_count` and `x_sum` (and OpenMetrics
        // `x_created`): a metric named like one of those would duplicate its sample lines.
        const SAMPLE_SUFFIXES: [&str; 4] = ["_bucket", "_count", "_sum", "_created"];
        let bare = |n: &str| n.strip_suffix("_total").unwrap_or(n).to_owned();
        let mine = bare(&exposed);
        let clashes = |taken: &str| {
            let taken = bare(taken);
            taken == mine
                || SAMPLE_SUFFIXES.iter().any(|suffix| {
                    mine.strip_suffix(suffix) == Some(taken.as_str())
                        || taken.strip_suffix(suffix) == Some(mine.as_str())
                })
        };
        if EXPOSED_NAMES.iter().any(|ours| clashes(&self.prefixed(ours))) {
            return Err(RegistrationError::Reserved(name.to_owned()));
        }
        #[cfg(feature = "process")]
        if self.shared.config.process_metrics
            && crate::process::EXPOSED_NAMES.iter().any(|ours| clashes(ours))
        {
            return Err(RegistrationError::Reserved(name.to_owned()));
        }
        let mut custom = self.shared.custom_names.lock();
        if custom.iter().any(|taken| clashes(taken)) {
            return Err(RegistrationError::Duplicate(name.to_owned()));
        }
        custom.push(exposed);
        Ok(())
    }

    /// `name` as exposed, with the namespace in front.
    fn prefixed(&self, name: &str) -> String {
        match &self.shared.part_prefix {
            Some(prefix) => format!("{prefix}_{name}"),
            None => name.to_owned(),
        }
    }
}

/// An empty registry with the namespace and constant labels of a [`Metrics`].
/// What our part holds after the HTTP families, in registration order.
fn register_after_http_families(registry: &mut Registry, grpc: &grpc::GrpcMetrics, scrape: &ScrapeMetrics) {
    grpc.register(registry);
    scrape.register(registry);
}

impl Shared {
    /// Renders our part (the first one) in a text `dialect`: the HTTP families by the fast
    /// path, the rest of the part (gRPC, scrape self-metrics) by prometheus-client, from a
    /// registry holding that rest alike. `None` when a family needs prometheus-client
    /// (exemplars, native histograms): nothing is written then.
    pub(crate) fn render_http_families_text(
        &self,
        dialect: prometheus_text::Dialect,
        out: &mut String,
    ) -> Option<Registry> {
        let mark = out.len();
        let rendered = prometheus_text::render_http_families(
            &self.recorder.families,
            self.part_prefix.as_deref(),
            &self.part_labels,
            dialect,
            out,
        );
        if rendered.is_err() {
            out.truncate(mark);
            return None;
        }
        let mut rest = new_part(&self.part_prefix, &self.part_labels);
        register_after_http_families(&mut rest, &self.grpc, &self.scrape_metrics);
        Some(rest)
    }
}

fn new_part(prefix: &Option<String>, labels: &[(Cow<'static, str>, Cow<'static, str>)]) -> Registry {
    let labels = labels.iter().cloned();
    match prefix {
        Some(prefix) => Registry::with_prefix_and_labels(prefix.clone(), labels),
        None => Registry::with_labels(labels),
    }
}

/// prometheus-client appends `_total` to counters itself and, in debug builds, panics on a
/// counter name that already ends with it: a counter registered as `jobs_total` is exposed as
/// `jobs_total`, not refused and not `jobs_total_total`.
fn without_counter_suffix(name: String, metric: &impl Metric) -> String {
    if metric.metric_type() == prometheus_client::metrics::MetricType::Counter {
        if let Some(base) = name.strip_suffix("_total").filter(|base| !base.is_empty()) {
            return base.to_owned();
        }
    }
    name
}
