//! The OpenTelemetry naming profile: the HTTP server metrics of the stable OpenTelemetry
//! semantic conventions (`http.server.request.duration`, `http.server.active_requests`,
//! `http.server.request.body.size`, `http.server.response.body.size`) under the names the
//! OpenTelemetry-to-Prometheus translation gives them. See the
//! [OpenTelemetry guide](crate::guide::opentelemetry).

use std::borrow::Cow;

use http::{Method, Version};
use prometheus_client::encoding::EncodeLabelSet;
use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use super::families::{FamilySpec, HttpFamilies, Kind, FAMILIES};
use super::labels::{LabelValue, Transport, OVERFLOW, PANIC_TYPE, UNNAMED_VIEW};
use super::recorder::{FoldedLabel, Recorder};
use crate::primitives::capped_map::{Admission, CappedMap};

/// Which names and labels the HTTP metrics are exposed under.
///
/// ```
/// use tower_prometheus::{Format, Metrics, Naming};
///
/// let metrics = Metrics::builder().naming(Naming::OpenTelemetry).build().unwrap();
/// let text = metrics.render(Format::PrometheusText).unwrap();
/// // django-prometheus's families are gone (the profile's show once a request was seen).
/// assert!(!text.contains("http_requests_before_middlewares_total"));
/// assert_eq!(Naming::default(), Naming::Django);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Naming {
    /// django-prometheus's families (`http_requests_total_by_view_transport_method`, …).
    #[default]
    Django,
    /// The stable OpenTelemetry HTTP server semantic conventions, as Prometheus names them
    /// (`http_server_request_duration_seconds`, …), instead of django-prometheus's families.
    OpenTelemetry,
}

/// The default buckets of `http.server.request.duration`, as the conventions advise.
///
/// ```
/// assert_eq!(tower_prometheus::otel::DURATION_BUCKETS.len(), 14);
/// ```
pub const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// `error_type` of a request the client abandoned before its response was complete.
///
/// ```
/// assert_eq!(tower_prometheus::otel::CANCELLED, "cancelled");
/// ```
pub const CANCELLED: &str = "cancelled";

/// `http_request_method` of any method outside the nine standard ones, as the conventions say.
///
/// ```
/// assert_eq!(tower_prometheus::otel::OTHER, "_OTHER");
/// ```
pub const OTHER: &str = "_OTHER";

/// The profile's families, for the names the exposition reserves.
pub(crate) const OTEL_FAMILIES: &[FamilySpec] = &[
    FamilySpec {
        name: "http_server_request_duration",
        help: "Duration of HTTP server requests",
        unit: Some(Unit::Seconds),
        kind: Kind::Histogram,
    },
    FamilySpec {
        name: "http_server_active_requests",
        help: "Number of active HTTP server requests",
        unit: None,
        kind: Kind::Gauge,
    },
    FamilySpec {
        name: "http_server_request_body_size",
        help: "Size of HTTP server request bodies",
        unit: Some(Unit::Bytes),
        kind: Kind::Histogram,
    },
    FamilySpec {
        name: "http_server_response_body_size",
        help: "Size of HTTP server response bodies",
        unit: Some(Unit::Bytes),
        kind: Kind::Histogram,
    },
];

/// The label names of the profile, refused as constant labels when it is on.
pub(crate) const OTEL_LABEL_NAMES: &[&str] = &[
    "http_request_method",
    "url_scheme",
    "http_route",
    "http_response_status_code",
    "network_protocol_version",
    "error_type",
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActiveLabels {
    http_request_method: &'static str,
    url_scheme: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    http_request_method: &'static str,
    url_scheme: &'static str,
    http_route: String,
    http_response_status_code: String,
    network_protocol_version: &'static str,
    error_type: Cow<'static, str>,
}

/// What a request's series is found by: cheap copies of what [`RequestLabels`] is made of (the
/// route is the view's shared label value, the error its interned name), so that a warm lookup
/// allocates nothing; the label set itself is built once, when the series is admitted.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct SeriesKey {
    /// With its request size erased: the size is observed, not a label.
    request: OtelRequest,
    /// The name of the error the request ended with (as django's `type` label names it),
    /// [`PANIC_TYPE`] or [`CANCELLED`].
    error: Option<LabelValue>,
    route: LabelValue,
}

/// The bucket bounds a histogram family creates its series with.
#[derive(Clone, Debug)]
struct Buckets(Arc<[f64]>);

impl MetricConstructor<Histogram> for Buckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(self.0.iter().copied())
    }
}

type Histograms = (Histogram, Histogram, Histogram);

/// The profile's families and the cap on their label sets.
pub(crate) struct OtelMetrics {
    duration: Family<RequestLabels, Histogram, Buckets>,
    active: Family<ActiveLabels, Gauge>,
    request_size: Family<RequestLabels, Histogram, Buckets>,
    response_size: Family<RequestLabels, Histogram, Buckets>,
    series: CappedMap<SeriesKey, Histograms>,
    /// The active gauge of each (method, scheme), found by index: a family lookup takes its
    /// lock and hashes the label set, twice per request.
    active_gauges: [[OnceLock<Gauge>; Transport::COUNT]; METHODS.len()],
    /// The error names seen so far, each kept once so that a series key holds a shared copy:
    /// at most as many as the label-set cap, beyond which a new name reads [`OVERFLOW`].
    error_names: Mutex<HashSet<LabelValue>>,
    max_error_names: usize,
}

impl std::fmt::Debug for OtelMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtelMetrics")
            .field("series", &self.series)
            .finish_non_exhaustive()
    }
}

/// What the profile remembers of one request until it ends, kept inline in the request's
/// tracker (hence compact: indexes into static tables, sentinels instead of `Option`s). The
/// error a request ends with is not kept: it is known only when the request ends, and is
/// handed to [`OtelMetrics::finish`] then.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub(crate) struct OtelRequest {
    /// [`NO_REQUEST_SIZE`] when the request announced none.
    request_size: u64,
    /// [`NO_STATUS`] until the response head is seen.
    status: u16,
    /// Index into [`METHODS`].
    method: u8,
    /// Index into [`VERSIONS`].
    version: u8,
    scheme: Transport,
}

const NO_REQUEST_SIZE: u64 = u64::MAX;
const NO_STATUS: u16 = 0;

impl OtelRequest {
    /// Notes the response head's status code.
    pub(crate) fn on_status(&mut self, status: http::StatusCode) {
        self.status = status.as_u16();
    }

    fn status(&self) -> Option<u16> {
        (self.status != NO_STATUS).then_some(self.status)
    }

    fn request_size(&self) -> Option<u64> {
        (self.request_size != NO_REQUEST_SIZE).then_some(self.request_size)
    }

    fn method(&self) -> &'static str {
        METHODS[usize::from(self.method)]
    }

    fn version(&self) -> &'static str {
        VERSIONS[usize::from(self.version)]
    }
}

impl OtelMetrics {
    /// `duration_buckets`: the user's `latency_buckets`, or `None` for the conventions' own.
    pub(crate) fn new(duration_buckets: Option<&[f64]>, size_buckets: &[f64], max_label_sets: usize) -> Self {
        let duration_buckets = Buckets(duration_buckets.unwrap_or(&DURATION_BUCKETS).into());
        let size_buckets = Buckets(size_buckets.into());
        Self {
            duration: Family::new_with_constructor(duration_buckets),
            active: Family::default(),
            request_size: Family::new_with_constructor(size_buckets.clone()),
            response_size: Family::new_with_constructor(size_buckets),
            series: CappedMap::new(max_label_sets),
            active_gauges: Default::default(),
            error_names: Mutex::default(),
            max_error_names: max_label_sets,
        }
    }

    pub(crate) fn register(&self, registry: &mut Registry) {
        let [duration, active, request_size, response_size] = OTEL_FAMILIES else {
            unreachable!("the table lists four families")
        };
        let with_unit = |registry: &mut Registry, spec: &FamilySpec, metric| {
            let unit = spec.unit.clone().expect("histograms of the profile have a unit");
            registry.register_with_unit(spec.name, spec.help, unit, metric);
        };
        with_unit(registry, duration, self.duration.clone());
        registry.register(active.name, active.help, self.active.clone());
        with_unit(registry, request_size, self.request_size.clone());
        with_unit(registry, response_size, self.response_size.clone());
    }

    /// Marks a request active; the returned state is handed back to [`Self::finish`].
    pub(crate) fn start(
        &self,
        method: &Method,
        transport: Transport,
        version: Version,
        request_size: Option<u64>,
    ) -> OtelRequest {
        let request = OtelRequest {
            // A body of `u64::MAX` bytes cannot be sent: the sentinel loses nothing.
            request_size: request_size.unwrap_or(NO_REQUEST_SIZE),
            status: NO_STATUS,
            method: method_index(method),
            version: version_index(version),
            scheme: transport,
        };
        self.active_gauge(&request).inc();
        request
    }

    /// Records the end of a request routed to `view`, `seconds` after its start, with
    /// `response_bytes` of response body sent; `error` is the name of the error it ended with
    /// (django's `type` label, [`OVERFLOW`] when that broke the label rule), [`PANIC_TYPE`] or
    /// [`CANCELLED`].
    pub(crate) fn finish(
        &self,
        request: OtelRequest,
        error: Option<&str>,
        view: &LabelValue,
        seconds: f64,
        response_bytes: u64,
        recorder: &Recorder,
    ) {
        self.active_gauge(&request).dec();
        let key = SeriesKey {
            request: OtelRequest {
                request_size: NO_REQUEST_SIZE,
                ..request
            },
            error: error.map(|name| self.error_name(name, recorder)),
            route: view.clone(),
        };
        let observe = |(duration, request_size, response_size): &Histograms| {
            duration.observe(seconds);
            if let Some(size) = request.request_size() {
                request_size.observe(size as f64);
            }
            if request.status().is_some() {
                response_size.observe(response_bytes as f64);
            }
        };
        if self.series.with(&key, observe).is_some() {
            return;
        }
        let (histograms, admission) = self.series.get_or_admit(
            &key,
            |key| (key.clone(), self.histograms(&key.labels())),
            || {
                self.histograms(&RequestLabels {
                    http_request_method: "",
                    url_scheme: "",
                    http_route: OVERFLOW.to_owned(),
                    http_response_status_code: String::new(),
                    network_protocol_version: "",
                    error_type: Cow::Borrowed(""),
                })
            },
        );
        if admission == Admission::Folded {
            recorder.fold(FoldedLabel::HttpRoute);
        }
        observe(&histograms);
    }

    /// The shared copy of an error's name; a name past the cap reads [`OVERFLOW`], counted.
    fn error_name(&self, name: &str, recorder: &Recorder) -> LabelValue {
        let mut names = self.error_names.lock();
        if let Some(known) = names.get(name) {
            return known.clone();
        }
        let name = if names.len() < self.max_error_names {
            name
        } else {
            recorder.fold(FoldedLabel::Type);
            OVERFLOW
        };
        if let Some(overflow) = names.get(name) {
            return overflow.clone();
        }
        let value = LabelValue::new(name);
        names.insert(value.clone());
        value
    }

    fn histograms(&self, labels: &RequestLabels) -> Histograms {
        (
            self.duration.get_or_create_owned(labels),
            self.request_size.get_or_create_owned(labels),
            self.response_size.get_or_create_owned(labels),
        )
    }

    fn active_gauge(&self, request: &OtelRequest) -> &Gauge {
        self.active_gauges[usize::from(request.method)][request.scheme.index()].get_or_init(|| {
            self.active.get_or_create_owned(&ActiveLabels {
                http_request_method: request.method(),
                url_scheme: request.scheme.as_str(),
            })
        })
    }
}

impl SeriesKey {
    /// The label set of the series, built once per series.
    fn labels(&self) -> RequestLabels {
        let request = &self.request;
        let route = self.route.as_str();
        RequestLabels {
            http_request_method: request.method(),
            url_scheme: request.scheme.as_str(),
            http_route: if route == UNNAMED_VIEW {
                String::new()
            } else {
                route.to_owned()
            },
            http_response_status_code: request.status().map(|code| code.to_string()).unwrap_or_default(),
            network_protocol_version: request.version(),
            error_type: error_type(self.error.as_ref().map(LabelValue::as_str), request.status()),
        }
    }
}

/// The nine methods the conventions name, then [`OTHER`] for any other.
const METHODS: [&str; 10] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", OTHER,
];

/// The nine methods the conventions name are kept as they are, any other is `_OTHER`.
fn method_index(method: &Method) -> u8 {
    match *method {
        Method::GET => 0,
        Method::HEAD => 1,
        Method::POST => 2,
        Method::PUT => 3,
        Method::DELETE => 4,
        Method::CONNECT => 5,
        Method::OPTIONS => 6,
        Method::TRACE => 7,
        Method::PATCH => 8,
        _ => 9,
    }
}

const VERSIONS: [&str; 5] = ["0.9", "1.0", "1.1", "2", "3"];

fn version_index(version: Version) -> u8 {
    match version {
        Version::HTTP_09 => 0,
        Version::HTTP_10 => 1,
        Version::HTTP_2 => 3,
        Version::HTTP_3 => 4,
        _ => 2,
    }
}

#[cfg(test)]
fn method_label(method: &Method) -> &'static str {
    METHODS[usize::from(method_index(method))]
}

#[cfg(test)]
fn version_label(version: Version) -> &'static str {
    VERSIONS[usize::from(version_index(version))]
}

/// The error the request ended with, else a 5xx status code as the conventions say, else empty.
fn error_type(error: Option<&str>, status: Option<u16>) -> Cow<'static, str> {
    match error {
        Some(PANIC_TYPE) => Cow::Borrowed(PANIC_TYPE),
        Some(CANCELLED) => Cow::Borrowed(CANCELLED),
        Some("") => Cow::Borrowed(OTHER),
        Some(name) => Cow::Owned(name.to_owned()),
        None => match status {
            Some(code) if code >= 500 => Cow::Owned(code.to_string()),
            _ => Cow::Borrowed(""),
        },
    }
}

/// Registers django-prometheus's `http_metrics_label_overflow` alone: the profile's folds are
/// counted there too.
pub(crate) fn register_label_overflow(families: &HttpFamilies, registry: &mut Registry) {
    let spec = FAMILIES
        .iter()
        .find(|spec| spec.name == "http_metrics_label_overflow")
        .expect("the table holds the overflow family");
    registry.register(spec.name, spec.help, families.label_overflow.clone());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nine_methods_are_kept_and_any_other_is_other() {
        for method in [
            "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
        ] {
            assert_eq!(
                method_label(&Method::from_bytes(method.as_bytes()).unwrap()),
                method
            );
        }
        for method in ["PURGE", "get", "PROPFIND"] {
            assert_eq!(
                method_label(&Method::from_bytes(method.as_bytes()).unwrap()),
                OTHER
            );
        }
    }

    #[test]
    fn protocol_versions_are_written_as_the_conventions_do() {
        let versions = [
            (Version::HTTP_09, "0.9"),
            (Version::HTTP_10, "1.0"),
            (Version::HTTP_11, "1.1"),
            (Version::HTTP_2, "2"),
            (Version::HTTP_3, "3"),
        ];
        for (version, label) in versions {
            assert_eq!(version_label(version), label);
        }
    }

    #[test]
    fn the_request_state_stays_small_enough_to_keep_inline() {
        // The tracker holds it unboxed, and the tracker is moved several times per request.
        assert!(
            size_of::<Option<OtelRequest>>() <= 16,
            "{} bytes",
            size_of::<Option<OtelRequest>>()
        );
    }

    #[test]
    fn the_state_round_trips_method_version_status_and_size() {
        let mut request = OtelMetrics::new(None, &[1.0], 10).start(
            &Method::from_bytes(b"PURGE").unwrap(),
            Transport::Https,
            Version::HTTP_2,
            None,
        );
        assert_eq!((request.method(), request.version()), (OTHER, "2"));
        assert_eq!((request.status(), request.request_size()), (None, None));
        request.on_status(http::StatusCode::BAD_GATEWAY);
        let key = SeriesKey {
            request,
            error: None,
            route: LabelValue::new(UNNAMED_VIEW),
        };
        let labels = key.labels();
        assert_eq!(labels.http_route, "");
        assert_eq!(labels.http_response_status_code, "502");
        assert_eq!(labels.error_type, "502");
        assert_eq!(labels.url_scheme, "https");
    }

    #[test]
    fn error_type_prefers_the_error_then_a_5xx_status() {
        assert_eq!(error_type(Some("Error"), Some(500)), "Error");
        assert_eq!(error_type(Some("Wrapper<Boom>"), None), "Wrapper<Boom>");
        assert_eq!(error_type(Some(""), None), OTHER);
        assert_eq!(error_type(Some(PANIC_TYPE), None), "panic");
        assert_eq!(error_type(Some(CANCELLED), Some(200)), "cancelled");
        assert_eq!(error_type(None, Some(502)), "502");
        assert_eq!(error_type(None, Some(499)), "");
        assert_eq!(error_type(None, None), "");
    }
}
