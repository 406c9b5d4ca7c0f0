//! The exposition options [`MetricsBuilder`](crate::MetricsBuilder) assembles.

use super::auth::BearerToken;
use super::EncodeErrorPolicy;

/// The default path of the exposition.
///
/// ```
/// use tower_prometheus::defaults::METRICS_PATH;
///
/// assert_eq!(tower_prometheus::Metrics::new().metrics_path(), Some(METRICS_PATH));
/// ```
pub const DEFAULT_METRICS_PATH: &str = "/metrics";

/// What the metrics path, [`ExpositionService`](super::ExpositionService) and the separate
/// listener read for each scrape.
#[derive(Clone, Debug)]
pub(crate) struct ExpositionConfig {
    pub(crate) metrics_path: Option<String>,
    pub(crate) encode_error_policy: EncodeErrorPolicy,
    pub(crate) metrics_bearer_token: Option<BearerToken>,
}

impl Default for ExpositionConfig {
    fn default() -> Self {
        Self {
            metrics_path: Some(DEFAULT_METRICS_PATH.to_owned()),
            encode_error_policy: EncodeErrorPolicy::default(),
            metrics_bearer_token: None,
        }
    }
}
