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
                "metric name `{name}` is used by tower-prometheus's HTTP metrics"
            ),
            Self::Duplicate(name) => write!(f, "metric name `{name}` is already registered"),
            Self::InvalidName(name) => write!(f, "`{name}` is not a valid Prometheus metric name"),
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
