//! End-to-end: the Python reference client (`prometheus_client`) parses both exposition
//! formats of the example server, and every family, label set and value it reads back equals
//! what the traffic the test sent must have produced.

use crate::harness::e2e_tests;
use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use support::example_server::{send_every_route, ExampleServer, Sent};
use support::http::HttpResponse;
use support::tools::{PYTHON_PROMETHEUS_CLIENT, python, run_with_input};

e2e_tests! {
    prometheus_client_reads_back_exactly_the_traffic_sent_in_both_formats needs [PYTHON_PROMETHEUS_CLIENT],
}

/// Parses an exposition read on stdin with the parser named by `argv[1]` and prints every
/// family as JSON: name, type and samples (name, labels, value).
const PARSE_SCRIPT: &str = r#"
import json, sys
if sys.argv[1] == "openmetrics":
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
else:
    from prometheus_client.parser import text_string_to_metric_families
families = [
    {"name": f.name, "type": f.type,
     "samples": [[s.name, s.labels, s.value] for s in f.samples]}
    for f in text_string_to_metric_families(sys.stdin.read())
]
print(json.dumps(families))
"#;

/// django-prometheus's latency buckets, the crate's default.
const LATENCY_BUCKETS: &[f64] = &[
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
    25.0,
    50.0,
    75.0,
    f64::INFINITY,
];

/// Every family the layer can expose, with its type.
const FAMILIES: &[(&str, &str)] = &[
    ("http_requests_before_middlewares_total", "counter"),
    ("http_responses_before_middlewares_total", "counter"),
    ("http_requests_latency_including_middlewares_seconds", "histogram"),
    (
        "http_requests_unknown_latency_including_middlewares_total",
        "counter",
    ),
    ("http_requests_latency_seconds_by_view_method", "histogram"),
    ("http_requests_unknown_latency_total", "counter"),
    ("http_ajax_requests_total", "counter"),
    ("http_requests_total_by_method_total", "counter"),
    ("http_requests_total_by_transport_total", "counter"),
    ("http_requests_total_by_view_transport_method_total", "counter"),
    ("http_requests_body_total_bytes", "histogram"),
    ("http_responses_total_by_status_total", "counter"),
    ("http_responses_total_by_status_view_method_total", "counter"),
    ("http_responses_body_total_bytes", "histogram"),
    ("http_responses_total_by_charset_total", "counter"),
    ("http_responses_streaming_total", "counter"),
    ("http_exceptions_total_by_type_total", "counter"),
    ("http_exceptions_total_by_view_total", "counter"),
    ("http_requests_in_flight", "gauge"),
    ("http_requests_cancelled_total", "counter"),
    ("http_metrics_label_overflow_total", "counter"),
];

/// The scrape self-metrics, as the Python parser names their families.
const SCRAPE_SELF_METRICS: &[&str] = &[
    "http_metrics_scrapes",
    "http_metrics_encode_duration_seconds",
    "http_metrics_response_bytes",
    "http_metrics_encode_errors",
];

type Labels = BTreeMap<String, String>;
/// A sample: its name and labels.
type Key = (String, Labels);

/// One family as the Python parser read it.
#[derive(Debug)]
struct ParsedFamily {
    name: String,
    kind: String,
    samples: BTreeMap<Key, f64>,
}

fn parse_with_python(python: &Path, format: &str, exposition: &str) -> Vec<ParsedFamily> {
    let output = run_with_input(python, &["-c", PARSE_SCRIPT, format], exposition.as_bytes());
    assert!(
        output.status.success(),
        "prometheus_client ({format}) rejected the exposition: {}\n--- exposition ---\n{exposition}",
        String::from_utf8_lossy(&output.stderr)
    );
    let families: Vec<serde_json::Value> =
        serde_json::from_slice(&output.stdout).expect("the parse script prints JSON");
    families
        .iter()
        .map(|family| ParsedFamily {
            name: family["name"].as_str().expect("family name").to_owned(),
            kind: family["type"].as_str().expect("family type").to_owned(),
            samples: family["samples"]
                .as_array()
                .expect("samples")
                .iter()
                .map(|sample| {
                    let labels = sample[1]
                        .as_object()
                        .expect("labels")
                        .iter()
                        .map(|(name, value)| {
                            let value = value.as_str().expect("label value");
                            let value = if name == "le" {
                                canonical_le(value)
                            } else {
                                value.to_owned()
                            };
                            (name.clone(), value)
                        })
                        .collect();
                    let name = sample[0].as_str().expect("sample name").to_owned();
                    ((name, labels), sample[2].as_f64().expect("sample value"))
                })
                .collect(),
        })
        .collect()
}

/// `le` values compared as numbers: "1.0", "1" and "1e0" are one bucket.
fn canonical_le(value: &str) -> String {
    let bound: f64 = if value == "+Inf" {
        f64::INFINITY
    } else {
        value
            .parse()
            .unwrap_or_else(|_| panic!("le={value:?} is not a number"))
    };
    format!("{bound}")
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

/// The `charset` parameter of a response's Content-Type, lower-cased, as the layer labels it.
fn charset_label(response: &HttpResponse) -> String {
    response
        .header("content-type")
        .and_then(|content_type| {
            content_type.split(';').skip(1).find_map(|parameter| {
                let (name, value) = parameter.split_once('=')?;
                name.trim()
                    .eq_ignore_ascii_case("charset")
                    .then(|| value.trim().trim_matches('"').to_ascii_lowercase())
            })
        })
        .unwrap_or_else(|| "<no charset>".to_owned())
}

/// What an exposition must contain once `completed` requests have ended and one more
/// (`GET /metrics`, the scrape being answered) has entered the layer but not yet produced its
/// response head. Latency histograms are timing-dependent, so the model holds their bucket
/// layout and counts exactly and their bucket values are checked separately.
#[derive(Debug, Default)]
struct Expected {
    /// Every sample with its exact value, latency bucket and sum values excluded.
    exact: BTreeMap<Key, f64>,
    /// Latency bucket and `_sum` samples whose presence is required but whose value is timing.
    timed: BTreeSet<Key>,
}

impl Expected {
    fn add(&mut self, name: &str, pairs: &[(&str, &str)], value: f64) {
        *self.exact.entry((name.to_owned(), labels(pairs))).or_default() += value;
    }

    fn set(&mut self, name: &str, pairs: &[(&str, &str)], value: f64) {
        self.exact.insert((name.to_owned(), labels(pairs)), value);
    }

    fn size_histogram(&mut self, name: &str, observations: &[f64]) {
        let mut bounds = vec![0.0];
        bounds.extend((0..30).map(|power| f64::from(1u32 << power)));
        bounds.push(f64::INFINITY);
        for bound in bounds {
            let le = format!("{bound}");
            let below = observations.iter().filter(|&&observed| observed <= bound).count();
            self.set(&format!("{name}_bucket"), &[("le", &le)], below as f64);
        }
        self.set(&format!("{name}_count"), &[], observations.len() as f64);
        self.set(&format!("{name}_sum"), &[], observations.iter().sum());
    }

    fn latency_histogram(&mut self, name: &str, pairs: &[(&str, &str)], count: usize) {
        for bound in LATENCY_BUCKETS {
            let le = format!("{bound}");
            let mut with_le = labels(pairs);
            with_le.insert("le".to_owned(), le);
            self.timed.insert((format!("{name}_bucket"), with_le));
        }
        self.timed.insert((format!("{name}_sum"), labels(pairs)));
        self.set(&format!("{name}_count"), pairs, count as f64);
    }

    fn model(completed: &[Sent]) -> Self {
        let mut expected = Self::default();
        let answered: Vec<&Sent> = completed.iter().filter(|sent| !sent.panics).collect();
        let panicked = completed.len() - answered.len();
        // The scrape being answered: counted on entry, in flight, no head yet.
        let entered = completed.len() + 1;

        expected.set("http_requests_before_middlewares_total", &[], entered as f64);
        expected.set(
            "http_responses_before_middlewares_total",
            &[],
            answered.len() as f64,
        );
        expected.set(
            "http_requests_unknown_latency_including_middlewares_total",
            &[],
            panicked as f64,
        );
        expected.set("http_requests_unknown_latency_total", &[], panicked as f64);
        let ajax = completed.iter().filter(|sent| sent.ajax).count();
        expected.set("http_ajax_requests_total", &[], ajax as f64);
        expected.set(
            "http_requests_total_by_transport_total",
            &[("transport", "http")],
            entered as f64,
        );
        expected.add("http_requests_total_by_method_total", &[("method", "GET")], 1.0);
        expected.latency_histogram(
            "http_requests_latency_including_middlewares_seconds",
            &[],
            answered.len(),
        );

        // Every (view, method) that entered has an in-flight gauge.
        let mut view_methods: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        view_methods.insert(("/metrics", "GET"), 0);
        expected.set(
            "http_requests_in_flight",
            &[("view", "/metrics"), ("method", "GET")],
            1.0,
        );
        for sent in completed {
            let (view, method) = (sent.view, sent.method);
            let answered_here = view_methods.entry((view, method)).or_default();
            expected.add("http_requests_total_by_method_total", &[("method", method)], 1.0);
            expected.add(
                "http_requests_total_by_view_transport_method_total",
                &[("view", view), ("transport", "http"), ("method", method)],
                1.0,
            );
            expected.add(
                "http_requests_in_flight",
                &[("view", view), ("method", method)],
                0.0,
            );
            if sent.panics {
                expected.add("http_exceptions_total_by_type_total", &[("type", "panic")], 1.0);
                expected.add("http_exceptions_total_by_view_total", &[("view", view)], 1.0);
                continue;
            }
            *answered_here += 1;
            let status = sent.response.status.to_string();
            expected.add(
                "http_responses_total_by_status_total",
                &[("status", &status)],
                1.0,
            );
            expected.add(
                "http_responses_total_by_status_view_method_total",
                &[("status", &status), ("view", view), ("method", method)],
                1.0,
            );
            let charset = charset_label(&sent.response);
            expected.add(
                "http_responses_total_by_charset_total",
                &[("charset", &charset)],
                1.0,
            );
            // No Content-Length on the wire: the body had no exact size, a streaming response.
            let streaming = sent.response.header("content-length").is_none();
            expected.add(
                "http_responses_streaming_total",
                &[],
                f64::from(u8::from(streaming)),
            );
        }
        // Latency series exist once a latency was observed: panics and the scrape in
        // progress have none.
        for ((view, method), answered_here) in view_methods {
            if answered_here == 0 {
                continue;
            }
            expected.latency_histogram(
                "http_requests_latency_seconds_by_view_method",
                &[("view", view), ("method", method)],
                answered_here,
            );
        }
        // Content-Length is sent for POST and non-empty bodies only.
        let request_sizes: Vec<f64> = completed
            .iter()
            .filter(|sent| sent.method == "POST" || !sent.body.is_empty())
            .map(|sent| sent.body.len() as f64)
            .collect();
        expected.size_histogram("http_requests_body_total_bytes", &request_sizes);
        let response_sizes: Vec<f64> = answered
            .iter()
            .map(|sent| sent.response.body.len() as f64)
            .collect();
        expected.size_histogram("http_responses_body_total_bytes", &response_sizes);
        expected
    }
}

/// Checks one parsed exposition against the model.
fn assert_matches(format: &str, families: &[ParsedFamily], expected: &Expected, slow_view: &str) {
    let mut samples: BTreeMap<Key, f64> = BTreeMap::new();
    let mut process_families = 0;
    for family in families {
        // The process collector's values depend on the machine: they must parse and be sane,
        // but they are not part of the traffic model.
        if family.name.starts_with("process_") {
            process_families += 1;
            assert!(
                family
                    .samples
                    .values()
                    .all(|value| value.is_finite() && *value >= 0.0),
                "{format}: process family {} has an odd value: {:?}",
                family.name,
                family.samples
            );
            continue;
        }
        // The scrape self-metrics count earlier scrapes, not the traffic modelled here; the
        // parser has accepted them, and tests/it/exposition_self_metrics.rs checks their values.
        if SCRAPE_SELF_METRICS.contains(&family.name.as_str()) {
            continue;
        }
        let exposed = FAMILIES
            .iter()
            .find(|(name, kind)| {
                *kind == family.kind
                    && (*name == family.name
                        || (*kind == "counter" && *name == format!("{}_total", family.name)))
            })
            .unwrap_or_else(|| {
                panic!(
                    "{format}: unexpected family {} of type {}",
                    family.name, family.kind
                )
            });
        assert!(
            !family.samples.is_empty(),
            "{format}: family {} has no samples",
            exposed.0
        );
        for (key, value) in &family.samples {
            assert!(
                samples.insert(key.clone(), *value).is_none(),
                "{format}: sample {key:?} appears twice"
            );
        }
    }

    if cfg!(all(feature = "process", target_os = "linux")) {
        assert!(process_families >= 6, "{format}: process metrics missing");
    }
    let expected_keys: BTreeSet<&Key> = expected.exact.keys().chain(&expected.timed).collect();
    let parsed_keys: BTreeSet<&Key> = samples.keys().collect();
    let missing: Vec<_> = expected_keys.difference(&parsed_keys).collect();
    let unexpected: Vec<_> = parsed_keys.difference(&expected_keys).collect();
    assert!(
        missing.is_empty() && unexpected.is_empty(),
        "{format}: sample sets differ\nmissing: {missing:#?}\nunexpected: {unexpected:#?}"
    );
    for (key, want) in &expected.exact {
        assert_eq!(samples[key], *want, "{format}: value of {key:?}");
    }

    // Latency buckets: cumulative, ending at the count; the slow route slept 30 ms.
    for (key, count) in expected
        .exact
        .iter()
        .filter(|(key, _)| key.0.ends_with("_seconds_count") || key.0.ends_with("_by_view_method_count"))
    {
        let base = key.0.trim_end_matches("_count");
        let mut previous = 0.0;
        for bound in LATENCY_BUCKETS {
            let mut with_le = key.1.clone();
            with_le.insert("le".to_owned(), format!("{bound}"));
            let bucket = samples[&(format!("{base}_bucket"), with_le)];
            assert!(
                bucket >= previous,
                "{format}: {base} {:?} buckets decrease at le={bound}",
                key.1
            );
            previous = bucket;
        }
        assert_eq!(
            previous, *count,
            "{format}: {base} {:?} +Inf bucket equals the count",
            key.1
        );
        let sum = samples[&(format!("{base}_sum"), key.1.clone())];
        assert!(
            sum >= 0.0 && (sum > 0.0) == (*count > 0.0),
            "{format}: {base} {:?} sum {sum}",
            key.1
        );
        if key.1.get("view").map(String::as_str) == Some(slow_view) {
            assert!(
                sum >= 0.030,
                "{format}: /slow slept 30 ms but its latency sum is {sum}"
            );
            let mut fast = key.1.clone();
            fast.insert("le".to_owned(), "0.025".to_owned());
            assert_eq!(
                samples[&(format!("{base}_bucket"), fast)],
                0.0,
                "{format}: /slow is not under 25 ms"
            );
        }
    }
}

fn prometheus_client_reads_back_exactly_the_traffic_sent_in_both_formats() {
    let python = python();
    let server = ExampleServer::start(&[]);
    let mut completed = send_every_route(&server);

    // First scrape: Prometheus text 0.0.4.
    let text = server.request("GET", "/metrics", &[("Accept", "text/plain; version=0.0.4")], &[]);
    assert_eq!(text.status, 200);
    assert!(text
        .header("content-type")
        .is_some_and(|value| value.starts_with("text/plain; version=0.0.4")));
    let families = parse_with_python(&python, "text", &text.text());
    assert_matches("text 0.0.4", &families, &Expected::model(&completed), "/slow");

    // The first scrape is now a completed request: the second one must count it exactly.
    completed.push(Sent {
        method: "GET",
        path: "/metrics".to_owned(),
        view: "/metrics",
        body: Vec::new(),
        ajax: false,
        panics: false,
        response: text,
    });
    let openmetrics = server.request(
        "GET",
        "/metrics",
        &[("Accept", "application/openmetrics-text; version=1.0.0")],
        &[],
    );
    assert_eq!(openmetrics.status, 200);
    assert!(openmetrics
        .header("content-type")
        .is_some_and(|value| value.starts_with("application/openmetrics-text; version=1.0.0")));
    let families = parse_with_python(&python, "openmetrics", &openmetrics.text());
    assert_matches(
        "OpenMetrics 1.0.0",
        &families,
        &Expected::model(&completed),
        "/slow",
    );
}
