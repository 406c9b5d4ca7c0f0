//! Other metric sources exposed on the same `/metrics` as the HTTP families: the `metrics`
//! crate's facade, a rust-prometheus registry, another prometheus-client registry. Each one's
//! names are claimed through [`Metrics::claim_exposed_names`](crate::Metrics), so a name is
//! never exposed twice.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;

use crate::registry::families::{FamilySpec, Kind};
use crate::Metrics;

#[cfg(feature = "metrics")]
pub(crate) mod metrics_facade;
#[cfg(feature = "prometheus")]
mod prometheus_crate;
pub(crate) mod registry;

#[cfg(feature = "metrics")]
pub use metrics_facade::MetricsRecorder;

/// The names this module exposes itself, reserved like the HTTP families'.
pub(crate) const RESERVED_FAMILIES: &[FamilySpec] = &[DROPPED_SAMPLES];

const DROPPED_SAMPLES: FamilySpec = FamilySpec {
    name: "http_metrics_dropped_samples",
    help: "Samples of another metric source left out of the exposition, by source and reason",
    unit: None,
    kind: Kind::Counter,
};

/// Where a dropped sample came from, the `source` label. Only the sources compiled in exist,
/// and only those in use (a recorder made, a registry registered) are exposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// The `metrics` crate's facade.
    #[cfg(feature = "metrics")]
    Metrics,
    /// A rust-prometheus registry.
    #[cfg(feature = "prometheus")]
    Prometheus,
    /// What prometheus-client encodes for you: metrics, registries and collectors registered
    /// with `register*`.
    PrometheusClient,
}

impl Source {
    /// The position of this source's flag among the sources compiled in.
    fn index(self) -> usize {
        match self {
            #[cfg(feature = "metrics")]
            Self::Metrics => 0,
            #[cfg(feature = "prometheus")]
            Self::Prometheus => usize::from(cfg!(feature = "metrics")),
            Self::PrometheusClient => SOURCES - 1,
        }
    }
}

/// Why a sample was dropped, the `reason` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reason {
    /// Its name clashes with a name another source (or ours) already exposes.
    NameClash,
    /// A label name Prometheus refuses, or one the exposition already uses.
    #[cfg(feature = "metrics")]
    InvalidLabel,
    /// A NaN where OpenMetrics forbids one: a histogram observation (it would make the sum
    /// NaN), or a counter's value or a histogram's sum gathered from another registry.
    NotANumber,
}

/// Every (source, reason) pair that can drop samples, with their label values.
const ROWS: &[(Source, Reason, &str, &str)] = &[
    #[cfg(feature = "metrics")]
    (Source::Metrics, Reason::NameClash, "metrics", "name_clash"),
    #[cfg(feature = "metrics")]
    (Source::Metrics, Reason::InvalidLabel, "metrics", "invalid_label"),
    #[cfg(feature = "metrics")]
    (Source::Metrics, Reason::NotANumber, "metrics", "nan"),
    #[cfg(feature = "prometheus")]
    (Source::Prometheus, Reason::NameClash, "prometheus", "name_clash"),
    #[cfg(feature = "prometheus")]
    (Source::Prometheus, Reason::NotANumber, "prometheus", "nan"),
    (
        Source::PrometheusClient,
        Reason::NameClash,
        "prometheus_client",
        "name_clash",
    ),
    (
        Source::PrometheusClient,
        Reason::NotANumber,
        "prometheus_client",
        "nan",
    ),
];

/// The interop state every clone of a [`Metrics`] shares.
#[derive(Default)]
pub(crate) struct Interop {
    dropped: Arc<DroppedSamples>,
    dropped_registered: std::sync::OnceLock<()>,
    #[cfg(feature = "metrics")]
    pub(crate) facade: std::sync::OnceLock<Arc<metrics_facade::FacadeState>>,
}

impl fmt::Debug for Interop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interop").finish_non_exhaustive()
    }
}

impl Interop {
    /// The dropped-samples counters, registered in the exposition the first time any source
    /// asks for them; `source`'s rows are exposed from now on.
    pub(crate) fn dropped(metrics: &Metrics, source: Source) -> Arc<DroppedSamples> {
        let interop = metrics.shared.interop();
        interop.dropped.in_use[source.index()].store(true, Ordering::Relaxed);
        interop.dropped_registered.get_or_init(|| {
            let collector = DroppedSamplesCollector(Arc::clone(&interop.dropped));
            metrics.add_part(|part| part.register_collector(Box::new(collector)));
        });
        Arc::clone(&interop.dropped)
    }
}

/// How many sources are compiled in (the length of the `in_use` flags), prometheus-client last.
const SOURCES: usize = {
    let mut count = 1;
    if cfg!(feature = "metrics") {
        count += 1;
    }
    if cfg!(feature = "prometheus") {
        count += 1;
    }
    count
};

/// Drops the NaN samples OpenMetrics forbids from the part just encoded into `text[from..]`
/// (a counter's value, a histogram's sum and count), which prometheus-client writes as they
/// are, and counts them as dropped by the `prometheus_client` source: a NaN observed on a
/// prometheus-client histogram you registered would otherwise make strict parsers reject the
/// whole scrape. Both text formats drop them, so that both show the same series.
pub(crate) fn drop_nan_samples(shared: &crate::metrics::Shared, text: &mut String, from: usize) {
    let dropped = crate::exposition::text::drop_nan_counter_samples(text, from);
    if dropped > 0 {
        let interop = shared.interop();
        interop
            .dropped
            .add(Source::PrometheusClient, Reason::NotANumber, dropped);
    }
}

/// The refusal of the first help text in `registry` that [`Metrics::register`] would refuse
/// ([`RegistrationError::InvalidHelp`](crate::RegistrationError::InvalidHelp), naming the
/// family as exposed), read from its Prometheus text encoding, which escapes a help's
/// backslashes and line feeds.
pub(crate) fn help_refusal(
    registry: &prometheus_client::registry::Registry,
) -> Option<crate::RegistrationError> {
    let mut text = String::new();
    // A metric failing to encode (or panicking) fails its part at scrape time instead.
    let encode = || prometheus_client::encoding::prometheus_text::encode(&mut text, registry);
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(encode));
    // `split`, not `lines`: a carriage return before the line feed belongs to the help.
    text.split('\n')
        .filter_map(|line| line.strip_prefix("# HELP "))
        .find_map(|declaration| {
            let (name, escaped) = declaration.split_once(' ').unwrap_or((declaration, ""));
            let mut help = String::with_capacity(escaped.len());
            let mut characters = escaped.chars();
            while let Some(character) = characters.next() {
                help.push(match character {
                    '\\' => match characters.next() {
                        Some('n') => '\n',
                        Some(escaped) => escaped,
                        None => '\\',
                    },
                    other => other,
                });
            }
            let (byte, character) = crate::exposition::text::help_problem(&help)?;
            Some(crate::RegistrationError::InvalidHelp {
                name: name.to_owned(),
                byte,
                character,
            })
        })
}

/// `http_metrics_dropped_samples_total`, one counter per row of [`ROWS`], and which sources
/// are in use.
#[derive(Debug, Default)]
pub(crate) struct DroppedSamples {
    counts: [AtomicU64; ROWS.len()],
    in_use: [AtomicBool; SOURCES],
}

impl DroppedSamples {
    pub(crate) fn add(&self, source: Source, reason: Reason, samples: u64) {
        if let Some(row) = ROWS.iter().position(|row| row.0 == source && row.1 == reason) {
            self.counts[row].fetch_add(samples, Ordering::Relaxed);
        }
    }
}

#[derive(Debug)]
struct DroppedSamplesCollector(Arc<DroppedSamples>);

impl Collector for DroppedSamplesCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), fmt::Error> {
        let dropped = &self.0;
        let counter = ConstCounter::new(0u64);
        // The period prometheus-client's `Registry::register` adds to every other help text.
        let help = format!("{}.", DROPPED_SAMPLES.help);
        let mut family =
            encoder.encode_descriptor(DROPPED_SAMPLES.name, &help, None, counter.metric_type())?;
        for (row, (source, _, source_label, reason_label)) in ROWS.iter().enumerate() {
            if !dropped.in_use[source.index()].load(Ordering::Relaxed) {
                continue;
            }
            let labels = [("source", *source_label), ("reason", *reason_label)];
            let value = dropped.counts[row].load(Ordering::Relaxed);
            ConstCounter::new(value).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// `name` made a valid Prometheus metric name the way other exporters do: every other
/// character becomes `_`, a leading digit gets a `_` in front, and leading underscores are
/// cut to one (`__` starts the names Prometheus reserves for itself).
#[cfg(feature = "metrics")]
pub(crate) fn sanitized_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 1);
    if name.chars().next().is_none_or(|first| first.is_ascii_digit()) {
        out.push('_');
    }
    out.extend(name.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            c
        } else {
            '_'
        }
    }));
    let extra_underscores = out.len() - out.trim_start_matches('_').len();
    out.drain(..extra_underscores.saturating_sub(1));
    out
}

#[cfg(test)]
mod tests {
    #[cfg(any(feature = "metrics", feature = "prometheus"))]
    use std::collections::BTreeSet;

    use crate::{Format, Metrics};

    #[cfg(any(feature = "metrics", feature = "prometheus"))]
    /// The (source, reason) pairs of `http_metrics_dropped_samples_total` in a text scrape.
    fn dropped_rows(metrics: &Metrics) -> BTreeSet<(String, String)> {
        let text = metrics.render(Format::PrometheusText).unwrap();
        let label = |line: &str, name: &str| {
            let start = line.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
            line[start..].split('"').next().unwrap().to_owned()
        };
        text.lines()
            .filter(|line| line.starts_with("http_metrics_dropped_samples_total{"))
            .map(|line| (label(line, "source"), label(line, "reason")))
            .collect()
    }

    #[cfg(any(feature = "metrics", feature = "prometheus"))]
    fn rows(pairs: &[(&str, &str)]) -> BTreeSet<(String, String)> {
        pairs
            .iter()
            .map(|(source, reason)| ((*source).to_owned(), (*reason).to_owned()))
            .collect()
    }

    #[cfg(feature = "metrics")]
    const METRICS_ROWS: [(&str, &str); 3] = [
        ("metrics", "name_clash"),
        ("metrics", "invalid_label"),
        ("metrics", "nan"),
    ];
    #[cfg(feature = "prometheus")]
    const PROMETHEUS_ROWS: [(&str, &str); 2] = [("prometheus", "name_clash"), ("prometheus", "nan")];

    #[test]
    fn a_registered_metric_exposes_the_prometheus_client_row_only() {
        let metrics = Metrics::new();
        let counter = prometheus_client::metrics::counter::Counter::<u64>::default();
        metrics.register("jobs", "Jobs run", counter).unwrap();
        let text = metrics.render(Format::PrometheusText).unwrap();
        let rows: Vec<&str> = text
            .lines()
            .filter(|line| line.starts_with("http_metrics_dropped_samples_total"))
            .collect();
        assert_eq!(
            rows,
            [
                r#"http_metrics_dropped_samples_total{source="prometheus_client",reason="name_clash"} 0"#,
                r#"http_metrics_dropped_samples_total{source="prometheus_client",reason="nan"} 0"#,
            ]
        );
    }

    #[test]
    fn without_a_source_in_use_no_dropped_samples_are_exposed() {
        let metrics = Metrics::new();
        let text = metrics.render(Format::PrometheusText).unwrap();
        assert!(!text.contains("http_metrics_dropped_samples"), "{text}");
    }

    #[cfg(feature = "metrics")]
    #[test]
    fn a_facade_recorder_exposes_the_rows_of_the_metrics_source_only() {
        let metrics = Metrics::new();
        let _recorder = metrics.metrics_recorder();
        assert_eq!(dropped_rows(&metrics), rows(&METRICS_ROWS));
    }

    #[cfg(feature = "prometheus")]
    #[test]
    fn a_rust_prometheus_registry_exposes_the_rows_of_the_prometheus_source_only() {
        let metrics = Metrics::new();
        metrics
            .register_rust_prometheus_registry(prometheus::Registry::new())
            .unwrap();
        assert_eq!(dropped_rows(&metrics), rows(&PROMETHEUS_ROWS));
    }

    #[cfg(all(feature = "metrics", feature = "prometheus"))]
    #[test]
    fn both_sources_in_use_expose_both_sources_rows_once() {
        let metrics = Metrics::new();
        let _recorder = metrics.metrics_recorder();
        metrics
            .register_rust_prometheus_registry(prometheus::Registry::new())
            .unwrap();
        let _again = metrics.metrics_recorder();
        let both: Vec<_> = METRICS_ROWS.iter().chain(&PROMETHEUS_ROWS).copied().collect();
        assert_eq!(dropped_rows(&metrics), rows(&both));
        let text = metrics.render(Format::PrometheusText).unwrap();
        assert_eq!(
            text.matches("# TYPE http_metrics_dropped_samples_total").count(),
            1,
            "{text}"
        );
    }
}
