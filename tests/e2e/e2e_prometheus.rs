//! End-to-end: a real Prometheus server scrapes example-server processes every second, and
//! what it stores equals the traffic the tests sent. The first test also loads the alerting
//! rules of `examples/monitoring` and evaluates every dashboard and alert expression.

use crate::harness::e2e_tests;
use crate::support;

use std::collections::{BTreeMap, BTreeSet};

use support::example_server::{cancel_a_streaming_request, send_every_route, ExampleServer};
use support::monitoring::{dashboard_queries, monitoring_dir};
use support::prometheus::{scrape_config, PrometheusServer};
use support::tools::{MAX_WAIT, PROMETHEUS, program, wait_until};

e2e_tests! {
    a_real_prometheus_stores_exactly_the_traffic_sent_and_evaluates_the_monitoring_queries needs [PROMETHEUS],
    one_prometheus_sums_three_example_servers_scraped_as_separate_targets needs [PROMETHEUS],
}

/// The job name of `examples/monitoring/prometheus.yml`, which the dashboard and alerts use.
const JOB: &str = "tower-prometheus";

/// `sum by (view)` of the per-request counter, without the scrapes of `/metrics`.
const REQUESTS_BY_VIEW: &str =
    r#"sum by (view) (http_requests_total_by_view_transport_method_total{view!="/metrics"})"#;

fn by_label(prometheus: &PrometheusServer, promql: &str, label: &str) -> BTreeMap<String, f64> {
    prometheus
        .query_vector(promql)
        .into_iter()
        .map(|(labels, value)| {
            let key = labels[label]
                .as_str()
                .expect("label value is a string")
                .to_owned();
            (key, value)
        })
        .collect()
}

fn a_real_prometheus_stores_exactly_the_traffic_sent_and_evaluates_the_monitoring_queries() {
    let binary = program("prometheus");
    let server = ExampleServer::start(&[]);
    let alerts = monitoring_dir().join("alerts.yml");
    let config = scrape_config(JOB, &[server.addr()], &[&alerts]);
    let prometheus = PrometheusServer::start_with(&binary, &config, &[]);
    // One scrape before the traffic, so that rates over the traffic are not all zero.
    prometheus.wait_for_scrapes(1, 1);

    let sent = send_every_route(&server);
    for id in 100..104 {
        assert_eq!(server.get(&format!("/users/{id}")).status, 200);
    }
    cancel_a_streaming_request(&server);
    let mut expected: BTreeMap<String, f64> = BTreeMap::new();
    for request in &sent {
        *expected.entry(request.view.to_owned()).or_default() += 1.0;
    }
    *expected.entry("/users/{id}".to_owned()).or_default() += 4.0;
    *expected.entry("/stream".to_owned()).or_default() += 1.0;

    prometheus.wait_for_value(
        r#"sum(http_requests_total_by_view_transport_method_total{view="/users/{id}"})"#,
        7.0,
    );
    prometheus.wait_for_value(r#"sum(http_requests_cancelled_total{view="/stream"})"#, 1.0);
    assert_eq!(
        prometheus.query_single(&format!(r#"up{{job="{JOB}"}}"#)),
        Some(1.0)
    );
    assert_eq!(by_label(&prometheus, REQUESTS_BY_VIEW, "view"), expected);
    assert_eq!(
        by_label(
            &prometheus,
            "sum by (status) (http_responses_total_by_status_total)",
            "status"
        )
        .into_iter()
        .filter(|(status, _)| status != "200")
        .collect::<Vec<_>>(),
        [("404".to_owned(), 1.0), ("500".to_owned(), 1.0)],
        "one 404 and the /error 500 (the /panic 500 is made outside the layer)"
    );
    assert_eq!(
        prometheus.query_single(r#"sum(http_exceptions_total_by_type_total{type="panic"})"#),
        Some(1.0)
    );
    // The cancelled request leaves the gauge right after it is counted; wait rather than race.
    prometheus.wait_for_value(r#"sum(http_requests_in_flight{view!="/metrics"})"#, 0.0);
    assert_eq!(
        prometheus.query_single(r#"sum(http_requests_latency_seconds_by_view_method_count{view="/slow"})"#),
        Some(1.0)
    );
    assert_eq!(
        prometheus.query_single(
            r#"sum(http_requests_latency_seconds_by_view_method_bucket{view="/slow",le="0.025"})"#
        ),
        Some(0.0),
        "/slow slept 30 ms"
    );
    assert_eq!(
        prometheus.query_single("sum(http_requests_body_total_bytes_sum)"),
        Some(11.0),
        "POST /echo body"
    );

    assert_dashboard_queries_return_data(&prometheus);
    assert_alerting_rules_evaluate(&prometheus);
}

/// Every dashboard expression, with Grafana's `$__rate_interval` replaced by a concrete window,
/// evaluates without error and returns at least one sample.
fn assert_dashboard_queries_return_data(prometheus: &PrometheusServer) {
    let queries: Vec<(String, String)> = dashboard_queries()
        .into_iter()
        .map(|(title, expr)| (title, expr.replace("$__rate_interval", "1m")))
        .collect();
    assert!(queries.len() >= 9, "the dashboard has its panels");
    for (title, expr) in &queries {
        assert!(
            !expr.contains('$'),
            "panel {title:?}: unsubstituted variable in {expr}"
        );
    }
    // A rate needs two samples of a series; series born with the traffic need one more scrape.
    wait_until("every dashboard query to return data", MAX_WAIT, || {
        let empty: Vec<String> = queries
            .iter()
            .filter_map(|(title, expr)| match prometheus.try_query(expr) {
                Err(error) => panic!("panel {title:?}: {expr} fails: {error}"),
                Ok(data) if data["result"].as_array().is_some_and(|result| !result.is_empty()) => None,
                Ok(_) => Some(format!("{title}: {expr}")),
            })
            .collect();
        if empty.is_empty() {
            Ok(())
        } else {
            Err(format!("no data yet for {empty:#?}"))
        }
    });
}

/// The rules of `alerts.yml`, loaded by Prometheus, have all been evaluated without error,
/// and each expression also evaluates as a plain query. The target is up, so `TargetDown`
/// is inactive.
fn assert_alerting_rules_evaluate(prometheus: &PrometheusServer) {
    let rules = wait_until("every alerting rule to be evaluated", MAX_WAIT, || {
        let data = prometheus.api("rules")?;
        let rules: Vec<serde_json::Value> = data["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|group| group["rules"].as_array().cloned().unwrap_or_default())
            .collect();
        for rule in &rules {
            assert_ne!(
                rule["health"], "err",
                "rule {} fails: {}",
                rule["name"], rule["lastError"]
            );
        }
        if !rules.is_empty() && rules.iter().all(|rule| rule["health"] == "ok") {
            Ok(rules)
        } else {
            Err(format!("{rules:?}"))
        }
    });
    let names: BTreeSet<&str> = rules.iter().filter_map(|rule| rule["name"].as_str()).collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "HighP99Latency",
            "HighServerErrorRatio",
            "InFlightRequestsStuck",
            "TargetDown"
        ])
    );
    for rule in &rules {
        let expr = rule["query"].as_str().expect("rule query");
        if let Err(error) = prometheus.try_query(expr) {
            panic!("alert {}: {expr} fails: {error}", rule["name"]);
        }
        if rule["name"] == "TargetDown" {
            assert_eq!(rule["state"], "inactive", "the target is up");
        }
    }
}

fn one_prometheus_sums_three_example_servers_scraped_as_separate_targets() {
    let binary = program("prometheus");
    let servers: Vec<ExampleServer> = (0..3).map(|_| ExampleServer::start(&[])).collect();
    let addrs: Vec<_> = servers.iter().map(ExampleServer::addr).collect();
    let prometheus = PrometheusServer::start_with(&binary, &scrape_config(JOB, &addrs, &[]), &[]);

    // Instance i gets i+1 user requests and i+2 requests to "/"; instance 0 one POST /echo.
    let mut users_by_instance = BTreeMap::new();
    for (index, server) in servers.iter().enumerate() {
        for id in 0..=index {
            assert_eq!(server.get(&format!("/users/{id}")).status, 200);
        }
        for _ in 0..index + 2 {
            assert_eq!(server.get("/").status, 200);
        }
        users_by_instance.insert(server.addr().to_string(), (index + 1) as f64);
    }
    assert_eq!(servers[0].request("POST", "/echo", &[], b"ping").status, 200);
    let expected = BTreeMap::from([
        ("/".to_owned(), 9.0),
        ("/echo".to_owned(), 1.0),
        ("/users/{id}".to_owned(), 6.0),
    ]);

    prometheus.wait_for_scrapes(3, 1);
    wait_until("the traffic of every instance to be scraped", MAX_WAIT, || {
        let seen = by_label(&prometheus, REQUESTS_BY_VIEW, "view");
        if seen == expected {
            Ok(())
        } else {
            Err(format!("{seen:?}"))
        }
    });
    assert_eq!(
        by_label(
            &prometheus,
            r#"sum by (instance) (http_requests_total_by_view_transport_method_total{view="/users/{id}"})"#,
            "instance"
        ),
        users_by_instance,
        "each instance is its own series"
    );
    let up = by_label(&prometheus, &format!(r#"up{{job="{JOB}"}}"#), "instance");
    let every_instance_up: BTreeMap<String, f64> = addrs.iter().map(|addr| (addr.to_string(), 1.0)).collect();
    assert_eq!(up, every_instance_up);
}
