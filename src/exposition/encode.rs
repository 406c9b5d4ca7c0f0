//! Rendering a registry in a [`Format`].

use std::fmt;

use prometheus_client::registry::Registry;

use super::Format;
use crate::Metrics;

/// A metric or collector failed while the exposition was rendered.
///
/// prometheus-client reports no more than that; the partial output is discarded so a scraper
/// never receives a truncated exposition.
///
/// ```
/// let error = tower_prometheus::EncodeError::default();
/// assert_eq!(error.to_string(), "a metric or collector failed to encode");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EncodeError(());

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a metric or collector failed to encode")
    }
}

impl std::error::Error for EncodeError {}

impl From<fmt::Error> for EncodeError {
    fn from(_: fmt::Error) -> Self {
        Self(())
    }
}

/// Renders `registry` in `format`, using prometheus-client's encoders.
///
/// A custom metric or collector that panics while encoding fails this scrape with an
/// [`EncodeError`] (a `500` on the metrics path) instead of unwinding through the service.
pub(crate) fn encode_registry(registry: &Registry, format: Format) -> Result<String, EncodeError> {
    let encode = || {
        let mut output = String::with_capacity(16 * 1024);
        match format {
            Format::PrometheusText => {
                prometheus_client::encoding::prometheus_text::encode(&mut output, registry)?
            }
            Format::OpenMetrics => prometheus_client::encoding::text::encode(&mut output, registry)?,
        }
        Ok(output)
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(encode)).unwrap_or(Err(EncodeError(())))
}

impl Metrics {
    /// Renders every metric of this registry, ours and yours, in `format`.
    ///
    /// ```
    /// use tower_prometheus::{Format, Metrics};
    ///
    /// let metrics = Metrics::new();
    /// let text = metrics.render(Format::PrometheusText).unwrap();
    /// assert!(text.contains("# TYPE http_requests_before_middlewares_total counter"));
    /// let openmetrics = metrics.render(Format::OpenMetrics).unwrap();
    /// assert!(openmetrics.ends_with("# EOF\n"));
    /// ```
    pub fn render(&self, format: Format) -> Result<String, EncodeError> {
        encode_registry(&self.shared.registry.read(), format)
    }
}
