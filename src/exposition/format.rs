//! The exposition formats and their content types.

use std::fmt;

/// The `Content-Type` of the delimited Prometheus protobuf exposition.
#[cfg(feature = "protobuf")]
const PROTOBUF_CONTENT_TYPE: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

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
    /// Prometheus protobuf (`io.prometheus.client.MetricFamily`, length-delimited), the only
    /// format that carries native histograms. Binary: render it with [`Metrics::render_bytes`].
    ///
    /// [`Metrics::render_bytes`]: crate::Metrics::render_bytes
    ///
    /// ```
    /// assert_eq!(
    ///     tower_prometheus::Format::Protobuf.content_type(),
    ///     "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
    /// );
    /// ```
    #[cfg(feature = "protobuf")]
    #[cfg_attr(docsrs, doc(cfg(feature = "protobuf")))]
    Protobuf,
}

impl Format {
    /// The `Content-Type` of a response in this format.
    ///
    /// ```
    /// assert!(tower_prometheus::Format::OpenMetrics.content_type().starts_with("application/openmetrics-text"));
    /// ```
    #[must_use]
    pub fn content_type(self) -> &'static str {
        match self {
            Self::PrometheusText => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            #[cfg(feature = "protobuf")]
            Self::Protobuf => PROTOBUF_CONTENT_TYPE,
        }
    }

    /// The stable short name, also the `format` label of the scrape self-metrics.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::PrometheusText => "prometheus-text-0.0.4",
            Self::OpenMetrics => "openmetrics-text-1.0.0",
            #[cfg(feature = "protobuf")]
            Self::Protobuf => "prometheus-protobuf",
        }
    }

    /// Every format this build can render, in order of preference when a client rates
    /// several equally.
    pub(crate) const ALL: &'static [Self] = &[
        #[cfg(feature = "protobuf")]
        Self::Protobuf,
        Self::OpenMetrics,
        Self::PrometheusText,
    ];
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
