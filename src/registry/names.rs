//! The rules Prometheus sets for metric and label names, and the label names this crate's
//! families use (which a constant label must not repeat: a label twice in one series makes
//! Prometheus reject the whole scrape).

/// Every label name a family of this crate can carry, its self-metrics and gRPC family
/// included, and the ones the exposition formats add themselves (`le`, `quantile`).
pub(crate) const RESERVED_LABEL_NAMES: &[&str] = &[
    "view",
    "method",
    "status",
    "transport",
    "charset",
    "type",
    "label",
    "format",
    "encoding",
    "grpc_service",
    "grpc_method",
    "grpc_code",
    "source",
    "reason",
    "le",
    "quantile",
];

/// Why `name` is not a label name Prometheus accepts from a target, if it is not.
pub(crate) fn label_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("a label name cannot be empty");
    }
    if !is_identifier(name, false) {
        return Some("a label name must match [a-zA-Z_][a-zA-Z0-9_]*");
    }
    if name.starts_with("__") {
        return Some("label names starting with `__` are reserved for Prometheus's own use");
    }
    None
}

/// Why `name` is not a metric name (or namespace) Prometheus accepts, if it is not.
pub(crate) fn metric_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("a metric name cannot be empty");
    }
    if !is_identifier(name, true) {
        return Some("a metric name must match [a-zA-Z_:][a-zA-Z0-9_:]*");
    }
    if name.starts_with("__") {
        return Some("names starting with `__` are reserved for Prometheus's own use");
    }
    None
}

fn is_identifier(name: &str, colons: bool) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || (colons && c == ':');
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| allowed(first) && !first.is_ascii_digit())
        && chars.all(allowed)
}

/// The name a counter called `name` is registered under: without its `_total`, which the
/// encoder adds back (a counter called `_total` alone keeps it). The one rule every source of
/// counters follows, so that the name claimed is the name exposed.
pub(crate) fn counter_base(name: &str) -> &str {
    name.strip_suffix("_total")
        .filter(|base| !base.is_empty())
        .unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_names_follow_prometheus() {
        assert_eq!(label_name_problem("region"), None);
        assert_eq!(label_name_problem("_private"), None);
        assert!(label_name_problem("").is_some());
        assert!(label_name_problem("9lives").is_some());
        assert!(label_name_problem("my-label").is_some());
        assert!(label_name_problem("a:b").is_some());
        assert!(label_name_problem("__name__").is_some());
    }

    #[test]
    fn metric_names_follow_prometheus() {
        assert_eq!(metric_name_problem("orders:rate5m"), None);
        assert!(metric_name_problem("2fast").is_some());
        assert!(metric_name_problem("with space").is_some());
        assert!(metric_name_problem("").is_some());
        assert!(metric_name_problem("__secret").is_some());
    }
}
