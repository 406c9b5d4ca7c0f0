//! [`EncodeErrorPolicy`]: what a scrape answers when part of the registry fails to encode.

/// What the exposition does when a metric or collector fails to encode.
///
/// prometheus-client reports a failure as a bare `fmt::Error` and may already have written
/// part of that metric's output, so the crate never forwards a partial rendering. Instead the
/// registry is encoded in independent parts: the HTTP families (with the scrape
/// self-metrics) form one part, and every metric or collector you register through
/// [`Metrics::register`](crate::Metrics::register),
/// [`register_with_unit`](crate::Metrics::register_with_unit) or
/// [`register_collector`](crate::Metrics::register_collector) forms its own. Each failing part
/// is counted in `http_metrics_encode_errors_total{format}`.
///
/// ```
/// use tower_prometheus::prometheus_client::collector::Collector;
/// use tower_prometheus::prometheus_client::encoding::DescriptorEncoder;
/// use tower_prometheus::{EncodeErrorPolicy, Format, Metrics};
///
/// /// A collector whose every encoding fails.
/// #[derive(Debug)]
/// struct Broken;
///
/// impl Collector for Broken {
///     fn encode(&self, _encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
///         Err(std::fmt::Error)
///     }
/// }
///
/// let strict = Metrics::new();
/// strict.register_collector(Box::new(Broken)).unwrap();
/// assert!(strict.render(Format::PrometheusText).is_err());
///
/// let lenient = Metrics::builder()
///     .encode_error_policy(EncodeErrorPolicy::ServeWhatEncodes)
///     .build().unwrap();
/// lenient.register_collector(Box::new(Broken)).unwrap();
/// lenient.render(Format::PrometheusText).unwrap();
/// // The loss shows from the next scrape on.
/// let text = lenient.render(Format::PrometheusText).unwrap();
/// assert!(text.contains("http_metrics_encode_errors_total{format=\"prometheus-text-0.0.4\"} 1"));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EncodeErrorPolicy {
    /// Answer `500 Internal Server Error` with a plain-text message naming the format, and
    /// serve nothing else: the scrape fails visibly (`up == 0` in Prometheus), as with Go's
    /// `promhttp.HTTPErrorOnError`. The default.
    #[default]
    RespondWithError,
    /// Drop every part that fails and serve the others with `200`: the series of the failing
    /// metric or collector go stale while the rest keeps being scraped, and
    /// `http_metrics_encode_errors_total` makes the loss visible. Like Go's
    /// `promhttp.ContinueOnError`, but never with a half-written metric.
    ServeWhatEncodes,
}
