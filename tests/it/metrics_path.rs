//! The metrics path: methods, content negotiation, the stand-alone service, custom metrics.

use crate::support;

use std::convert::Infallible;

use http::{Request, Response, StatusCode};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use support::exposition::{body_text, parse_text, value};
use tower::{Layer, ServiceExt};
use tower_prometheus::{Format, Metrics, RegistrationError};

async fn call(metrics: &Metrics, request: Request<()>) -> (http::response::Parts, String) {
    let inner = tower::service_fn(|_request: Request<()>| async {
        Ok::<_, Infallible>(Response::new(String::from("app")))
    });
    let response = metrics.layer().layer(inner).oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    (parts, body_text(body).await)
}

fn scrape(method: &str, accept: Option<&str>) -> Request<()> {
    let mut request = Request::builder().method(method).uri("/metrics");
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    request.body(()).unwrap()
}

#[tokio::test]
async fn get_negotiates_the_format() {
    let metrics = Metrics::new();
    let (parts, body) = call(&metrics, scrape("GET", None)).await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(
        parts.headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert!(body.contains("# TYPE http_requests_before_middlewares_total counter"));
    assert!(!body.contains("# EOF"));

    let prometheus_accept = "application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let (parts, body) = call(&metrics, scrape("GET", Some(prometheus_accept))).await;
    assert_eq!(
        parts.headers["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(body.ends_with("# EOF\n"));
    assert!(body.contains("# TYPE http_requests_before_middlewares counter"));

    for odd in [
        "text/plain",
        "*/*",
        "application/json",
        "",
        "garbage;;q=x",
        "application/openmetrics-text;q=0",
    ] {
        let (parts, _) = call(&metrics, scrape("GET", Some(odd))).await;
        assert_eq!(parts.status, StatusCode::OK, "Accept: {odd:?}");
        assert_eq!(
            parts.headers["content-type"],
            Format::PrometheusText.content_type(),
            "Accept: {odd:?}"
        );
    }
}

#[tokio::test]
async fn head_answers_without_a_body_and_other_methods_get_405() {
    let metrics = Metrics::new();
    let (parts, body) = call(&metrics, scrape("HEAD", None)).await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(
        parts.headers["content-type"],
        Format::PrometheusText.content_type()
    );
    assert!(body.is_empty());

    for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        let (parts, body) = call(&metrics, scrape(method, None)).await;
        assert_eq!(parts.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(parts.headers["allow"], "GET, HEAD");
        assert!(!body.contains("http_requests"), "no exposition on {method}");
    }
    let text = metrics.render(Format::PrometheusText).unwrap();
    let samples = parse_text(&text);
    assert_eq!(
        value(
            &samples,
            "http_responses_total_by_status_view_method_total",
            &[("status", "405"), ("view", "/metrics"), ("method", "POST")]
        ),
        Some(1.0),
        "the metrics path is measured like any route"
    );
}

#[tokio::test]
async fn other_paths_reach_the_inner_service_and_the_path_can_move_or_go() {
    let moved = Metrics::builder()
        .metrics_path("/internal/metrics")
        .build()
        .unwrap();
    assert_eq!(call(&moved, scrape("GET", None)).await.1, "app");
    let (parts, body) = call(&moved, Request::get("/internal/metrics").body(()).unwrap()).await;
    assert_eq!(parts.status, 200);
    assert!(body.contains("http_requests_before_middlewares_total"));

    let disabled = Metrics::builder().disable_metrics_path().build().unwrap();
    assert_eq!(call(&disabled, scrape("GET", None)).await.1, "app");
}

#[tokio::test]
async fn the_exposition_service_serves_without_recording() {
    let metrics = Metrics::new();
    let response = metrics
        .exposition_service()
        .oneshot(
            Request::get("/anything")
                .header("accept", "application/openmetrics-text")
                .body(())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        Format::OpenMetrics.content_type()
    );
    let body = body_text(response.into_body()).await;
    assert!(body.contains("http_requests_before_middlewares_total 0"));
    assert!(body.ends_with("# EOF\n"));
    let response = metrics
        .exposition_service()
        .oneshot(Request::post("/").body(()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn custom_metrics_appear_beside_ours_and_collisions_are_refused() {
    let metrics = Metrics::builder().namespace("shop").build().unwrap();
    let orders: Counter = Counter::default();
    metrics
        .register("orders_placed", "Orders placed", orders.clone())
        .unwrap();
    orders.inc_by(3);
    let (_, body) = call(&metrics, scrape("GET", None)).await;
    assert_eq!(
        value(&parse_text(&body), "shop_orders_placed_total", &[]),
        Some(3.0)
    );

    assert_eq!(
        metrics.register("orders_placed", "again", Counter::<u64>::default()),
        Err(RegistrationError::Duplicate("orders_placed".into()))
    );
    assert_eq!(
        metrics.register("orders_placed_total", "again", Gauge::<i64>::default()),
        Err(RegistrationError::Duplicate("orders_placed_total".into()))
    );
    for ours in [
        "http_requests_in_flight",
        "http_requests_before_middlewares",
        "http_requests_total_by_method_total",
    ] {
        assert_eq!(
            metrics.register(ours, "clash", Counter::<u64>::default()),
            Err(RegistrationError::Reserved(ours.into()))
        );
    }
    assert!(matches!(
        metrics.register("bad name", "x", Counter::<u64>::default()),
        Err(RegistrationError::InvalidName(_))
    ));
    let text = metrics.render(Format::PrometheusText).unwrap();
    assert_eq!(
        text.matches("# TYPE shop_http_requests_in_flight ").count(),
        1,
        "no family appears twice"
    );
}

#[tokio::test]
async fn head_carries_the_headers_get_would_and_every_answer_varies() {
    let metrics = Metrics::new();
    // The first scrape adds the scrape self-metrics' series; the second shows them.
    call(&metrics, scrape("GET", None)).await;
    let (get, get_body) = call(&metrics, scrape("GET", None)).await;
    let (head, head_body) = call(&metrics, scrape("HEAD", None)).await;
    assert!(head_body.is_empty());
    assert_eq!(head.headers["content-type"], get.headers["content-type"]);
    // The exposition grew by a scrape in between: the lengths differ by a few bytes only.
    let head_length: usize = head.headers["content-length"].to_str().unwrap().parse().unwrap();
    assert!(
        head_length.abs_diff(get_body.len()) < 200 && get_body.len() > 1000,
        "HEAD says {head_length} bytes, GET sent {}",
        get_body.len()
    );
    assert_eq!(head.headers["vary"], get.headers["vary"]);

    let (not_allowed, _) = call(&metrics, scrape("POST", None)).await;
    assert_eq!(not_allowed.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(not_allowed.headers["vary"], get.headers["vary"]);
}
