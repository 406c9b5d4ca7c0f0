//! Why registering a custom metric failed.

use std::fmt;

/// Why [`Metrics::register`](crate::Metrics::register) refused a metric.
///
/// ```
/// use prometheus_client::metrics::counter::Counter;
/// use tower_prometheus::{Metrics, RegistrationError};
///
/// let metrics = Metrics::new();
/// let error = metrics.register("http_ajax_requests", "mine", Counter::<u64>::default()).unwrap_err();
/// assert!(matches!(error, RegistrationError::Reserved(_)));
/// assert!(error.to_string().contains("http_ajax_requests"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistrationError {
    /// The name collides with one of the HTTP families this crate registers.
    Reserved(String),
    /// The name collides with a metric registered earlier on the same [`crate::Metrics`].
    Duplicate(String),
    /// The name is not a valid Prometheus metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
    InvalidName(String),
    /// A counter name that still ends in `_total` once the `_total` the exposition adds is
    /// removed (`_total` alone, `jobs_total_total`): prometheus-client cannot register it.
    CounterName(String),
}

impl fmt::Display for RegistrationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Reserved(name) => write!(
                f,
                "metric name `{name}` is used by tower-prometheus's HTTP metrics"
            ),
            Self::Duplicate(name) => write!(f, "metric name `{name}` is already registered"),
            Self::InvalidName(name) => write!(f, "`{name}` is not a valid Prometheus metric name"),
            Self::CounterName(name) => write!(
                f,
                "counter name `{name}` still ends in `_total` once the `_total` the exposition adds \
                 is removed, which prometheus-client cannot register; name it without the repeated suffix"
            ),
        }
    }
}

impl std::error::Error for RegistrationError {}

impl RegistrationError {
    /// The same refusal, naming `name` (the name as the user gave it, not as exposed).
    pub(crate) fn renamed(self, name: &str) -> Self {
        match self {
            Self::Reserved(_) => Self::Reserved(name.to_owned()),
            Self::Duplicate(_) => Self::Duplicate(name.to_owned()),
            Self::InvalidName(_) => Self::InvalidName(name.to_owned()),
            Self::CounterName(_) => Self::CounterName(name.to_owned()),
        }
    }
}
