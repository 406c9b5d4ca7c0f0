//! End-to-end: a real Prometheus (2.42) scrapes the example server compressed with gzip, as
//! protobuf with native histograms, and stores the exemplars it is given.


use crate::harness::e2e_tests;
use crate::support;

use std::time::{SystemTime, UNIX_EPOCH};

use support::example_server::ExampleServer;
use support::http::percent_encode;
use support::prometheus::{scrape_config, PrometheusServer};
use support::tools::{MAX_WAIT, PROMETHEUS, wait_until};

e2e_tests! {
    prometheus_scrapes_gzip_openmetrics_and_stores_the_exemplars needs [PROMETHEUS],
    prometheus_scrapes_protobuf_native_histograms_with_the_right_quantile needs [PROMETHEUS],
}

const JOB: &str = "tower-prometheus";
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SAMPLED: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// Waits until `promql` returns one value that `accept` takes; returns it.
fn wait_for(prometheus: &PrometheusServer, promql: &str, accept: impl Fn(f64) -> bool) -> f64 {
    wait_until(promql, MAX_WAIT, || match prometheus.query_single(promql) {
        Some(value) if accept(value) => Ok(value),
        other => Err(format!("{other:?}")),
    })
}

/// Waits until Prometheus holds an exemplar with our trace id for the series of `selector`.
fn wait_for_exemplar(prometheus: &PrometheusServer, selector: &str) {
    wait_until(&format!("an exemplar on {selector}"), MAX_WAIT, || {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let data = prometheus.api(&format!(
            "query_exemplars?query={}&start={}&end={}",
            percent_encode(selector),
            now - 600,
            now + 60
        ))?;
        let trace_ids: Vec<String> = data
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|series| series["exemplars"].as_array().cloned().unwrap_or_default())
            .filter_map(|exemplar| exemplar["labels"]["trace_id"].as_str().map(str::to_owned))
            .collect();
        if trace_ids.iter().any(|id| id == TRACE_ID) {
            Ok(())
        } else {
            Err(format!("{data}"))
        }
    });
}

fn prometheus_scrapes_gzip_openmetrics_and_stores_the_exemplars() {
    let server = ExampleServer::start(&[("TOWER_PROMETHEUS_EXEMPLARS", "1")]);
    let config = scrape_config(JOB, &[server.addr()], &[]);
    let prometheus = PrometheusServer::start(&config, &["--enable-feature=exemplar-storage"]);
    prometheus.wait_for_scrapes(1, 1);

    let traced = server.request("GET", "/users/7", &[("traceparent", SAMPLED)], &[]);
    assert_eq!(traced.status, 200);
    assert_eq!(server.get("/users/8").status, 200);

    // The data arrived: both requests, through scrapes that were compressed.
    prometheus.wait_for_value(
        r#"sum(http_requests_total_by_view_transport_method_total{view="/users/{id}"})"#,
        2.0,
    );
    wait_for(
        &prometheus,
        r#"sum(http_metrics_scrapes_total{format="openmetrics-text-1.0.0",status="200"})"#,
        |scrapes| scrapes >= 1.0,
    );
    wait_for(
        &prometheus,
        r#"sum(http_metrics_response_bytes_count{format="openmetrics-text-1.0.0",encoding="gzip"})"#,
        |scrapes| scrapes >= 1.0,
    );
    assert_eq!(
        prometheus.query_single(r#"sum(http_metrics_response_bytes_count{encoding="identity"})"#),
        None,
        "every scrape of Prometheus was gzipped"
    );
    assert_eq!(
        prometheus.query_single(&format!(r#"up{{job="{JOB}"}}"#)),
        Some(1.0)
    );

    wait_for_exemplar(
        &prometheus,
        r#"http_requests_latency_seconds_by_view_method_bucket{view="/users/{id}"}"#,
    );
    wait_for_exemplar(
        &prometheus,
        r#"http_requests_total_by_view_transport_method_total{view="/users/{id}"}"#,
    );
}

fn prometheus_scrapes_protobuf_native_histograms_with_the_right_quantile() {
    let server = ExampleServer::start(&[
        ("TOWER_PROMETHEUS_NATIVE_HISTOGRAMS", "1"),
        ("TOWER_PROMETHEUS_EXEMPLARS", "1"),
    ]);
    let config = scrape_config(JOB, &[server.addr()], &[]);
    let prometheus = PrometheusServer::start(
        &config,
        &[
            "--enable-feature=native-histograms",
            "--enable-feature=exemplar-storage",
        ],
    );
    prometheus.wait_for_scrapes(1, 1);

    // The /slow series exists from its first request on; one scrape of it before the rest of
    // the traffic lets rate() see the increase.
    const NATIVE: &str = r#"http_requests_latency_seconds_by_view_method{view="/slow"}"#;
    assert_eq!(server.get("/slow?ms=200").status, 200);
    wait_for(&prometheus, &format!("histogram_count(sum({NATIVE}))"), |count| {
        count == 1.0
    });
    for _ in 0..4 {
        assert_eq!(server.get("/slow?ms=200").status, 200);
    }
    let traced = server.request("GET", "/slow?ms=200", &[("traceparent", SAMPLED)], &[]);
    assert_eq!(traced.status, 200);
    wait_for(&prometheus, &format!("histogram_count(sum({NATIVE}))"), |count| {
        count == 6.0
    });

    // Every request took 200 ms and a bit: the 99th percentile of the native histogram lies in
    // the schema-3 bucket around 0.2 s (or the next one up on a slow machine).
    let p99 = wait_for(
        &prometheus,
        &format!("histogram_quantile(0.99, sum(rate({NATIVE}[1m])))"),
        |value| value.is_finite(),
    );
    assert!((0.19..0.26).contains(&p99), "p99 {p99} s for 200 ms requests");
    let p50 = prometheus
        .query_single(&format!("histogram_quantile(0.5, sum(rate({NATIVE}[1m])))"))
        .expect("a median");
    assert!((0.19..0.26).contains(&p50), "p50 {p50} s for 200 ms requests");
    eprintln!("native histogram quantiles of 6 x /slow?ms=200: p50 {p50:.4} s, p99 {p99:.4} s");

    // Prometheus 2.42 stores only the native part of a histogram that has both: the classic
    // `_bucket` series of the same histogram are not ingested (src/docs/native_histograms.md).
    assert_eq!(
        prometheus
            .query_single(r#"count(http_requests_latency_seconds_by_view_method_bucket{view="/slow"})"#),
        None
    );
    assert_eq!(
        prometheus.query_single(r#"sum(http_requests_latency_seconds_by_view_method_count{view="/slow"})"#),
        None
    );

    // It came as protobuf, gzipped, and the request counter's exemplar came with it.
    wait_for(
        &prometheus,
        r#"sum(http_metrics_response_bytes_count{format="prometheus-protobuf",encoding="gzip"})"#,
        |scrapes| scrapes >= 1.0,
    );
    assert_eq!(
        prometheus.query_single(r#"sum(http_metrics_scrapes_total{format!="prometheus-protobuf"})"#),
        None,
        "Prometheus asked for protobuf every time"
    );
    wait_for_exemplar(
        &prometheus,
        r#"http_requests_total_by_view_transport_method_total{view="/slow"}"#,
    );
}
