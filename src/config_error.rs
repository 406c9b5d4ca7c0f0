//! Why [`MetricsBuilder::build`](crate::MetricsBuilder::build) refused a configuration.

use std::fmt;

/// A builder option whose value would give an exposition Prometheus rejects, or a layer that
/// silently measures or serves nothing. It names the option, the value and what to change.
///
/// ```
/// use tower_prometheus::Metrics;
///
/// let error = Metrics::builder().const_label("method", "x").build().unwrap_err();
/// assert_eq!(error.option(), "const_label");
/// assert_eq!(error.input(), "method");
/// assert!(error.to_string().contains("`method`"), "{error}");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    option: &'static str,
    input: String,
    problem: String,
}

impl ConfigError {
    pub(crate) fn new(option: &'static str, input: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            option,
            input: input.into(),
            problem: problem.into(),
        }
    }

    /// The builder method whose value was refused, such as `"namespace"` or `"const_label"`.
    ///
    /// ```
    /// let error = tower_prometheus::Metrics::builder().metrics_path("metrics").build().unwrap_err();
    /// assert_eq!(error.option(), "metrics_path");
    /// ```
    #[must_use]
    pub fn option(&self) -> &'static str {
        self.option
    }

    /// The refused value, as given (bucket lists are shown in `[…]` form).
    ///
    /// ```
    /// let error = tower_prometheus::Metrics::builder().namespace("my-app").build().unwrap_err();
    /// assert_eq!(error.input(), "my-app");
    /// ```
    #[must_use]
    pub fn input(&self) -> &str {
        &self.input
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` refused `{}`: {}", self.option, self.input, self.problem)
    }
}

impl std::error::Error for ConfigError {}
