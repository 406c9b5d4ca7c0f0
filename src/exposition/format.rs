//! The exposition formats and their content types.

use std::fmt;

/// An exposition format the crate can render.
///
/// ```
/// use tower_prometheus::Format;
///
/// assert_eq!(Format::PrometheusText.content_type(), "text/plain; version=0.0.4; charset=utf-8");
/// assert_eq!(
///     Format::OpenMetrics.content_type(),
///     "application/openmetrics-text; version=1.0.0; charset=utf-8"
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// Prometheus text format 0.0.4, the default for any client that does not ask otherwise.
    PrometheusText,
    /// OpenMetrics 1.0.0 text, ending in `# EOF`.
    OpenMetrics,
}

impl Format {
    /// The `Content-Type` of a response in this format.
    ///
    /// ```
    /// assert!(tower_prometheus::Format::OpenMetrics.content_type().starts_with("application/openmetrics-text"));
    /// ```
    pub fn content_type(self) -> &'static str {
        match self {
            Self::PrometheusText => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::PrometheusText => "prometheus-text-0.0.4",
            Self::OpenMetrics => "openmetrics-text-1.0.0",
        })
    }
}
