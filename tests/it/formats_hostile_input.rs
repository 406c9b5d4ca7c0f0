//! Whatever a user passes (help texts with line breaks, NUL or backslashes, NaN and infinite
//! observations), every text format stays valid: refused at registration where an error can
//! be returned, cleaned or dropped and counted where it cannot. The external parsers check the
//! same cases in `tests/e2e/formats_hostile_input.rs`.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Unit;
use tower_prometheus::{Format, Metrics, RegistrationError};

use crate::support::exposition::{parse, Sample};

/// Help texts no format can carry unchanged, with the byte and character refused.
const BAD_HELP: [(&str, usize, char); 7] = [
    ("Jobs run\nper queue", 8, '\n'),
    ("Jobs run\r\nper queue", 8, '\r'),
    ("Jobs\0run", 4, '\0'),
    ("Jobs run in C:\\jobs", 14, '\\'),
    ("Jobs\trun", 4, '\t'),
    ("Jobs run\u{7f}", 8, '\u{7f}'),
    ("Jobs run\u{2028}\u{85}", 11, '\u{85}'),
];

fn text_formats() -> [Format; 2] {
    [Format::PrometheusText, Format::OpenMetrics]
}

/// Every `# HELP` line of `text`, as written.
fn help_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|line| line.starts_with("# HELP ")).collect()
}

/// Parses both text formats strictly and checks what OpenMetrics forbids that the strict
/// parser does not: a NaN in a `_total`, `_sum`, `_count` or `_bucket` sample, and (in
/// OpenMetrics, as Python's parser does) a negative one.
fn valid_samples(metrics: &Metrics, format: Format) -> Vec<Sample> {
    let text = metrics.render(format).unwrap();
    let samples = parse(&text, format).unwrap_or_else(|problem| panic!("{format:?}: {problem}\n{text}"));
    for sample in &samples {
        let counter_like = ["_total", "_sum", "_count", "_bucket"]
            .iter()
            .any(|suffix| sample.name.ends_with(suffix));
        assert!(
            !(counter_like && sample.value.is_nan()),
            "{format:?}: NaN in {sample:?}\n{text}"
        );
        assert!(
            !(counter_like && format == Format::OpenMetrics && sample.value < 0.0),
            "{format:?}: negative {sample:?}\n{text}"
        );
    }
    samples
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    crate::support::exposition::value(samples, name, labels)
        .unwrap_or_else(|| panic!("no sample {name}{labels:?} in {samples:?}"))
}

#[test]
fn register_refuses_a_help_text_no_format_carries_unchanged_naming_the_metric_and_the_byte() {
    let metrics = Metrics::new();
    for (help, byte, character) in BAD_HELP {
        let expected = RegistrationError::InvalidHelp {
            name: "jobs".into(),
            byte,
            character,
        };
        let error = metrics
            .register("jobs", help, Counter::<u64>::default())
            .unwrap_err();
        assert_eq!(error, expected, "{help:?}");
        let message = error.to_string();
        assert!(message.contains("`jobs`"), "{message}");
        assert!(
            message.contains(&format!("U+{:04X} at byte {byte}", u32::from(character))),
            "{message}"
        );
        let with_unit = metrics
            .register_with_unit("jobs", help, Unit::Seconds, Gauge::<i64>::default())
            .unwrap_err();
        assert_eq!(with_unit, expected, "{help:?}");
    }
    // Nothing was claimed: the names register once the help is one line.
    let counter = Counter::<u64>::default();
    metrics
        .register("jobs", "Jobs run per queue", counter.clone())
        .unwrap();
    metrics
        .register_with_unit("jobs", "Time per job", Unit::Seconds, Gauge::<i64>::default())
        .unwrap();
    counter.inc();
    for format in text_formats() {
        assert_eq!(value(&valid_samples(&metrics, format), "jobs_total", &[]), 1.0);
    }
}

#[test]
fn register_registry_refuses_a_help_text_register_would_refuse_naming_the_family() {
    use prometheus_client::registry::Registry;

    let metrics = Metrics::new();
    for (help, byte, character) in BAD_HELP {
        let mut library = Registry::with_prefix("pool");
        library.register("idle", "Idle connections", Gauge::<i64>::default());
        library.register("opened", help, Counter::<u64>::default());
        let refused = metrics.register_prometheus_client_registry(library).unwrap_err();
        let expected = RegistrationError::InvalidHelp {
            name: "pool_opened_total".into(),
            byte,
            character,
        };
        assert_eq!(refused, expected, "{help:?}");
    }
    // Nothing was claimed.
    let mut library = Registry::with_prefix("pool");
    library.register("opened", "Connections opened", Counter::<u64>::default());
    metrics.register_prometheus_client_registry(library).unwrap();
    for format in text_formats() {
        assert_eq!(
            value(&valid_samples(&metrics, format), "pool_opened_total", &[]),
            0.0
        );
    }
}

#[test]
fn register_collector_refuses_a_help_text_register_would_refuse() {
    use prometheus_client::collector::Collector;
    use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
    use prometheus_client::metrics::gauge::ConstGauge;

    #[derive(Debug)]
    struct Queue(&'static str);
    impl Collector for Queue {
        fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
            let gauge = ConstGauge::new(3);
            let metric = encoder.encode_descriptor("queue_depth", self.0, None, gauge.metric_type())?;
            gauge.encode(metric)
        }
    }

    let metrics = Metrics::new();
    for (help, byte, character) in BAD_HELP {
        let refused = metrics.register_collector(Box::new(Queue(help))).unwrap_err();
        let expected = RegistrationError::InvalidHelp {
            name: "queue_depth".into(),
            byte,
            character,
        };
        assert_eq!(refused, expected, "{help:?}");
    }
    // Nothing was claimed: the same name with a clean help is accepted and exposed.
    metrics
        .register_collector(Box::new(Queue("Jobs waiting")))
        .unwrap();
    for format in text_formats() {
        assert_eq!(value(&valid_samples(&metrics, format), "queue_depth", &[]), 3.0);
    }
}

#[test]
fn the_refusals_name_the_kind_of_character() {
    let metrics = Metrics::new();
    for (help, kind) in [
        ("a\nb", "a line feed"),
        ("a\rb", "a carriage return"),
        ("a\0b", "a NUL"),
        ("a\\b", "a backslash"),
        ("a\u{1b}b", "a control character"),
    ] {
        let error = metrics
            .register("m", help, Counter::<u64>::default())
            .unwrap_err();
        assert!(error.to_string().contains(kind), "{help:?}: {error}");
    }
}

#[test]
fn quotes_and_non_ascii_help_texts_are_accepted_and_written_as_given_in_both_formats() {
    let metrics = Metrics::new();
    let help = "Jobs \"run\" per queue, 100 % é ✓ {x=\"y\"} #";
    metrics.register("jobs", help, Counter::<u64>::default()).unwrap();
    for format in text_formats() {
        let text = metrics.render(format).unwrap();
        let expected = format!("# HELP jobs_total {help}.");
        let expected = if format == Format::OpenMetrics {
            expected.replacen("jobs_total", "jobs", 1)
        } else {
            expected
        };
        assert!(
            help_lines(&text).contains(&expected.as_str()),
            "{format:?}:\n{text}"
        );
        valid_samples(&metrics, format);
    }
}

#[test]
fn nan_on_your_own_prometheus_client_histogram_or_counter_is_left_out_and_counted() {
    use prometheus_client::metrics::family::Family;
    use prometheus_client::metrics::histogram::Histogram;

    let metrics = Metrics::builder().process_metrics(false).build().unwrap();
    let latency = Family::<Vec<(String, String)>, Histogram>::new_with_constructor(|| Histogram::new([1.0]));
    let ratio: Counter<f64> = Counter::default();
    metrics
        .register("latency_seconds", "Latency", latency.clone())
        .unwrap();
    metrics.register("ratio", "Ratio", ratio.clone()).unwrap();
    let queue = |name: &str| vec![("queue".to_owned(), name.to_owned())];
    latency.get_or_create(&queue("mail")).observe(0.5);
    latency.get_or_create(&queue("sms")).observe(f64::NAN);
    ratio.inc_by(f64::NAN);
    for format in text_formats() {
        let samples = valid_samples(&metrics, format);
        let one = if format == Format::OpenMetrics { "1.0" } else { "1" };
        assert_eq!(value(&samples, "latency_seconds_sum", &[("queue", "mail")]), 0.5);
        assert_eq!(
            value(
                &samples,
                "latency_seconds_bucket",
                &[("queue", "sms"), ("le", one)]
            ),
            0.0
        );
        for left_out in ["latency_seconds_sum", "latency_seconds_count"] {
            let sms = [("queue", "sms")];
            assert_eq!(crate::support::exposition::value(&samples, left_out, &sms), None);
        }
        assert_eq!(
            crate::support::exposition::value(&samples, "ratio_total", &[]),
            None
        );
    }
    // Two series per scrape: the sum (with the count) of `sms`, and the counter.
    let dropped = || {
        let samples = valid_samples(&metrics, Format::PrometheusText);
        let labels = [("source", "prometheus_client"), ("reason", "nan")];
        value(&samples, "http_metrics_dropped_samples_total", &labels)
    };
    let before = dropped();
    assert!(before >= 4.0, "the two scrapes above: {before}");
    assert_eq!(dropped() - before, 2.0);
}

#[cfg(feature = "metrics")]
mod facade {
    use super::*;

    #[test]
    fn descriptions_with_line_breaks_nul_or_backslashes_are_cleaned_in_both_formats() {
        let metrics = Metrics::builder().process_metrics(false).build().unwrap();
        let recorder = metrics.metrics_recorder();
        metrics::with_local_recorder(&recorder, || {
            metrics::describe_counter!("jobs_total", "Jobs run\nper queue");
            metrics::describe_gauge!("queue_depth", "Jobs\r\nwaiting\0 in C:\\queue");
            metrics::describe_histogram!("job_seconds", "Time\u{85}per\u{2028}job");
            metrics::counter!("jobs_total").increment(1);
            metrics::gauge!("queue_depth").set(2.0);
            metrics::histogram!("job_seconds").record(0.2);
        });
        for format in text_formats() {
            let text = metrics.render(format).unwrap();
            let lines = help_lines(&text);
            let jobs = if format == Format::OpenMetrics {
                "jobs"
            } else {
                "jobs_total"
            };
            for expected in [
                format!("# HELP {jobs} Jobs run per queue"),
                "# HELP queue_depth Jobs  waiting  in C:/queue".to_owned(),
                "# HELP job_seconds Time per\u{2028}job".to_owned(),
            ] {
                assert!(
                    lines.contains(&expected.as_str()),
                    "{format:?}: {expected:?} in\n{text}"
                );
            }
            let samples = valid_samples(&metrics, format);
            assert_eq!(value(&samples, "jobs_total", &[]), 1.0);
            assert_eq!(value(&samples, "queue_depth", &[]), 2.0);
        }
    }

    #[test]
    fn nan_never_reaches_a_histogram_sum_and_is_counted_as_dropped() {
        let metrics = Metrics::builder().process_metrics(false).build().unwrap();
        let recorder = metrics.metrics_recorder().default_buckets([1.0]).unwrap();
        metrics::with_local_recorder(&recorder, || {
            let finite = metrics::histogram!("finite_seconds");
            finite.record(0.5);
            finite.record(f64::NAN);
            finite.record(2.0);
            let infinite = metrics::histogram!("infinite_seconds");
            infinite.record(f64::INFINITY);
            // +Inf and -Inf would make the sum NaN: the second infinity is dropped.
            infinite.record(f64::NEG_INFINITY);
            infinite.record(0.5);
            let negative = metrics::histogram!("negative_seconds");
            negative.record(f64::NEG_INFINITY);
            negative.record(f64::NAN);
            // A gauge may be NaN in every format.
            metrics::gauge!("ratio").set(f64::NAN);
        });
        for format in text_formats() {
            let samples = valid_samples(&metrics, format);
            let le = |bound| [("le", bound)];
            let one = if format == Format::OpenMetrics { "1.0" } else { "1" };
            assert_eq!(value(&samples, "finite_seconds_sum", &[]), 2.5);
            assert_eq!(value(&samples, "finite_seconds_count", &[]), 2.0);
            assert_eq!(value(&samples, "finite_seconds_bucket", &le(one)), 1.0);
            assert_eq!(value(&samples, "finite_seconds_bucket", &le("+Inf")), 2.0);
            assert_eq!(value(&samples, "infinite_seconds_sum", &[]), f64::INFINITY);
            assert_eq!(value(&samples, "infinite_seconds_count", &[]), 2.0);
            assert_eq!(value(&samples, "infinite_seconds_bucket", &le(one)), 1.0);
            // A negative sum: Prometheus text keeps it; OpenMetrics allows no sum (nor its
            // count) for a histogram with negative observations, and keeps the buckets.
            let negative_sum = crate::support::exposition::value(&samples, "negative_seconds_sum", &[]);
            let negative_count = crate::support::exposition::value(&samples, "negative_seconds_count", &[]);
            if format == Format::OpenMetrics {
                assert_eq!((negative_sum, negative_count), (None, None));
            } else {
                assert_eq!(
                    (negative_sum, negative_count),
                    (Some(f64::NEG_INFINITY), Some(1.0))
                );
            }
            assert_eq!(value(&samples, "negative_seconds_bucket", &le(one)), 1.0);
            assert!(value(&samples, "ratio", &[]).is_nan());
            let dropped = [("source", "metrics"), ("reason", "nan")];
            assert_eq!(
                value(&samples, "http_metrics_dropped_samples_total", &dropped),
                3.0
            );
        }
    }
}

#[cfg(feature = "prometheus")]
mod rust_prometheus {
    use super::*;

    #[test]
    fn gathered_help_texts_are_cleaned_and_nan_histograms_left_out_and_counted() {
        let registry = prometheus::Registry::new();
        let jobs = prometheus::IntCounterVec::new(
            prometheus::Opts::new("jobs_total", "Jobs run\nper queue\0 in C:\\jobs"),
            &["queue"],
        )
        .unwrap();
        let latency = prometheus::HistogramVec::new(
            prometheus::HistogramOpts::new("latency_seconds", "Latency\r\nper queue").buckets(vec![1.0]),
            &["queue"],
        )
        .unwrap();
        registry.register(Box::new(jobs.clone())).unwrap();
        registry.register(Box::new(latency.clone())).unwrap();
        jobs.with_label_values(&["mail"]).inc();
        latency.with_label_values(&["mail"]).observe(0.5);
        latency.with_label_values(&["sms"]).observe(0.5);
        latency.with_label_values(&["sms"]).observe(f64::NAN);

        let metrics = Metrics::builder().process_metrics(false).build().unwrap();
        metrics.register_rust_prometheus_registry(registry).unwrap();
        for format in text_formats() {
            let text = metrics.render(format).unwrap();
            let lines = help_lines(&text);
            let jobs = if format == Format::OpenMetrics {
                "jobs"
            } else {
                "jobs_total"
            };
            for expected in [
                format!("# HELP {jobs} Jobs run per queue  in C:/jobs"),
                "# HELP latency_seconds Latency  per queue".to_owned(),
            ] {
                assert!(
                    lines.contains(&expected.as_str()),
                    "{format:?}: {expected:?} in\n{text}"
                );
            }
            let samples = valid_samples(&metrics, format);
            assert_eq!(value(&samples, "jobs_total", &[("queue", "mail")]), 1.0);
            assert_eq!(value(&samples, "latency_seconds_sum", &[("queue", "mail")]), 0.5);
            assert!(
                !samples
                    .iter()
                    .any(|sample| sample.labels.get("queue").is_some_and(|q| q == "sms")),
                "{format:?}: the NaN series is left out:\n{text}"
            );
        }
        // One NaN series per scrape, counted before the gathered families are encoded: a scrape
        // shows the scrapes before it, four here (two per format).
        let samples = valid_samples(&metrics, Format::PrometheusText);
        let dropped = [("source", "prometheus"), ("reason", "nan")];
        assert_eq!(
            value(&samples, "http_metrics_dropped_samples_total", &dropped),
            4.0
        );
    }
}

#[test]
fn negative_counters_and_histogram_sums_are_left_out_of_openmetrics_only() {
    let metrics = Metrics::builder().process_metrics(false).build().unwrap();
    let refunds: Counter<f64, std::sync::atomic::AtomicU64> = Counter::default();
    metrics.register("refunds", "Refunds", refunds.clone()).unwrap();
    refunds.inc_by(-1.5);
    type Accounts = Vec<(&'static str, &'static str)>;
    let deltas = prometheus_client::metrics::family::Family::<Accounts, _>::new_with_constructor(|| {
        prometheus_client::metrics::histogram::Histogram::new([0.0])
    });
    metrics
        .register("balance_delta", "Balance changes", deltas.clone())
        .unwrap();
    deltas.get_or_create(&vec![("account", "a")]).observe(-2.5);
    deltas.get_or_create(&vec![("account", "b")]).observe(1.5);
    for format in text_formats() {
        let samples = valid_samples(&metrics, format);
        let a = [("account", "a")];
        let b = [("account", "b")];
        let sum = crate::support::exposition::value(&samples, "balance_delta_sum", &a);
        let count = crate::support::exposition::value(&samples, "balance_delta_count", &a);
        if format == Format::OpenMetrics {
            assert_eq!((sum, count), (None, None), "{format:?}");
        } else {
            assert_eq!((sum, count), (Some(-2.5), Some(1.0)), "{format:?}");
        }
        let refunds = crate::support::exposition::value(&samples, "refunds_total", &[]);
        let expected = (format == Format::PrometheusText).then_some(-1.5);
        assert_eq!(refunds, expected, "{format:?}");
        let zero = if format == Format::OpenMetrics { "0.0" } else { "0" };
        assert_eq!(
            value(
                &samples,
                "balance_delta_bucket",
                &[("account", "a"), ("le", zero)]
            ),
            1.0
        );
        // A histogram with a sum of zero or more keeps it in both formats.
        assert_eq!(value(&samples, "balance_delta_sum", &b), 1.5);
        assert_eq!(value(&samples, "balance_delta_count", &b), 1.0);
    }
}
