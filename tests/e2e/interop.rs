//! End-to-end: one application recording through every source at once (its own
//! `register`ed metric, the `metrics` facade, a rust-prometheus registry, a library's
//! prometheus-client registry) checked by promtool and the Python reference parsers in both
//! text formats, and scraped by a real Prometheus server.

use crate::harness::e2e_tests;
use crate::support;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use prometheus_client::metrics::counter::Counter as ClientCounter;
use prometheus_client::registry::Registry as ClientRegistry;
use support::prometheus::{scrape_config, PrometheusServer};
use support::tools::{PROMETHEUS, PROMTOOL, PYTHON_PROMETHEUS_CLIENT, program, promtool_check_metrics, python, run_with_input};
use tower_prometheus::{Format, Metrics};

e2e_tests! {
    promtool_accepts_every_source_at_once needs [PROMTOOL],
    the_python_client_parses_every_source_in_both_text_formats needs [PYTHON_PROMETHEUS_CLIENT],
    a_real_prometheus_scrapes_every_source_at_once needs [PROMETHEUS],
}

/// A rust-prometheus collector producing a summary, as an application's own collector
/// would (rust-prometheus ships none).
#[cfg(feature = "prometheus")]
#[derive(Clone)]
struct RpcSummary;

#[cfg(feature = "prometheus")]
impl prometheus::core::Collector for RpcSummary {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        Vec::new()
    }

    fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        let family = support::rust_prometheus::summary_family(
            "legacy_rpc_seconds",
            "RPC time",
            &[],
            (0.99, 0.75),
            8,
            2.5,
        );
        vec![family]
    }
}

/// Every source recording at once, with a constant label on ours. Returns the samples each
/// source must show, as (Prometheus sample name, labels, value).
fn all_sources() -> (Metrics, ExpectedSamples) {
    let metrics = Metrics::builder()
        .const_label("service", "shop")
        .process_metrics(false)
        .build()
        .unwrap();
    let mut expected = Vec::new();

    let orders: ClientCounter = ClientCounter::default();
    metrics
        .register("orders_placed", "Orders placed", orders.clone())
        .unwrap();
    orders.inc_by(2);
    expected.push(("orders_placed_total", vec![("service", "shop")], 2.0));

    let mut library = ClientRegistry::with_prefix("pool");
    let opened: ClientCounter = ClientCounter::default();
    library.register("connections_opened", "Connections opened", opened.clone());
    opened.inc_by(5);
    metrics.register_prometheus_client_registry(library).unwrap();
    expected.push(("pool_connections_opened_total", vec![], 5.0));

    #[cfg(feature = "metrics")]
    {
        let recorder = metrics
            .metrics_recorder()
            .buckets_for_prefix("job_", [0.1, 1.5])
            .unwrap();
        metrics::with_local_recorder(&recorder, || {
            metrics::describe_counter!("jobs_total", "Jobs run");
            metrics::describe_gauge!("queue_depth", "Jobs waiting");
            metrics::describe_histogram!("job_duration_seconds", metrics::Unit::Seconds, "Time per job");
            metrics::counter!("jobs_total", "queue" => "mail").increment(3);
            metrics::gauge!("queue_depth", "queue" => "mail").set(4.0);
            metrics::gauge!("queue_depth", "queue" => "mail").decrement(1.5);
            for seconds in [0.05, 0.5, 5.0] {
                metrics::histogram!("job_duration_seconds", "queue" => "mail").record(seconds);
            }
        });
        let mail = vec![("queue", "mail"), ("service", "shop")];
        expected.push(("jobs_total", mail.clone(), 3.0));
        expected.push(("queue_depth", mail.clone(), 2.5));
        expected.push(("job_duration_seconds_count", mail.clone(), 3.0));
        expected.push(("job_duration_seconds_sum", mail.clone(), 5.55));
        expected.push((
            "job_duration_seconds_bucket",
            vec![("queue", "mail"), ("service", "shop"), ("le", "1.5")],
            2.0,
        ));
    }

    #[cfg(feature = "prometheus")]
    {
        let registry = prometheus::Registry::new();
        let jobs = prometheus::IntCounterVec::new(
            prometheus::Opts::new("legacy_jobs_total", "Legacy jobs"),
            &["queue"],
        )
        .unwrap();
        let heat = prometheus::Gauge::new("legacy_temperature_celsius", "Heat").unwrap();
        let latency = prometheus::Histogram::with_opts(
            prometheus::HistogramOpts::new("legacy_latency_seconds", "Latency").buckets(vec![0.1, 1.5]),
        )
        .unwrap();
        registry.register(Box::new(jobs.clone())).unwrap();
        registry.register(Box::new(heat.clone())).unwrap();
        registry.register(Box::new(latency.clone())).unwrap();
        registry.register(Box::new(RpcSummary)).unwrap();
        jobs.with_label_values(&["mail"]).inc_by(6);
        heat.set(21.5);
        latency.observe(0.5);
        metrics.register_rust_prometheus_registry(registry).unwrap();
        expected.push(("legacy_jobs_total", vec![("queue", "mail")], 6.0));
        expected.push(("legacy_temperature_celsius", vec![], 21.5));
        expected.push(("legacy_latency_seconds_count", vec![], 1.0));
        expected.push(("legacy_latency_seconds_bucket", vec![("le", "1.5")], 1.0));
        expected.push(("legacy_rpc_seconds", vec![("quantile", "0.99")], 0.75));
        expected.push(("legacy_rpc_seconds_sum", vec![], 2.5));
        expected.push(("legacy_rpc_seconds_count", vec![], 8.0));
    }
    (metrics, expected)
}

/// promtool's lints on a summary served as gauges (prometheus-client has no summary type):
/// the only findings allowed.
const SUMMARY_AS_GAUGES_LINTS: &[&str] = &[
    "legacy_rpc_seconds non-summary metrics should not have \"quantile\" label",
    "legacy_rpc_seconds_count non-histogram and non-summary metrics should not have \"_count\" suffix",
    "legacy_rpc_seconds_sum non-histogram and non-summary metrics should not have \"_sum\" suffix",
];

fn promtool_accepts_every_source_at_once() {
    let promtool = program("promtool");
    let (metrics, expected) = all_sources();
    assert!(expected.len() >= 2);
    let text = metrics.render(Format::PrometheusText).unwrap();
    let mut findings: Vec<String> = match promtool_check_metrics(&promtool, &text) {
        Ok(()) => Vec::new(),
        // The first line is promtool's exit status, the rest one finding a line.
        Err(report) => report
            .lines()
            .skip(1)
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(str::to_owned)
            .collect(),
    };
    findings.sort();
    let expected: &[&str] = if cfg!(feature = "prometheus") {
        SUMMARY_AS_GAUGES_LINTS
    } else {
        &[]
    };
    assert_eq!(findings, expected, "promtool's findings on:\n{text}");
}

/// Parses a text exposition with the Python client's parser named `parser` and prints every
/// sample as JSON: [name, labels, value].
const PARSE_SCRIPT: &str = r#"
import json, sys
if sys.argv[1] == "openmetrics":
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
else:
    from prometheus_client.parser import text_string_to_metric_families
names = []
samples = []
for family in text_string_to_metric_families(sys.stdin.read()):
    names.append(family.name)
    samples.extend([s.name, s.labels, s.value] for s in family.samples)
assert len(names) == len(set(names)), "a family twice: %r" % names
print(json.dumps(samples))
"#;

fn the_python_client_parses_every_source_in_both_text_formats() {
    let python = python();
    let (metrics, expected) = all_sources();
    for (parser, format) in [
        ("text", Format::PrometheusText),
        ("openmetrics", Format::OpenMetrics),
    ] {
        let text = metrics.render(format).unwrap();
        let output = run_with_input(&python, &["-c", PARSE_SCRIPT, parser], text.as_bytes());
        assert!(
            output.status.success(),
            "{parser}: {}\n{text}",
            String::from_utf8_lossy(&output.stderr)
        );
        let samples: Vec<(String, BTreeMap<String, String>, f64)> =
            serde_json::from_slice(&output.stdout).unwrap();
        for (name, labels, value) in &expected {
            let labels: BTreeMap<String, String> = labels
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                .collect();
            // The Python parser writes bucket bounds as floats.
            let found = samples.iter().find(|(sample, sample_labels, _)| {
                sample == name
                    && sample_labels.len() == labels.len()
                    && labels.iter().all(|(key, value)| {
                        sample_labels.get(key).is_some_and(|parsed| {
                            parsed == value || parsed.parse::<f64>().ok() == value.parse::<f64>().ok()
                        })
                    })
            });
            assert_eq!(
                found.map(|sample| sample.2),
                Some(*value),
                "{parser}: {name} {labels:?}\n{text}"
            );
        }
    }
}

fn wait_for_value(server: &PrometheusServer, promql: &str, value: f64, flags: &[&str]) {
    /// Names the Prometheus flags of a wait that fails; silent otherwise, as the harness does not
    /// capture output.
    struct Context<'a>(&'a [&'a str]);
    impl Drop for Context<'_> {
        fn drop(&mut self) {
            if std::thread::panicking() {
                eprintln!("with Prometheus flags {:?}", self.0);
            }
        }
    }
    let _context = Context(flags);
    server.wait_for_value(promql, value);
}

/// Serves `metrics` (its layer answers `/metrics`) on a loopback port from a thread of its own.
fn serve(metrics: &Metrics) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { "ok" }))
        .layer(metrics.layer());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    addr
}

/// The Prometheus flags of each scrape: OpenMetrics text by default, protobuf once native
/// histograms are enabled (when the crate serves it).
const SCRAPE_FLAGS: &[(&[&str], &str)] = &[
    (&[], "openmetrics-text-1.0.0"),
    #[cfg(feature = "protobuf")]
    (&["--enable-feature=native-histograms"], "prometheus-protobuf"),
];

fn a_real_prometheus_scrapes_every_source_at_once() {
    let prometheus_binary = program("prometheus");
    for (flags, format) in SCRAPE_FLAGS {
        let (metrics, expected) = all_sources();
        scrape_and_check(&prometheus_binary, &metrics, &expected, flags);
        // The format Prometheus was served, from our scrape self-metrics.
        let text = metrics.render(Format::PrometheusText).unwrap();
        let scraped_in =
            format!("http_metrics_scrapes_total{{service=\"shop\",format=\"{format}\",status=\"200\"}}");
        assert!(text.contains(&scraped_in), "no scrape in {format}:\n{text}");
    }
}

type ExpectedSamples = Vec<(&'static str, Vec<(&'static str, &'static str)>, f64)>;

fn scrape_and_check(
    prometheus_binary: &std::path::Path,
    metrics: &Metrics,
    expected: &ExpectedSamples,
    flags: &[&str],
) {
    let addr = serve(metrics);
    let config = scrape_config("interop", &[addr], &[]);
    let server = PrometheusServer::start_with(prometheus_binary, &config, flags);
    server.wait_for_scrapes(1, 2);
    let up = server.query_single("up{job=\"interop\"}");
    assert_eq!(up, Some(1.0), "the target failed: {}", server.log_tail());
    for (name, labels, value) in expected {
        let selector: Vec<String> = labels
            .iter()
            .map(|(key, value)| {
                // Prometheus stores OpenMetrics bounds as written: "1.5" either way.
                format!("{key}=\"{value}\"")
            })
            .collect();
        let promql = format!("{name}{{job=\"interop\",{}}}", selector.join(","));
        wait_for_value(&server, &promql, *value, flags);
    }
    // Nothing was dropped: the sources' names do not clash.
    let dropped = server.query_vector("sum(http_metrics_dropped_samples_total{job=\"interop\"})");
    if cfg!(any(feature = "metrics", feature = "prometheus")) {
        assert_eq!(dropped.first().map(|sample| sample.1), Some(0.0));
    }
}
