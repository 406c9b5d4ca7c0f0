//! No name is ever exposed twice, whatever a registry or a collector holds when it is
//! registered: a clash known then is refused, one that shows up later is left out of the
//! exposition and counted in `http_metrics_dropped_samples_total{source="prometheus_client"}`.

use crate::support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use support::exposition::{scrape, value};
use tower_prometheus::{Format, Metrics, RegistrationError};

type Labelled = Family<Vec<(String, String)>, Counter>;

fn labelled(registry: &mut Registry, name: &str) -> Labelled {
    let family = Labelled::default();
    registry.register(name, "a user's family", family.clone());
    family
}

fn one_series(family: &Labelled) {
    family
        .get_or_create(&vec![("queue".to_owned(), "mail".to_owned())])
        .inc();
}

/// How many `# HELP` and `# TYPE` lines each name has, in both text formats; every family
/// name of the protobuf exposition, too.
fn assert_each_name_once(metrics: &Metrics) {
    for format in [Format::PrometheusText, Format::OpenMetrics] {
        let text = metrics.render(format).unwrap();
        for prefix in ["# HELP ", "# TYPE "] {
            let mut names: Vec<&str> = text
                .lines()
                .filter_map(|line| line.strip_prefix(prefix)?.split(' ').next())
                .collect();
            let count = names.len();
            names.sort_unstable();
            names.dedup();
            assert_eq!(
                names.len(),
                count,
                "{format:?}: a name twice after {prefix:?}:\n{text}"
            );
        }
    }
    #[cfg(feature = "protobuf")]
    {
        let mut names: Vec<String> = support::exposition::protobuf_families(metrics)
            .into_iter()
            .map(|family| family.name)
            .collect();
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count, "protobuf: a family name twice");
    }
}

fn dropped(metrics: &Metrics) -> Option<f64> {
    value(
        &scrape(metrics, Format::PrometheusText),
        "http_metrics_dropped_samples_total",
        &[("source", "prometheus_client"), ("reason", "name_clash")],
    )
}

#[test]
fn an_empty_family_named_like_ours_is_left_out_once_it_has_series() {
    let metrics = Metrics::builder().process_metrics(false).build().unwrap();
    let mut library = Registry::default();
    let clash = labelled(&mut library, "http_requests_total_by_method");
    let own = labelled(&mut library, "jobs");
    // Empty, the families encode nothing: the clash cannot be known yet.
    metrics.register_prometheus_client_registry(library).unwrap();
    one_series(&clash);
    one_series(&own);
    assert_each_name_once(&metrics);
    let samples = scrape(&metrics, Format::PrometheusText);
    assert_eq!(value(&samples, "jobs_total", &[("queue", "mail")]), Some(1.0));
    assert_eq!(
        value(
            &samples,
            "http_requests_total_by_method_total",
            &[("queue", "mail")]
        ),
        None,
        "ours stays, the user's family is left out"
    );
    assert!(dropped(&metrics).is_some_and(|dropped| dropped >= 1.0));
}

#[test]
fn two_registries_with_the_same_empty_family_expose_it_once() {
    let metrics = Metrics::builder().process_metrics(false).build().unwrap();
    let mut first = Registry::default();
    let mut second = Registry::default();
    let a = labelled(&mut first, "jobs");
    let b = labelled(&mut second, "jobs");
    metrics.register_prometheus_client_registry(first).unwrap();
    metrics.register_prometheus_client_registry(second).unwrap();
    one_series(&b);
    // The second registry's family shows first: it claims the name, and keeps it.
    assert_each_name_once(&metrics);
    one_series(&a);
    one_series(&a);
    assert_each_name_once(&metrics);
    let samples = scrape(&metrics, Format::PrometheusText);
    assert_eq!(value(&samples, "jobs_total", &[("queue", "mail")]), Some(1.0));
    assert!(dropped(&metrics).is_some_and(|dropped| dropped >= 1.0));
}

#[derive(Debug)]
struct Named(&'static str);

impl Collector for Named {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let gauge = ConstGauge::new(1);
        let metric = encoder.encode_descriptor(self.0, "a collector's gauge", None, gauge.metric_type())?;
        gauge.encode(metric)
    }
}

#[test]
fn a_collector_clashing_when_registered_is_refused() {
    let metrics = Metrics::builder().process_metrics(false).build().unwrap();
    let refused = metrics.register_collector(Box::new(Named("http_requests_in_flight")));
    assert!(matches!(refused, Err(RegistrationError::Reserved(name)) if name == "http_requests_in_flight"));
    metrics.register_collector(Box::new(Named("answer"))).unwrap();
    assert!(matches!(
        metrics.register_collector(Box::new(Named("answer"))),
        Err(RegistrationError::Duplicate(_))
    ));
    let mut registry = Registry::default();
    registry.register("answer", "again", Counter::<u64>::default());
    assert!(
        metrics.register_prometheus_client_registry(registry).is_err(),
        "a counter answer_total is not answer"
    );
    assert_each_name_once(&metrics);
}

/// A collector that emits a second family only once `late` is set.
#[derive(Debug)]
struct Late(Arc<AtomicBool>, &'static str);

impl Collector for Late {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let gauge = ConstGauge::new(1);
        let metric = encoder.encode_descriptor("early", "always there", None, gauge.metric_type())?;
        gauge.encode(metric)?;
        if self.0.load(Ordering::Relaxed) {
            let counter = ConstCounter::new(3_u64);
            let metric = encoder.encode_descriptor(self.1, "late", None, counter.metric_type())?;
            counter.encode(metric)?;
        }
        Ok(())
    }
}

#[test]
fn a_name_a_collector_emits_later_is_claimed_or_left_out() {
    let metrics = Metrics::builder().process_metrics(false).build().unwrap();
    let late = Arc::new(AtomicBool::new(false));
    metrics
        .register_collector(Box::new(Late(Arc::clone(&late), "http_ajax_requests")))
        .unwrap();
    let fine = Arc::new(AtomicBool::new(false));
    metrics
        .register_collector(Box::new(Late(Arc::clone(&fine), "late_jobs")))
        .unwrap_err();
    // `early` is the first collector's: the second is refused whole. Its names go free.
    let mut registry = Registry::default();
    registry.register("late_jobs", "claimed by a registry", Counter::<u64>::default());
    metrics.register_prometheus_client_registry(registry).unwrap();
    late.store(true, Ordering::Relaxed);
    assert_each_name_once(&metrics);
    let samples = scrape(&metrics, Format::PrometheusText);
    assert_eq!(value(&samples, "early", &[]), Some(1.0));
    assert_eq!(
        value(&samples, "http_ajax_requests_total", &[]),
        Some(0.0),
        "ours, not the collector's 3"
    );
    assert!(dropped(&metrics).is_some_and(|dropped| dropped >= 1.0));
}
