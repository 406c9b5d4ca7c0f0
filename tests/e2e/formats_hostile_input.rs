//! End-to-end: help texts with line breaks, carriage returns, NUL and backslashes, and NaN and
//! infinite observations, through every source that cannot refuse them (the `metrics` facade,
//! a rust-prometheus registry) and constant label values with the same bytes, give an
//! exposition that promtool, the Python parsers and a real Prometheus accept, in both text
//! formats. `tests/it/formats_hostile_input.rs` checks the same rules without tools.

use crate::harness::e2e_tests;
use crate::support;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use support::prometheus::PrometheusServer;
use support::tools::{
    program, promtool_check_metrics, python, run_with_input, PROMETHEUS, PROMTOOL, PYTHON_PROMETHEUS_CLIENT,
};
use tower_prometheus::{Format, Metrics};

e2e_tests! {
    the_python_parsers_accept_hostile_input_in_both_text_formats needs [PYTHON_PROMETHEUS_CLIENT],
    promtool_accepts_hostile_input_in_prometheus_text needs [PROMTOOL],
    a_real_prometheus_scrapes_hostile_input_in_both_text_formats needs [PROMETHEUS],
}

/// A constant label value with every byte a label value must escape or may carry raw.
const HOSTILE_LABEL_VALUE: &str = "C:\\jobs \"mail\"\nnext\rline\0end";

/// A sample that must survive: its name, labels and value.
type ExpectedSample = (&'static str, Vec<(&'static str, &'static str)>, f64);

/// What one application with hostile input exposes, and the help texts (as a parser reads
/// them back) and samples that must survive: (family, help) and (sample, labels, value).
struct Hostile {
    metrics: Metrics,
    helps: Vec<(&'static str, &'static str)>,
    samples: Vec<ExpectedSample>,
}

fn hostile() -> Hostile {
    let metrics = Metrics::builder()
        .const_label("site", HOSTILE_LABEL_VALUE)
        .process_metrics(false)
        .build()
        .unwrap();
    let mut helps = Vec::new();
    let mut samples = Vec::new();

    let orders: prometheus_client::metrics::counter::Counter = Default::default();
    assert!(metrics
        .register("orders", "Orders placed\nper shop", orders.clone())
        .is_err());
    metrics
        .register("orders", "Orders placed \"today\", per shop", orders.clone())
        .unwrap();
    orders.inc();
    // A negative counter, which OpenMetrics forbids: left out there, kept in Prometheus text.
    let refunds: prometheus_client::metrics::counter::Counter<f64, std::sync::atomic::AtomicU64> =
        Default::default();
    metrics.register("refunds", "Refunds", refunds.clone()).unwrap();
    refunds.inc_by(-1.5);
    helps.push(("orders", "Orders placed \"today\", per shop."));
    samples.push(("orders_total", vec![("site", HOSTILE_LABEL_VALUE)], 1.0));

    // Your own prometheus-client histogram, observed NaN: that series' sum and count are
    // left out.
    type Queues = Vec<(&'static str, &'static str)>;
    let payments = prometheus_client::metrics::family::Family::<Queues, _>::new_with_constructor(|| {
        prometheus_client::metrics::histogram::Histogram::new([0.75])
    });
    metrics
        .register("payment_seconds", "Payment time", payments.clone())
        .unwrap();
    payments.get_or_create(&vec![("queue", "mail")]).observe(0.5);
    payments.get_or_create(&vec![("queue", "sms")]).observe(f64::NAN);
    // A negative observation: OpenMetrics allows no sum for it, so that series' sum and count
    // are left out there (Prometheus text keeps them); its buckets stay in both.
    payments.get_or_create(&vec![("queue", "refund")]).observe(-2.5);
    samples.push((
        "payment_seconds_bucket",
        vec![("queue", "refund"), ("le", "0.75"), ("site", HOSTILE_LABEL_VALUE)],
        1.0,
    ));
    samples.push((
        "payment_seconds_sum",
        vec![("queue", "mail"), ("site", HOSTILE_LABEL_VALUE)],
        0.5,
    ));

    #[cfg(feature = "metrics")]
    {
        let recorder = metrics.metrics_recorder().default_buckets([0.75]).unwrap();
        metrics::with_local_recorder(&recorder, || {
            metrics::describe_counter!("jobs_total", "Jobs run\nper queue");
            metrics::describe_gauge!("queue_depth", "Jobs\r\nwaiting\0 in C:\\queue");
            metrics::describe_histogram!("job_seconds", "Time per job\\n");
            metrics::counter!("jobs_total", "queue" => "a\\b\"c\nd").increment(2);
            metrics::gauge!("queue_depth").set(f64::NAN);
            // -Inf first: the sum is negative, which OpenMetrics allows no histogram.
            metrics::describe_histogram!("wait_seconds", "Time waited");
            metrics::histogram!("wait_seconds").record(f64::NEG_INFINITY);
            let seconds = metrics::histogram!("job_seconds");
            for value in [0.5, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 2.0] {
                seconds.record(value);
            }
        });
        helps.push(("jobs", "Jobs run per queue"));
        helps.push(("queue_depth", "Jobs  waiting  in C:/queue"));
        helps.push(("job_seconds", "Time per job/n"));
        let site = ("site", HOSTILE_LABEL_VALUE);
        samples.push(("jobs_total", vec![("queue", "a\\b\"c\nd"), site], 2.0));
        samples.push(("job_seconds_count", vec![site], 3.0));
        samples.push(("job_seconds_sum", vec![site], f64::INFINITY));
        samples.push(("job_seconds_bucket", vec![site, ("le", "0.75")], 1.0));
        // The NaN, and the -Inf after +Inf.
        samples.push((
            "http_metrics_dropped_samples_total",
            vec![("source", "metrics"), ("reason", "nan"), site],
            2.0,
        ));
    }

    #[cfg(feature = "prometheus")]
    {
        let registry = prometheus::Registry::new();
        let latency = prometheus::HistogramVec::new(
            prometheus::HistogramOpts::new("legacy_latency_seconds", "Latency\r\nper \\queue\0 and shop")
                .buckets(vec![1.0]),
            &["queue"],
        )
        .unwrap();
        registry.register(Box::new(latency.clone())).unwrap();
        latency.with_label_values(&["mail"]).observe(0.5);
        latency.with_label_values(&["sms"]).observe(f64::NAN);
        metrics.register_rust_prometheus_registry(registry).unwrap();
        helps.push(("legacy_latency_seconds", "Latency  per /queue  and shop"));
        samples.push(("legacy_latency_seconds_sum", vec![("queue", "mail")], 0.5));
    }
    Hostile {
        metrics,
        helps,
        samples,
    }
}

/// Parses an exposition with the Python parser named by `argv[1]` and prints every family as
/// JSON: name, help and samples (values as Python writes them: `nan` and `inf` are no JSON
/// numbers). The text is read as bytes and decoded without newline
/// translation, as a scrape's body is.
const PARSE_SCRIPT: &str = r#"
import json, sys
if sys.argv[1] == "openmetrics":
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
else:
    from prometheus_client.parser import text_string_to_metric_families
text = sys.stdin.buffer.read().decode("utf-8")
print(json.dumps([
    {"name": f.name, "help": f.documentation,
     "samples": [[s.name, s.labels, str(s.value)] for s in f.samples]}
    for f in text_string_to_metric_families(text)
]))
"#;

fn the_python_parsers_accept_hostile_input_in_both_text_formats() {
    let python = python();
    let hostile = hostile();
    for (parser, format) in [
        ("text", Format::PrometheusText),
        ("openmetrics", Format::OpenMetrics),
    ] {
        let text = hostile.metrics.render(format).unwrap();
        let output = run_with_input(&python, &["-c", PARSE_SCRIPT, parser], text.as_bytes());
        assert!(
            output.status.success(),
            "{parser} rejected the exposition: {}\n{text}",
            String::from_utf8_lossy(&output.stderr)
        );
        let families: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
        for (family, help) in &hostile.helps {
            let found = families.iter().find(|parsed| parsed["name"] == *family);
            assert_eq!(
                found.and_then(|parsed| parsed["help"].as_str()),
                Some(*help),
                "{parser}: the help of {family}\n{text}"
            );
        }
        let samples: Vec<(String, BTreeMap<String, String>, f64)> = families
            .iter()
            .flat_map(|family| family["samples"].as_array().unwrap().clone())
            .map(|sample| {
                let (name, labels, value): (String, BTreeMap<String, String>, String) =
                    serde_json::from_value(sample).unwrap();
                (name, labels, value.parse().unwrap())
            })
            .collect();
        for (name, labels, value) in &hostile.samples {
            let found = samples.iter().find(|(sample, sample_labels, _)| {
                sample == name
                    && sample_labels.len() == labels.len()
                    && labels.iter().all(|(key, value)| {
                        sample_labels.get(*key).is_some_and(|parsed| {
                            // A bound may read back spelled otherwise (`1` or `1.0`); values
                            // that are not numbers must be equal as text.
                            parsed == value
                                || matches!(
                                    (parsed.parse::<f64>(), value.parse::<f64>()),
                                    (Ok(parsed), Ok(value)) if parsed == value
                                )
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

fn promtool_accepts_hostile_input_in_prometheus_text() {
    let promtool = program("promtool");
    let hostile = hostile();
    let text = hostile.metrics.render(Format::PrometheusText).unwrap();
    assert!(hostile.samples.len() >= 2, "every source recorded");
    if let Err(report) = promtool_check_metrics(&promtool, &text) {
        panic!("{report}\n--- exposition ---\n{text}");
    }
}

/// A Prometheus scrape config with one job per target, so that each can be queried apart.
fn scrape_config(targets: &[(&str, SocketAddr)]) -> String {
    let mut config = String::from(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nscrape_configs:\n",
    );
    for (job, addr) in targets {
        config.push_str(&format!(
            "  - job_name: \"{job}\"\n    static_configs:\n      - targets: [\"{addr}\"]\n"
        ));
    }
    config
}

/// Serves `metrics` on a loopback port; with `text_only`, every request's `Accept` is replaced
/// by `text/plain`, so that Prometheus (which asks for OpenMetrics first) gets 0.0.4 text.
fn serve(metrics: &Metrics, text_only: bool) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { "ok" }))
        .layer(metrics.layer())
        .layer(axum::middleware::map_request(
            move |mut request: axum::extract::Request| async move {
                if text_only {
                    let text = http::HeaderValue::from_static("text/plain");
                    request.headers_mut().insert(http::header::ACCEPT, text);
                }
                request
            },
        ));
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

fn a_real_prometheus_scrapes_hostile_input_in_both_text_formats() {
    let binary = program("prometheus");
    let (openmetrics, text) = (hostile(), hostile());
    let targets = [
        ("openmetrics", serve(&openmetrics.metrics, false)),
        ("text", serve(&text.metrics, true)),
    ];
    let server = PrometheusServer::start_with(&binary, &scrape_config(&targets), &[]);
    server.wait_for_scrapes(2, 2);
    for ((job, _), (hostile, format)) in targets.iter().zip([
        (&openmetrics, "openmetrics-text-1.0.0"),
        (&text, "prometheus-text-0.0.4"),
    ]) {
        let up = server.query_single(&format!("up{{job=\"{job}\"}}"));
        assert_eq!(up, Some(1.0), "{job}: the target is down: {}", server.log_tail());
        // The format each target was served in, from the scrape self-metrics.
        let served = hostile.metrics.render(Format::PrometheusText).unwrap();
        assert!(
            served.contains(&format!("format=\"{format}\",status=\"200\"")),
            "{job} was not scraped in {format}:\n{served}"
        );
        for (name, labels, value) in &hostile.samples {
            // The constant label's value is matched by what it starts with (`(?s)`: across its
            // line feed): PromQL strings cannot carry a NUL.
            let selector: Vec<String> = labels
                .iter()
                .map(|(key, value)| match *key {
                    "site" => "site=~\"(?s)C:.*\"".to_owned(),
                    _ => format!("{key}={}", promql_string(value)),
                })
                .collect();
            let promql = format!("{name}{{job=\"{job}\",{}}}", selector.join(","));
            server.wait_for_value(&promql, *value);
        }
    }
}

/// `value` as a PromQL double-quoted string (the escapes PromQL reads like Go).
fn promql_string(value: &str) -> String {
    let mut quoted = String::from("\"");
    for character in value.chars() {
        match character {
            '\\' => quoted.push_str("\\\\"),
            '"' => quoted.push_str("\\\""),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            other => quoted.push(other),
        }
    }
    quoted.push('"');
    quoted
}
