//! End-to-end: a real Prometheus scrapes a `Metrics` with its own latency buckets for one
//! view and a label taken from the request, served by the separate metrics listener, and
//! stores that view's series with those buckets while the other views keep the defaults, and
//! every view-labelled series with its request's tenant (empty, or `<overflow>` beyond the
//! label's bound).

use crate::harness::e2e_tests;
use crate::support;

use std::convert::Infallible;

use http::{Request, Response};
use support::prometheus::{scrape_config, PrometheusServer};
use support::tools::{PROMETHEUS, program};
use tower::{ServiceBuilder, ServiceExt};
use tower_prometheus::{Metrics, ViewName};

e2e_tests! {
    prometheus_stores_a_views_own_latency_buckets_and_a_request_label needs [PROMETHEUS],
}

async fn named(request: Request<()>) -> Result<Response<String>, Infallible> {
    let mut response = Response::new(String::from("ok"));
    response
        .extensions_mut()
        .insert(ViewName::new(request.uri().path().to_owned()));
    Ok(response)
}

fn prometheus_stores_a_views_own_latency_buckets_and_a_request_label() {
    let binary = program("prometheus");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let metrics = Metrics::builder()
        .latency_buckets_for_view("/upload", [0.5, 30.0, 300.0])
        .response_duration_histogram(true)
        .request_label("tenant", |head| head.headers().get("x-tenant")?.to_str().ok(), 2)
        .build()
        .unwrap();
    let app = ServiceBuilder::new().layer(metrics.layer()).service_fn(named);
    let addr = runtime.block_on(async {
        // Two tenants fit the bound of 2; the third (initech) folds into `<overflow>`.
        let requests = [
            ("/upload", Some("acme")),
            ("/upload", Some("acme")),
            ("/upload", Some("acme")),
            ("/orders", Some("globex")),
            ("/orders", None),
            ("/orders", Some("initech")),
        ];
        for (path, tenant) in requests {
            let mut request = Request::post(path);
            if let Some(tenant) = tenant {
                request = request.header("x-tenant", tenant);
            }
            app.clone().oneshot(request.body(()).unwrap()).await.unwrap();
        }
        let bound = metrics.server().bind("127.0.0.1:0").await.unwrap();
        let addr = bound.local_addr().unwrap();
        tokio::spawn(bound.serve());
        addr
    });
    let config = scrape_config("route-control", &[addr], &[]);
    let prometheus = PrometheusServer::start_with(&binary, &config, &[]);

    for family in [
        "http_requests_latency_seconds_by_view_method",
        "http_responses_duration_seconds_by_view_method",
    ] {
        // 3 bounds and +Inf for /upload (one tenant); the 16 default bounds and +Inf for each
        // of /orders' three tenants (globex, none, `<overflow>`).
        prometheus.wait_for_value(&format!(r#"count({family}_bucket{{view="/upload"}})"#), 4.0);
        prometheus.wait_for_value(
            &format!(r#"count({family}_bucket{{view="/orders",tenant="globex"}})"#),
            17.0,
        );
        prometheus.wait_for_value(&format!(r#"count({family}_bucket{{view="/orders"}})"#), 51.0);
        // Text writes `le="300"`, OpenMetrics `le="300.0"`: either is the same bound.
        prometheus.wait_for_value(
            &format!(r#"sum({family}_bucket{{view="/upload",method="POST",le=~"300(\\.0)?"}})"#),
            3.0,
        );
        assert_eq!(
            prometheus.query_single(&format!(
                r#"count({family}_bucket{{view="/orders",le=~"300(\\.0)?"}})"#
            )),
            None,
            "{family}: the default buckets have no 300 s bound"
        );
    }
    let requests = "http_requests_total_by_view_transport_method_total";
    for (selector, expected) in [
        (r#"view="/upload",method="POST",tenant="acme""#, 3.0),
        (r#"view="/orders",tenant="globex""#, 1.0),
        // Prometheus stores an empty label value as no label: `tenant=""` selects it.
        (r#"view="/orders",tenant="""#, 1.0),
        (r#"view="/orders",tenant="<overflow>""#, 1.0),
    ] {
        prometheus.wait_for_value(&format!("sum({requests}{{{selector}}})"), expected);
    }
    prometheus.wait_for_value(r#"http_metrics_label_overflow_total{label="tenant"}"#, 1.0);
    prometheus.wait_for_value(
        r#"sum by (tenant) (http_responses_total_by_status_view_method_total{status="200",tenant="acme"})"#,
        3.0,
    );
    drop(prometheus);
    runtime.shutdown_background();
}
