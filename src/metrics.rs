//! [`Metrics`]: the handle users create once and clone, holding both sides of the crate — the
//! recording side ([`registry`](crate::registry)) and the exposition side
//! ([`exposition`](crate::exposition)) — and the prometheus-client registries they share.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock, RwLockReadGuard};
use prometheus_client::collector::Collector;
use prometheus_client::registry::{Metric, Registry, Unit};

use crate::builder::MetricsBuilder;
use crate::exposition::config::ExpositionConfig;
use crate::exposition::self_metrics::ScrapeMetrics;
use crate::registry::config::RecordingConfig;
use crate::registry::families::{HttpFamilies, FAMILIES};
use crate::registry::grpc::GrpcMetrics;
use crate::registry::names;
use crate::registry::otel::{Naming, OtelMetrics, OTEL_FAMILIES};
use crate::registry::recorder::Recorder;
use crate::registry::view_buckets::ViewBuckets;
use crate::RegistrationError;

/// The HTTP metrics of one service: the registry, the families, and the configuration.
///
/// Create one with [`Metrics::new`] or [`Metrics::builder`], then hand [`Metrics::layer`] to
/// your router. Create one `Metrics` per service and clone it wherever it is needed: clones
/// share everything, while two instances built separately share nothing (a metric registered
/// on one never shows on the other's `/metrics`). See the [crate documentation](crate) for a
/// complete example and the [guides](crate::guide) for the rest.
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
    recording: RecordingConfig,
    recorder: Recorder,
    grpc: GrpcMetrics,
    /// The OpenTelemetry profile's families, when it replaces django-prometheus's.
    otel: Option<OtelMetrics>,
    exposition: ExpositionConfig,
    scrape_metrics: ScrapeMetrics,
    /// The renderings of the exposition in progress, shared by concurrent scrapes.
    renders: crate::exposition::coalesce::Renders,
    #[cfg(feature = "process")]
    process_metrics: bool,
    /// Our part: the HTTP families, then the gRPC family and the scrape self-metrics.
    registry: RwLock<Registry>,
    /// One registry per custom registration, encoded after ours, so that a failing metric
    /// or collector can be left out on its own (see `EncodeErrorPolicy`).
    custom_parts: RwLock<Vec<Registry>>,
    custom_names: Mutex<Vec<String>>,
    /// The custom parts whose names can change after registration (another registry, a
    /// collector), by index in `custom_parts`: checked on every scrape.
    guarded_parts: Mutex<Vec<(usize, crate::interop::registry::PartGuard)>>,
    /// The namespace and constant labels every part is created with.
    part_prefix: Option<String>,
    part_labels: Vec<(Cow<'static, str>, Cow<'static, str>)>,
    /// The state of the other metric sources exposed beside ours.
    interop: crate::interop::Interop,
}

/// The options [`MetricsBuilder`] assembles: one set per side, and the naming both share.
#[derive(Clone, Debug, Default)]
pub(crate) struct Config {
    pub(crate) recording: RecordingConfig,
    pub(crate) exposition: ExpositionConfig,
    pub(crate) namespace: Option<String>,
    pub(crate) const_labels: Vec<(String, String)>,
    pub(crate) process_metrics: bool,
    pub(crate) naming: Naming,
    /// Whether `latency_buckets` was set, so that the OpenTelemetry profile uses the
    /// conventions' buckets otherwise.
    pub(crate) latency_buckets_set: bool,
}

impl Shared {
    pub(crate) fn recording_config(&self) -> &RecordingConfig {
        &self.recording
    }

    pub(crate) fn exposition_config(&self) -> &ExpositionConfig {
        &self.exposition
    }

    pub(crate) fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    #[cfg(all(test, feature = "axum"))]
    pub(crate) fn recorder_mut(&mut self) -> &mut Recorder {
        &mut self.recorder
    }

    pub(crate) fn grpc(&self) -> &GrpcMetrics {
        &self.grpc
    }

    /// The OpenTelemetry profile's families, `None` under [`Naming::Django`].
    #[inline]
    pub(crate) fn otel(&self) -> Option<&OtelMetrics> {
        self.otel.as_ref()
    }

    pub(crate) fn scrape_metrics(&self) -> &ScrapeMetrics {
        &self.scrape_metrics
    }

    pub(crate) fn renders(&self) -> &crate::exposition::coalesce::Renders {
        &self.renders
    }

    pub(crate) fn interop(&self) -> &crate::interop::Interop {
        &self.interop
    }

    /// Pushes a registry to encode as it is, after the parts registered before it.
    #[cfg_attr(not(feature = "prometheus"), allow(dead_code))]
    pub(crate) fn push_part(&self, part: Registry) {
        self.custom_parts.write().push(part);
    }

    /// Pushes a registry whose names `guard` checks on every scrape
    /// ([`Self::leave_out_duplicates`]).
    pub(crate) fn push_guarded_part(&self, part: Registry, guard: crate::interop::registry::PartGuard) {
        let mut parts = self.custom_parts.write();
        self.guarded_parts.lock().push((parts.len(), guard));
        parts.push(part);
    }

    /// Leaves out of the text `output[mark..]`, custom part `index` encoded, every family
    /// whose name clashes with a name exposed by another part (see
    /// [`crate::interop::registry`]). Parts whose names are all claimed at registration pass
    /// untouched.
    pub(crate) fn leave_out_duplicates(&self, index: usize, output: &mut String, mark: usize) {
        let guards = self.guarded_parts.lock();
        if let Some((_, guard)) = guards.iter().find(|(part, _)| *part == index) {
            guard.filter_text(self, output, mark);
        }
    }

    /// [`Self::leave_out_duplicates`] for a part's Prometheus protobuf messages.
    #[cfg(feature = "protobuf")]
    pub(crate) fn leave_out_duplicate_messages(&self, index: usize, encoded: Vec<u8>) -> Vec<u8> {
        let guards = self.guarded_parts.lock();
        match guards.iter().find(|(part, _)| *part == index) {
            Some((_, guard)) => guard.filter_protobuf(self, encoded),
            None => encoded,
        }
    }

    /// Reserves exposed names (namespace included) all at once or none of them, under the
    /// rules of [`Metrics::claim_name`]; names clashing with each other are refused
    /// too. The error names the exposed name.
    pub(crate) fn claim_exposed_names(&self, exposed: &[String]) -> Result<(), RegistrationError> {
        let clash = names_clash;
        let ours: Vec<String> = FAMILIES
            .iter()
            .chain([&crate::registry::grpc::GRPC_FAMILY])
            .chain(OTEL_FAMILIES)
            .chain(ScrapeMetrics::FAMILIES)
            .chain(crate::interop::RESERVED_FAMILIES)
            .map(|family| self.prefixed(&family.exposed_name()))
            .collect();
        let mut custom = self.custom_names.lock();
        for (index, mine) in exposed.iter().enumerate() {
            if ours.iter().any(|ours| clash(mine, ours)) {
                return Err(RegistrationError::Reserved(mine.clone()));
            }
            #[cfg(feature = "process")]
            if self.process_metrics && crate::process::EXPOSED_NAMES.iter().any(|ours| clash(mine, ours)) {
                return Err(RegistrationError::Reserved(mine.clone()));
            }
            if custom
                .iter()
                .chain(&exposed[..index])
                .any(|taken| clash(mine, taken))
            {
                return Err(RegistrationError::Duplicate(mine.clone()));
            }
        }
        custom.extend(exposed.iter().cloned());
        Ok(())
    }

    /// `name` as exposed, with the namespace in front.
    pub(crate) fn prefixed(&self, name: &str) -> String {
        match &self.part_prefix {
            Some(prefix) => format!("{prefix}_{name}"),
            None => name.to_owned(),
        }
    }

    /// Our part, then every custom part, in encode order, read-locked for one scrape.
    pub(crate) fn parts(&self) -> (RwLockReadGuard<'_, Registry>, RwLockReadGuard<'_, Vec<Registry>>) {
        (self.registry.read(), self.custom_parts.read())
    }

    /// The namespace every part's names start with.
    pub(crate) fn prefix(&self) -> Option<&str> {
        self.part_prefix.as_deref()
    }

    /// The constant labels of every part.
    pub(crate) fn const_labels(&self) -> &[(Cow<'static, str>, Cow<'static, str>)] {
        &self.part_labels
    }

    /// A registry holding what our part holds after the HTTP families (the gRPC family and the
    /// scrape self-metrics), for an encoder that writes the HTTP families itself.
    pub(crate) fn part_after_http_families(&self) -> Registry {
        let mut rest = new_part(&self.part_prefix, &self.part_labels);
        register_after_http_families(&mut rest, &self.grpc, &self.scrape_metrics);
        rest
    }
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics")
            .field("recording", &self.shared.recording)
            .field("exposition", &self.shared.exposition)
            .field("namespace", &self.shared.part_prefix)
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

    pub(crate) fn from_config(config: Config) -> Self {
        let part_labels: Vec<(Cow<'static, str>, Cow<'static, str>)> = config
            .const_labels
            .into_iter()
            .map(|(name, value)| (Cow::Owned(name), Cow::Owned(value)))
            .collect();
        let part_prefix = config.namespace;
        let recording = config.recording;
        let mut registry = new_part(&part_prefix, &part_labels);
        let families = HttpFamilies::new(&recording);
        let otel = match config.naming {
            Naming::Django => {
                families.register(&mut registry);
                None
            }
            Naming::OpenTelemetry => {
                let duration_buckets = config
                    .latency_buckets_set
                    .then_some(&recording.latency_buckets[..]);
                let otel = OtelMetrics::new(
                    duration_buckets,
                    &recording.size_buckets,
                    recording.max_label_sets,
                );
                otel.register(&mut registry);
                crate::registry::otel::register_label_overflow(&families, &mut registry);
                Some(otel)
            }
        };
        let grpc = GrpcMetrics::new(recording.max_label_sets);
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
        let recorder = Recorder::new(
            families,
            recording.max_label_sets,
            ViewBuckets::new(&recording),
            &recording.request_labels,
        );
        Self {
            shared: Arc::new(Shared {
                recording,
                recorder,
                grpc,
                otel,
                exposition: config.exposition,
                scrape_metrics,
                renders: Default::default(),
                #[cfg(feature = "process")]
                process_metrics: config.process_metrics,
                registry: RwLock::new(registry),
                custom_parts: RwLock::new(custom_parts),
                custom_names: Mutex::new(Vec::new()),
                guarded_parts: Mutex::new(Vec::new()),
                part_prefix,
                part_labels,
                interop: crate::interop::Interop::default(),
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
        self.shared.exposition.metrics_path.as_deref()
    }

    /// The views of [`latency_buckets_for_view`](MetricsBuilder::latency_buckets_for_view)
    /// rules that no request has been recorded under yet, in the order given. A view that
    /// stays here after real traffic is most likely misspelt, or not the route template the
    /// view label carries (`/users/{id}`, not `/users/7`). The crate has no logging
    /// dependency, so it reports this here rather than in a log line: check it in a test, or
    /// from a debug endpoint.
    ///
    /// ```
    /// use http::{Request, Response};
    /// use tower::{ServiceBuilder, ServiceExt};
    /// use tower_prometheus::{Metrics, ViewName};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let metrics = Metrics::builder()
    ///     .latency_buckets_for_view("/upload", [1.0, 10.0, 60.0])
    ///     .latency_buckets_for_view("/uplaod", [1.0, 10.0, 60.0])
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(metrics.unmatched_bucket_views(), ["/upload", "/uplaod"]);
    ///
    /// let app = ServiceBuilder::new().layer(metrics.layer()).service_fn(|_: Request<String>| async {
    ///     let mut response = Response::new(String::new());
    ///     response.extensions_mut().insert(ViewName::new("/upload"));
    ///     Ok::<_, std::convert::Infallible>(response)
    /// });
    /// app.oneshot(Request::post("/upload").body(String::new()).unwrap()).await.unwrap();
    /// assert_eq!(metrics.unmatched_bucket_views(), ["/uplaod"], "the typo never matches");
    /// # }
    /// ```
    #[must_use]
    pub fn unmatched_bucket_views(&self) -> Vec<String> {
        self.shared.recorder.view_buckets().unmatched()
    }

    /// Registers your own metric beside the HTTP families, under the same namespace and
    /// constant labels; it appears in every exposition.
    ///
    /// As with prometheus-client, give counters their name without `_total`. A name that
    /// would collide with one of ours or with an earlier registration is refused, and so is a
    /// help text that is not one line of printable text without backslashes
    /// ([`RegistrationError::InvalidHelp`]): not every format could write it unchanged.
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
        let (name, help) = (name.into(), help.into());
        // Refused before anything is claimed.
        check_help(&name, &help)?;
        let registered = registered_name(name.clone(), &metric)?;
        self.claim_name(&name)?;
        let name = registered;
        self.add_part(|part| part.register(name, help, metric));
        crate::interop::Interop::dropped(self, crate::interop::Source::PrometheusClient);
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
        let (name, help) = (name.into(), help.into());
        check_help(&name, &help)?;
        let name = registered_name(name, &metric)?;
        self.claim_name(&format!("{name}_{}", unit.as_str()))?;
        self.add_part(|part| part.register_with_unit(name, help, unit, metric));
        crate::interop::Interop::dropped(self, crate::interop::Source::PrometheusClient);
        Ok(())
    }

    /// Registers a prometheus-client [`Collector`], called on every scrape, under our
    /// namespace and constant labels.
    ///
    /// The collector is asked once now: the names it emits then are claimed as
    /// [`register`](Self::register) claims one, all or none, and a clash with ours or another
    /// source's is refused. A name it first emits on a later scrape is claimed then; a family
    /// whose name clashes then is left out of the exposition and its samples counted in
    /// `http_metrics_dropped_samples_total{source="prometheus_client",reason="name_clash"}`,
    /// so no name is ever exposed twice. A help text that [`register`](Self::register) would
    /// refuse refuses the collector ([`RegistrationError::InvalidHelp`]).
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
    /// metrics.register_collector(Box::new(Answer)).unwrap();
    /// let text = metrics.render(tower_prometheus::Format::PrometheusText).unwrap();
    /// assert!(text.contains("answer 42"));
    ///
    /// // The same name again is refused.
    /// assert!(metrics.register_collector(Box::new(Answer)).is_err());
    /// ```
    pub fn register_collector(&self, collector: Box<dyn Collector>) -> Result<(), RegistrationError> {
        let mut part = new_part(&self.shared.part_prefix, &self.shared.part_labels);
        part.register_collector(collector);
        if let Some(refused) = crate::interop::help_refusal(&part) {
            return Err(refused);
        }
        let claimed = self.claim_registry_names(&part)?;
        let guard = crate::interop::registry::PartGuard::new(
            claimed,
            crate::interop::Interop::dropped(self, crate::interop::Source::PrometheusClient),
        );
        self.shared.push_guarded_part(part, guard);
        Ok(())
    }

    /// Registers into a registry of its own, under our namespace and constant labels.
    pub(crate) fn add_part(&self, register: impl FnOnce(&mut Registry)) {
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
        self.claim_exposed_names(&[self.prefixed(name)])
            .map_err(|error| error.renamed(name))
    }

    /// Reserves exposed names (namespace included) all at once or none of them, under the
    /// rules of [`claim_name`](Self::claim_name); names clashing with each other are refused
    /// too. The error names the exposed name.
    pub(crate) fn claim_exposed_names(&self, exposed: &[String]) -> Result<(), RegistrationError> {
        self.shared.claim_exposed_names(exposed)
    }

    /// `name` as exposed, with the namespace in front.
    pub(crate) fn prefixed(&self, name: &str) -> String {
        self.shared.prefixed(name)
    }
}

/// Whether two exposed names would put the same sample name in an exposition: equal once
/// `_total` is removed, or one a histogram's (or summary's) sample name of the other (a
/// histogram `x` also exposes `x_bucket`, `x_count` and `x_sum`, and OpenMetrics `x_created`).
pub(crate) fn names_clash(mine: &str, taken: &str) -> bool {
    const SAMPLE_SUFFIXES: [&str; 4] = ["_bucket", "_count", "_sum", "_created"];
    let bare = |n: &str| n.strip_suffix("_total").unwrap_or(n).to_owned();
    let (mine, taken) = (bare(mine), bare(taken));
    taken == mine
        || SAMPLE_SUFFIXES.iter().any(|suffix| {
            mine.strip_suffix(suffix) == Some(taken.as_str())
                || taken.strip_suffix(suffix) == Some(mine.as_str())
        })
}

/// An empty registry with the namespace and constant labels of a [`Metrics`].
/// What our part holds after the HTTP families, in registration order.
fn register_after_http_families(registry: &mut Registry, grpc: &GrpcMetrics, scrape: &ScrapeMetrics) {
    grpc.register(registry);
    scrape.register(registry);
}

/// A registry holding `collector` only, without our namespace or constant labels.
#[cfg_attr(not(feature = "prometheus"), allow(dead_code))]
pub(crate) fn bare_part(collector: impl Collector + 'static) -> Registry {
    let mut part = Registry::default();
    part.register_collector(Box::new(collector));
    part
}

fn new_part(prefix: &Option<String>, labels: &[(Cow<'static, str>, Cow<'static, str>)]) -> Registry {
    let labels = labels.iter().cloned();
    match prefix {
        Some(prefix) => Registry::with_prefix_and_labels(prefix.clone(), labels),
        None => Registry::with_labels(labels),
    }
}

/// Refuses a help text that some format cannot write unchanged (see
/// [`RegistrationError::InvalidHelp`]).
fn check_help(name: &str, help: &str) -> Result<(), RegistrationError> {
    match crate::exposition::text::help_problem(help) {
        Some((byte, character)) => Err(RegistrationError::InvalidHelp {
            name: name.to_owned(),
            byte,
            character,
        }),
        None => Ok(()),
    }
}

/// The name `metric` is registered under. prometheus-client appends `_total` to counters
/// itself and, in debug builds, panics on a counter name that already ends with it: a counter
/// registered as `jobs_total` is registered as `jobs` and exposed as `jobs_total`. A counter
/// name that still ends in `_total` once that is removed (`_total` alone, `jobs_total_total`)
/// is refused, as prometheus-client cannot register it.
fn registered_name(name: String, metric: &impl Metric) -> Result<String, RegistrationError> {
    if metric.metric_type() != prometheus_client::metrics::MetricType::Counter {
        return Ok(name);
    }
    let base = names::counter_base(&name);
    if base.ends_with("_total") {
        return Err(RegistrationError::CounterName(name));
    }
    Ok(base.to_owned())
}
