//! The golden traffic: one request after another through axum routes and a plain tower
//! service, each advancing the mock clock by a fixed time.

use std::fmt::Display;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use futures_util::{FutureExt, StreamExt};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use quanta::Mock;
use tower::{Service, ServiceBuilder, ServiceExt};

use crate::{Metrics, ViewName};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Advances the clock by `ticks` of 1/512 s. A multiple of 1/512 s is a whole number of
/// nanoseconds whose value in seconds is exact in binary: the latency totals computed at a
/// scrape add their series up in hash-map order, and exact values make their sum the same
/// in any order.
pub(super) fn advance(mock: &Mock, ticks: u64) {
    mock.increment(Duration::from_nanos(ticks * 1_953_125));
}

/// Routes axum names (`MatchedPath`), and the metrics path the layer answers.
fn router(metrics: &Metrics, mock: &Arc<Mock>) -> Router {
    let clock = Arc::clone(mock);
    let user = get(move || {
        let clock = Arc::clone(&clock);
        async move {
            advance(&clock, 1);
            ([(CONTENT_TYPE, "application/json")], "{\"id\":1}")
        }
    });
    let clock = Arc::clone(mock);
    let upload = post(move |body: String| {
        let clock = Arc::clone(&clock);
        async move {
            advance(&clock, 384);
            (StatusCode::CREATED, format!("stored {} bytes", body.len()))
        }
    });
    let clock = Arc::clone(mock);
    let old = get(move || {
        let clock = Arc::clone(&clock);
        async move {
            advance(&clock, 1);
            (StatusCode::MOVED_PERMANENTLY, [(LOCATION, "/users/1")])
        }
    });
    Router::new()
        .route("/users/{id}", user)
        .route("/upload", upload)
        .route("/old", old)
        .layer(metrics.layer())
}

fn respond(
    status: u16,
    content_type: Option<&'static str>,
    body: Body,
    view: Option<&str>,
) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(status).expect("a valid status");
    if let Some(content_type) = content_type {
        response
            .headers_mut()
            .insert(CONTENT_TYPE, content_type.parse().expect("a valid header value"));
    }
    if let Some(view) = view {
        response.extensions_mut().insert(ViewName::new(view.to_owned()));
    }
    response
}

/// A body of `chunks` frames, each advancing the clock by 1/8 s when it is produced.
fn streaming(mock: &Arc<Mock>, chunks: usize) -> Body {
    let clock = Arc::clone(mock);
    Body::from_stream(futures_util::stream::iter(0..chunks).map(move |chunk| {
        advance(&clock, 64);
        Ok::<_, BoxError>(Bytes::from(format!("chunk {chunk}\n")))
    }))
}

/// The handler behind a plain tower service: views named by the response, by the resolver
/// or not at all, errors, panics, streams and gRPC answers.
async fn handle(request: Request<String>, clock: Arc<Mock>) -> Result<Response<Body>, BoxError> {
    let path = request.uri().path().to_owned();
    let response = match path.as_str() {
        "/orders/7" => {
            advance(&clock, 8);
            respond(
                200,
                Some("text/html; charset=utf-8"),
                Body::from("<p>order</p>"),
                Some("/orders/{id}"),
            )
        }
        "/reports/daily" => {
            advance(&clock, 16);
            respond(
                503,
                Some("text/plain; charset=ISO-8859-1"),
                Body::from("busy"),
                None,
            )
        }
        "/missing" => {
            advance(&clock, 1);
            respond(404, None, Body::empty(), None)
        }
        "/cache" => {
            advance(&clock, 1);
            respond(200, None, Body::empty(), Some("/cache/{key}"))
        }
        "/fail" => {
            advance(&clock, 8);
            return Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "backend reset").into());
        }
        "/panic" => {
            advance(&clock, 2);
            panic!("the golden traffic's panicking handler");
        }
        "/slow" => {
            advance(&clock, 1024);
            std::future::pending::<()>().await;
            unreachable!("the request is cancelled while pending")
        }
        "/stream" => {
            advance(&clock, 1);
            respond(
                200,
                Some("text/plain; charset=utf-8"),
                streaming(&clock, 3),
                Some("/stream"),
            )
        }
        "/stream/abandoned" => {
            advance(&clock, 2);
            respond(
                200,
                Some("text/plain; charset=utf-8"),
                streaming(&clock, 2),
                Some("/stream"),
            )
        }
        "/stream/broken" => {
            advance(&clock, 2);
            let frames = futures_util::stream::iter([
                Ok(Bytes::from_static(b"partial")),
                Err(BoxError::from(std::io::Error::new(
                    std::io::ErrorKind::BrokenPipe,
                    "upstream closed",
                ))),
            ]);
            respond(200, None, Body::from_stream(frames), Some("/stream"))
        }
        "/shop.Orders/Get" => {
            // A trailers-only answer: the status in the response headers.
            advance(&clock, 2);
            let mut response = respond(200, Some("application/grpc"), Body::empty(), None);
            response
                .headers_mut()
                .insert("grpc-status", "5".parse().expect("a valid header value"));
            response
        }
        "/shop.Orders/List" => {
            advance(&clock, 4);
            let mut trailers = HeaderMap::new();
            trailers.insert("grpc-status", "0".parse().expect("a valid header value"));
            let frames = futures_util::stream::iter([
                Ok::<_, std::convert::Infallible>(http_body::Frame::data(Bytes::from_static(b"\0\0\0\0\0"))),
                Ok(http_body::Frame::trailers(trailers)),
            ]);
            respond(
                200,
                Some("application/grpc"),
                Body::new(StreamBody::new(frames)),
                None,
            )
        }
        burst if burst.starts_with("/burst/") => {
            advance(&clock, 1);
            respond(200, None, Body::empty(), Some(burst))
        }
        other => unreachable!("no golden request goes to {other}"),
    };
    Ok(response)
}

/// Sends `request` and reads the whole answer: its status, or how it failed.
async fn exchange<S, B>(app: &S, request: Request<String>) -> Result<StatusCode, String>
where
    S: Service<Request<String>, Response = Response<B>> + Clone,
    S::Error: Display,
    B: http_body::Body,
    B::Error: Display,
{
    let call = app.clone().oneshot(request);
    let response = AssertUnwindSafe(call)
        .catch_unwind()
        .await
        .map_err(|_| String::from("panicked"))?
        .map_err(|error| format!("error: {error}"))?;
    let status = response.status();
    response
        .into_body()
        .collect()
        .await
        .map_err(|error| format!("body error: {error}"))?;
    Ok(status)
}

fn request(method: &str, path: &str) -> http::request::Builder {
    Request::builder()
        .method(Method::from_bytes(method.as_bytes()).expect("a valid method"))
        .uri(path)
}

fn with_body(method: &str, path: &str, body: &str) -> Request<String> {
    request(method, path)
        .header(CONTENT_LENGTH, body.len())
        .body(body.to_owned())
        .expect("a valid request")
}

fn empty(method: &str, path: &str) -> Request<String> {
    request(method, path)
        .body(String::new())
        .expect("a valid request")
}

/// The fixed traffic, one request after another, each outcome checked so that a change of
/// the traffic itself does not pass for a change of the exposition.
pub(super) async fn drive(metrics: &Metrics, clock: &Arc<Mock>) {
    let router = router(metrics, clock);
    let handler_clock = Arc::clone(clock);
    let service = ServiceBuilder::new()
        .layer(metrics.layer())
        .service(tower::service_fn(move |request| {
            handle(request, Arc::clone(&handler_clock))
        }));

    let ajax = request("GET", "/users/1")
        .header("x-requested-with", "XMLHttpRequest")
        .header("x-tenant", "acme")
        .body(String::new())
        .expect("a valid request");
    assert_eq!(exchange(&router, ajax).await, Ok(StatusCode::OK));
    assert_eq!(
        exchange(&router, empty("GET", "/users/2")).await,
        Ok(StatusCode::OK)
    );
    let mut upload = with_body("POST", "/upload", &"x".repeat(2048));
    upload
        .headers_mut()
        .insert("x-tenant", "globex".parse().expect("a valid header value"));
    assert_eq!(exchange(&router, upload).await, Ok(StatusCode::CREATED));
    let mut third_tenant = empty("GET", "/old");
    third_tenant
        .headers_mut()
        .insert("x-tenant", "initech".parse().expect("a valid header value"));
    assert_eq!(
        exchange(&router, third_tenant).await,
        Ok(StatusCode::MOVED_PERMANENTLY)
    );

    assert_eq!(
        exchange(&service, with_body("PUT", "/orders/7", "{\"qty\":2}")).await,
        Ok(StatusCode::OK)
    );
    assert_eq!(
        exchange(&service, empty("GET", "/reports/daily")).await,
        Ok(StatusCode::SERVICE_UNAVAILABLE)
    );
    assert_eq!(
        exchange(&service, empty("GET", "/missing")).await,
        Ok(StatusCode::NOT_FOUND)
    );
    assert_eq!(
        exchange(&service, empty("PURGE", "/cache")).await,
        Ok(StatusCode::OK)
    );
    assert_eq!(
        exchange(&service, with_body("DELETE", "/fail", "")).await,
        Err(String::from("error: backend reset"))
    );
    assert_eq!(
        exchange(&service, empty("GET", "/panic")).await,
        Err(String::from("panicked"))
    );
    assert_eq!(
        exchange(&service, empty("GET", "/stream")).await,
        Ok(StatusCode::OK)
    );
    assert_eq!(
        exchange(&service, empty("GET", "/stream/broken")).await,
        Err(String::from("body error: upstream closed"))
    );

    // Cancelled: the response future dropped while the handler waits.
    let pending = service.clone().oneshot(empty("GET", "/slow")).now_or_never();
    assert!(pending.is_none(), "the slow handler never answers");

    // The body dropped after its first frame.
    let response = service
        .clone()
        .oneshot(empty("GET", "/stream/abandoned"))
        .await
        .expect("an answer");
    let mut body = response.into_body();
    let frame = body.frame().await.expect("a first frame").expect("no body error");
    assert_eq!(frame.into_data().expect("a data frame"), "chunk 0\n");
    drop(body);

    for method in ["Get", "List"] {
        let call = request("POST", &format!("/shop.Orders/{method}"))
            .header(CONTENT_TYPE, "application/grpc")
            .body(String::new())
            .expect("a valid request");
        assert_eq!(exchange(&service, call).await, Ok(StatusCode::OK));
    }

    // A scrape through the layer, in the middle of the traffic as a scraper's would be.
    assert_eq!(
        exchange(&router, empty("GET", "/metrics")).await,
        Ok(StatusCode::OK)
    );

    // Views named after raw paths: beyond the cap they fold into `<overflow>`.
    for burst in 0..6 {
        assert_eq!(
            exchange(&service, empty("GET", &format!("/burst/{burst}"))).await,
            Ok(StatusCode::OK)
        );
    }
}
