//! The one label rule: every label value a request can influence (view, gRPC service and
//! method, request labels, error type, charset) is at most 256 bytes, or recorded as
//! `<overflow>` and counted in `http_metrics_label_overflow_total{label}`; gRPC families are
//! recorded for gRPC responses only.

use crate::support;

use std::convert::Infallible;

use axum::routing::get;
use axum::Router;
use http::{Request, Response};
use support::exposition::{parse_text, scrape, series, value, Sample};
use tower::{ServiceBuilder, ServiceExt};
use tower_prometheus::{Format, Metrics, ViewName};

const BOUND: usize = 256;
const LONG: usize = 60 * 1024;

/// A path of `bytes` bytes, distinct for every `index`.
fn long_segment(index: usize, bytes: usize) -> String {
    let prefix = format!("m{index}_");
    format!("{prefix}{}", "x".repeat(bytes - prefix.len()))
}

fn grpc_post(path: &str) -> Request<axum::body::Body> {
    Request::post(path)
        .header("content-type", "application/grpc")
        .body(axum::body::Body::empty())
        .unwrap()
}

/// The longest label value of every sample.
fn longest_label(samples: &[Sample]) -> usize {
    samples
        .iter()
        .flat_map(|sample| sample.labels.values())
        .map(String::len)
        .max()
        .unwrap_or(0)
}

fn plain_axum_app(metrics: &Metrics) -> Router {
    Router::new()
        .route("/", get(|| async { "home" }))
        .layer(metrics.layer())
}

/// A gRPC-looking request to a plain HTTP app is not a gRPC call: no `grpc_server_handled`
/// series, in any text format, whatever its path.
#[tokio::test]
async fn a_grpc_looking_request_answered_by_plain_http_creates_no_grpc_series() {
    let metrics = Metrics::builder().process_metrics(false).build().unwrap();
    let app = plain_axum_app(&metrics);
    for path in ["/shop.Orders/Get", &format!("/{}/{}", long_segment(0, 4096), "M")] {
        let response = app.clone().oneshot(grpc_post(path)).await.unwrap();
        assert_eq!(response.status(), 404);
    }
    for format in [Format::PrometheusText, Format::OpenMetrics] {
        let text = metrics.render(format).unwrap();
        assert!(!text.contains("grpc_server_handled"), "{format:?}:\n{text}");
        assert!(!text.contains("shop.Orders"), "{format:?}:\n{text}");
    }
    let samples = scrape(&metrics, Format::PrometheusText);
    assert_eq!(
        value(
            &samples,
            "http_responses_total_by_status_view_method_total",
            &[("status", "404"), ("view", "<unnamed view>"), ("method", "POST")]
        ),
        Some(2.0),
        "the requests themselves are counted as HTTP"
    );
}

/// 10 000 requests with 60 KB gRPC-looking paths to a plain axum app answering 404: the
/// exposition stays small, with no gRPC series.
#[tokio::test]
async fn ten_thousand_60_kb_grpc_looking_paths_to_a_plain_app_keep_the_scrape_small() {
    let metrics = Metrics::builder().process_metrics(false).build().unwrap();
    let app = plain_axum_app(&metrics);
    for index in 0..10_000 {
        let path = format!("/{}/Get", long_segment(index, LONG));
        let response = app.clone().oneshot(grpc_post(&path)).await.unwrap();
        assert_eq!(response.status(), 404);
    }
    let text = metrics.render(Format::PrometheusText).unwrap();
    assert!(text.len() < 64 * 1024, "{} bytes", text.len());
    assert!(!text.contains("grpc_server_handled"));
    assert!(longest_label(&parse_text(&text)) <= BOUND);
}

/// A gRPC service answering calls with 60 KB method names: each name breaks the rule and is
/// counted under `<overflow>`; the scrape stays under 5 MB and no label is longer than the
/// bound. A service name of exactly the bound is kept.
#[tokio::test]
async fn grpc_names_beyond_the_bound_fold_into_overflow_and_are_counted() {
    let metrics = Metrics::builder().process_metrics(false).build().unwrap();
    let app = ServiceBuilder::new()
        .layer(metrics.layer())
        .service_fn(|_: Request<axum::body::Body>| async {
            let mut response = Response::new(String::new());
            let headers = response.headers_mut();
            headers.insert("content-type", "application/grpc".parse().unwrap());
            headers.insert("grpc-status", "12".parse().unwrap());
            Ok::<_, Infallible>(response)
        });
    let requests = 2_000;
    for index in 0..requests {
        let path = format!("/shop.Orders/{}", long_segment(index, LONG));
        app.clone().oneshot(grpc_post(&path)).await.unwrap();
    }
    let kept = long_segment(0, BOUND);
    app.clone()
        .oneshot(grpc_post(&format!("/{kept}/Get")))
        .await
        .unwrap();
    for format in [Format::PrometheusText, Format::OpenMetrics] {
        let text = metrics.render(format).unwrap();
        assert!(text.len() < 5 * 1024 * 1024, "{format:?}: {} bytes", text.len());
    }
    let samples = scrape(&metrics, Format::PrometheusText);
    assert_eq!(
        longest_label(&samples),
        BOUND,
        "the name of exactly the bound is kept"
    );
    let handled = |service: &str, method: &str| {
        value(
            &samples,
            "grpc_server_handled_total",
            &[
                ("grpc_service", service),
                ("grpc_method", method),
                ("grpc_code", "Unimplemented"),
            ],
        )
    };
    assert_eq!(handled("<overflow>", "<overflow>"), Some(requests as f64));
    assert_eq!(handled(&kept, "Get"), Some(1.0));
    assert_eq!(
        value(
            &samples,
            "http_metrics_label_overflow_total",
            &[("label", "grpc_method")]
        ),
        Some(requests as f64)
    );
}

/// A resolver returning 500 distinct 60 KB view names: each is recorded as `<overflow>`, the
/// scrape stays small, and every fold is counted.
#[tokio::test]
async fn resolver_views_beyond_the_bound_fold_into_overflow() {
    let metrics = Metrics::builder()
        .process_metrics(false)
        .view_resolver(|request| {
            let index: usize = request.uri().path()[1..].parse().unwrap();
            Some(ViewName::new(long_segment(index, LONG)))
        })
        .build()
        .unwrap();
    let app = ServiceBuilder::new()
        .layer(metrics.layer())
        .service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(String::new())) });
    for index in 0..500 {
        let request = Request::get(format!("/{index}")).body(()).unwrap();
        app.clone().oneshot(request).await.unwrap();
    }
    for format in [Format::PrometheusText, Format::OpenMetrics] {
        let text = metrics.render(format).unwrap();
        assert!(text.len() < 64 * 1024, "{format:?}: {} bytes", text.len());
    }
    let samples = scrape(&metrics, Format::PrometheusText);
    assert!(longest_label(&samples) <= BOUND);
    assert_eq!(
        value(
            &samples,
            "http_requests_total_by_view_transport_method_total",
            &[("view", "<overflow>"), ("transport", "http"), ("method", "GET")]
        ),
        Some(500.0)
    );
    assert_eq!(
        value(
            &samples,
            "http_metrics_label_overflow_total",
            &[("label", "view")]
        ),
        Some(500.0)
    );
}

/// A `ViewName` put in the response follows the same rule; one of exactly the bound is kept,
/// and a view spelled `<overflow>` is counted as a fold rather than passing as one.
#[tokio::test]
async fn response_view_names_follow_the_same_rule() {
    let metrics = Metrics::builder().process_metrics(false).build().unwrap();
    let app = ServiceBuilder::new()
        .layer(metrics.layer())
        .service_fn(|request: Request<()>| async move {
            let bytes: usize = request.uri().path()[1..].parse().unwrap_or(0);
            let name = match bytes {
                0 => String::from("<overflow>"),
                bytes => "v".repeat(bytes),
            };
            let mut response = Response::new(String::new());
            response.extensions_mut().insert(ViewName::new(name));
            Ok::<_, Infallible>(response)
        });
    for path in ["/256", "/257", "/61440", "/overflow"] {
        let request = Request::get(path).body(()).unwrap();
        app.clone().oneshot(request).await.unwrap();
    }
    let samples = scrape(&metrics, Format::PrometheusText);
    let requests = |view: &str| {
        value(
            &samples,
            "http_requests_total_by_view_transport_method_total",
            &[("view", view), ("transport", "http"), ("method", "GET")],
        )
    };
    assert_eq!(requests(&"v".repeat(BOUND)), Some(1.0));
    assert_eq!(requests("<overflow>"), Some(3.0));
    assert_eq!(
        value(
            &samples,
            "http_metrics_label_overflow_total",
            &[("label", "view")]
        ),
        Some(3.0)
    );
    assert_eq!(
        series(&samples, "http_requests_total_by_view_transport_method_total"),
        2
    );
}

/// A charset longer than the bound is recorded as `<overflow>` and counted.
#[tokio::test]
async fn charsets_beyond_the_bound_fold_into_overflow() {
    let metrics = Metrics::builder().process_metrics(false).build().unwrap();
    let app = ServiceBuilder::new()
        .layer(metrics.layer())
        .service_fn(|request: Request<()>| async move {
            let bytes: usize = request.uri().path()[1..].parse().unwrap();
            let mut response = Response::new(String::new());
            let content_type = format!("text/plain; charset={}", "c".repeat(bytes));
            response
                .headers_mut()
                .insert("content-type", content_type.parse().unwrap());
            Ok::<_, Infallible>(response)
        });
    for path in ["/256", "/257", "/4000"] {
        app.clone()
            .oneshot(Request::get(path).body(()).unwrap())
            .await
            .unwrap();
    }
    let samples = scrape(&metrics, Format::PrometheusText);
    let responses = |charset: &str| {
        value(
            &samples,
            "http_responses_total_by_charset_total",
            &[("charset", charset)],
        )
    };
    assert_eq!(responses(&"c".repeat(BOUND)), Some(1.0));
    assert_eq!(responses("<overflow>"), Some(2.0));
    assert_eq!(
        value(
            &samples,
            "http_metrics_label_overflow_total",
            &[("label", "charset")]
        ),
        Some(2.0)
    );
}
