//! A rust-prometheus (`prometheus` crate) registry exposed beside ours: what it gathers is
//! converted, family by family, into prometheus-client encoder calls on every scrape.

use std::fmt;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use prometheus::proto::{Metric, MetricFamily, MetricType as GatheredType};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

use super::{DroppedSamples, Interop, Reason, Source};
use crate::exposition::text::clean_help;
use crate::metrics::Shared;
use crate::registry::names::counter_base;
use crate::{Metrics, RegistrationError};

impl Metrics {
    /// Exposes everything a **rust-prometheus** (`prometheus` crate) `Registry` gathers
    /// (counters, gauges, histograms, summaries, untyped, with their labels) after ours, in
    /// every format, as it is: its names and labels unchanged (our namespace and constant
    /// labels are not added). For a **prometheus-client** registry, see
    /// [`register_prometheus_client_registry`](Self::register_prometheus_client_registry).
    ///
    /// The names it gathers now are claimed as [`register`](Self::register) claims one, all
    /// or none: a clash with ours or with another source refuses the registry. A family it
    /// starts gathering later is claimed on the scrape that first sees it; one that clashes
    /// then is left out and its samples counted in
    /// `http_metrics_dropped_samples_total{source="prometheus",reason="name_clash"}` (which
    /// a scrape shows for the scrapes before it: that counter is encoded first).
    ///
    /// Every format stays valid whatever it gathers: help texts are cleaned (each control
    /// character becomes a space, each backslash a `/`), and a counter whose value or a
    /// histogram whose sum is NaN is left out and counted in
    /// `http_metrics_dropped_samples_total{source="prometheus",reason="nan"}`.
    ///
    /// prometheus-client has no summary type: a summary `x` is served as the gauges
    /// `x{quantile=…}`, `x_sum` and `x_count`, the same sample lines as a summary's. An
    /// untyped family is served as a gauge.
    ///
    /// ```
    /// use tower_prometheus::{Format, Metrics};
    ///
    /// let registry = prometheus::Registry::new();
    /// let jobs = prometheus::IntCounterVec::new(prometheus::Opts::new("jobs_total", "Jobs run"), &["queue"]).unwrap();
    /// registry.register(Box::new(jobs.clone())).unwrap();
    /// jobs.with_label_values(&["mail"]).inc();
    ///
    /// let metrics = Metrics::new();
    /// metrics.register_rust_prometheus_registry(registry.clone()).unwrap();
    /// let text = metrics.render(Format::PrometheusText).unwrap();
    /// assert!(text.contains("jobs_total{queue=\"mail\"} 1"));
    ///
    /// // The same names twice are refused.
    /// assert!(metrics.register_rust_prometheus_registry(registry).is_err());
    /// ```
    pub fn register_rust_prometheus_registry(
        &self,
        registry: prometheus::Registry,
    ) -> Result<(), RegistrationError> {
        // A collector panicking now fails the part at scrape time, under the encode error
        // policy, instead of the registration: its names are then claimed by the scrapes.
        let gathered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| registry.gather()));
        let claimed: Vec<String> = gathered
            .unwrap_or_default()
            .iter()
            .flat_map(exposed_names)
            .collect();
        self.claim_exposed_names(&claimed)?;
        let collector = GatheredCollector {
            registry,
            metrics: Arc::downgrade(&self.shared),
            claimed: Mutex::new(claimed),
            dropped: Interop::dropped(self, Source::Prometheus),
        };
        self.shared.push_part(crate::metrics::bare_part(collector));
        Ok(())
    }
}

/// The names a gathered family is exposed under, as [`GatheredCollector`] encodes it; a
/// summary `x` claims `x`, which reserves its `x_sum` and `x_count` under the claim rules.
fn exposed_names(family: &MetricFamily) -> Vec<String> {
    let name = family.name();
    match family.get_field_type() {
        GatheredType::COUNTER => vec![format!("{}_total", counter_base(name))],
        _ => vec![name.to_owned()],
    }
}

struct GatheredCollector {
    registry: prometheus::Registry,
    /// Weak: the collector lives in the parts `Shared` holds.
    metrics: Weak<Shared>,
    /// The exposed names claimed so far, at registration and by later scrapes.
    claimed: Mutex<Vec<String>>,
    dropped: Arc<DroppedSamples>,
}

impl fmt::Debug for GatheredCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatheredCollector").finish_non_exhaustive()
    }
}

impl GatheredCollector {
    /// Whether `family` may be exposed: its names were claimed, now or before.
    fn claim(&self, family: &MetricFamily) -> bool {
        let names = exposed_names(family);
        let mut claimed = self.claimed.lock();
        if names.iter().all(|name| claimed.contains(name)) {
            return true;
        }
        let Some(shared) = self.metrics.upgrade() else {
            return false;
        };
        let metrics = Metrics { shared };
        if metrics.claim_exposed_names(&names).is_err() {
            return false;
        }
        claimed.extend(names);
        true
    }
}

impl Collector for GatheredCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), fmt::Error> {
        for family in self.registry.gather() {
            if !self.claim(&family) {
                let samples = family.get_metric().len() as u64;
                self.dropped.add(Source::Prometheus, Reason::NameClash, samples);
                continue;
            }
            encode_family(&mut encoder, &family, &self.dropped)?;
        }
        Ok(())
    }
}

fn labels(metric: &Metric) -> Vec<(&str, &str)> {
    metric
        .get_label()
        .iter()
        .map(|pair| (pair.name(), pair.value()))
        .collect()
}

/// Encodes one gathered family. A counter whose value or a histogram whose sum is NaN (a NaN
/// observed or added) is left out and counted: OpenMetrics forbids both, and a strict parser
/// rejects the whole scrape for one. The help text is cleaned as the facade's descriptions are.
fn encode_family(
    encoder: &mut DescriptorEncoder<'_>,
    family: &MetricFamily,
    dropped: &DroppedSamples,
) -> fmt::Result {
    let name = family.name();
    let help = &*clean_help(family.help());
    let not_a_number = || dropped.add(Source::Prometheus, Reason::NotANumber, 1);
    match family.get_field_type() {
        GatheredType::COUNTER => {
            let base = counter_base(name);
            let mut descriptor = encoder.encode_descriptor(base, help, None, MetricType::Counter)?;
            for metric in family.get_metric() {
                let value = metric.get_counter().value();
                if value.is_nan() {
                    not_a_number();
                    continue;
                }
                let labels = labels(metric);
                descriptor
                    .encode_family(&labels)?
                    .encode_counter::<NoLabelSet, f64, f64>(&value, None)?;
            }
        }
        GatheredType::GAUGE => {
            encode_values(encoder, name, help, MetricType::Gauge, family, |metric| {
                metric.get_gauge().value()
            })?;
        }
        // A gauge: prometheus-client's protobuf encoder would put an untyped value where
        // Prometheus does not read it.
        GatheredType::UNTYPED => {
            encode_values(encoder, name, help, MetricType::Gauge, family, |metric| {
                metric.untyped.value()
            })?;
        }
        GatheredType::HISTOGRAM => {
            let mut descriptor = encoder.encode_descriptor(name, help, None, MetricType::Histogram)?;
            for metric in family.get_metric() {
                let histogram = metric.get_histogram();
                if histogram.sample_sum().is_nan() {
                    not_a_number();
                    continue;
                }
                // Gathered buckets are cumulative and leave `+Inf` implied; the encoder wants
                // each bucket's own count, `+Inf` last.
                let mut buckets = Vec::with_capacity(histogram.get_bucket().len() + 1);
                let mut below = 0;
                for bucket in histogram.get_bucket() {
                    let cumulative = bucket.cumulative_count();
                    buckets.push((bucket.upper_bound(), cumulative.saturating_sub(below)));
                    below = cumulative;
                }
                if buckets.last().is_none_or(|(bound, _)| *bound != f64::INFINITY) {
                    buckets.push((f64::INFINITY, histogram.sample_count().saturating_sub(below)));
                }
                let labels = labels(metric);
                descriptor
                    .encode_family(&labels)?
                    .encode_histogram::<NoLabelSet>(
                        histogram.sample_sum(),
                        histogram.sample_count(),
                        &buckets,
                        None,
                    )?;
            }
        }
        GatheredType::SUMMARY => {
            let mut descriptor = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for metric in family.get_metric() {
                let labels = labels(metric);
                for quantile in metric.get_summary().get_quantile() {
                    let mut with_quantile = labels.clone();
                    let bound = dtoa::Buffer::new().format(quantile.quantile()).to_owned();
                    with_quantile.push(("quantile", &bound));
                    descriptor
                        .encode_family(&with_quantile)?
                        .encode_gauge(&quantile.value())?;
                }
            }
            let sum_name = format!("{name}_sum");
            encode_values(encoder, &sum_name, help, MetricType::Gauge, family, |metric| {
                metric.get_summary().sample_sum()
            })?;
            let count_name = format!("{name}_count");
            encode_values(encoder, &count_name, help, MetricType::Gauge, family, |metric| {
                metric.get_summary().sample_count() as f64
            })?;
        }
    }
    Ok(())
}

/// One family of single-valued samples.
fn encode_values(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    metric_type: MetricType,
    family: &MetricFamily,
    value: impl Fn(&Metric) -> f64,
) -> fmt::Result {
    let mut descriptor: MetricEncoder<'_> = encoder.encode_descriptor(name, help, None, metric_type)?;
    for metric in family.get_metric() {
        let labels = labels(metric);
        descriptor.encode_family(&labels)?.encode_gauge(&value(metric))?;
    }
    Ok(())
}
