//! Where the layer goes in a tower-http stack and in an axum router, and what each placement
//! sees. The placement guide's "In a tower-http stack" section (src/docs/placement.md) states
//! these results.

#![cfg(feature = "axum")]

use crate::support;

use std::time::Duration;

use axum::body::Body;
use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use support::exposition::{parse_text, value};
use tower::{Layer, ServiceBuilder, ServiceExt};
use tower_http::compression::CompressionLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tower_prometheus::{Format, Metrics};

const TIMEOUT: Duration = Duration::from_millis(100);
const BIG_BODY: usize = 4096;

fn metrics() -> Metrics {
    Metrics::builder().process_metrics(false).build().unwrap()
}

fn routes() -> Router {
    Router::new()
        .route(
            "/users/{id}",
            get(|Path(id): Path<u32>| async move { format!("user {id}") }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "too late"
            }),
        )
        .route("/big", get(|| async { "a".repeat(BIG_BODY) }))
}

async fn send<S, B>(service: S, path: &str) -> (StatusCode, http::HeaderMap, usize)
where
    S: tower::Service<Request<Body>, Response = http::Response<B>, Error = std::convert::Infallible>,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let request = Request::get(path)
        .header(header::ACCEPT_ENCODING, "gzip")
        .body(Body::empty())
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(30), service.oneshot(request))
        .await
        .expect("answered within 30 s")
        .unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (parts.status, parts.headers, bytes.len())
}

fn render(metrics: &Metrics) -> String {
    metrics.render(Format::PrometheusText).unwrap()
}

#[tokio::test]
async fn outermost_the_layer_sees_what_the_client_sees() {
    let metrics = metrics();
    let app = routes().layer(
        ServiceBuilder::new()
            .layer(metrics.layer())
            .layer(TraceLayer::new_for_http())
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                TIMEOUT,
            ))
            .layer(CompressionLayer::new()),
    );

    let (status, _, _) = send(app.clone(), "/slow").await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
    let text = render(&metrics);
    let samples = parse_text(&text);
    // The timeout's own answer is recorded, with the latency the client waited.
    assert_eq!(
        value(
            &samples,
            "http_responses_total_by_status_view_method_total",
            &[("status", "408"), ("view", "/slow"), ("method", "GET")]
        ),
        Some(1.0),
        "{text}"
    );
    let waited = value(
        &samples,
        "http_requests_latency_seconds_by_view_method_sum",
        &[("view", "/slow"), ("method", "GET")],
    )
    .unwrap();
    assert!((TIMEOUT.as_secs_f64()..4.0).contains(&waited), "latency {waited}");
    assert_eq!(
        value(
            &samples,
            "http_requests_cancelled_total",
            &[("view", "/slow"), ("method", "GET")]
        ),
        None,
        "{text}"
    );

    let (status, headers, received) = send(app, "/big").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_ENCODING], "gzip");
    let text = render(&metrics);
    let samples = parse_text(&text);
    // The body bytes counted are the compressed bytes that went on the wire.
    assert_eq!(
        value(&samples, "http_responses_body_total_bytes_sum", &[]),
        Some(received as f64),
        "{text}"
    );
    assert!(
        received < BIG_BODY / 10,
        "gzip shrinks a run of one letter: {received}"
    );
}

#[tokio::test]
async fn innermost_the_layer_sees_what_the_handler_does() {
    let metrics = metrics();
    let app = routes().layer(
        ServiceBuilder::new()
            .layer(TraceLayer::new_for_http())
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                TIMEOUT,
            ))
            .layer(CompressionLayer::new())
            .layer(metrics.layer()),
    );

    let (status, _, _) = send(app.clone(), "/slow").await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
    let text = render(&metrics);
    let samples = parse_text(&text);
    // The timeout dropped the handler's future under the layer: a cancellation, no status.
    assert_eq!(
        value(
            &samples,
            "http_requests_cancelled_total",
            &[("view", "/slow"), ("method", "GET")]
        ),
        Some(1.0),
        "{text}"
    );
    assert!(!text.contains("status=\"408\""), "{text}");
    assert_eq!(
        value(&samples, "http_requests_unknown_latency_total", &[]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(
            &samples,
            "http_requests_in_flight",
            &[("view", "/slow"), ("method", "GET")]
        ),
        Some(0.0),
        "{text}"
    );

    let (status, headers, _) = send(app, "/big").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_ENCODING], "gzip");
    let text = render(&metrics);
    let samples = parse_text(&text);
    // The body bytes counted are the handler's, before compression.
    assert_eq!(
        value(&samples, "http_responses_body_total_bytes_sum", &[]),
        Some(BIG_BODY as f64),
        "{text}"
    );
}

/// What one placement gives for a matched route, an unmatched path and `/metrics`.
struct Placement {
    user_view: Option<String>,
    unmatched_counted: bool,
    metrics_status: StatusCode,
}

async fn observe<S, B>(app: S, metrics: &Metrics) -> Placement
where
    S: tower::Service<Request<Body>, Response = http::Response<B>, Error = std::convert::Infallible> + Clone,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    assert_eq!(send(app.clone(), "/users/7").await.0, StatusCode::OK);
    assert_eq!(send(app.clone(), "/nowhere").await.0, StatusCode::NOT_FOUND);
    let samples = parse_text(&render(metrics));
    let with_status = |status: &'static str| {
        samples.iter().filter(move |sample| {
            sample.name == "http_responses_total_by_status_view_method_total"
                && sample.labels.get("status").map(String::as_str) == Some(status)
        })
    };
    let user_view = with_status("200").find_map(|sample| sample.labels.get("view").cloned());
    let unmatched_counted = with_status("404").next().is_some();
    let metrics_status = send(app, "/metrics").await.0;
    Placement {
        user_view,
        unmatched_counted,
        metrics_status,
    }
}

#[tokio::test]
async fn router_layer_names_views_and_serves_metrics() {
    let metrics = metrics();
    let app = routes()
        .layer(metrics.layer())
        .route("/late", get(|| async { "added after the layer" }));
    let placement = observe(app.clone(), &metrics).await;
    assert_eq!(placement.user_view.as_deref(), Some("/users/{id}"));
    assert!(placement.unmatched_counted, "the fallback is layered too");
    assert_eq!(placement.metrics_status, StatusCode::OK);

    let before = value(
        &parse_text(&render(&metrics)),
        "http_requests_before_middlewares_total",
        &[],
    );
    assert_eq!(send(app, "/late").await.0, StatusCode::OK);
    let text = render(&metrics);
    let samples = parse_text(&text);
    assert_eq!(
        value(&samples, "http_requests_before_middlewares_total", &[]),
        before,
        "{text}"
    );
    assert!(!text.contains("/late"), "{text}");
}

#[tokio::test]
async fn route_layer_misses_unmatched_paths_and_metrics() {
    let metrics = metrics();
    let placement = observe(routes().route_layer(metrics.layer()), &metrics).await;
    assert_eq!(placement.user_view.as_deref(), Some("/users/{id}"));
    assert!(!placement.unmatched_counted, "the fallback is not layered");
    assert_eq!(
        placement.metrics_status,
        StatusCode::NOT_FOUND,
        "/metrics never reaches the layer"
    );
}

#[tokio::test]
async fn wrapping_the_router_serves_metrics_without_views() {
    let metrics = metrics();
    let placement = observe(metrics.layer().layer(routes()), &metrics).await;
    assert_eq!(
        placement.user_view.as_deref(),
        Some("<unnamed view>"),
        "no MatchedPath yet"
    );
    assert!(placement.unmatched_counted);
    assert_eq!(placement.metrics_status, StatusCode::OK);
}

#[tokio::test]
async fn wrapping_the_router_with_a_resolver_names_views_again() {
    let metrics = Metrics::builder()
        .process_metrics(false)
        .view_resolver(|request: &tower_prometheus::RequestHead<'_>| {
            request
                .uri()
                .path()
                .starts_with("/users/")
                .then(|| tower_prometheus::ViewName::new("/users/{id}"))
        })
        .build()
        .unwrap();
    let placement = observe(metrics.layer().layer(routes()), &metrics).await;
    assert_eq!(placement.user_view.as_deref(), Some("/users/{id}"));
    assert_eq!(placement.metrics_status, StatusCode::OK);
}
