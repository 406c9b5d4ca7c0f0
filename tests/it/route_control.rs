//! Route-level control through the public API: exclusion rules, the whole response's
//! duration, and per-view latency buckets.

use crate::support;

use std::convert::Infallible;

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use support::exposition::{parse_text, value};
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_prometheus::{Format, Metrics, RequestHead, ViewName};

type Chunks = StreamBody<futures_util::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>>>;

/// Answers every request with a two-chunk streaming body (no exact size: its end is known only
/// when the stream ends), naming the view after the path.
async fn streaming(request: Request<()>) -> Result<Response<Chunks>, Infallible> {
    let chunks = vec![
        Ok(Frame::data(Bytes::from_static(b"one"))),
        Ok(Frame::data(Bytes::from_static(b"two"))),
    ];
    let mut response = Response::new(StreamBody::new(futures_util::stream::iter(chunks)));
    response
        .extensions_mut()
        .insert(ViewName::new(request.uri().path().to_owned()));
    Ok(response)
}

fn request(method: Method, uri: &str) -> Request<()> {
    Request::builder().method(method).uri(uri).body(()).unwrap()
}

/// Both text formats' renderings, to compare before and after; a format that fails to render
/// fails the test.
fn render_all(metrics: &Metrics) -> Vec<String> {
    [Format::PrometheusText, Format::OpenMetrics]
        .into_iter()
        .map(|format| {
            metrics
                .render(format)
                .unwrap_or_else(|error| panic!("{format:?} failed to render: {error}"))
        })
        .collect()
}

#[tokio::test]
async fn excluded_requests_touch_no_family_in_flight_included() {
    let metrics = Metrics::builder()
        .exclude_path("/healthz")
        .exclude_path_prefix("/assets/")
        .exclude_method(Method::OPTIONS)
        .exclude(|head: &RequestHead<'_>| head.headers().contains_key("x-probe"))
        .response_duration_histogram(true)
        // Process metrics change by themselves between two renders.
        .process_metrics(false)
        .build()
        .unwrap();
    let mut app = ServiceBuilder::new().layer(metrics.layer()).service_fn(streaming);
    // A measured request first, so that every labelled family has a series to keep unchanged.
    let measured = app
        .ready()
        .await
        .unwrap()
        .call(request(Method::GET, "/orders"))
        .await
        .unwrap();
    measured.into_body().collect().await.unwrap();
    let before = render_all(&metrics);
    // The in-flight gauge counts under the request-time view, before the handler names one.
    assert!(before[0].contains("http_requests_in_flight{view=\"<unnamed view>\",method=\"GET\"} 0"));

    let excluded = [
        request(Method::GET, "/healthz"),
        request(Method::GET, "/assets/app.js"),
        request(Method::POST, "/assets/img/logo.png"),
        request(Method::OPTIONS, "/orders"),
        Request::get("/orders").header("x-probe", "1").body(()).unwrap(),
    ];
    let mut open_bodies = Vec::new();
    for excluded in excluded {
        let response = app.ready().await.unwrap().call(excluded).await.unwrap();
        open_bodies.push(response.into_body());
    }
    // Responses whose bodies are still streaming: measured requests would be in flight.
    assert_eq!(render_all(&metrics), before, "while the excluded bodies are open");
    let (first, rest) = open_bodies.split_at_mut(1);
    first[0].frame().await.unwrap().unwrap();
    for body in rest.iter_mut() {
        while body.frame().await.is_some() {}
    }
    // One body dropped midway, the others read to the end: no cancellation, no histogram.
    drop(open_bodies);
    // A future dropped before its response: a measured one would count as cancelled.
    drop(
        app.ready()
            .await
            .unwrap()
            .call(request(Method::GET, "/assets/big.css")),
    );
    assert_eq!(render_all(&metrics), before, "after the excluded requests ended");
}

#[tokio::test]
async fn a_prefix_excludes_paths_under_it_only() {
    let metrics = Metrics::builder()
        .exclude_path_prefix("/assets/")
        .build()
        .unwrap();
    let app = ServiceBuilder::new().layer(metrics.layer()).service_fn(streaming);
    for path in ["/assets/a.js", "/assets", "/assetsx/b.js", "/api/assets/c.js"] {
        let response = app.clone().oneshot(request(Method::GET, path)).await.unwrap();
        response.into_body().collect().await.unwrap();
    }
    let samples = parse_text(&metrics.render(Format::PrometheusText).unwrap());
    let count = |view: &str| {
        value(
            &samples,
            "http_requests_total_by_view_transport_method_total",
            &[("view", view), ("transport", "http"), ("method", "GET")],
        )
    };
    assert_eq!(count("/assets/a.js"), None);
    assert_eq!(count("/assets"), Some(1.0));
    assert_eq!(count("/assetsx/b.js"), Some(1.0));
    assert_eq!(count("/api/assets/c.js"), Some(1.0));
}

#[test]
fn exclusion_prefixes_are_validated_like_paths() {
    for prefix in ["assets/", "", "/assets?x", "/a b"] {
        let error = Metrics::builder()
            .exclude_path_prefix(prefix)
            .build()
            .unwrap_err();
        assert_eq!((error.option(), error.input()), ("exclude_path_prefix", prefix));
    }
    assert!(Metrics::builder().exclude_path_prefix("/").build().is_ok());
}

const DURATION: &str = "http_responses_duration_seconds_by_view_method";

/// A registry with the response-duration histogram, and the body of a `GET /download`
/// through it, read up to its first frame.
async fn download_after_its_first_frame() -> (Metrics, tower_prometheus::ResponseBody<Chunks>) {
    let metrics = Metrics::builder()
        .response_duration_histogram(true)
        .build()
        .unwrap();
    let app = ServiceBuilder::new().layer(metrics.layer()).service_fn(streaming);
    let response = app.oneshot(request(Method::GET, "/download")).await.unwrap();
    let mut body = response.into_body();
    body.frame().await.unwrap().unwrap();
    (metrics, body)
}

#[tokio::test]
async fn the_response_duration_is_observed_when_the_body_ends() {
    let (metrics, mut body) = download_after_its_first_frame().await;
    let text = metrics.render(Format::PrometheusText).unwrap();
    assert!(!text.contains(DURATION), "not before the body ends: {text}");

    // The client is slow to read the rest: the head's latency does not see it, the whole
    // response's duration does.
    tokio::time::sleep(std::time::Duration::from_millis(60)).await;
    while body.frame().await.is_some() {}
    let samples = parse_text(&metrics.render(Format::PrometheusText).unwrap());
    let labels = [("view", "/download"), ("method", "GET")];
    assert_eq!(value(&samples, &format!("{DURATION}_count"), &labels), Some(1.0));
    let duration = value(&samples, &format!("{DURATION}_sum"), &labels).unwrap();
    let latency = value(
        &samples,
        "http_requests_latency_seconds_by_view_method_sum",
        &labels,
    )
    .unwrap();
    assert!(duration >= 0.06, "{duration}");
    assert!(latency < 0.06, "{latency}");
    // The latency buckets.
    assert_eq!(
        value(
            &samples,
            &format!("{DURATION}_bucket"),
            &[("view", "/download"), ("method", "GET"), ("le", "0.075")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &samples,
            "http_requests_cancelled_total",
            &[("view", "/download"), ("method", "GET")]
        ),
        None
    );
}

#[tokio::test]
async fn a_dropped_body_is_observed_and_counted_as_cancelled() {
    let (metrics, body) = download_after_its_first_frame().await;
    drop(body);
    let samples = parse_text(&metrics.render(Format::PrometheusText).unwrap());
    let labels = [("view", "/download"), ("method", "GET")];
    assert_eq!(value(&samples, &format!("{DURATION}_count"), &labels), Some(1.0));
    assert_eq!(
        value(&samples, "http_requests_cancelled_total", &labels),
        Some(1.0)
    );
}

#[tokio::test]
async fn without_the_option_the_response_duration_family_is_not_exposed() {
    let metrics = Metrics::new();
    let app = ServiceBuilder::new().layer(metrics.layer()).service_fn(streaming);
    let response = app.oneshot(request(Method::GET, "/download")).await.unwrap();
    response.into_body().collect().await.unwrap();
    for format in [Format::PrometheusText, Format::OpenMetrics] {
        let text = metrics.render(format).unwrap();
        assert!(text.contains("http_requests_latency_seconds_by_view_method"));
        assert!(!text.contains("http_responses_duration_seconds"), "{text}");
    }
    #[cfg(feature = "protobuf")]
    {
        let bytes = metrics.render_bytes(Format::Protobuf).unwrap();
        let has = |name: &[u8]| bytes.windows(name.len()).any(|window| window == name);
        assert!(has(b"http_requests_latency_seconds_by_view_method"));
        assert!(!has(b"http_responses_duration_seconds"));
    }
    // The name stays reserved, on or off: a custom metric cannot take it.
    let taken = metrics.register(
        "http_responses_duration_seconds_by_view_method",
        "mine",
        prometheus_client::metrics::histogram::Histogram::new([1.0]),
    );
    assert!(taken.is_err());
}

/// Answers at once, naming the view after the path.
async fn named(request: Request<()>) -> Result<Response<String>, Infallible> {
    let mut response = Response::new(String::from("ok"));
    response
        .extensions_mut()
        .insert(ViewName::new(request.uri().path().to_owned()));
    Ok(response)
}

/// The `le` bounds of `family`'s series for `view`.
fn bounds(text: &str, family: &str, view: &str) -> Vec<String> {
    parse_text(text)
        .into_iter()
        .filter(|sample| sample.name == format!("{family}_bucket"))
        .filter(|sample| sample.labels.get("view").map(String::as_str) == Some(view))
        .map(|sample| sample.labels["le"].clone())
        .collect()
}

#[tokio::test]
async fn a_views_buckets_apply_to_its_duration_histograms_only() {
    let metrics = Metrics::builder()
        .latency_buckets([0.1, 1.0])
        .latency_buckets_for_view("/upload", [5.0, 60.0, 600.0])
        .response_duration_histogram(true)
        .build()
        .unwrap();
    let app = ServiceBuilder::new().layer(metrics.layer()).service_fn(named);
    for path in ["/upload", "/orders"] {
        for method in [Method::POST, Method::GET] {
            let response = app.clone().oneshot(request(method, path)).await.unwrap();
            response.into_body().collect().await.unwrap();
        }
    }
    let text = metrics.render(Format::PrometheusText).unwrap();
    for family in [
        "http_requests_latency_seconds_by_view_method",
        "http_responses_duration_seconds_by_view_method",
    ] {
        assert_eq!(
            bounds(&text, family, "/upload"),
            ["5", "60", "600", "+Inf", "5", "60", "600", "+Inf"],
            "{family}"
        );
        assert_eq!(
            bounds(&text, family, "/orders"),
            ["0.1", "1", "+Inf", "0.1", "1", "+Inf"],
            "{family}"
        );
    }
    // The unlabelled histogram keeps the default buckets.
    assert!(text.contains("http_requests_latency_including_middlewares_seconds_bucket{le=\"0.1\"} 4"));
    assert!(!text.contains("http_requests_latency_including_middlewares_seconds_bucket{le=\"600\"}"));
    // The OpenMetrics encoder (prometheus-client's) agrees.
    let open = metrics.render(Format::OpenMetrics).unwrap();
    assert!(open.contains(
        "http_requests_latency_seconds_by_view_method_bucket{le=\"600.0\",view=\"/upload\",method=\"GET\"} 1"
    ));
    assert!(metrics.unmatched_bucket_views().is_empty());
}

#[tokio::test]
async fn bucket_rules_no_request_used_are_listed() {
    let metrics = Metrics::builder()
        .latency_buckets_for_view("/upload", [5.0, 60.0])
        .latency_buckets_for_view("/upload/{id}", [5.0, 60.0])
        .build()
        .unwrap();
    assert_eq!(metrics.unmatched_bucket_views(), ["/upload", "/upload/{id}"]);
    let app = ServiceBuilder::new().layer(metrics.layer()).service_fn(named);
    app.clone()
        .oneshot(request(Method::GET, "/upload/7"))
        .await
        .unwrap();
    assert_eq!(
        metrics.unmatched_bucket_views(),
        ["/upload", "/upload/{id}"],
        "raw paths never match"
    );
    app.oneshot(request(Method::GET, "/upload")).await.unwrap();
    assert_eq!(metrics.unmatched_bucket_views(), ["/upload/{id}"]);
}

#[test]
fn view_bucket_rules_are_validated() {
    let refused = |builder: tower_prometheus::MetricsBuilder| builder.build().unwrap_err();
    for buckets in [
        vec![],
        vec![2.0, 1.0],
        vec![1.0, 1.0],
        vec![f64::NAN],
        vec![f64::INFINITY],
    ] {
        let error = refused(Metrics::builder().latency_buckets_for_view("/upload", buckets.clone()));
        assert_eq!(error.option(), "latency_buckets_for_view");
        assert!(error.input().starts_with("\"/upload\""), "{error}");
    }
    let error = refused(Metrics::builder().latency_buckets_for_view("", [1.0]));
    assert_eq!(error.option(), "latency_buckets_for_view");
    let error = refused(
        Metrics::builder()
            .latency_buckets_for_view("/upload", [1.0])
            .latency_buckets_for_view("/upload", [2.0]),
    );
    assert!(error.to_string().contains("twice"), "{error}");
}

#[cfg(feature = "protobuf")]
#[tokio::test]
async fn a_views_buckets_hold_with_native_histograms() {
    let metrics = Metrics::builder()
        .native_histograms(tower_prometheus::NativeHistograms::classic_and_native())
        .latency_buckets_for_view("/upload", [5.0, 60.0])
        .build()
        .unwrap();
    let app = ServiceBuilder::new().layer(metrics.layer()).service_fn(named);
    for path in ["/upload", "/orders"] {
        app.clone().oneshot(request(Method::GET, path)).await.unwrap();
    }
    let text = metrics.render(Format::PrometheusText).unwrap();
    let family = "http_requests_latency_seconds_by_view_method";
    assert_eq!(bounds(&text, family, "/upload"), ["5", "60", "+Inf"]);
    assert_eq!(bounds(&text, family, "/orders").len(), 17);
    assert!(metrics.render_bytes(Format::Protobuf).is_ok());
}
