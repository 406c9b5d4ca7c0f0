//! Label rules: view precedence, status grouping, excluded paths, transport, charset, and the
//! label-set cap.

use crate::support;

use std::convert::Infallible;

use http::{Request, Response};
use support::exposition::{body_text, parse_text, series, value, value_or_zero};
use tower::{Layer, ServiceExt};
use tower_prometheus::{Format, Metrics, ViewName};

/// Answers with the status given in the path (`/status/404`), naming its view when asked.
async fn respond(request: Request<()>) -> Result<Response<String>, Infallible> {
    let path = request.uri().path().to_owned();
    let mut response = Response::new(String::from("ok"));
    if let Some(code) = path.strip_prefix("/status/") {
        *response.status_mut() = code.parse().unwrap();
    }
    if path.starts_with("/named/") {
        response.extensions_mut().insert(ViewName::new("/named/{x}"));
    }
    if let Some(charset) = path.strip_prefix("/charset/") {
        response.headers_mut().insert(
            "content-type",
            format!("text/plain; charset={charset}").parse().unwrap(),
        );
    }
    Ok(response)
}

async fn call(metrics: &Metrics, request: Request<()>) -> Response<String> {
    let service = metrics.layer().layer(tower::service_fn(respond));
    let response = service.oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    Response::from_parts(parts, body_text(body).await)
}

fn get(uri: &str) -> Request<()> {
    Request::get(uri).body(()).unwrap()
}

#[tokio::test]
async fn view_precedence_is_extension_then_resolver_then_unnamed() {
    let metrics = Metrics::builder()
        .view_resolver(|request| {
            request
                .uri()
                .path()
                .starts_with("/resolved/")
                .then(|| ViewName::new("/resolved/{x}"))
        })
        .build()
        .unwrap();
    call(&metrics, get("/named/1")).await;
    call(&metrics, get("/resolved/2")).await;
    call(&metrics, get("/other/3")).await;
    let text = metrics.render(Format::PrometheusText).unwrap();
    let samples = parse_text(&text);
    let count = |view: &str| {
        value_or_zero(
            &samples,
            "http_requests_total_by_view_transport_method_total",
            &[("view", view), ("transport", "http"), ("method", "GET")],
        )
    };
    assert_eq!(count("/named/{x}"), 1.0);
    assert_eq!(count("/resolved/{x}"), 1.0);
    assert_eq!(count("<unnamed view>"), 1.0);
    assert!(!text.contains("/other/3") && !text.contains("/named/1"));
}

#[tokio::test]
async fn status_codes_can_be_grouped_into_classes() {
    let exact = Metrics::new();
    let grouped = Metrics::builder().group_status_codes(true).build().unwrap();
    for metrics in [&exact, &grouped] {
        for code in ["200", "201", "404", "503"] {
            call(metrics, get(&format!("/status/{code}"))).await;
        }
    }
    let exact = parse_text(&exact.render(Format::PrometheusText).unwrap());
    let grouped = parse_text(&grouped.render(Format::PrometheusText).unwrap());
    let family = "http_responses_total_by_status_total";
    assert_eq!(value(&exact, family, &[("status", "201")]), Some(1.0));
    assert_eq!(value(&exact, family, &[("status", "2xx")]), None);
    assert_eq!(value(&grouped, family, &[("status", "2xx")]), Some(2.0));
    assert_eq!(value(&grouped, family, &[("status", "4xx")]), Some(1.0));
    assert_eq!(value(&grouped, family, &[("status", "5xx")]), Some(1.0));
    assert_eq!(value(&grouped, family, &[("status", "200")]), None);
}

#[tokio::test]
async fn excluded_paths_are_not_measured_and_the_metrics_path_is_unless_excluded() {
    let metrics = Metrics::builder().exclude_path("/healthz").build().unwrap();
    call(&metrics, get("/healthz")).await;
    call(&metrics, get("/metrics")).await;
    let text = metrics.render(Format::PrometheusText).unwrap();
    let samples = parse_text(&text);
    assert_eq!(
        value(&samples, "http_requests_before_middlewares_total", &[]),
        Some(1.0)
    );
    assert_eq!(
        value(
            &samples,
            "http_responses_total_by_status_view_method_total",
            &[("status", "200"), ("view", "/metrics"), ("method", "GET")]
        ),
        Some(1.0)
    );

    let quiet = Metrics::builder().exclude_path("/metrics").build().unwrap();
    let scrape = call(&quiet, get("/metrics")).await;
    assert_eq!(scrape.status(), 200);
    assert!(scrape.body().contains("http_requests_before_middlewares_total 0"));
}

#[tokio::test]
async fn transport_trusts_the_forwarded_header_only_when_configured() {
    let forwarded = || {
        Request::get("/")
            .header("x-forwarded-proto", "https")
            .body(())
            .unwrap()
    };
    let untrusting = Metrics::new();
    let trusting = Metrics::builder()
        .trusted_forwarded_proto_header(http::HeaderName::from_static("x-forwarded-proto"))
        .build()
        .unwrap();
    call(&untrusting, forwarded()).await;
    call(&trusting, forwarded()).await;
    let family = "http_requests_total_by_transport_total";
    let untrusting = parse_text(&untrusting.render(Format::PrometheusText).unwrap());
    let trusting = parse_text(&trusting.render(Format::PrometheusText).unwrap());
    assert_eq!(value(&untrusting, family, &[("transport", "http")]), Some(1.0));
    assert_eq!(value(&trusting, family, &[("transport", "https")]), Some(1.0));
}

#[tokio::test]
async fn charsets_are_lower_cased_and_missing_ones_share_a_value() {
    let metrics = Metrics::new();
    call(&metrics, get("/charset/UTF-8")).await;
    call(&metrics, get("/charset/utf-8")).await;
    call(&metrics, get("/plain")).await;
    let text = metrics.render(Format::PrometheusText).unwrap();
    let samples = parse_text(&text);
    let family = "http_responses_total_by_charset_total";
    assert_eq!(value(&samples, family, &[("charset", "utf-8")]), Some(2.0));
    assert_eq!(value(&samples, family, &[("charset", "<no charset>")]), Some(1.0));
}

#[tokio::test]
async fn the_label_set_cap_folds_new_views_into_overflow() {
    let metrics = Metrics::builder()
        .max_label_sets(3)
        .view_resolver(|request| Some(ViewName::new(request.uri().path().to_owned())))
        .build()
        .unwrap();
    for id in 0..20 {
        call(&metrics, get(&format!("/unbounded/{id}"))).await;
    }
    let text = metrics.render(Format::PrometheusText).unwrap();
    let samples = parse_text(&text);
    let family = "http_requests_total_by_view_transport_method_total";
    assert_eq!(
        series(&samples, family),
        4,
        "three admitted views plus <overflow>:\n{text}"
    );
    assert_eq!(
        value(
            &samples,
            family,
            &[("view", "<overflow>"), ("transport", "http"), ("method", "GET")]
        ),
        Some(17.0)
    );
    assert!(
        value(
            &samples,
            "http_metrics_label_overflow_total",
            &[("label", "view")]
        )
        .unwrap()
            >= 17.0
    );
    assert_eq!(
        series(&samples, "http_requests_latency_seconds_by_view_method_count"),
        4
    );
}
