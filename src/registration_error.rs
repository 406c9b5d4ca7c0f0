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
///
/// // Each message names the metric and says what to change.
/// metrics.register("orders", "Orders", Counter::<u64>::default()).unwrap();
/// let error = metrics.register("orders", "again", Counter::<u64>::default()).unwrap_err();
/// assert_eq!(error, RegistrationError::Duplicate("orders".into()));
/// assert!(error.to_string().contains("register each metric once and clone it"), "{error}");
/// let error = metrics.register("orders-placed", "dash", Counter::<u64>::default()).unwrap_err();
/// assert_eq!(error, RegistrationError::InvalidName("orders-placed".into()));
/// assert!(error.to_string().starts_with("`orders-placed` is not a valid Prometheus metric name: use"), "{error}");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistrationError {
    /// The name collides with one of the families this crate registers (HTTP, gRPC, the
    /// scrape's own metrics, and `process_*` when process metrics are on), or with one of
    /// their sample names (`_total`, `_bucket`, `_count`, `_sum`).
    Reserved(String),
    /// The name collides with a metric registered earlier on the same [`crate::Metrics`].
    Duplicate(String),
    /// The name is not a valid Prometheus metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
    InvalidName(String),
    /// A counter name that still ends in `_total` once the `_total` the exposition adds is
    /// removed (`_total` alone, `jobs_total_total`): prometheus-client cannot register it.
    CounterName(String),
    /// The help text has a character that some exposition format cannot carry unchanged: a
    /// control character (line feed, carriage return, NUL, …) or a backslash. A help text is
    /// one line of printable text.
    ///
    /// ```
    /// use prometheus_client::metrics::counter::Counter;
    /// use tower_prometheus::{Metrics, RegistrationError};
    ///
    /// let metrics = Metrics::new();
    /// let error = metrics.register("jobs", "Jobs run\nper queue", Counter::<u64>::default()).unwrap_err();
    /// assert_eq!(
    ///     error,
    ///     RegistrationError::InvalidHelp { name: "jobs".into(), byte: 8, character: '\n' }
    /// );
    /// assert!(error.to_string().contains("U+000A at byte 8"));
    /// // The name stays free for a corrected registration.
    /// assert!(metrics.register("jobs", "Jobs run per queue", Counter::<u64>::default()).is_ok());
    /// ```
    InvalidHelp {
        /// The metric's name, as given.
        name: String,
        /// The byte offset of the first such character in the help text.
        byte: usize,
        /// That character.
        character: char,
    },
}

impl fmt::Display for RegistrationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Reserved(name) => write!(
                f,
                "metric name `{name}` clashes with one of tower-prometheus's own families (HTTP, \
                 gRPC, scrape or process metrics, their `_total`, `_bucket`, `_count` and `_sum` \
                 names included): choose another name"
            ),
            Self::Duplicate(name) => write!(
                f,
                "metric name `{name}` clashes with a metric registered earlier on this `Metrics` \
                 (the same name, or one of its `_total`, `_bucket`, `_count` or `_sum` names): \
                 register each metric once and clone it where it is needed, or choose another name"
            ),
            Self::InvalidName(name) => write!(
                f,
                "`{name}` is not a valid Prometheus metric name: use ASCII letters, digits, `_` \
                 and `:`, not starting with a digit (`-` and `.` are not allowed)"
            ),
            Self::CounterName(name) => write!(
                f,
                "counter name `{name}` still ends in `_total` once the `_total` the exposition adds \
                 is removed, which prometheus-client cannot register; name it without the repeated suffix"
            ),
            Self::InvalidHelp {
                name,
                byte,
                character,
            } => write!(
                f,
                "the help text of `{name}` has {} (U+{:04X} at byte {byte}); a help text is one line \
                 of printable text without backslashes, which every exposition format writes unchanged",
                match character {
                    '\n' => "a line feed",
                    '\r' => "a carriage return",
                    '\0' => "a NUL",
                    '\\' => "a backslash",
                    _ => "a control character",
                },
                u32::from(*character)
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
            Self::InvalidHelp { byte, character, .. } => Self::InvalidHelp {
                name: name.to_owned(),
                byte,
                character,
            },
        }
    }
}
