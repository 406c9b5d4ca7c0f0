//! The recording options [`MetricsBuilder`](crate::MetricsBuilder) assembles, and their
//! defaults (django-prometheus's).

use std::fmt;
use std::sync::Arc;

use super::error_types::ErrorClassifier;
use super::exclusions::Exclusions;
use super::exemplars::TraceIdSource;
use super::labels::ViewName;
use super::native_histograms::NativeHistograms;
use super::request_labels::RequestLabelRule;

/// django-prometheus's `PROMETHEUS_LATENCY_BUCKETS`, in seconds.
///
/// ```
/// use tower_prometheus::defaults::LATENCY_BUCKETS;
/// use tower_prometheus::{Format, Metrics};
///
/// let text = Metrics::new().render(Format::PrometheusText).unwrap();
/// let bounds = text
///     .lines()
///     .filter(|line| line.starts_with("http_requests_latency_including_middlewares_seconds_bucket"))
///     .count();
/// assert_eq!(bounds, LATENCY_BUCKETS.len() + 1, "and +Inf");
/// ```
pub const DEFAULT_LATENCY_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 25.0, 50.0, 75.0,
];

/// django-prometheus's body-size buckets: 0, then powers of two from 1 to 2^29 bytes.
///
/// ```
/// use tower_prometheus::defaults::SIZE_BUCKETS;
/// use tower_prometheus::{Format, Metrics};
///
/// assert_eq!(SIZE_BUCKETS.last(), Some(&536_870_912.0));
/// let text = Metrics::new().render(Format::PrometheusText).unwrap();
/// let bounds = text
///     .lines()
///     .filter(|line| line.starts_with("http_responses_body_total_bytes_bucket"))
///     .count();
/// assert_eq!(bounds, SIZE_BUCKETS.len() + 1, "and +Inf");
/// ```
pub const DEFAULT_SIZE_BUCKETS: &[f64] = &[
    0.0,
    1.0,
    2.0,
    4.0,
    8.0,
    16.0,
    32.0,
    64.0,
    128.0,
    256.0,
    512.0,
    1024.0,
    2048.0,
    4096.0,
    8192.0,
    16384.0,
    32768.0,
    65536.0,
    131_072.0,
    262_144.0,
    524_288.0,
    1_048_576.0,
    2_097_152.0,
    4_194_304.0,
    8_388_608.0,
    16_777_216.0,
    33_554_432.0,
    67_108_864.0,
    134_217_728.0,
    268_435_456.0,
    536_870_912.0,
];

/// The default cap on distinct label sets per family (see
/// [`MetricsBuilder::max_label_sets`](crate::MetricsBuilder::max_label_sets)).
///
/// ```
/// assert_eq!(tower_prometheus::defaults::MAX_LABEL_SETS, 10_000);
/// ```
pub const DEFAULT_MAX_LABEL_SETS: usize = 10_000;

/// What the recorder and the middleware read for each request.
#[derive(Clone, Debug)]
pub(crate) struct RecordingConfig {
    pub(crate) latency_buckets: Vec<f64>,
    pub(crate) size_buckets: Vec<f64>,
    pub(crate) exclusions: Exclusions,
    pub(crate) group_status_codes: bool,
    /// Whether `http_responses_duration_seconds_by_view_method` is observed; off, the family
    /// never gets a series and so never shows in the exposition.
    pub(crate) response_duration_histogram: bool,
    /// `(view, buckets)`: the latency buckets of the views named here.
    pub(crate) view_latency_buckets: Vec<(String, Vec<f64>)>,
    pub(crate) view_resolver: Option<ViewResolver>,
    pub(crate) forwarded_proto_header: Option<http::HeaderName>,
    pub(crate) max_label_sets: usize,
    pub(crate) native_histograms: Option<NativeHistograms>,
    pub(crate) trace_id_source: Option<TraceIdSource>,
    pub(crate) request_labels: Vec<RequestLabelRule>,
    pub(crate) error_type: Option<ErrorClassifier>,
}

impl Default for RecordingConfig {
    fn default() -> Self {
        Self {
            latency_buckets: DEFAULT_LATENCY_BUCKETS.to_vec(),
            size_buckets: DEFAULT_SIZE_BUCKETS.to_vec(),
            exclusions: Exclusions::default(),
            group_status_codes: false,
            response_duration_histogram: false,
            view_latency_buckets: Vec::new(),
            view_resolver: None,
            forwarded_proto_header: None,
            max_label_sets: DEFAULT_MAX_LABEL_SETS,
            native_histograms: None,
            trace_id_source: None,
            request_labels: Vec::new(),
            error_type: None,
        }
    }
}

type ResolveView = dyn Fn(&crate::RequestHead<'_>) -> Option<ViewName> + Send + Sync;

/// The builder's view resolver closure.
#[derive(Clone)]
pub(crate) struct ViewResolver(pub(crate) Arc<ResolveView>);

impl fmt::Debug for ViewResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ViewResolver(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_buckets_are_zero_then_powers_of_two() {
        assert_eq!(DEFAULT_SIZE_BUCKETS[0], 0.0);
        for (exponent, bound) in DEFAULT_SIZE_BUCKETS[1..].iter().enumerate() {
            assert_eq!(*bound, 2f64.powi(exponent as i32));
        }
        assert_eq!(*DEFAULT_SIZE_BUCKETS.last().unwrap(), 2f64.powi(29));
    }
}
