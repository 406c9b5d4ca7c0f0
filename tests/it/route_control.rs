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

/// Every format's rendering, to compare before and after.
fn render_all(metrics: &Metrics) -> Vec<String> {
    let mut formats = vec![Format::PrometheusText, Format::OpenMetrics];
    formats.retain(|format| metrics.render(*format).is_ok());
    formats
        .into_iter()
        .map(|format| metrics.render(format).unwrap())
        .collect()
}

#[tokio::test]
async fn excluded_requests_touch_no_family_in_flight_included() {
    let metrics = Metrics::builder()
        .exclude_path("/healthz")
        .exclude_path_prefix("/assets/")
        .exclude_method(Method::OPTIONS)
        .exclude(|head: &RequestHead<'_>| head.headers().contains_key("x-probe"))
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
