//! The `type` label of `http_exceptions_total_by_type_total` in `BoxError` stacks: boxed
//! errors are told apart, a classifier can name them, and every name is bounded.

use crate::support;

use std::convert::Infallible;
use std::error::Error;
use std::fmt;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;
use support::exposition::{scrape, series, value};
use tower::{BoxError, ServiceBuilder, ServiceExt};
use tower_prometheus::{Format, Metrics};

#[derive(Debug)]
struct Elapsed(());

#[derive(Debug)]
enum Upstream {
    Refused { port: u16 },
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("timed out")
    }
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self::Refused { port } = self;
        write!(f, "upstream refused on port {port}")
    }
}

impl Error for Elapsed {}
impl Error for Upstream {}

/// The error a path asks for, boxed as tower stacks box them.
fn error_for(path: &str) -> BoxError {
    match path {
        "/elapsed" => Box::new(Elapsed(())),
        "/upstream" => Box::new(Upstream::Refused { port: 5432 }),
        "/io" => Box::new(std::io::Error::other("disk full")),
        "/long" => Box::new(std::io::Error::other("l".repeat(300))),
        other => other.to_owned().into(),
    }
}

async fn fail(request: Request<()>) -> Result<Response<String>, BoxError> {
    Err(error_for(request.uri().path()))
}

async fn send(metrics: &Metrics, paths: &[&str]) {
    let app = ServiceBuilder::new().layer(metrics.layer()).service_fn(fail);
    for path in paths {
        let request = Request::get(*path).body(()).unwrap();
        assert!(app.clone().oneshot(request).await.is_err());
    }
}

fn by_type(metrics: &Metrics, kind: &str) -> Option<f64> {
    value(
        &scrape(metrics, Format::PrometheusText),
        "http_exceptions_total_by_type_total",
        &[("type", kind)],
    )
}

#[tokio::test]
async fn two_different_boxed_errors_get_two_different_types() {
    let metrics = Metrics::builder().process_metrics(false).build().unwrap();
    send(&metrics, &["/elapsed", "/upstream", "/elapsed", "/io", "/text"]).await;
    assert_eq!(by_type(&metrics, "Elapsed"), Some(2.0));
    assert_eq!(
        by_type(&metrics, "Refused"),
        Some(1.0),
        "a derived Debug names the variant"
    );
    assert_eq!(
        by_type(&metrics, "Error"),
        Some(1.0),
        "std::io::Error, as when unboxed"
    );
    assert_eq!(
        by_type(&metrics, "Box<dyn Error + Send + Sync>"),
        Some(1.0),
        "a boxed String has no name to recover"
    );
}

#[tokio::test]
async fn the_classifier_names_boxed_errors_and_falls_back_to_the_default() {
    let metrics = Metrics::builder()
        .process_metrics(false)
        .error_type(|error| {
            if error.is::<Elapsed>() {
                Some("timeout".into())
            } else {
                error
                    .downcast_ref::<std::io::Error>()
                    .map(|io| format!("io_{:?}", io.kind()).into())
            }
        })
        .build()
        .unwrap();
    send(&metrics, &["/elapsed", "/io", "/upstream"]).await;
    assert_eq!(by_type(&metrics, "timeout"), Some(1.0));
    assert_eq!(by_type(&metrics, "io_Other"), Some(1.0));
    assert_eq!(
        by_type(&metrics, "Refused"),
        Some(1.0),
        "None keeps the default name"
    );
}

#[tokio::test]
async fn classified_names_follow_the_byte_bound_and_the_cap() {
    let metrics = Metrics::builder()
        .process_metrics(false)
        .max_label_sets(2)
        .error_type(|error| Some(error.to_string().into()))
        .build()
        .unwrap();
    // 300 bytes: beyond the bound. Then four short names for a cap of two.
    send(&metrics, &["/long", "/a", "/b", "/c", "/d", "/a"]).await;
    let samples = scrape(&metrics, Format::PrometheusText);
    let kind = |kind: &str| value(&samples, "http_exceptions_total_by_type_total", &[("type", kind)]);
    assert_eq!(kind("/a"), Some(2.0));
    assert_eq!(kind("/b"), Some(1.0));
    assert_eq!(kind("<overflow>"), Some(3.0), "the long name, /c and /d");
    assert_eq!(series(&samples, "http_exceptions_total_by_type_total"), 3);
    assert_eq!(
        value(
            &samples,
            "http_metrics_label_overflow_total",
            &[("label", "type")]
        ),
        Some(3.0)
    );
}

/// A body whose frames fail with a boxed error, as axum's and hyper's bodies do.
#[tokio::test]
async fn boxed_body_errors_are_told_apart_too() {
    let metrics = Metrics::builder().process_metrics(false).build().unwrap();
    let app = ServiceBuilder::new()
        .layer(metrics.layer())
        .service_fn(|request: Request<()>| async move {
            let error = error_for(request.uri().path());
            let frames = vec![Ok(http_body::Frame::data(Bytes::from_static(b"x"))), Err(error)];
            let body = http_body_util::StreamBody::new(futures_util::stream::iter(frames));
            Ok::<_, Infallible>(Response::new(body))
        });
    for path in ["/elapsed", "/upstream"] {
        let response = app
            .clone()
            .oneshot(Request::get(path).body(()).unwrap())
            .await
            .unwrap();
        assert!(response.into_body().collect().await.is_err());
    }
    assert_eq!(by_type(&metrics, "Elapsed"), Some(1.0));
    assert_eq!(by_type(&metrics, "Refused"), Some(1.0));
}

/// `error_type`'s doc: the classifier sees response-body errors too, and an inner service's
/// unboxed `std::io::Error`.
#[tokio::test]
async fn the_classifier_sees_body_errors_and_unboxed_io_errors() {
    let metrics = Metrics::builder()
        .process_metrics(false)
        .error_type(|error| {
            if error.is::<Elapsed>() {
                Some("timeout".into())
            } else {
                error.downcast_ref::<std::io::Error>().map(|_| "io".into())
            }
        })
        .build()
        .unwrap();
    let body_failing = ServiceBuilder::new()
        .layer(metrics.layer())
        .service_fn(|_: Request<()>| async {
            let frames = vec![
                Ok(http_body::Frame::data(Bytes::from_static(b"x"))),
                Err(error_for("/elapsed")),
            ];
            let body = http_body_util::StreamBody::new(futures_util::stream::iter(frames));
            Ok::<_, Infallible>(Response::new(body))
        });
    let response = body_failing
        .oneshot(Request::get("/").body(()).unwrap())
        .await
        .unwrap();
    assert!(response.into_body().collect().await.is_err());

    let io_failing = ServiceBuilder::new()
        .layer(metrics.layer())
        .service_fn(|_: Request<()>| async {
            Err::<Response<String>, _>(std::io::Error::other("disk full"))
        });
    assert!(io_failing
        .oneshot(Request::get("/").body(()).unwrap())
        .await
        .is_err());

    assert_eq!(by_type(&metrics, "timeout"), Some(1.0), "the body's error");
    assert_eq!(by_type(&metrics, "io"), Some(1.0), "the unboxed io::Error");
    assert_eq!(by_type(&metrics, "Elapsed"), None);
    assert_eq!(by_type(&metrics, "Error"), None);
}

/// The OpenTelemetry naming's `error.type` reads the same names: a `BoxError` stack's errors
/// are told apart there too.
#[tokio::test]
async fn the_opentelemetry_error_type_tells_boxed_errors_apart_too() {
    let metrics = Metrics::builder()
        .naming(tower_prometheus::Naming::OpenTelemetry)
        .process_metrics(false)
        .build()
        .unwrap();
    send(&metrics, &["/elapsed", "/upstream", "/elapsed", "/io"]).await;
    let samples = scrape(&metrics, Format::PrometheusText);
    let count = |error_type: &str| {
        samples
            .iter()
            .filter(|sample| {
                sample.name == "http_server_request_duration_seconds_count"
                    && sample.labels.get("error_type").map(String::as_str) == Some(error_type)
            })
            .map(|sample| sample.value)
            .sum::<f64>()
    };
    assert_eq!(count("Elapsed"), 2.0);
    assert_eq!(count("Refused"), 1.0);
    assert_eq!(count("Error"), 1.0);
    assert_eq!(count("Box<dyn Error + Send + Sync>"), 0.0);
}
