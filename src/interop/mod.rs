//! Other metric sources exposed on the same `/metrics` as the HTTP families: the `metrics`
//! crate's facade, a rust-prometheus registry, another prometheus-client registry. Each one's
//! names are claimed through [`Metrics::claim_exposed_names`](crate::Metrics), so a name is
//! never exposed twice.

// Without the `metrics` and `prometheus` features no source drops samples: the dropped-samples
// accounting stays compiled (its name is reserved either way) but unused.
#![cfg_attr(not(any(feature = "metrics", feature = "prometheus")), allow(dead_code))]

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

/// Where a dropped sample came from, the `source` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    Metrics,
    Prometheus,
    /// Another prometheus-client registry or a collector (`register_registry`,
    /// `register_collector`).
    PrometheusClient,
}

/// Why a sample was dropped, the `reason` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reason {
    /// Its name clashes with a name another source (or ours) already exposes.
    NameClash,
    /// A label name Prometheus refuses, or one the exposition already uses.
    InvalidLabel,
}

const ROWS: [(Source, Reason, &str, &str); 4] = [
    (Source::Metrics, Reason::NameClash, "metrics", "name_clash"),
    (Source::Metrics, Reason::InvalidLabel, "metrics", "invalid_label"),
    (Source::Prometheus, Reason::NameClash, "prometheus", "name_clash"),
    (
        Source::PrometheusClient,
        Reason::NameClash,
        "prometheus_client",
        "name_clash",
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
    /// asks for them.
    pub(crate) fn dropped(metrics: &Metrics) -> Arc<DroppedSamples> {
        let dropped = Self::dropped_counters(metrics);
        dropped.sources_in_use.store(true, Ordering::Relaxed);
        dropped
    }

    /// [`Self::dropped`] for another prometheus-client registry or a collector, whose row
    /// shows only once it dropped something (most never do).
    pub(crate) fn dropped_for_parts(metrics: &Metrics) -> Arc<DroppedSamples> {
        Self::dropped_counters(metrics)
    }

    fn dropped_counters(metrics: &Metrics) -> Arc<DroppedSamples> {
        let interop = metrics.shared.interop();
        interop.dropped_registered.get_or_init(|| {
            let collector = DroppedSamplesCollector(Arc::clone(&interop.dropped));
            metrics.add_part(|part| part.register_collector(Box::new(collector)));
        });
        Arc::clone(&interop.dropped)
    }
}

/// `http_metrics_dropped_samples_total`, one counter per row of [`ROWS`].
#[derive(Debug, Default)]
pub(crate) struct DroppedSamples {
    rows: [AtomicU64; ROWS.len()],
    /// Whether the facade or a rust-prometheus registry asked for these counters: their rows
    /// show from then on, even at 0.
    sources_in_use: AtomicBool,
}

impl DroppedSamples {
    pub(crate) fn add(&self, source: Source, reason: Reason, samples: u64) {
        if let Some(row) = ROWS.iter().position(|row| row.0 == source && row.1 == reason) {
            self.rows[row].fetch_add(samples, Ordering::Relaxed);
        }
    }
}

#[derive(Debug)]
struct DroppedSamplesCollector(Arc<DroppedSamples>);

impl Collector for DroppedSamplesCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), fmt::Error> {
        // Another registry's or a collector's row shows once it dropped something: every
        // such registration asks for these counters, and most never drop a sample.
        let others = self.0.sources_in_use.load(Ordering::Relaxed);
        let values: Vec<(usize, u64)> = ROWS
            .iter()
            .enumerate()
            .map(|(row, _)| (row, self.0.rows[row].load(Ordering::Relaxed)))
            .filter(|(row, value)| match ROWS[*row].0 {
                Source::PrometheusClient => *value > 0,
                _ => others,
            })
            .collect();
        if values.is_empty() {
            return Ok(());
        }
        let counter = ConstCounter::new(0u64);
        // The period prometheus-client's `Registry::register` adds to every other help text.
        let help = format!("{}.", DROPPED_SAMPLES.help);
        let mut family =
            encoder.encode_descriptor(DROPPED_SAMPLES.name, &help, None, counter.metric_type())?;
        for (row, value) in values {
            let (_, _, source, reason) = ROWS[row];
            let labels = [("source", source), ("reason", reason)];
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
