//! Item 3: a panicking inner service (in `call`, in its future or in its body) is counted as
//! `type="panic"`, the in-flight gauge returns, no lock stays held, and later requests are
//! measured normally.

use crate::support;

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::FutureExt;
use http::{Request, Response};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Full};
use support::exposition::{scrape, total, Sample};
use tower::{Layer, Service, ServiceExt};
use tower_http::catch_panic::CatchPanicLayer;
use tower_prometheus::{Format, Metrics, ViewName};

fn samples(metrics: &Metrics) -> Vec<Sample> {
    scrape(metrics, Format::PrometheusText)
}

/// Panics in its future on `/panic`, otherwise answers `ok` under view `/ok`.
async fn sometimes_panics(request: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    tokio::task::yield_now().await;
    if request.uri().path() == "/panic" {
        panic!("inner service panics on purpose");
    }
    let mut response = Response::new(Full::new(Bytes::from_static(b"ok")));
    response.extensions_mut().insert(ViewName::new("/ok"));
    Ok(response)
}

fn get(path: &str) -> Request<Full<Bytes>> {
    Request::get(path).body(Full::default()).unwrap()
}

fn assert_clean_after_panics(metrics: &Metrics, panics: f64, normal: f64) {
    let after = samples(metrics);
    assert_eq!(
        total(
            &after,
            "http_exceptions_total_by_type_total",
            &[("type", "panic")]
        ),
        panics
    );
    assert_eq!(total(&after, "http_exceptions_total_by_view_total", &[]), panics);
    assert_eq!(total(&after, "http_requests_in_flight", &[]), 0.0);
    assert_eq!(total(&after, "http_requests_unknown_latency_total", &[]), panics);
    assert_eq!(
        total(&after, "http_requests_cancelled_total", &[]),
        0.0,
        "a panic is not a cancellation"
    );
    assert_eq!(
        total(&after, "http_requests_before_middlewares_total", &[]),
        panics + normal
    );
    assert_eq!(
        total(&after, "http_responses_before_middlewares_total", &[]),
        normal
    );
    assert_eq!(
        total(&after, "http_requests_total_by_view_transport_method_total", &[]),
        panics + normal
    );
    assert_eq!(
        total(
            &after,
            "http_requests_latency_seconds_by_view_method_count",
            &[("view", "/ok")]
        ),
        normal
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_future_is_counted_and_later_requests_are_measured() {
    support::tools::quiet_intentional_panics();
    let metrics = Metrics::new();
    // CatchPanicLayer outside the metrics layer, as in the example server: the layer records
    // the panic, then the unwinding reaches CatchPanic, which answers 500.
    let app = tower::ServiceBuilder::new()
        .layer(CatchPanicLayer::new())
        .layer(metrics.layer())
        .service_fn(sometimes_panics);
    for round in 0..50 {
        let response = app.clone().oneshot(get("/panic")).await.unwrap();
        assert_eq!(response.status(), 500, "round {round}");
        let response = app.clone().oneshot(get("/ok")).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.into_body().collect().await.unwrap().to_bytes(), "ok");
    }
    // Concurrent requests after the panics: nothing is poisoned or held.
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move {
                for _ in 0..25 {
                    let response = app.clone().oneshot(get("/ok")).await.unwrap();
                    response.into_body().collect().await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_clean_after_panics(&metrics, 50.0, 250.0);
}

#[test]
fn a_panic_in_call_is_counted() {
    support::tools::quiet_intentional_panics();
    let metrics = Metrics::new();
    let inner = tower::service_fn(
        |_request: Request<()>| -> std::future::Ready<Result<Response<Full<Bytes>>, Infallible>> {
            panic!("call panics on purpose")
        },
    );
    let mut service = metrics.layer().layer(inner);
    for _ in 0..3 {
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _future = service.call(Request::new(()));
        }));
        assert!(unwound.is_err());
    }
    assert_clean_after_panics(&metrics, 3.0, 0.0);
}

/// A body that yields one chunk, then panics.
struct PanickingBody {
    sent: bool,
}

impl Body for PanickingBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.sent {
            panic!("body panics on purpose");
        }
        self.sent = true;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"first")))))
    }
}

#[tokio::test]
async fn a_panicking_body_is_counted_once() {
    support::tools::quiet_intentional_panics();
    let metrics = Metrics::new();
    let service = metrics
        .layer()
        .layer(tower::service_fn(|_request: Request<()>| async {
            let mut response = Response::new(PanickingBody { sent: false });
            response.extensions_mut().insert(ViewName::new("/body"));
            Ok::<_, Infallible>(response)
        }));
    for _ in 0..4 {
        let response = service.clone().oneshot(Request::new(())).await.unwrap();
        let collected = std::panic::AssertUnwindSafe(response.into_body().collect())
            .catch_unwind()
            .await;
        assert!(collected.is_err(), "the panic propagates to the caller");
    }
    let after = samples(&metrics);
    assert_eq!(
        total(
            &after,
            "http_exceptions_total_by_type_total",
            &[("type", "panic")]
        ),
        4.0
    );
    assert_eq!(
        total(
            &after,
            "http_exceptions_total_by_view_total",
            &[("view", "/body")]
        ),
        4.0
    );
    assert_eq!(total(&after, "http_requests_in_flight", &[]), 0.0);
    assert_eq!(total(&after, "http_requests_cancelled_total", &[]), 0.0);
    // The head had arrived: latency known, the request counted once.
    assert_eq!(total(&after, "http_requests_unknown_latency_total", &[]), 0.0);
    assert_eq!(
        total(&after, "http_requests_total_by_view_transport_method_total", &[]),
        4.0
    );
}

#[tokio::test]
async fn a_panicking_view_resolver_poisons_nothing() {
    support::tools::quiet_intentional_panics();
    let metrics = Metrics::builder()
        .view_resolver(|request: &tower_prometheus::RequestHead<'_>| {
            if request.uri().path() == "/boom" {
                panic!("resolver panics on purpose");
            }
            Some(ViewName::new("/resolved"))
        })
        .build()
        .unwrap();
    let service = metrics
        .layer()
        .layer(tower::service_fn(|_request: Request<()>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
        }));
    for _ in 0..3 {
        let request = Request::get("/boom").body(()).unwrap();
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            drop(service.clone().call(request));
        }));
        assert!(unwound.is_err());
    }
    for _ in 0..5 {
        let response = service
            .clone()
            .oneshot(Request::get("/fine").body(()).unwrap())
            .await
            .unwrap();
        response.into_body().collect().await.unwrap();
    }
    let after = samples(&metrics);
    assert_eq!(total(&after, "http_requests_in_flight", &[]), 0.0);
    assert_eq!(
        total(
            &after,
            "http_requests_total_by_view_transport_method_total",
            &[("view", "/resolved")]
        ),
        5.0
    );
    metrics.render(Format::OpenMetrics).unwrap();
}

/// A user collector that panics on every other call: on the first scrape and every other one
/// after it (registration asks it twice, for its help texts and its names, and it answers).
#[derive(Debug, Default)]
struct FlakyCollector(std::sync::atomic::AtomicU64);

impl prometheus_client::collector::Collector for FlakyCollector {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder<'_>,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric;
        let call = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if call >= 2 && call % 2 == 0 {
            panic!("collector panics on purpose");
        }
        let gauge = prometheus_client::metrics::gauge::ConstGauge::new(1);
        let metric = encoder.encode_descriptor("flaky", "Flaky", None, gauge.metric_type())?;
        gauge.encode(metric)
    }
}

#[tokio::test]
async fn a_panicking_collector_fails_only_its_scrape() {
    support::tools::quiet_intentional_panics();
    let metrics = Metrics::new();
    metrics
        .register_collector(Box::new(FlakyCollector::default()))
        .unwrap();
    let app = tower::ServiceBuilder::new()
        .layer(metrics.layer())
        .service_fn(sometimes_panics);
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let response = app.clone().oneshot(get("/metrics")).await.unwrap();
        statuses.push(response.status().as_u16());
        let body = response.into_body().collect().await.unwrap().to_bytes();
        if statuses.last() == Some(&200) {
            assert!(std::str::from_utf8(&body).unwrap().contains("\nflaky 1\n"));
        }
        let response = app.clone().oneshot(get("/ok")).await.unwrap();
        assert_eq!(response.status(), 200);
        response.into_body().collect().await.unwrap();
    }
    assert_eq!(statuses, [500, 200, 500, 200]);
    assert!(
        metrics.render(Format::OpenMetrics).is_err(),
        "the fifth encode panics: an error"
    );
    let after = scrape(&metrics, Format::PrometheusText);
    assert_eq!(
        total(
            &after,
            "http_responses_total_by_status_view_method_total",
            &[("status", "500"), ("view", "/metrics")]
        ),
        2.0
    );
    assert_eq!(total(&after, "http_requests_in_flight", &[]), 0.0);
    assert_eq!(
        total(
            &after,
            "http_requests_latency_seconds_by_view_method_count",
            &[("view", "/ok")]
        ),
        4.0
    );
}
