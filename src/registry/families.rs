//! The one table of the HTTP metric families: each row declares a family's field, its
//! constructor, its name (django-prometheus's), help text, unit and kind. Registration, the
//! exposed names that `Metrics::register` reserves, and the encode order all read it.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::MetricConstructor;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Metric, Registry, Unit};

use super::derived::{
    ByMethod, ByTransport, GridSideCounts, LatencyByViewMethod, OverallLatency, RequestGrid, RequestTotals,
    ResponsesByStatusViewMethod, StatusCounts, StatusTotals, Total,
};
use super::exemplars::{LatencyHistogram, LatencyHistograms, RequestCounter, RequestCounters};
use super::labels::{
    CharsetLabels, OverflowLabels, TypeLabels, ViewLabels, ViewMethodLabels, ViewTransportMethodLabels,
};
use crate::primitives::atomic_histogram::AtomicHistogram;
use crate::primitives::snapshot_family::SnapshotFamily;
use crate::primitives::stripes::{MaybeStripedCounter, StripedCounter};

/// Builds histograms with the configured buckets.
#[derive(Clone, Debug)]
pub(crate) struct Buckets(pub(crate) std::sync::Arc<[f64]>);

impl MetricConstructor<AtomicHistogram> for Buckets {
    fn new_metric(&self) -> AtomicHistogram {
        AtomicHistogram::new(std::sync::Arc::clone(&self.0))
    }
}

/// The kind of a family, which decides the sample names it writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// One row of the table: a family's name, help text, unit and kind.
#[derive(Debug)]
pub(crate) struct FamilySpec {
    /// The registered name, without namespace, unit or `_total`.
    pub(crate) name: &'static str,
    /// The help text, without the trailing period the encoders add.
    pub(crate) help: &'static str,
    pub(crate) unit: Option<Unit>,
    pub(crate) kind: Kind,
}

impl FamilySpec {
    /// The family's name as exposed (without namespace): unit appended, `_total` for counters.
    pub(crate) fn exposed_name(&self) -> String {
        let mut name = self.name.to_owned();
        if let Some(unit) = &self.unit {
            name.push('_');
            name.push_str(unit.as_str());
        }
        if self.kind == Kind::Counter {
            name.push_str("_total");
        }
        name
    }
}

/// Receives each family of [`HttpFamilies::visit`] whose metric type is `M`.
pub(crate) trait FamilyVisitor<M> {
    fn visit(&mut self, spec: &'static FamilySpec, metric: &M);
}

/// What the per-family constructors are built from: the families another row derives from
/// are made here, so that both rows hold the same series.
struct Constructors {
    latency: LatencyHistograms,
    size: Buckets,
    exemplars: bool,
    requests: RequestGrid,
    responses_by_status_view_method: ResponsesByStatusViewMethod,
    latency_by_view_method: LatencyByViewMethod,
    overall_latency: OverallLatency,
}

/// Declares [`HttpFamilies`], the table [`FAMILIES`] and [`HttpFamilies::visit`] from one list,
/// in registration (and encode) order.
macro_rules! http_families {
    ($ctx:ident => $(
        $field:ident: $ty:ty = $init:expr,
        $name:literal, $unit:expr, $kind:ident,
        $help:literal;
    )+) => {
        /// Every family the layer records, registered once per [`crate::Metrics`].
        #[derive(Debug)]
        pub(crate) struct HttpFamilies {
            $(pub(crate) $field: $ty,)+
        }

        /// The HTTP families, in registration order.
        pub(crate) const FAMILIES: &[FamilySpec] = &[
            $(FamilySpec { name: $name, help: $help, unit: $unit, kind: Kind::$kind },)+
        ];

        /// A visitor of every family: one that can take each family's metric type.
        pub(crate) trait VisitEveryFamily: $(FamilyVisitor<$ty> +)+ {}

        impl<V: $(FamilyVisitor<$ty> +)+> VisitEveryFamily for V {}

        impl HttpFamilies {
            fn construct($ctx: &Constructors) -> Self {
                Self { $($field: $init,)+ }
            }

            /// Hands every family with its row of [`FAMILIES`] to `visitor`, in table order.
            pub(crate) fn visit(&self, visitor: &mut impl VisitEveryFamily) {
                let mut specs = FAMILIES.iter();
                $(
                    let spec = specs.next().expect("one row per family");
                    FamilyVisitor::<$ty>::visit(visitor, spec, &self.$field);
                )+
            }
        }
    };
}

http_families! { ctx =>
    requests_before_middlewares: Total<GridSideCounts<ByMethod>> =
        Total::new(GridSideCounts::new(ctx.requests.clone())),
        "http_requests_before_middlewares", None, Counter,
        "Total count of requests before middlewares run";
    responses_before_middlewares: Total<StatusCounts> =
        Total::new(StatusCounts(ctx.responses_by_status_view_method.clone())),
        "http_responses_before_middlewares", None, Counter,
        "Total count of responses before middlewares run";
    latency_including_middlewares: OverallLatency = ctx.overall_latency.clone(),
        "http_requests_latency_including_middlewares", Some(Unit::Seconds), Histogram,
        "Histogram of requests processing time (including middleware processing time)";
    unknown_latency_including_middlewares: Counter = Counter::default(),
        "http_requests_unknown_latency_including_middlewares", None, Counter,
        "Count of requests for which the latency was unknown (when computing http_requests_latency_including_middlewares_seconds)";
    latency_by_view_method: LatencyByViewMethod = ctx.latency_by_view_method.clone(),
        "http_requests_latency_seconds_by_view_method", None, Histogram,
        "Histogram of request processing time labelled by view";
    response_duration_by_view_method: SnapshotFamily<ViewMethodLabels, LatencyHistogram, LatencyHistograms> =
        SnapshotFamily::new_with_constructor(ctx.latency.clone()),
        "http_responses_duration_seconds_by_view_method", None, Histogram,
        "Histogram of the whole response's duration, from the request to the end of its body, labelled by view";
    unknown_latency: Counter = Counter::default(),
        "http_requests_unknown_latency", None, Counter,
        "Count of requests for which the latency was unknown";
    ajax_requests: StripedCounter = StripedCounter::default(),
        "http_ajax_requests", None, Counter,
        "Count of AJAX requests";
    requests_by_method: RequestTotals<ByMethod> = RequestTotals::of_grid(ctx.requests.clone()),
        "http_requests_total_by_method", None, Counter,
        "Count of requests by method";
    requests_by_transport: RequestTotals<ByTransport> = RequestTotals::of_grid(ctx.requests.clone()),
        "http_requests_total_by_transport", None, Counter,
        "Count of requests by transport";
    requests_by_view_transport_method: SnapshotFamily<ViewTransportMethodLabels, RequestCounter, RequestCounters> =
        SnapshotFamily::new_with_constructor(RequestCounters { exemplars: ctx.exemplars }),
        "http_requests_total_by_view_transport_method", None, Counter,
        "Count of requests by view, transport, method";
    request_body_bytes: AtomicHistogram = AtomicHistogram::new_striped(std::sync::Arc::clone(&ctx.size.0)),
        "http_requests_body_total", Some(Unit::Bytes), Histogram,
        "Histogram of requests by body size";
    responses_by_status: StatusTotals = StatusTotals::of_responses(ctx.responses_by_status_view_method.clone()),
        "http_responses_total_by_status", None, Counter,
        "Count of responses by status";
    responses_by_status_view_method: ResponsesByStatusViewMethod = ctx.responses_by_status_view_method.clone(),
        "http_responses_total_by_status_view_method", None, Counter,
        "Count of responses by status, view, method";
    response_body_bytes: AtomicHistogram = AtomicHistogram::new_striped(std::sync::Arc::clone(&ctx.size.0)),
        "http_responses_body_total", Some(Unit::Bytes), Histogram,
        "Histogram of responses by body size";
    responses_by_charset: SnapshotFamily<CharsetLabels, MaybeStripedCounter> = SnapshotFamily::default(),
        "http_responses_total_by_charset", None, Counter,
        "Count of responses by charset";
    responses_streaming: StripedCounter = StripedCounter::default(),
        "http_responses_streaming", None, Counter,
        "Count of streaming responses";
    exceptions_by_type: SnapshotFamily<TypeLabels, Counter> = SnapshotFamily::default(),
        "http_exceptions_total_by_type", None, Counter,
        "Count of exceptions by object type";
    exceptions_by_view: SnapshotFamily<ViewLabels, Counter> = SnapshotFamily::default(),
        "http_exceptions_total_by_view", None, Counter,
        "Count of exceptions by view";
    in_flight: SnapshotFamily<ViewMethodLabels, Gauge> = SnapshotFamily::default(),
        "http_requests_in_flight", None, Gauge,
        "Requests being processed, from the request until the end of its response body";
    cancelled: SnapshotFamily<ViewMethodLabels, Counter> = SnapshotFamily::default(),
        "http_requests_cancelled", None, Counter,
        "Requests whose response future or response body was dropped before the end";
    label_overflow: SnapshotFamily<OverflowLabels, Counter> = SnapshotFamily::default(),
        "http_metrics_label_overflow", None, Counter,
        "Observations whose label value was folded into <overflow> by the label-set cap or a request label's bound";
}

impl HttpFamilies {
    pub(crate) fn new(config: &super::config::RecordingConfig) -> Self {
        let exemplars = config.trace_id_source.is_some();
        let latency = LatencyHistograms {
            buckets: config.latency_buckets.as_slice().into(),
            native: config.native_histograms,
            exemplars,
        };
        let latency_by_view_method = SnapshotFamily::new_with_constructor(latency.clone());
        Self::construct(&Constructors {
            overall_latency: OverallLatency::new(config, &latency, &latency_by_view_method),
            latency,
            size: Buckets(config.size_buckets.as_slice().into()),
            exemplars,
            requests: RequestGrid::default(),
            responses_by_status_view_method: SnapshotFamily::default(),
            latency_by_view_method,
        })
    }

    /// Registers every family with prometheus-client, under the names of [`FAMILIES`].
    pub(crate) fn register(&self, registry: &mut Registry) {
        struct Register<'a>(&'a mut Registry);
        impl<M: Metric + Clone> FamilyVisitor<M> for Register<'_> {
            fn visit(&mut self, spec: &'static FamilySpec, metric: &M) {
                match &spec.unit {
                    Some(unit) => {
                        self.0
                            .register_with_unit(spec.name, spec.help, unit.clone(), metric.clone())
                    }
                    None => self.0.register(spec.name, spec.help, metric.clone()),
                }
            }
        }
        self.visit(&mut Register(registry));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_names_each_family_once() {
        let mut names: Vec<String> = FAMILIES.iter().map(FamilySpec::exposed_name).collect();
        assert_eq!(names.len(), 22);
        names.sort();
        names.dedup();
        assert_eq!(names.len(), FAMILIES.len());
        assert!(names.contains(&"http_requests_latency_including_middlewares_seconds".to_owned()));
        assert!(names.contains(&"http_requests_total_by_method_total".to_owned()));
        assert!(names.contains(&"http_requests_in_flight".to_owned()));
    }

    /// The metrics guide's first table lists the table's families, in its order, with their
    /// kind: adding a row here without documenting it fails.
    #[test]
    fn the_metrics_guide_lists_the_table_in_order() {
        let guide = include_str!("../docs/metrics.md");
        let documented: Vec<(String, String)> = guide
            .lines()
            .skip_while(|line| !line.starts_with("| `http_"))
            .take_while(|line| line.starts_with("| `"))
            .map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                (cells[1].trim_matches('`').to_owned(), cells[2].to_owned())
            })
            .collect();
        let table: Vec<(String, String)> = FAMILIES
            .iter()
            .map(|spec| (spec.exposed_name(), format!("{:?}", spec.kind).to_lowercase()))
            .collect();
        assert_eq!(documented, table);
    }
}
