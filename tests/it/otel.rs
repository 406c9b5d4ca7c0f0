//! The OpenTelemetry naming profile: the conventions' names, labels and buckets, the values of
//! `error_type` for every way a request can fail, the active-requests gauge, body sizes, the
//! cap on label sets, and the text exposition taking prometheus-client's path.

use crate::support;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::FutureExt;
use http::{Method, Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use support::exposition::{scrape, total, value, Sample};
use tower::{Layer, Service, ServiceExt};
use tower_prometheus::prometheus_client::metrics::counter::Counter;
use tower_prometheus::{Format, Metrics, Naming, RegistrationError, ViewName};

const DURATION: &str = "http_server_request_duration_seconds";
const ACTIVE: &str = "http_server_active_requests";
const REQUEST_SIZE: &str = "http_server_request_body_size_bytes";
const RESPONSE_SIZE: &str = "http_server_response_body_size_bytes";

/// The error `/error` fails with: its short type name is the `error_type` expected.
#[derive(Debug)]
struct Boom;

impl std::fmt::Display for Boom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("boom")
    }
}

impl std::error::Error for Boom {}

/// `/users/7` answers `hello` under view `/users/{id}`, `/unavailable` 503, `/error` fails,
/// `/panic` panics, `/hang` never answers; anything else answers `ok` without a view.
async fn app(request: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Boom> {
    tokio::task::yield_now().await;
    match request.uri().path() {
        "/users/7" => {
            let mut response = Response::new(Full::new(Bytes::from_static(b"hello")));
            response.extensions_mut().insert(ViewName::new("/users/{id}"));
            Ok(response)
        }
        "/unavailable" => {
            let mut response = Response::new(Full::new(Bytes::from_static(b"down")));
            *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            Ok(response)
        }
        "/error" => Err(Boom),
        "/panic" => panic!("inner service panics on purpose"),
        "/hang" => std::future::pending().await,
        path => {
            let mut response = Response::new(Full::new(Bytes::from_static(b"ok")));
            if path != "/unnamed" {
                response.extensions_mut().insert(ViewName::new(path.to_owned()));
            }
            Ok(response)
        }
    }
}

fn otel() -> Metrics {
    Metrics::builder()
        .naming(Naming::OpenTelemetry)
        .process_metrics(false)
        .build()
        .unwrap()
}

fn request(method: Method, uri: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(uri)
        .body(Full::default())
        .unwrap()
}

/// Sends `request` through the layer and reads the whole response body; `Err` for the inner
/// error.
async fn send(metrics: &Metrics, request: Request<Full<Bytes>>) -> Result<Bytes, Boom> {
    let service = metrics.layer().layer(tower::service_fn(app));
    let response = service.oneshot(request).await?;
    Ok(response.into_body().collect().await.unwrap().to_bytes())
}

fn samples(metrics: &Metrics) -> Vec<Sample> {
    scrape(metrics, Format::PrometheusText)
}

fn count(samples: &[Sample], labels: &[(&str, &str)]) -> f64 {
    total(samples, &format!("{DURATION}_count"), labels)
}

#[tokio::test]
async fn a_request_is_exposed_under_the_conventions_names_and_labels() {
    let metrics = otel();
    let post = Request::builder()
        .method(Method::POST)
        .uri("https://example.com/users/7")
        .version(Version::HTTP_2)
        .header(http::header::CONTENT_LENGTH, "3")
        .body(Full::new(Bytes::from_static(b"abc")))
        .unwrap();
    assert_eq!(send(&metrics, post).await.unwrap(), "hello");
    let samples = samples(&metrics);
    let labels = [
        ("http_request_method", "POST"),
        ("url_scheme", "https"),
        ("http_route", "/users/{id}"),
        ("http_response_status_code", "200"),
        ("network_protocol_version", "2"),
        ("error_type", ""),
    ];
    assert_eq!(value(&samples, &format!("{DURATION}_count"), &labels), Some(1.0));
    assert_eq!(
        value(&samples, &format!("{REQUEST_SIZE}_sum"), &labels),
        Some(3.0)
    );
    assert_eq!(
        value(&samples, &format!("{REQUEST_SIZE}_count"), &labels),
        Some(1.0)
    );
    assert_eq!(
        value(&samples, &format!("{RESPONSE_SIZE}_sum"), &labels),
        Some(5.0)
    );
    assert_eq!(
        value(
            &samples,
            ACTIVE,
            &[("http_request_method", "POST"), ("url_scheme", "https")]
        ),
        Some(0.0)
    );
    // django-prometheus's families are not exposed under this profile.
    assert!(!samples
        .iter()
        .any(|sample| sample.name.starts_with("http_requests_")));
    assert!(!samples
        .iter()
        .any(|sample| sample.name.starts_with("http_responses_")));
}

#[tokio::test]
async fn help_texts_and_types_follow_the_conventions() {
    let metrics = otel();
    // prometheus-client leaves a family without series out: send one request first.
    let mut post = request(Method::POST, "/a");
    post.headers_mut()
        .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from_static("0"));
    send(&metrics, post).await.unwrap();
    let text = metrics.render(Format::PrometheusText).unwrap();
    for line in [
        "# HELP http_server_request_duration_seconds Duration of HTTP server requests.",
        "# TYPE http_server_request_duration_seconds histogram",
        "# HELP http_server_active_requests Number of active HTTP server requests.",
        "# TYPE http_server_active_requests gauge",
        "# HELP http_server_request_body_size_bytes Size of HTTP server request bodies.",
        "# TYPE http_server_request_body_size_bytes histogram",
        "# HELP http_server_response_body_size_bytes Size of HTTP server response bodies.",
        "# TYPE http_server_response_body_size_bytes histogram",
    ] {
        assert!(
            text.lines().any(|have| have == line),
            "missing {line:?} in\n{text}"
        );
    }
}

#[tokio::test]
async fn the_duration_has_the_conventions_buckets_unless_latency_buckets_is_set() {
    let bounds = |metrics: &Metrics| -> Vec<String> {
        samples(metrics)
            .iter()
            .filter(|sample| sample.name == format!("{DURATION}_bucket"))
            .map(|sample| sample.labels["le"].clone())
            .collect()
    };
    let metrics = otel();
    send(&metrics, request(Method::GET, "/a")).await.unwrap();
    let expected: Vec<String> = tower_prometheus::otel::DURATION_BUCKETS
        .iter()
        .map(|bound| bound.to_string())
        .chain(["+Inf".to_owned()])
        .collect();
    assert_eq!(bounds(&metrics), expected);
    assert_eq!(expected.first().map(String::as_str), Some("0.005"));
    assert_eq!(expected.len(), 15);

    let custom = Metrics::builder()
        .naming(Naming::OpenTelemetry)
        .latency_buckets([0.5, 2.0])
        .build()
        .unwrap();
    send(&custom, request(Method::GET, "/a")).await.unwrap();
    assert_eq!(bounds(&custom), ["0.5", "2", "+Inf"]);
}

#[tokio::test]
async fn methods_outside_the_nine_standard_ones_are_other_and_an_unnamed_view_has_an_empty_route() {
    let metrics = otel();
    send(
        &metrics,
        request(Method::from_bytes(b"PURGE").unwrap(), "/unnamed"),
    )
    .await
    .unwrap();
    send(&metrics, request(Method::PATCH, "/unnamed")).await.unwrap();
    let samples = samples(&metrics);
    assert_eq!(
        count(&samples, &[("http_request_method", "_OTHER"), ("http_route", "")]),
        1.0
    );
    assert_eq!(
        count(&samples, &[("http_request_method", "PATCH"), ("http_route", "")]),
        1.0
    );
    assert_eq!(count(&samples, &[("http_request_method", "PURGE")]), 0.0);
    assert_eq!(
        count(
            &samples,
            &[("url_scheme", "http"), ("network_protocol_version", "1.1")]
        ),
        2.0
    );
}

#[tokio::test]
async fn error_type_names_the_inner_error_the_panic_the_cancellation_and_the_5xx_status() {
    support::tools::quiet_intentional_panics();
    let metrics = otel();
    assert!(send(&metrics, request(Method::GET, "/error")).await.is_err());
    let panicked = std::panic::AssertUnwindSafe(send(&metrics, request(Method::GET, "/panic")))
        .catch_unwind()
        .await;
    assert!(panicked.is_err());
    assert_eq!(
        send(&metrics, request(Method::GET, "/unavailable"))
            .await
            .unwrap(),
        "down"
    );
    let mut service = metrics.layer().layer(tower::service_fn(app));
    let mut hanging = Box::pin(service.call(request(Method::GET, "/hang")));
    assert!(poll_once(&mut hanging).is_pending());
    drop(hanging);
    send(&metrics, request(Method::GET, "/fine")).await.unwrap();

    let samples = samples(&metrics);
    let by_error = |error_type: &str| count(&samples, &[("error_type", error_type)]);
    assert_eq!(by_error("Boom"), 1.0);
    assert_eq!(by_error("panic"), 1.0);
    assert_eq!(by_error("cancelled"), 1.0);
    assert_eq!(by_error("503"), 1.0);
    assert_eq!(by_error(""), 1.0);
    // No response, no status code and no response size; the 503 has both.
    assert_eq!(
        count(
            &samples,
            &[("error_type", "Boom"), ("http_response_status_code", "")]
        ),
        1.0
    );
    assert_eq!(
        count(
            &samples,
            &[("error_type", "cancelled"), ("http_response_status_code", "")]
        ),
        1.0
    );
    assert_eq!(
        total(
            &samples,
            &format!("{RESPONSE_SIZE}_count"),
            &[("error_type", "Boom")]
        ),
        0.0
    );
    assert_eq!(
        total(
            &samples,
            &format!("{RESPONSE_SIZE}_sum"),
            &[("http_response_status_code", "503")]
        ),
        4.0
    );
    assert_eq!(total(&samples, ACTIVE, &[]), 0.0);
}

fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    let waker = futures_util::task::noop_waker();
    Pin::new(future).poll(&mut Context::from_waker(&waker))
}

#[tokio::test]
async fn active_requests_go_up_while_a_request_runs_and_back_down_after() {
    let metrics = otel();
    let active = |metrics: &Metrics| {
        value(
            &samples(metrics),
            ACTIVE,
            &[("http_request_method", "GET"), ("url_scheme", "http")],
        )
    };
    let mut service = metrics.layer().layer(tower::service_fn(app));
    let mut first = Box::pin(service.call(request(Method::GET, "/hang")));
    let mut second = Box::pin(service.call(request(Method::GET, "/hang")));
    assert!(poll_once(&mut first).is_pending());
    assert_eq!(active(&metrics), Some(2.0));
    drop(first);
    assert_eq!(active(&metrics), Some(1.0));
    assert!(poll_once(&mut second).is_pending());
    drop(second);
    assert_eq!(active(&metrics), Some(0.0));
    // A finished request leaves it at 0 as well.
    send(&metrics, request(Method::GET, "/a")).await.unwrap();
    assert_eq!(active(&metrics), Some(0.0));
}

#[tokio::test]
async fn label_sets_beyond_the_cap_fold_into_one_overflow_series_and_are_counted() {
    let metrics = Metrics::builder()
        .naming(Naming::OpenTelemetry)
        .max_label_sets(2)
        .build()
        .unwrap();
    // One view (the unnamed one) and one method: only the profile's own cap can fold here.
    send(&metrics, request(Method::GET, "/unnamed")).await.unwrap();
    send(&metrics, request(Method::GET, "/unavailable"))
        .await
        .unwrap();
    for _ in 0..2 {
        assert!(send(&metrics, request(Method::GET, "/error")).await.is_err());
    }
    let samples = samples(&metrics);
    assert_eq!(count(&samples, &[("http_response_status_code", "200")]), 1.0);
    assert_eq!(count(&samples, &[("http_response_status_code", "503")]), 1.0);
    let overflow = [
        ("http_request_method", ""),
        ("url_scheme", ""),
        ("http_route", "<overflow>"),
        ("http_response_status_code", ""),
        ("network_protocol_version", ""),
        ("error_type", ""),
    ];
    assert_eq!(
        value(&samples, &format!("{DURATION}_count"), &overflow),
        Some(2.0)
    );
    assert_eq!(count(&samples, &[("error_type", "Boom")]), 0.0);
    assert_eq!(count(&samples, &[]), 4.0);
    assert_eq!(
        value(
            &samples,
            "http_metrics_label_overflow_total",
            &[("label", "http_route")]
        ),
        Some(2.0)
    );
}

#[tokio::test]
async fn request_body_sizes_are_observed_without_taking_label_sets() {
    let metrics = Metrics::builder()
        .naming(Naming::OpenTelemetry)
        .max_label_sets(1)
        .build()
        .unwrap();
    for size in [0, 10, 2_000] {
        let post = Request::builder()
            .method(Method::POST)
            .uri("/unnamed")
            .header("content-length", size.to_string())
            .body(Full::new(Bytes::from(vec![b'x'; size])))
            .unwrap();
        send(&metrics, post).await.unwrap();
    }
    let samples = samples(&metrics);
    assert_eq!(count(&samples, &[("http_request_method", "POST")]), 3.0);
    assert_eq!(
        total(
            &samples,
            "http_server_request_body_size_bytes_sum",
            &[("http_request_method", "POST")]
        ),
        2_010.0
    );
    assert_eq!(
        value(
            &samples,
            "http_metrics_label_overflow_total",
            &[("label", "http_route")]
        ),
        None,
        "distinct body sizes were taken for distinct label sets"
    );
}

#[test]
fn the_profile_names_are_reserved_and_its_labels_refused_as_constant_labels() {
    let metrics = Metrics::new();
    let error = metrics
        .register("http_server_active_requests", "mine", Counter::<u64>::default())
        .unwrap_err();
    assert!(matches!(error, RegistrationError::Reserved(_)), "{error:?}");
    let error = metrics
        .register(
            "http_server_request_duration_seconds_count",
            "mine",
            Counter::<u64>::default(),
        )
        .unwrap_err();
    assert!(matches!(error, RegistrationError::Reserved(_)), "{error:?}");

    let error = Metrics::builder()
        .naming(Naming::OpenTelemetry)
        .const_label("http_route", "x")
        .build()
        .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("const_label") && message.contains("http_route"),
        "{message}"
    );
    // The Django profile has no such label.
    assert!(Metrics::builder().const_label("http_route", "x").build().is_ok());
}

#[tokio::test]
async fn the_default_profile_is_unchanged() {
    let metrics = Metrics::new();
    send(&metrics, request(Method::GET, "/a")).await.unwrap();
    let text = metrics.render(Format::PrometheusText).unwrap();
    assert!(text.contains("http_requests_total_by_view_transport_method_total"));
    assert!(!text.contains("http_server_"));
}

#[test]
fn options_of_django_families_only_are_refused_under_the_profile() {
    let otel = || Metrics::builder().naming(Naming::OpenTelemetry);
    let refused = [
        (
            "native_histograms",
            otel().native_histograms(tower_prometheus::NativeHistograms::classic_and_native()),
        ),
        ("exemplars_from", otel().exemplars_from_traceparent()),
        (
            "latency_buckets_for_view",
            otel().latency_buckets_for_view("/a", [1.0]),
        ),
        (
            "response_duration_histogram",
            otel().response_duration_histogram(true),
        ),
        ("group_status_codes", otel().group_status_codes(true)),
    ];
    for (option, builder) in refused {
        let message = builder.build().unwrap_err().to_string();
        assert!(
            message.contains(option) && message.contains("Naming::OpenTelemetry"),
            "{message}"
        );
    }
    assert!(otel().response_duration_histogram(false).build().is_ok());
}
