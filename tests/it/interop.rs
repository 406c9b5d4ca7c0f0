//! Other metric sources on the same exposition: the `metrics` facade, a rust-prometheus
//! registry and another prometheus-client registry, in every format, and every way their
//! names can collide with ours or with each other.

use std::collections::BTreeSet;

use prometheus_client::metrics::counter::Counter as ClientCounter;
use prometheus_client::registry::Registry as ClientRegistry;
use tower_prometheus::{Format, Metrics, RegistrationError};

use crate::support::exposition::{parse, scrape, value, Sample};

fn quiet_metrics() -> Metrics {
    Metrics::builder().process_metrics(false).build().unwrap()
}

/// As `quiet_metrics`, serving the parts that encode when another fails.
fn metrics_serving_what_encodes() -> Metrics {
    crate::support::tools::quiet_intentional_panics();
    Metrics::builder()
        .process_metrics(false)
        .encode_error_policy(tower_prometheus::EncodeErrorPolicy::ServeWhatEncodes)
        .build()
        .unwrap()
}

/// Scrapes twice and returns the second scrape, asserting it counts the failing part: our
/// part, the encode-error counter included, is rendered before the failing one, so the
/// second scrape shows the first's failure.
fn second_scrape_counting_the_failure(metrics: &Metrics) -> Vec<Sample> {
    metrics.render(Format::PrometheusText).unwrap();
    let samples = scrape(metrics, Format::PrometheusText);
    let errors = crate::support::exposition::total(&samples, "http_metrics_encode_errors_total", &[]);
    assert!(errors >= 1.0, "the failing part is counted");
    samples
}

/// Every family declared in a text exposition, asserting none is declared twice.
fn declared_families(text: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for line in text.lines() {
        if let Some(declaration) = line.strip_prefix("# TYPE ") {
            let name = declaration.split(' ').next().unwrap().to_owned();
            assert!(seen.insert(name.clone()), "family {name} declared twice:\n{text}");
        }
    }
    seen
}

fn text_formats() -> [Format; 2] {
    [Format::PrometheusText, Format::OpenMetrics]
}

#[test]
fn the_dropped_samples_labels_are_refused_as_constant_labels() {
    for name in ["source", "reason"] {
        let refused = Metrics::builder().const_label(name, "x").build().unwrap_err();
        assert_eq!(refused.option(), "const_label");
        assert!(refused.to_string().contains(name), "{refused}");
    }
}

#[cfg(any(feature = "metrics", feature = "prometheus"))]
fn dropped(metrics: &Metrics, source: &str, reason: &str) -> f64 {
    let samples = scrape(metrics, Format::PrometheusText);
    let labels = [("source", source), ("reason", reason)];
    let matching = samples.iter().filter(|sample| {
        sample.name == "http_metrics_dropped_samples_total"
            && labels
                .iter()
                .all(|(key, value)| sample.labels.get(*key).map(String::as_str) == Some(*value))
    });
    let values: Vec<f64> = matching.map(|sample| sample.value).collect();
    assert_eq!(
        values.len(),
        1,
        "one dropped-samples series for {source}/{reason}"
    );
    values[0]
}

#[cfg(feature = "metrics")]
mod facade {
    use super::*;

    fn record_all_kinds(metrics: &Metrics) {
        let recorder = metrics
            .metrics_recorder()
            .buckets_for_name("job_duration_seconds", [0.1, 1.5])
            .unwrap();
        metrics::with_local_recorder(&recorder, || {
            metrics::describe_counter!("jobs_total", "Jobs run");
            metrics::describe_histogram!("job_duration_seconds", metrics::Unit::Seconds, "Time per job");
            metrics::counter!("jobs_total", "queue" => "mail").increment(3);
            metrics::counter!("jobs_total", "queue" => "sms").increment(1);
            let depth = metrics::gauge!("queue_depth", "queue" => "mail");
            depth.set(10.0);
            depth.increment(2.5);
            depth.decrement(0.5);
            let duration = metrics::histogram!("job_duration_seconds", "queue" => "mail");
            duration.record(0.05);
            duration.record(0.5);
            duration.record(5.0);
        });
    }

    #[test]
    fn counters_gauges_and_histograms_land_in_both_text_formats_with_namespace_and_labels() {
        let metrics = Metrics::builder()
            .namespace("shop")
            .const_label("region", "eu")
            .process_metrics(false)
            .build()
            .unwrap();
        record_all_kinds(&metrics);
        for format in text_formats() {
            let text = metrics.render(format).unwrap();
            declared_families(&text);
            let samples = parse(&text, format).unwrap();
            let mail = [("queue", "mail"), ("region", "eu")];
            assert_eq!(
                value(&samples, "shop_jobs_total", &mail),
                Some(3.0),
                "{format:?}\n{text}"
            );
            assert_eq!(
                value(&samples, "shop_jobs_total", &[("queue", "sms"), ("region", "eu")]),
                Some(1.0)
            );
            assert_eq!(value(&samples, "shop_queue_depth", &mail), Some(12.0));
            assert_eq!(
                value(&samples, "shop_job_duration_seconds_count", &mail),
                Some(3.0)
            );
            assert_eq!(
                value(&samples, "shop_job_duration_seconds_sum", &mail),
                Some(5.55)
            );
            let bucket = |le: &str| {
                value(
                    &samples,
                    "shop_job_duration_seconds_bucket",
                    &[("queue", "mail"), ("region", "eu"), ("le", le)],
                )
            };
            assert_eq!(
                (bucket("0.1"), bucket("1.5"), bucket("+Inf")),
                (Some(1.0), Some(2.0), Some(3.0)),
                "{text}"
            );
            assert!(
                text.contains("# HELP shop_jobs_total Jobs run\n")
                    || text.contains("# HELP shop_jobs Jobs run\n"),
                "{text}"
            );
            assert!(
                text.contains("# HELP shop_job_duration_seconds Time per job"),
                "{text}"
            );
            assert!(
                text.contains("# TYPE shop_job_duration_seconds histogram"),
                "{text}"
            );
        }
        let openmetrics = metrics.render(Format::OpenMetrics).unwrap();
        assert!(
            openmetrics.contains("# UNIT shop_job_duration_seconds seconds"),
            "{openmetrics}"
        );
    }

    #[cfg(feature = "protobuf")]
    #[test]
    fn the_same_families_decode_from_protobuf() {
        use prometheus_client::encoding::prometheus_protobuf::prometheus_data_model::MetricType;

        let metrics = quiet_metrics();
        record_all_kinds(&metrics);
        let families = protobuf::decode(&metrics.render_bytes(Format::Protobuf).unwrap());
        let jobs = protobuf::family(&families, "jobs_total");
        assert_eq!(jobs.r#type, MetricType::Counter as i32);
        assert_eq!(jobs.metric.len(), 2);
        assert_eq!(jobs.metric[0].counter.as_ref().unwrap().value, 3.0);
        let depth = protobuf::family(&families, "queue_depth");
        assert_eq!(depth.metric[0].gauge.as_ref().unwrap().value, 12.0);
        let duration = protobuf::family(&families, "job_duration_seconds");
        assert_eq!(duration.r#type, MetricType::Histogram as i32);
        let histogram = duration.metric[0].histogram.as_ref().unwrap();
        assert_eq!(histogram.sample_count, 3);
        let cumulative: Vec<u64> = histogram
            .bucket
            .iter()
            .map(|bucket| bucket.cumulative_count)
            .collect();
        assert_eq!(cumulative, [1, 2, 3]);
    }

    #[test]
    fn histogram_buckets_are_chosen_by_name_then_longest_prefix_then_default() {
        let metrics = quiet_metrics();
        let recorder = metrics
            .metrics_recorder()
            .default_buckets([100.5])
            .unwrap()
            .buckets_for_prefix("db_", [1.5])
            .unwrap()
            .buckets_for_prefix("db_slow_", [2.5])
            .unwrap()
            .buckets_for_name("db_slow_exact", [3.5])
            .unwrap();
        metrics::with_local_recorder(&recorder, || {
            for name in ["other", "db_query", "db_slow_scan", "db_slow_exact"] {
                metrics::histogram!(name).record(0.5);
            }
        });
        let samples = scrape(&metrics, Format::PrometheusText);
        for (name, bound) in [
            ("other", "100.5"),
            ("db_query", "1.5"),
            ("db_slow_scan", "2.5"),
            ("db_slow_exact", "3.5"),
        ] {
            let bucket = format!("{name}_bucket");
            assert_eq!(value(&samples, &bucket, &[("le", bound)]), Some(1.0), "{name}");
            assert_eq!(
                crate::support::exposition::series(&samples, &bucket),
                2,
                "{name}: one bound and +Inf"
            );
        }
    }

    #[test]
    fn bad_buckets_are_refused_naming_the_option() {
        let metrics = quiet_metrics();
        let error = metrics
            .metrics_recorder()
            .buckets_for_prefix("db_", [f64::NAN])
            .unwrap_err();
        assert_eq!(error.option(), "metrics_recorder.buckets_for_prefix");
        let error = metrics.metrics_recorder().buckets_for_name("x", []).unwrap_err();
        assert_eq!(error.option(), "metrics_recorder.buckets_for_name");
    }

    #[test]
    fn a_name_clashing_with_ours_or_a_registered_metric_is_dropped_and_counted() {
        let metrics = quiet_metrics();
        metrics
            .register("orders", "Orders", ClientCounter::<u64>::default())
            .unwrap();
        let recorder = metrics.metrics_recorder();
        metrics::with_local_recorder(&recorder, || {
            // Ours: the request counter (`_total` or not, sample suffixes included).
            metrics::counter!("http_requests_before_middlewares_total").increment(1);
            metrics::gauge!("http_requests_latency_including_middlewares_seconds_count").set(1.0);
            // A metric registered through `register`.
            metrics::counter!("orders").increment(5);
            metrics::counter!("fine").increment(1);
        });
        let text = metrics.render(Format::PrometheusText).unwrap();
        declared_families(&text);
        let samples = parse(&text, Format::PrometheusText).unwrap();
        assert_eq!(
            value(&samples, "http_requests_before_middlewares_total", &[]),
            Some(0.0)
        );
        assert_eq!(
            value(&samples, "orders_total", &[]),
            Some(0.0),
            "the registered counter, untouched"
        );
        assert_eq!(value(&samples, "fine_total", &[]), Some(1.0));
        assert_eq!(dropped(&metrics, "metrics", "name_clash"), 3.0);
    }

    #[test]
    fn one_name_as_two_kinds_keeps_the_first_and_counts_the_second() {
        let metrics = quiet_metrics();
        let recorder = metrics.metrics_recorder();
        metrics::with_local_recorder(&recorder, || {
            metrics::counter!("events").increment(1);
            metrics::gauge!("events").set(7.0);
            metrics::histogram!("events_total").record(1.0);
        });
        let text = metrics.render(Format::PrometheusText).unwrap();
        declared_families(&text);
        assert!(text.contains("# TYPE events_total counter"), "{text}");
        assert_eq!(dropped(&metrics, "metrics", "name_clash"), 2.0);
    }

    #[test]
    fn a_name_the_facade_exposed_is_refused_to_register_and_to_other_sources() {
        let metrics = quiet_metrics();
        let recorder = metrics.metrics_recorder();
        metrics::with_local_recorder(&recorder, || metrics::counter!("signups").increment(1));
        let refused = metrics.register("signups", "again", ClientCounter::<u64>::default());
        assert!(
            matches!(refused, Err(RegistrationError::Duplicate(_))),
            "{refused:?}"
        );
        let mut library = ClientRegistry::default();
        library.register("signups", "again", ClientCounter::<u64>::default());
        assert!(matches!(
            metrics.register_prometheus_client_registry(library),
            Err(RegistrationError::Duplicate(_))
        ));
    }

    #[test]
    fn invalid_or_reserved_label_names_are_dropped_and_counted() {
        let metrics = Metrics::builder()
            .const_label("region", "eu")
            .process_metrics(false)
            .build()
            .unwrap();
        let recorder = metrics.metrics_recorder();
        metrics::with_local_recorder(&recorder, || {
            metrics::histogram!("sizes", "le" => "1").record(1.0);
            metrics::counter!("hits", "region" => "us").increment(1);
            metrics::counter!("hits", "bad-name" => "x").increment(1);
            metrics::counter!("hits", "ok" => "x").increment(1);
        });
        let samples = scrape(&metrics, Format::OpenMetrics);
        assert_eq!(
            value(&samples, "hits_total", &[("ok", "x"), ("region", "eu")]),
            Some(1.0)
        );
        assert_eq!(dropped(&metrics, "metrics", "invalid_label"), 3.0);
    }

    #[test]
    fn names_the_facade_allows_are_made_valid_prometheus_names() {
        let metrics = quiet_metrics();
        let recorder = metrics.metrics_recorder();
        metrics::with_local_recorder(&recorder, || {
            metrics::counter!("cache.hits").increment(2);
            metrics::gauge!("9lives").set(9.0);
            metrics::gauge!("__internal").set(1.0);
        });
        let samples = scrape(&metrics, Format::PrometheusText);
        assert_eq!(value(&samples, "cache_hits_total", &[]), Some(2.0));
        assert_eq!(value(&samples, "_9lives", &[]), Some(9.0));
        assert_eq!(
            value(&samples, "_internal", &[]),
            Some(1.0),
            "`__` is Prometheus's own prefix"
        );
    }

    #[test]
    fn threads_recording_through_the_macros_lose_no_sample() {
        const THREADS: usize = 4;
        const RECORDS: usize = 5_000;
        let metrics = quiet_metrics();
        let recorder = metrics.metrics_recorder();
        std::thread::scope(|scope| {
            for thread in 0..THREADS {
                let recorder = &recorder;
                scope.spawn(move || {
                    metrics::with_local_recorder(recorder, || {
                        // Registered on every call, as an application that keeps no handle does.
                        for _ in 0..RECORDS {
                            metrics::counter!("work", "kind" => "a").increment(1);
                            metrics::gauge!("level").increment(1.0);
                            metrics::histogram!("size", "thread" => (thread % 2).to_string()).record(0.5);
                        }
                    });
                });
            }
        });
        let samples = scrape(&metrics, Format::OpenMetrics);
        let total = (THREADS * RECORDS) as f64;
        assert_eq!(value(&samples, "work_total", &[("kind", "a")]), Some(total));
        assert_eq!(value(&samples, "level", &[]), Some(total));
        let counts = crate::support::exposition::total(&samples, "size_count", &[]);
        assert_eq!(counts, total);
        assert_eq!(crate::support::exposition::series(&samples, "size_count"), 2);
    }

    #[test]
    fn recorders_of_one_metrics_share_their_series() {
        let metrics = quiet_metrics();
        for _ in 0..2 {
            let recorder = metrics.metrics_recorder();
            metrics::with_local_recorder(&recorder, || metrics::counter!("shared", "a" => "1").increment(1));
        }
        let samples = scrape(&metrics, Format::PrometheusText);
        assert_eq!(value(&samples, "shared_total", &[("a", "1")]), Some(2.0));
    }
}

#[cfg(feature = "prometheus")]
mod prometheus_crate {
    use super::*;

    /// A rust-prometheus registry with one family of every type, labelled.
    fn rust_prometheus_registry() -> prometheus::Registry {
        let registry = prometheus::Registry::new();
        let counter = prometheus::IntCounterVec::new(
            prometheus::Opts::new("legacy_jobs_total", "Legacy jobs"),
            &["queue"],
        )
        .unwrap();
        let gauge = prometheus::GaugeVec::new(prometheus::Opts::new("legacy_temperature", "Heat"), &["room"])
            .unwrap();
        let histogram = prometheus::HistogramVec::new(
            prometheus::HistogramOpts::new("legacy_latency_seconds", "Latency").buckets(vec![0.1, 1.5]),
            &["route"],
        )
        .unwrap();
        registry.register(Box::new(counter.clone())).unwrap();
        registry.register(Box::new(gauge.clone())).unwrap();
        registry.register(Box::new(histogram.clone())).unwrap();
        registry.register(Box::new(LegacySummary)).unwrap();
        counter.with_label_values(&["mail"]).inc_by(4);
        gauge.with_label_values(&["lab"]).set(21.5);
        for seconds in [0.05, 0.5, 5.0] {
            histogram.with_label_values(&["/a"]).observe(seconds);
        }
        registry
    }

    /// rust-prometheus ships no summary of its own: a collector producing one, as an
    /// application's custom collector would.
    #[derive(Clone)]
    struct LegacySummary;

    impl prometheus::core::Collector for LegacySummary {
        fn desc(&self) -> Vec<&prometheus::core::Desc> {
            Vec::new()
        }

        fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
            let family = crate::support::rust_prometheus::summary_family(
                "legacy_rpc_seconds",
                "RPC time",
                &[("route", "/a")],
                (0.5, 0.25),
                4,
                1.5,
            );
            let mut untyped = prometheus::proto::Untyped::default();
            untyped.set_value(7.0);
            let metric = prometheus::proto::Metric {
                untyped: Some(untyped).into(),
                ..Default::default()
            };
            let mut other = prometheus::proto::MetricFamily::default();
            other.set_name("legacy_untyped".to_owned());
            other.set_help("Untyped".to_owned());
            other.set_field_type(prometheus::proto::MetricType::UNTYPED);
            other.set_metric(vec![metric]);
            vec![family, other]
        }
    }

    #[test]
    fn every_type_lands_in_both_text_formats_with_its_labels() {
        let metrics = Metrics::builder()
            .namespace("shop")
            .process_metrics(false)
            .build()
            .unwrap();
        metrics
            .register_rust_prometheus_registry(rust_prometheus_registry())
            .unwrap();
        for format in text_formats() {
            let text = metrics.render(format).unwrap();
            declared_families(&text);
            let samples = parse(&text, format).unwrap();
            assert_eq!(
                value(&samples, "legacy_jobs_total", &[("queue", "mail")]),
                Some(4.0),
                "{text}"
            );
            assert_eq!(
                value(&samples, "legacy_temperature", &[("room", "lab")]),
                Some(21.5)
            );
            let route = [("route", "/a")];
            assert_eq!(value(&samples, "legacy_latency_seconds_count", &route), Some(3.0));
            assert_eq!(value(&samples, "legacy_latency_seconds_sum", &route), Some(5.55));
            let bucket = |le| {
                value(
                    &samples,
                    "legacy_latency_seconds_bucket",
                    &[("route", "/a"), ("le", le)],
                )
            };
            assert_eq!(
                (bucket("0.1"), bucket("1.5"), bucket("+Inf")),
                (Some(1.0), Some(2.0), Some(3.0))
            );
            assert_eq!(
                value(
                    &samples,
                    "legacy_rpc_seconds",
                    &[("route", "/a"), ("quantile", "0.5")]
                ),
                Some(0.25)
            );
            assert_eq!(value(&samples, "legacy_rpc_seconds_sum", &route), Some(1.5));
            assert_eq!(value(&samples, "legacy_rpc_seconds_count", &route), Some(4.0));
            assert_eq!(value(&samples, "legacy_untyped", &[]), Some(7.0));
            assert!(text.contains("# HELP legacy_temperature Heat"), "{text}");
        }
    }

    #[cfg(feature = "protobuf")]
    #[test]
    fn every_type_decodes_from_protobuf() {
        use prometheus_client::encoding::prometheus_protobuf::prometheus_data_model::MetricType;

        let metrics = quiet_metrics();
        metrics
            .register_rust_prometheus_registry(rust_prometheus_registry())
            .unwrap();
        let families = protobuf::decode(&metrics.render_bytes(Format::Protobuf).unwrap());
        let jobs = protobuf::family(&families, "legacy_jobs_total");
        assert_eq!(jobs.r#type, MetricType::Counter as i32);
        assert_eq!(jobs.metric[0].counter.as_ref().unwrap().value, 4.0);
        let latency = protobuf::family(&families, "legacy_latency_seconds");
        let histogram = latency.metric[0].histogram.as_ref().unwrap();
        assert_eq!(histogram.sample_count, 3);
        let cumulative: Vec<u64> = histogram
            .bucket
            .iter()
            .map(|bucket| bucket.cumulative_count)
            .collect();
        assert_eq!(cumulative, [1, 2, 3]);
        let quantiles = protobuf::family(&families, "legacy_rpc_seconds");
        assert_eq!(quantiles.metric[0].gauge.as_ref().unwrap().value, 0.25);
        // Untyped as a gauge: Prometheus reads a protobuf untyped family's `untyped` field.
        let untyped = protobuf::family(&families, "legacy_untyped");
        assert_eq!(untyped.r#type, MetricType::Gauge as i32);
        assert_eq!(untyped.metric[0].gauge.as_ref().unwrap().value, 7.0);
    }

    /// A collector that panics on every gather.
    #[derive(Clone)]
    struct PanickingCollector;

    impl prometheus::core::Collector for PanickingCollector {
        fn desc(&self) -> Vec<&prometheus::core::Desc> {
            Vec::new()
        }

        fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
            panic!("a rust-prometheus collector failing on purpose");
        }
    }

    #[test]
    fn a_registry_whose_collector_panics_is_registered_and_left_out_at_scrape() {
        let metrics = metrics_serving_what_encodes();
        let registry = prometheus::Registry::new();
        registry.register(Box::new(PanickingCollector)).unwrap();
        metrics.register_rust_prometheus_registry(registry).unwrap();
        second_scrape_counting_the_failure(&metrics);
    }

    #[test]
    fn a_registry_clashing_with_ours_or_another_source_is_refused_whole() {
        let metrics = quiet_metrics();
        let ours = prometheus::Registry::new();
        let clash = prometheus::IntCounter::new("http_requests_before_middlewares_total", "mine").unwrap();
        ours.register(Box::new(clash)).unwrap();
        let innocent =
            prometheus::IntGauge::new("innocent", "not claimed when the registry is refused").unwrap();
        ours.register(Box::new(innocent)).unwrap();
        assert!(matches!(
            metrics.register_rust_prometheus_registry(ours),
            Err(RegistrationError::Reserved(_))
        ));
        // Nothing of the refused registry was claimed.
        metrics
            .register("innocent", "mine", ClientCounter::<u64>::default())
            .unwrap();

        metrics
            .register("orders", "Orders", ClientCounter::<u64>::default())
            .unwrap();
        let other = prometheus::Registry::new();
        other
            .register(Box::new(
                prometheus::Gauge::new("orders_count", "clashes with orders' samples").unwrap(),
            ))
            .unwrap();
        assert!(matches!(
            metrics.register_rust_prometheus_registry(other),
            Err(RegistrationError::Duplicate(_))
        ));
        let text = metrics.render(Format::PrometheusText).unwrap();
        declared_families(&text);
        assert!(!text.contains("orders_count"), "{text}");
    }

    #[test]
    fn a_counter_named_total_claims_the_name_it_is_exposed_under() {
        let metrics = quiet_metrics();
        let registry = prometheus::Registry::new();
        let odd = prometheus::IntCounter::new("_total", "named by its suffix alone").unwrap();
        odd.inc();
        registry.register(Box::new(odd)).unwrap();
        metrics.register_rust_prometheus_registry(registry).unwrap();
        let text = metrics.render(Format::PrometheusText).unwrap();
        declared_families(&text);
        assert!(text.contains("\n_total_total 1.0\n"), "{text}");
        // A metric of ours exposed under the same name is refused, not written twice.
        let gauge = prometheus_client::metrics::gauge::Gauge::<i64>::default();
        assert_eq!(
            metrics.register("_total_total", "the same exposed name", gauge),
            Err(RegistrationError::Duplicate("_total_total".to_owned()))
        );
    }

    #[test]
    fn a_family_gathered_later_that_clashes_is_dropped_and_counted() {
        let metrics = quiet_metrics();
        let registry = prometheus::Registry::new();
        metrics
            .register_rust_prometheus_registry(registry.clone())
            .unwrap();
        metrics
            .register("orders", "Orders", ClientCounter::<u64>::default())
            .unwrap();
        let late =
            prometheus::IntCounterVec::new(prometheus::Opts::new("orders_total", "late"), &["shop"]).unwrap();
        registry.register(Box::new(late.clone())).unwrap();
        late.with_label_values(&["a"]).inc();
        late.with_label_values(&["b"]).inc();
        let fresh = prometheus::IntGauge::new("fresh", "a late family without a clash").unwrap();
        registry.register(Box::new(fresh.clone())).unwrap();
        fresh.set(2);
        let _first_scrape = metrics.render(Format::PrometheusText).unwrap();
        let text = metrics.render(Format::PrometheusText).unwrap();
        declared_families(&text);
        let samples = parse(&text, Format::PrometheusText).unwrap();
        assert_eq!(value(&samples, "orders_total", &[]), Some(0.0), "ours stays");
        assert_eq!(value(&samples, "orders_total", &[("shop", "a")]), None);
        assert_eq!(value(&samples, "fresh", &[]), Some(2.0));
        // A scrape shows the samples dropped by the scrapes before it: two per scrape.
        assert_eq!(dropped(&metrics, "prometheus", "name_clash"), 2.0 * 2.0);
        // The late family's name is now the registry's: registering it elsewhere is refused.
        let refused = metrics.register("fresh", "again", ClientCounter::<u64>::default());
        assert!(matches!(refused, Err(RegistrationError::Duplicate(_))));
    }
}

/// Every pair of sources, each way round: the second to expose a name is refused (a registry
/// at registration, a facade name at record time), and the scrape never holds a name twice.
#[cfg(all(feature = "metrics", feature = "prometheus"))]
mod between_sources {
    use super::*;

    fn rust_prometheus_with(name: &str) -> prometheus::Registry {
        let registry = prometheus::Registry::new();
        registry
            .register(Box::new(prometheus::IntGauge::new(name, "help").unwrap()))
            .unwrap();
        registry
    }

    fn client_registry_with(name: &str) -> ClientRegistry {
        let mut registry = ClientRegistry::default();
        registry.register(
            name,
            "help",
            prometheus_client::metrics::gauge::Gauge::<i64>::default(),
        );
        registry
    }

    #[test]
    fn the_second_source_to_expose_a_name_is_refused() {
        let metrics = quiet_metrics();
        let recorder = metrics.metrics_recorder();
        metrics::with_local_recorder(&recorder, || metrics::gauge!("from_facade").set(1.0));
        metrics
            .register_rust_prometheus_registry(rust_prometheus_with("from_prometheus"))
            .unwrap();
        metrics
            .register_prometheus_client_registry(client_registry_with("from_client"))
            .unwrap();

        // Facade first, then the registries.
        let refused = metrics.register_rust_prometheus_registry(rust_prometheus_with("from_facade"));
        assert!(
            matches!(refused, Err(RegistrationError::Duplicate(_))),
            "{refused:?}"
        );
        let refused = metrics.register_prometheus_client_registry(client_registry_with("from_facade"));
        assert!(
            matches!(refused, Err(RegistrationError::Duplicate(_))),
            "{refused:?}"
        );
        // rust-prometheus first, then the other registry; and the reverse.
        let refused = metrics.register_prometheus_client_registry(client_registry_with("from_prometheus"));
        assert!(
            matches!(refused, Err(RegistrationError::Duplicate(_))),
            "{refused:?}"
        );
        let refused = metrics.register_rust_prometheus_registry(rust_prometheus_with("from_client"));
        assert!(
            matches!(refused, Err(RegistrationError::Duplicate(_))),
            "{refused:?}"
        );
        // The registries first, then the facade: dropped and counted.
        metrics::with_local_recorder(&recorder, || {
            metrics::gauge!("from_prometheus").set(2.0);
            metrics::gauge!("from_client").set(3.0);
        });

        for format in text_formats() {
            let text = metrics.render(format).unwrap();
            let families = declared_families(&text);
            for name in ["from_facade", "from_prometheus", "from_client"] {
                assert!(families.contains(name), "{name} in {format:?}:\n{text}");
            }
            let samples = parse(&text, format).unwrap();
            assert_eq!(value(&samples, "from_facade", &[]), Some(1.0));
            assert_eq!(
                value(&samples, "from_prometheus", &[]),
                Some(0.0),
                "rust-prometheus's, untouched"
            );
            assert_eq!(
                value(&samples, "from_client", &[]),
                Some(0.0),
                "the registry's, untouched"
            );
        }
        assert_eq!(dropped(&metrics, "metrics", "name_clash"), 2.0);
    }
}

mod registry {
    use super::*;

    fn library_registry() -> (ClientRegistry, ClientCounter) {
        let mut library = ClientRegistry::with_prefix("pool");
        let opened = ClientCounter::default();
        library.register("connections_opened", "Connections opened", opened.clone());
        opened.inc_by(7);
        (library, opened)
    }

    #[test]
    fn another_registry_is_exposed_as_it_is_in_both_text_formats() {
        let metrics = Metrics::builder()
            .namespace("shop")
            .process_metrics(false)
            .build()
            .unwrap();
        let (library, opened) = library_registry();
        metrics.register_prometheus_client_registry(library).unwrap();
        opened.inc();
        for format in text_formats() {
            let text = metrics.render(format).unwrap();
            declared_families(&text);
            let samples = parse(&text, format).unwrap();
            assert_eq!(
                value(&samples, "pool_connections_opened_total", &[]),
                Some(8.0),
                "{text}"
            );
        }
    }

    #[cfg(feature = "protobuf")]
    #[test]
    fn another_registry_decodes_from_protobuf() {
        let metrics = quiet_metrics();
        metrics
            .register_prometheus_client_registry(library_registry().0)
            .unwrap();
        let families = protobuf::decode(&metrics.render_bytes(Format::Protobuf).unwrap());
        let opened = protobuf::family(&families, "pool_connections_opened_total");
        assert_eq!(opened.metric[0].counter.as_ref().unwrap().value, 7.0);
    }

    #[test]
    fn an_info_claims_its_info_sample_name() {
        let metrics = quiet_metrics();
        let mut library = ClientRegistry::default();
        let build = prometheus_client::metrics::info::Info::new(vec![("version", "1.2")]);
        library.register("build", "Build", build);
        metrics.register_prometheus_client_registry(library).unwrap();
        let clash = metrics.register("build_info", "again", ClientCounter::<u64>::default());
        assert!(matches!(clash, Err(RegistrationError::Duplicate(_))), "{clash:?}");
        let samples = scrape(&metrics, Format::OpenMetrics);
        assert_eq!(value(&samples, "build_info", &[("version", "1.2")]), Some(1.0));
    }

    /// A library collector that panics on every encode.
    #[derive(Debug)]
    struct Panicking;

    impl prometheus_client::collector::Collector for Panicking {
        fn encode(
            &self,
            _: prometheus_client::encoding::DescriptorEncoder<'_>,
        ) -> Result<(), std::fmt::Error> {
            panic!("a collector failing on purpose");
        }
    }

    #[test]
    fn a_registry_whose_collector_panics_is_registered_and_left_out_at_scrape() {
        let metrics = metrics_serving_what_encodes();
        let (mut library, _) = library_registry();
        library.register_collector(Box::new(Panicking));
        metrics.register_prometheus_client_registry(library).unwrap();
        let samples = second_scrape_counting_the_failure(&metrics);
        assert_eq!(
            value(&samples, "pool_connections_opened_total", &[]),
            None,
            "the whole part is left out"
        );
    }

    #[test]
    fn a_registry_clashing_with_ours_or_another_registry_is_refused() {
        let metrics = quiet_metrics();
        metrics
            .register_prometheus_client_registry(library_registry().0)
            .unwrap();
        let again = metrics.register_prometheus_client_registry(library_registry().0);
        assert!(matches!(again, Err(RegistrationError::Duplicate(_))), "{again:?}");
        let mut ours = ClientRegistry::default();
        ours.register(
            "http_metrics_dropped_samples",
            "reserved",
            ClientCounter::<u64>::default(),
        );
        assert!(matches!(
            metrics.register_prometheus_client_registry(ours),
            Err(RegistrationError::Reserved(_))
        ));
        let text = metrics.render(Format::OpenMetrics).unwrap();
        declared_families(&text);
    }
}

#[cfg(feature = "protobuf")]
mod protobuf {
    use prometheus_client::encoding::prometheus_protobuf::prometheus_data_model::MetricFamily;
    use prost::Message;

    /// Splits a length-delimited stream into its messages, asserting no family is sent twice.
    pub(super) fn decode(mut bytes: &[u8]) -> Vec<MetricFamily> {
        let mut families: Vec<MetricFamily> = Vec::new();
        while !bytes.is_empty() {
            let family = MetricFamily::decode_length_delimited(&mut bytes).expect("a delimited MetricFamily");
            assert!(
                families.iter().all(|taken| taken.name != family.name),
                "{} sent twice",
                family.name
            );
            families.push(family);
        }
        families
    }

    pub(super) fn family<'a>(families: &'a [MetricFamily], name: &str) -> &'a MetricFamily {
        families
            .iter()
            .find(|family| family.name == name)
            .unwrap_or_else(|| {
                panic!(
                    "no family {name} in {:?}",
                    families.iter().map(|f| &f.name).collect::<Vec<_>>()
                )
            })
    }
}
