//! The exposition options [`MetricsBuilder`](crate::MetricsBuilder) assembles.

use super::auth::BearerToken;
use super::EncodeErrorPolicy;
use crate::ConfigError;

/// The default path of the exposition.
///
/// ```
/// use tower_prometheus::defaults::METRICS_PATH;
///
/// assert_eq!(tower_prometheus::Metrics::new().metrics_path(), Some(METRICS_PATH));
/// ```
pub const DEFAULT_METRICS_PATH: &str = "/metrics";

/// Checks a path the exposition is served at (`metrics_path`, the separate listener's path)
/// as [`check_path`](crate::builder::check_path) does, and also refuses a trailing `/`: the
/// path is compared exactly, so `/metrics/` would leave `/metrics`, the path Prometheus
/// scrapes by default, answering 404.
pub(crate) fn check_exposition_path(option: &'static str, path: &str) -> Result<(), ConfigError> {
    crate::builder::check_path(option, path)?;
    if path.len() > 1 && path.ends_with('/') {
        let without = path.trim_end_matches('/');
        return Err(ConfigError::new(
            option,
            path,
            format!(
                "the exposition answers this exact path only, so `{without}` would get 404: \
                 leave out the trailing `/`"
            ),
        ));
    }
    Ok(())
}

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
