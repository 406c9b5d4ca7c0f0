//! Every family is recorded with the right labels through an axum router, and with namespace
//! `django` the exposed names are exactly django-prometheus's.

#![cfg(feature = "axum")]

use crate::support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use support::exposition::{body_text, parse_text, value, value_or_zero};
use tower::ServiceExt;
use tower_prometheus::{Format, Metrics};

fn app(metrics: &Metrics) -> Router {
    Router::new()
        .route(
            "/users/{id}",
            get(|| async { ([("content-type", "application/json; charset=UTF-8")], "{}") }),
        )
        .route("/echo", post(|body: String| async move { body }))
        .route(
            "/error",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "failed") }),
        )
        .route(
            "/stream",
            get(|| async {
                let chunks = futures_util::stream::iter(["a", "bc"].map(Ok::<_, std::convert::Infallible>));
                Body::from_stream(chunks)
            }),
        )
        .layer(metrics.layer())
}

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, String) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    (status, body_text(response.into_body()).await)
}

#[tokio::test]
async fn every_family_is_recorded_with_its_labels() {
    let metrics = Metrics::new();
    let app = app(&metrics);
    for id in 1..=3 {
        let (status, _) = send(
            &app,
            Request::get(format!("/users/{id}")).body(Body::empty()).unwrap(),
        )
        .await;
        assert_eq!(status, 200);
    }
    let echo = Request::post("/echo")
        .header("content-length", "5")
        .header("x-requested-with", "XMLHttpRequest")
        .body(Body::from("hello"))
        .unwrap();
    assert_eq!(send(&app, echo).await.1, "hello");
    send(&app, Request::get("/error").body(Body::empty()).unwrap()).await;
    assert_eq!(
        send(&app, Request::get("/stream").body(Body::empty()).unwrap())
            .await
            .1,
        "abc"
    );
    send(&app, Request::get("/nowhere/42").body(Body::empty()).unwrap()).await;
    send(&app, Request::get("/nowhere/43").body(Body::empty()).unwrap()).await;
    let odd = Request::builder()
        .method("FOOBAR")
        .uri("/users/1")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, odd).await.0, StatusCode::METHOD_NOT_ALLOWED);
    let https = Request::get("https://example.com/users/9")
        .body(Body::empty())
        .unwrap();
    send(&app, https).await;

    let text = metrics.render(Format::PrometheusText).unwrap();
    let samples = parse_text(&text);
    let total = 10.0;
    assert_eq!(
        value(&samples, "http_requests_before_middlewares_total", &[]),
        Some(total)
    );
    assert_eq!(
        value(&samples, "http_responses_before_middlewares_total", &[]),
        Some(total)
    );
    assert_eq!(
        value(
            &samples,
            "http_requests_latency_including_middlewares_seconds_count",
            &[]
        ),
        Some(total)
    );
    assert_eq!(
        value(
            &samples,
            "http_requests_unknown_latency_including_middlewares_total",
            &[]
        ),
        Some(0.0)
    );
    assert_eq!(
        value(&samples, "http_requests_unknown_latency_total", &[]),
        Some(0.0)
    );
    assert_eq!(value(&samples, "http_ajax_requests_total", &[]), Some(1.0));

    let users = [("view", "/users/{id}"), ("method", "GET")];
    assert_eq!(
        value(
            &samples,
            "http_requests_latency_seconds_by_view_method_count",
            &users
        ),
        Some(4.0)
    );
    assert_eq!(
        value(
            &samples,
            "http_requests_latency_seconds_by_view_method_bucket",
            &[("le", "+Inf"), users[0], users[1]]
        ),
        Some(4.0)
    );
    assert_eq!(
        value(
            &samples,
            "http_requests_total_by_method_total",
            &[("method", "GET")]
        ),
        Some(8.0)
    );
    assert_eq!(
        value(
            &samples,
            "http_requests_total_by_method_total",
            &[("method", "POST")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &samples,
            "http_requests_total_by_method_total",
            &[("method", "<invalid method>")]
        ),
        Some(1.0),
        "raw methods never become labels"
    );
    assert_eq!(
        value(
            &samples,
            "http_requests_total_by_transport_total",
            &[("transport", "http")]
        ),
        Some(9.0)
    );
    assert_eq!(
        value(
            &samples,
            "http_requests_total_by_transport_total",
            &[("transport", "https")]
        ),
        Some(1.0)
    );
    let by_view = "http_requests_total_by_view_transport_method_total";
    assert_eq!(
        value(
            &samples,
            by_view,
            &[("view", "/users/{id}"), ("transport", "http"), ("method", "GET")]
        ),
        Some(3.0)
    );
    assert_eq!(
        value(
            &samples,
            by_view,
            &[("view", "/users/{id}"), ("transport", "https"), ("method", "GET")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &samples,
            by_view,
            &[
                ("view", "<unnamed view>"),
                ("transport", "http"),
                ("method", "GET")
            ]
        ),
        Some(2.0),
        "unmatched paths collapse into one view"
    );
    assert_eq!(
        value(&samples, "http_requests_body_total_bytes_count", &[]),
        Some(1.0)
    );
    assert_eq!(
        value(&samples, "http_requests_body_total_bytes_sum", &[]),
        Some(5.0)
    );
    assert_eq!(
        value(
            &samples,
            "http_responses_total_by_status_total",
            &[("status", "200")]
        ),
        Some(6.0)
    );
    assert_eq!(
        value(
            &samples,
            "http_responses_total_by_status_total",
            &[("status", "404")]
        ),
        Some(2.0)
    );
    assert_eq!(
        value(
            &samples,
            "http_responses_total_by_status_total",
            &[("status", "405")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &samples,
            "http_responses_total_by_status_total",
            &[("status", "500")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &samples,
            "http_responses_total_by_status_view_method_total",
            &[("status", "500"), ("view", "/error"), ("method", "GET")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&samples, "http_responses_body_total_bytes_count", &[]),
        Some(total)
    );
    assert_eq!(
        value(
            &samples,
            "http_responses_total_by_charset_total",
            &[("charset", "utf-8")]
        ),
        Some(6.0)
    );
    assert_eq!(
        value(
            &samples,
            "http_responses_total_by_charset_total",
            &[("charset", "<no charset>")]
        ),
        Some(4.0),
        "the stream, two 404s and the 405 carry no charset"
    );
    assert_eq!(value(&samples, "http_responses_streaming_total", &[]), Some(1.0));
    assert_eq!(value(&samples, "http_requests_in_flight", &users), Some(0.0));
    assert_eq!(
        value_or_zero(&samples, "http_requests_cancelled_total", &users),
        0.0
    );
    assert_eq!(
        value(
            &samples,
            "http_exceptions_total_by_type_total",
            &[("type", "panic")]
        ),
        None
    );
    assert!(
        !text.contains("/nowhere") && !text.contains("FOOBAR") && !text.contains("/users/1\""),
        "no raw path or method leaks into labels:\n{text}"
    );
}

#[tokio::test]
async fn the_django_namespace_gives_django_prometheus_names() {
    let metrics = Metrics::builder().namespace("django").build().unwrap();
    let app = app(&metrics);
    send(&app, Request::get("/users/1").body(Body::empty()).unwrap()).await;
    send(&app, Request::get("/stream").body(Body::empty()).unwrap()).await;
    let text = metrics.render(Format::PrometheusText).unwrap();
    let families: std::collections::BTreeSet<String> = text
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .map(|line| line.split(' ').next().unwrap().to_owned())
        .collect();
    for name in [
        "django_http_requests_before_middlewares_total",
        "django_http_responses_before_middlewares_total",
        "django_http_requests_latency_including_middlewares_seconds",
        "django_http_requests_unknown_latency_including_middlewares_total",
        "django_http_requests_latency_seconds_by_view_method",
        "django_http_requests_unknown_latency_total",
        "django_http_ajax_requests_total",
        "django_http_requests_total_by_method_total",
        "django_http_requests_total_by_transport_total",
        "django_http_requests_total_by_view_transport_method_total",
        "django_http_requests_body_total_bytes",
        "django_http_responses_total_by_status_total",
        "django_http_responses_total_by_status_view_method_total",
        "django_http_responses_body_total_bytes",
        "django_http_responses_total_by_charset_total",
        "django_http_responses_streaming_total",
        "django_http_requests_in_flight",
    ] {
        assert!(families.contains(name), "missing {name} in {families:?}");
    }
    assert!(
        families
            .iter()
            .all(|name| name.starts_with("django_") || name.starts_with("process_")),
        "{families:?}"
    );
    let latency = parse_text(&text)
        .into_iter()
        .filter(|sample| sample.name == "django_http_requests_latency_including_middlewares_seconds_bucket")
        .map(|sample| sample.labels["le"].clone())
        .collect::<Vec<_>>();
    assert_eq!(
        latency,
        [
            "0.01", "0.025", "0.05", "0.075", "0.1", "0.25", "0.5", "0.75", "1", "2.5", "5", "7.5", "10",
            "25", "50", "75", "+Inf"
        ],
        "django's PROMETHEUS_LATENCY_BUCKETS"
    );
}
