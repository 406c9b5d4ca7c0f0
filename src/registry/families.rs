//! The HTTP metric families and their registration under django-prometheus's names.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::MetricConstructor;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Metric, Registry, Unit};

use crate::primitives::atomic_histogram::AtomicHistogram;
use super::exemplars::{LatencyHistogram, LatencyHistograms, RequestCounter, RequestCounters};
use super::labels::{
    CharsetLabels, MethodLabels, OverflowLabels, StatusLabels, StatusViewMethodLabels, TransportLabels,
    TypeLabels, ViewLabels, ViewMethodLabels, ViewTransportMethodLabels,
};
use super::prometheus_text::TextMetric;
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

/// What every family of ours is: registrable with prometheus-client, and renderable by the
/// text fast path (both text formats).
pub(crate) trait HttpMetric: Metric + TextMetric + Clone {}

impl<M: Metric + TextMetric + Clone> HttpMetric for M {}

/// Receives every family of [`HttpFamilies::visit`].
pub(crate) trait FamilyVisitor {
    fn visit<M: HttpMetric>(
        &mut self,
        name: &'static str,
        help: &'static str,
        unit: Option<Unit>,
        metric: &M,
    );
}

/// Every family the layer records, registered once per [`crate::Metrics`].
#[derive(Debug)]
pub(crate) struct HttpFamilies {
    pub(crate) requests_before_middlewares: StripedCounter,
    pub(crate) responses_before_middlewares: StripedCounter,
    pub(crate) latency_including_middlewares: LatencyHistogram,
    pub(crate) unknown_latency_including_middlewares: Counter,
    pub(crate) latency_by_view_method: SnapshotFamily<ViewMethodLabels, LatencyHistogram, LatencyHistograms>,
    pub(crate) unknown_latency: Counter,
    pub(crate) ajax_requests: StripedCounter,
    pub(crate) requests_by_method: SnapshotFamily<MethodLabels, StripedCounter>,
    pub(crate) requests_by_transport: SnapshotFamily<TransportLabels, StripedCounter>,
    pub(crate) requests_by_view_transport_method:
        SnapshotFamily<ViewTransportMethodLabels, RequestCounter, RequestCounters>,
    pub(crate) request_body_bytes: AtomicHistogram,
    pub(crate) responses_by_status: SnapshotFamily<StatusLabels, StripedCounter>,
    pub(crate) responses_by_status_view_method: SnapshotFamily<StatusViewMethodLabels, Counter>,
    pub(crate) response_body_bytes: AtomicHistogram,
    pub(crate) responses_by_charset: SnapshotFamily<CharsetLabels, MaybeStripedCounter>,
    pub(crate) responses_streaming: StripedCounter,
    pub(crate) exceptions_by_type: SnapshotFamily<TypeLabels, Counter>,
    pub(crate) exceptions_by_view: SnapshotFamily<ViewLabels, Counter>,
    pub(crate) in_flight: SnapshotFamily<ViewMethodLabels, Gauge>,
    pub(crate) cancelled: SnapshotFamily<ViewMethodLabels, Counter>,
    pub(crate) label_overflow: SnapshotFamily<OverflowLabels, Counter>,
}

/// The exposed base names (without namespace, with the suffixes the encoders add), in
/// registration order. Used to refuse custom metrics that would collide with ours.
pub(crate) const EXPOSED_NAMES: &[&str] = &[
    "http_requests_before_middlewares_total",
    "http_responses_before_middlewares_total",
    "http_requests_latency_including_middlewares_seconds",
    "http_requests_unknown_latency_including_middlewares_total",
    "http_requests_latency_seconds_by_view_method",
    "http_requests_unknown_latency_total",
    "http_ajax_requests_total",
    "http_requests_total_by_method_total",
    "http_requests_total_by_transport_total",
    "http_requests_total_by_view_transport_method_total",
    "http_requests_body_total_bytes",
    "http_responses_total_by_status_total",
    "http_responses_total_by_status_view_method_total",
    "http_responses_body_total_bytes",
    "http_responses_total_by_charset_total",
    "http_responses_streaming_total",
    "http_exceptions_total_by_type_total",
    "http_exceptions_total_by_view_total",
    "http_requests_in_flight",
    "http_requests_cancelled_total",
    "http_metrics_label_overflow_total",
    super::grpc::GRPC_EXPOSED_NAME,
    // The scrape self-metrics (crate::exposition::self_metrics).
    "http_metrics_scrapes_total",
    "http_metrics_encode_duration_seconds",
    "http_metrics_response_bytes",
    "http_metrics_encode_errors_total",
];

impl HttpFamilies {
    pub(crate) fn new(config: &super::Config) -> Self {
        let latency = LatencyHistograms {
            buckets: config.latency_buckets.as_slice().into(),
            native: config.native_histograms,
            exemplars: config.trace_id_source.is_some(),
        };
        let size = Buckets(config.size_buckets.as_slice().into());
        Self {
            requests_before_middlewares: StripedCounter::default(),
            responses_before_middlewares: StripedCounter::default(),
            latency_including_middlewares: latency.new_striped_metric(),
            unknown_latency_including_middlewares: Counter::default(),
            latency_by_view_method: SnapshotFamily::new_with_constructor(latency),
            unknown_latency: Counter::default(),
            ajax_requests: StripedCounter::default(),
            requests_by_method: SnapshotFamily::default(),
            requests_by_transport: SnapshotFamily::default(),
            requests_by_view_transport_method: SnapshotFamily::new_with_constructor(RequestCounters {
                exemplars: config.trace_id_source.is_some(),
            }),
            request_body_bytes: AtomicHistogram::new_striped(std::sync::Arc::clone(&size.0)),
            responses_by_status: SnapshotFamily::default(),
            responses_by_status_view_method: SnapshotFamily::default(),
            response_body_bytes: AtomicHistogram::new_striped(std::sync::Arc::clone(&size.0)),
            responses_by_charset: SnapshotFamily::default(),
            responses_streaming: StripedCounter::default(),
            exceptions_by_type: SnapshotFamily::default(),
            exceptions_by_view: SnapshotFamily::default(),
            in_flight: SnapshotFamily::default(),
            cancelled: SnapshotFamily::default(),
            label_overflow: SnapshotFamily::default(),
        }
    }

    /// Registers every family; help texts carry no trailing period (the encoder adds one).
    pub(crate) fn register(&self, registry: &mut Registry) {
        struct Register<'a>(&'a mut Registry);
        impl FamilyVisitor for Register<'_> {
            fn visit<M: HttpMetric>(
                &mut self,
                name: &'static str,
                help: &'static str,
                unit: Option<Unit>,
                metric: &M,
            ) {
                match unit {
                    Some(unit) => self.0.register_with_unit(name, help, unit, metric.clone()),
                    None => self.0.register(name, help, metric.clone()),
                }
            }
        }
        self.visit(&mut Register(registry));
    }

    /// Hands every family, with its name, help and unit, to `visitor` in registration order:
    /// the one list both the registry and the text fast path are built from.
    pub(crate) fn visit(&self, visitor: &mut impl FamilyVisitor) {
        visitor.visit(
            "http_requests_before_middlewares",
            "Total count of requests before middlewares run",
            None,
            &self.requests_before_middlewares,
        );
        visitor.visit(
            "http_responses_before_middlewares",
            "Total count of responses before middlewares run",
            None,
            &self.responses_before_middlewares,
        );
        visitor.visit(
            "http_requests_latency_including_middlewares",
            "Histogram of requests processing time (including middleware processing time)",
            Some(Unit::Seconds),
            &self.latency_including_middlewares,
        );
        visitor.visit(
            "http_requests_unknown_latency_including_middlewares",
            "Count of requests for which the latency was unknown (when computing http_requests_latency_including_middlewares_seconds)",
            None,
            &self.unknown_latency_including_middlewares,
        );
        visitor.visit(
            "http_requests_latency_seconds_by_view_method",
            "Histogram of request processing time labelled by view",
            None,
            &self.latency_by_view_method,
        );
        visitor.visit(
            "http_requests_unknown_latency",
            "Count of requests for which the latency was unknown",
            None,
            &self.unknown_latency,
        );
        visitor.visit(
            "http_ajax_requests",
            "Count of AJAX requests",
            None,
            &self.ajax_requests,
        );
        visitor.visit(
            "http_requests_total_by_method",
            "Count of requests by method",
            None,
            &self.requests_by_method,
        );
        visitor.visit(
            "http_requests_total_by_transport",
            "Count of requests by transport",
            None,
            &self.requests_by_transport,
        );
        visitor.visit(
            "http_requests_total_by_view_transport_method",
            "Count of requests by view, transport, method",
            None,
            &self.requests_by_view_transport_method,
        );
        visitor.visit(
            "http_requests_body_total",
            "Histogram of requests by body size",
            Some(Unit::Bytes),
            &self.request_body_bytes,
        );
        visitor.visit(
            "http_responses_total_by_status",
            "Count of responses by status",
            None,
            &self.responses_by_status,
        );
        visitor.visit(
            "http_responses_total_by_status_view_method",
            "Count of responses by status, view, method",
            None,
            &self.responses_by_status_view_method,
        );
        visitor.visit(
            "http_responses_body_total",
            "Histogram of responses by body size",
            Some(Unit::Bytes),
            &self.response_body_bytes,
        );
        visitor.visit(
            "http_responses_total_by_charset",
            "Count of responses by charset",
            None,
            &self.responses_by_charset,
        );
        visitor.visit(
            "http_responses_streaming",
            "Count of streaming responses",
            None,
            &self.responses_streaming,
        );
        visitor.visit(
            "http_exceptions_total_by_type",
            "Count of exceptions by object type",
            None,
            &self.exceptions_by_type,
        );
        visitor.visit(
            "http_exceptions_total_by_view",
            "Count of exceptions by view",
            None,
            &self.exceptions_by_view,
        );
        visitor.visit(
            "http_requests_in_flight",
            "Requests being processed, from the request until the end of its response body",
            None,
            &self.in_flight,
        );
        visitor.visit(
            "http_requests_cancelled",
            "Requests whose response future or response body was dropped before the end",
            None,
            &self.cancelled,
        );
        visitor.visit(
            "http_metrics_label_overflow",
            "Observations whose label value was folded into <overflow> by the label-set cap",
            None,
            &self.label_overflow,
        );
    }
}
