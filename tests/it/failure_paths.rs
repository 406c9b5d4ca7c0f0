//! Every way a request can end is accounted for exactly once, and the in-flight gauge is right
//! at every stage: response, body streaming, body end, inner `Err`, panic in the future, panic
//! and error in the body. A body or future dropped early: `reliability_cancellation`; a panic
//! in `call`: `reliability_panics`.

use crate::support;

use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::FutureExt;
use http::{Request, Response};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use support::exposition::{assert_values, body_text, scrape, value_or_zero, Sample};
use tower::{Layer, Service, ServiceExt};
use tower_prometheus::{Format, Metrics, ViewName};

const UNNAMED: &[(&str, &str)] = &[("view", "<unnamed view>"), ("method", "GET")];

type ChunkStream = futures_util::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, std::io::Error>>>;

fn chunks(parts: &[&'static str]) -> StreamBody<ChunkStream> {
    let frames: Vec<_> = parts
        .iter()
        .map(|part| Ok(Frame::data(Bytes::from_static(part.as_bytes()))))
        .collect();
    StreamBody::new(futures_util::stream::iter(frames))
}

fn get(path: &str) -> Request<()> {
    Request::get(path).body(()).unwrap()
}

fn samples(metrics: &Metrics) -> Vec<Sample> {
    scrape(metrics, Format::PrometheusText)
}

fn in_flight(metrics: &Metrics) -> f64 {
    value_or_zero(&samples(metrics), "http_requests_in_flight", UNNAMED)
}

fn cancelled(metrics: &Metrics) -> f64 {
    value_or_zero(&samples(metrics), "http_requests_cancelled_total", UNNAMED)
}

#[tokio::test]
async fn streamed_body_keeps_the_request_in_flight_until_it_ends() {
    let metrics = Metrics::new();
    let inner = tower::service_fn(|_request: Request<()>| async {
        let mut response = Response::new(chunks(&["hello ", "world"]));
        response.extensions_mut().insert(ViewName::new("/greeting"));
        Ok::<_, Infallible>(response)
    });
    let mut service = metrics.layer().layer(inner);

    assert_eq!(in_flight(&metrics), 0.0);
    service.ready().await.unwrap();
    assert_eq!(in_flight(&metrics), 0.0, "poll_ready must not count");
    let future = service.call(get("/greeting"));
    assert_eq!(in_flight(&metrics), 1.0, "in flight once called");
    let response = future.await.unwrap();
    assert_eq!(
        in_flight(&metrics),
        1.0,
        "still in flight while the body has not ended"
    );

    let output = samples(&metrics);
    let view = [("view", "/greeting"), ("method", "GET")];
    assert_values(
        &output,
        &[
            ("http_requests_latency_seconds_by_view_method_count", &view, 1.0),
            ("http_responses_streaming_total", &[], 1.0),
            ("http_responses_body_total_bytes_count", &[], 0.0),
        ],
    );

    let mut body = response.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(first, "hello ");
    assert_eq!(in_flight(&metrics), 1.0, "still in flight mid-body");
    let rest = body.collect().await.unwrap().to_bytes();
    assert_eq!(rest, "world");

    let output = samples(&metrics);
    assert_values(
        &output,
        &[
            ("http_requests_in_flight", UNNAMED, 0.0),
            ("http_responses_body_total_bytes_count", &[], 1.0),
            ("http_responses_body_total_bytes_sum", &[], 11.0),
            ("http_requests_cancelled_total", &view, 0.0),
            ("http_requests_cancelled_total", UNNAMED, 0.0),
        ],
    );
}

#[tokio::test]
async fn inner_errors_are_counted_by_type_and_view() {
    let metrics = Metrics::builder()
        .view_resolver(|_| Some(ViewName::new("/fails")))
        .build()
        .unwrap();
    let inner = tower::service_fn(|_request: Request<()>| async {
        Err::<Response<String>, _>(std::io::Error::other("disk on fire"))
    });
    let error = metrics
        .layer()
        .layer(inner)
        .oneshot(get("/fails"))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "disk on fire",
        "the error passes through untouched"
    );

    let output = samples(&metrics);
    let view = [("view", "/fails"), ("method", "GET")];
    assert_values(
        &output,
        &[
            ("http_exceptions_total_by_type_total", &[("type", "Error")], 1.0),
            ("http_exceptions_total_by_view_total", &[("view", "/fails")], 1.0),
            ("http_requests_in_flight", &view, 0.0),
            ("http_requests_cancelled_total", &view, 0.0),
            ("http_requests_latency_seconds_by_view_method_count", &view, 1.0),
            ("http_responses_before_middlewares_total", &[], 0.0),
        ],
    );
}

#[tokio::test]
async fn a_panicking_future_is_counted_and_the_next_request_is_measured() {
    let metrics = Metrics::new();
    let inner = tower::service_fn(|request: Request<()>| async move {
        if request.uri().path() == "/panic" {
            panic!("handler panics on purpose");
        }
        Ok::<_, Infallible>(Response::new(String::from("fine")))
    });
    let service = metrics.layer().layer(inner);

    let outcome = AssertUnwindSafe(service.clone().oneshot(get("/panic")))
        .catch_unwind()
        .await;
    assert!(outcome.is_err(), "the panic continues past the layer");
    let output = samples(&metrics);
    assert_values(
        &output,
        &[
            ("http_exceptions_total_by_type_total", &[("type", "panic")], 1.0),
            (
                "http_exceptions_total_by_view_total",
                &[("view", "<unnamed view>")],
                1.0,
            ),
            ("http_requests_in_flight", UNNAMED, 0.0),
            // a panic is not a cancel
            ("http_requests_cancelled_total", UNNAMED, 0.0),
            ("http_requests_unknown_latency_total", &[], 1.0),
        ],
    );

    let response = service.oneshot(get("/")).await.unwrap();
    assert_eq!(body_text(response.into_body()).await, "fine");
    let output = samples(&metrics);
    assert_values(
        &output,
        &[
            ("http_responses_total_by_status_total", &[("status", "200")], 1.0),
            ("http_requests_in_flight", UNNAMED, 0.0),
        ],
    );
}

/// A body that yields one chunk, then panics or fails.
struct BrokenBody {
    sent: bool,
    panics: bool,
}

impl http_body::Body for BrokenBody {
    type Data = Bytes;
    type Error = std::fmt::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::fmt::Error>>> {
        if !self.sent {
            self.sent = true;
            return Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"partial")))));
        }
        if self.panics {
            panic!("body panics on purpose");
        }
        Poll::Ready(Some(Err(std::fmt::Error)))
    }
}

#[tokio::test]
async fn body_panics_and_errors_are_exceptions_not_cancellations() {
    for panics in [true, false] {
        let metrics = Metrics::new();
        let inner = tower::service_fn(move |_request: Request<()>| async move {
            Ok::<_, Infallible>(Response::new(BrokenBody { sent: false, panics }))
        });
        let response = metrics.layer().layer(inner).oneshot(get("/")).await.unwrap();
        let mut body = response.into_body();
        body.frame().await.unwrap().unwrap();
        let next = AssertUnwindSafe(body.frame()).catch_unwind().await;
        let expected_type = if panics {
            assert!(next.is_err(), "the body's panic continues");
            "panic"
        } else {
            assert!(next.unwrap().unwrap().is_err(), "the body's error passes through");
            "Error"
        };
        drop(body);
        let output = samples(&metrics);
        assert_values(
            &output,
            &[
                // panics = {panics}
                (
                    "http_exceptions_total_by_type_total",
                    &[("type", expected_type)],
                    1.0,
                ),
                ("http_requests_in_flight", UNNAMED, 0.0),
                ("http_requests_cancelled_total", UNNAMED, 0.0),
            ],
        );
    }
}

#[tokio::test]
async fn empty_and_exactly_sized_bodies_finish_without_an_extra_poll() {
    let metrics = Metrics::new();
    let inner = tower::service_fn(|request: Request<()>| async move {
        let body = if request.uri().path() == "/empty" {
            String::new()
        } else {
            String::from("12345")
        };
        Ok::<_, Infallible>(Response::new(http_body_util::Full::new(Bytes::from(body))))
    });
    let service = metrics.layer().layer(inner);

    let empty = service.clone().oneshot(get("/empty")).await.unwrap();
    assert_eq!(in_flight(&metrics), 0.0, "an empty body ends at the head");
    drop(empty);

    let sized = service.oneshot(get("/sized")).await.unwrap();
    let mut body = sized.into_body();
    let chunk = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(chunk.len(), 5);
    // A server stops polling once Content-Length bytes are written: that is the end, not a cancel.
    drop(body);
    let output = samples(&metrics);
    assert_eq!(value_or_zero(&output, "http_requests_in_flight", UNNAMED), 0.0);
    assert_eq!(cancelled(&metrics), 0.0);
    assert_values(
        &output,
        &[
            ("http_responses_body_total_bytes_count", &[], 2.0),
            ("http_responses_body_total_bytes_sum", &[], 5.0),
            ("http_responses_streaming_total", &[], 0.0),
        ],
    );
}
