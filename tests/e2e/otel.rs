//! End-to-end: the example server with `TOWER_PROMETHEUS_NAMING=opentelemetry`, scraped by a
//! real Prometheus, answers the PromQL that dashboards written against the OpenTelemetry HTTP
//! server conventions use, with the values of the traffic sent.

use crate::harness::e2e_tests;
use crate::support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use support::example_server::{cancel_a_streaming_request, send_every_route, ExampleServer};
use support::http::percent_encode;
use support::prometheus::{scrape_config, PrometheusServer};
use support::tools::{MAX_WAIT, PROMETHEUS, program, wait_until};

e2e_tests! {
    dashboards_queries_over_the_opentelemetry_profile_match_the_traffic needs [PROMETHEUS],
}

/// Scrapes of `/metrics` are requests too: every exact count leaves them out.
const NOT_SCRAPES: &str = r#"http_route!="/metrics""#;

/// `GET /` over HTTP/1.0, for a second `network_protocol_version`.
fn get_over_http_1_0(server: &ExampleServer) {
    let mut stream = TcpStream::connect_timeout(&server.addr(), Duration::from_secs(5)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    assert!(
        response.starts_with(b"HTTP/1.0 200"),
        "{}",
        String::from_utf8_lossy(&response)
    );
}

/// The samples of `promql` evaluated at `time` (Unix seconds), as (labels, value).
fn query_at(prometheus: &PrometheusServer, promql: &str, time: f64) -> Vec<(serde_json::Value, f64)> {
    let data = prometheus
        .api(&format!("query?query={}&time={time}", percent_encode(promql)))
        .unwrap_or_else(|error| panic!("{promql}: {error}"));
    data["result"]
        .as_array()
        .expect("a vector")
        .iter()
        .map(|sample| {
            let value = sample["value"][1].as_str().unwrap().parse::<f64>().unwrap();
            (sample["metric"].clone(), value)
        })
        .collect()
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn dashboards_queries_over_the_opentelemetry_profile_match_the_traffic() {
    let binary = program("prometheus");
    let server = ExampleServer::start(&[("TOWER_PROMETHEUS_NAMING", "opentelemetry")]);
    let exposition = server.metrics_text();
    assert!(!exposition.contains("http_requests_total_by_view_transport_method_total"));

    // Phase 1 creates every series the dashboards read: 11 requests, `/error` answers 500, the
    // panic has no response and `error_type="panic"`; one cancelled stream; one HTTP/1.0 GET.
    let sent = send_every_route(&server);
    assert_eq!(sent.len(), 11);
    cancel_a_streaming_request(&server);
    get_over_http_1_0(&server);
    let prometheus =
        PrometheusServer::start_with(&binary, &scrape_config("otel", &[server.addr()], &[]), &[]);
    let phase_1 = 13.0;
    prometheus.wait_for_value(
        &format!("sum(http_server_request_duration_seconds_count{{{NOT_SCRAPES}}})"),
        phase_1,
    );
    prometheus.wait_for_scrapes(1, 2);

    // Phase 2, on the series phase 1 created: 6 fast answers, 2 errors (500), 2 slow answers.
    for _ in 0..6 {
        assert_eq!(server.get("/").status, 200);
    }
    for _ in 0..2 {
        assert_eq!(server.get("/error").status, 500);
    }
    for _ in 0..2 {
        assert_eq!(server.get("/slow?ms=300").status, 200);
    }
    let total = phase_1 + 10.0;
    prometheus.wait_for_value(
        &format!("sum(http_server_request_duration_seconds_count{{{NOT_SCRAPES}}})"),
        total,
    );
    let at = now();

    // The 95th percentile per route: phase 2's /slow answers took 300 ms, in (0.25, 0.5].
    let quantiles = query_at(
        &prometheus,
        "histogram_quantile(0.95, sum by (le, http_route) (rate(http_server_request_duration_seconds_bucket[1m])))",
        at,
    );
    let quantile_of = |route: &str| {
        quantiles
            .iter()
            .find(|(labels, _)| labels["http_route"] == route)
            .map(|(_, value)| *value)
            .unwrap_or_else(|| panic!("no quantile for {route}: {quantiles:?}"))
    };
    let slow = quantile_of("/slow");
    assert!(slow > 0.25 && slow <= 0.5, "p95 of /slow: {slow}");
    assert!(quantile_of("/") <= 0.25, "p95 of /: {}", quantile_of("/"));

    // The error ratio by status class: phase 2 has 2 errors in 10 requests; the scrapes
    // answered meanwhile are in the denominator, so they are left out of both sides here.
    let ratio = query_at(
        &prometheus,
        &format!(
            "sum(rate(http_server_request_duration_seconds_count{{http_response_status_code=~\"5..\",{NOT_SCRAPES}}}[1m])) \
             / sum(rate(http_server_request_duration_seconds_count{{{NOT_SCRAPES}}}[1m]))"
        ),
        at,
    );
    // rate() extrapolates each series to the window's edges on its own (a young series is
    // extrapolated no further back than its zero), so the ratio is 0.2 within a few percent;
    // the same ratio over the counters is exact: 3 answers with 500 in all 23 requests.
    assert_eq!(ratio.len(), 1, "{ratio:?}");
    assert!((ratio[0].1 - 0.2).abs() < 0.03, "error ratio {ratio:?}");
    let exact = query_at(
        &prometheus,
        &format!(
            "sum(http_server_request_duration_seconds_count{{http_response_status_code=~\"5..\",{NOT_SCRAPES}}}) \
             / sum(http_server_request_duration_seconds_count{{{NOT_SCRAPES}}})"
        ),
        at,
    );
    assert_eq!(exact[0].1, 3.0 / total, "{exact:?}");
    // The dashboards' own query, scrapes included, is below that and above 0.
    let unfiltered = query_at(
        &prometheus,
        "sum(rate(http_server_request_duration_seconds_count{http_response_status_code=~\"5..\"}[1m])) \
         / sum(rate(http_server_request_duration_seconds_count[1m]))",
        at,
    );
    assert!(unfiltered[0].1 > 0.0 && unfiltered[0].1 < 0.23, "{unfiltered:?}");

    // By scheme and protocol version: one HTTP/1.0 request, the rest HTTP/1.1 (with the
    // scrapes, counted apart at the same instant).
    let by_version = query_at(
        &prometheus,
        "sum by (url_scheme, network_protocol_version) (http_server_request_duration_seconds_count)",
        at,
    );
    let scrapes = query_at(
        &prometheus,
        r#"sum(http_server_request_duration_seconds_count{http_route="/metrics"})"#,
        at,
    )
    .first()
    .map_or(0.0, |(_, value)| *value);
    let version = |version: &str| {
        by_version
            .iter()
            .find(|(labels, _)| {
                labels["url_scheme"] == "http" && labels["network_protocol_version"] == version
            })
            .map(|(_, value)| *value)
    };
    assert_eq!(by_version.len(), 2, "{by_version:?}");
    assert_eq!(version("1.0"), Some(1.0));
    assert_eq!(version("1.1"), Some(total - 1.0 + scrapes));

    // By error type: 3 answers with 500 (one in phase 1, two in phase 2), the panic, the
    // cancelled stream.
    let mut by_error: Vec<(String, f64)> = query_at(
        &prometheus,
        r#"sum by (error_type) (http_server_request_duration_seconds_count{error_type!=""})"#,
        at,
    )
    .into_iter()
    .map(|(labels, value)| (labels["error_type"].as_str().unwrap().to_owned(), value))
    .collect();
    by_error.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        by_error,
        [
            ("500".to_owned(), 3.0),
            ("cancelled".to_owned(), 1.0),
            ("panic".to_owned(), 1.0)
        ]
    );

    // Active requests: each scrape sees itself in flight; one slow request adds one while it
    // runs and is gone after.
    let active = "sum(http_server_active_requests)";
    prometheus.wait_for_value(active, 1.0);
    let addr = server.addr();
    let slow_request =
        std::thread::spawn(move || support::http::http_get(addr, "/slow?ms=4000").unwrap().status);
    prometheus.wait_for_value(active, 2.0);
    assert_eq!(slow_request.join().unwrap(), 200);
    prometheus.wait_for_value(active, 1.0);
    wait_until("the slow request counted", MAX_WAIT, || {
        let count = prometheus.query_single(&format!(
            "sum(http_server_request_duration_seconds_count{{{NOT_SCRAPES}}})"
        ));
        if count == Some(total + 1.0) {
            Ok(())
        } else {
            Err(format!("{count:?}"))
        }
    });
}
