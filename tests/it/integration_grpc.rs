//! gRPC outcomes: the `examples/grpc.rs` tonic server end to end on loopback, plus hand-built
//! answers that put `grpc-status` in the trailers, in the headers, or nowhere.

use crate::support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body::Frame;
use http_body_util::{BodyExt, Empty, StreamBody};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use support::exposition::{parse_text, total, value};
use tokio::net::TcpListener;
use tonic::Code;
use tower::{ServiceBuilder, ServiceExt};
use tower_prometheus::{Format, Metrics};

#[path = "../../examples/grpc.rs"]
#[allow(dead_code)]
mod example;

/// `grpc_server_handled_total` of one service, method and code in a Prometheus text exposition.
fn handled(text: &str, service: &str, method: &str, code: &str) -> Option<f64> {
    value(
        &parse_text(text),
        "grpc_server_handled_total",
        &[
            ("grpc_service", service),
            ("grpc_method", method),
            ("grpc_code", code),
        ],
    )
}

async fn call(address: SocketAddr, sku: &str) -> Result<example::Item, tonic::Status> {
    tokio::time::timeout(Duration::from_secs(30), example::call_get_item(address, sku))
        .await
        .expect("the server answers within 30 s")
}

#[tokio::test]
async fn tonic_outcomes_are_counted_by_code() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let metrics = example::metrics();
    tokio::spawn(example::serve(listener, metrics.clone()));

    let item = call(address, "apple").await.unwrap();
    assert_eq!((item.sku.as_str(), item.stock), ("apple", 12));
    assert_eq!(call(address, "apple").await.unwrap().stock, 12);
    assert_eq!(call(address, "pear").await.unwrap_err().code(), Code::NotFound);
    assert_eq!(call(address, "broken").await.unwrap_err().code(), Code::Internal);
    assert_eq!(call(address, "").await.unwrap_err().code(), Code::InvalidArgument);

    let text = metrics.render(Format::PrometheusText).unwrap();
    let get_item = |code| handled(&text, "inventory.Inventory", "GetItem", code);
    assert_eq!(get_item("OK"), Some(2.0), "{text}");
    assert_eq!(get_item("NotFound"), Some(1.0), "{text}");
    assert_eq!(get_item("Internal"), Some(1.0), "{text}");
    assert_eq!(get_item("InvalidArgument"), Some(1.0), "{text}");
    assert_eq!(get_item("Unknown"), None, "{text}");
    // HTTP says 200 to all five; the view is the gRPC path, named by the example's resolver.
    assert!(
        text.contains(
            "http_responses_total_by_status_view_method_total{status=\"200\",view=\"/inventory.Inventory/GetItem\",method=\"POST\"} 5"
        ),
        "{text}"
    );
    assert!(
        text.contains("http_requests_in_flight{view=\"/inventory.Inventory/GetItem\",method=\"POST\"} 0"),
        "{text}"
    );
    // The same port answers a Prometheus scrape over HTTP/1.1.
    let http1 = Client::builder(TokioExecutor::new()).build::<_, Empty<Bytes>>(HttpConnector::new());
    let scrape = Request::get(format!("http://{address}/metrics"))
        .body(Empty::new())
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(30), http1.request(scrape))
        .await
        .expect("the scrape is answered within 30 s")
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), http::Version::HTTP_11);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let scraped = String::from_utf8(body.to_vec()).unwrap();
    assert!(scraped.contains("grpc_code=\"NotFound\"} 1"), "{scraped}");
}

type FrameStream = futures_util::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>>;

/// A gRPC-shaped answer: one data frame, then `trailers` (if any).
fn grpc_response(
    headers: &[(&'static str, &'static str)],
    trailers: Option<HeaderMap>,
) -> Response<StreamBody<FrameStream>> {
    let mut frames = vec![Ok(Frame::data(Bytes::from_static(b"\0\0\0\0\0")))];
    frames.extend(trailers.map(|trailers| Ok(Frame::trailers(trailers))));
    let mut response = Response::new(StreamBody::new(futures_util::stream::iter(frames)));
    response
        .headers_mut()
        .insert("content-type", "application/grpc".parse().unwrap());
    for (name, value) in headers {
        response.headers_mut().insert(*name, value.parse().unwrap());
    }
    response
}

fn grpc_request(path: &str) -> Request<String> {
    Request::post(path)
        .header("content-type", "application/grpc+proto")
        .body(String::new())
        .unwrap()
}

#[tokio::test]
async fn status_is_read_from_trailers_headers_or_defaults_to_unknown() {
    let metrics = Metrics::builder().process_metrics(false).build().unwrap();
    let app =
        ServiceBuilder::new()
            .layer(metrics.layer())
            .service_fn(|request: Request<String>| async move {
                let trailers = |code: &'static str| {
                    let mut trailers = HeaderMap::new();
                    trailers.insert("grpc-status", code.parse().unwrap());
                    Some(trailers)
                };
                Ok::<_, Infallible>(match request.uri().path() {
                    "/shop.Orders/Place" => grpc_response(&[], trailers("14")),
                    "/shop.Orders/Get" => grpc_response(&[("grpc-status", "7")], None),
                    "/shop.Orders/Odd" => grpc_response(&[], trailers("99")),
                    _ => grpc_response(&[], None),
                })
            });

    for path in [
        "/shop.Orders/Place",
        "/shop.Orders/Get",
        "/shop.Orders/Odd",
        "/shop.Orders/Silent",
    ] {
        let response = app.clone().oneshot(grpc_request(path)).await.unwrap();
        let collected = response.into_body().collect().await.unwrap();
        assert_eq!(
            collected.trailers().is_some(),
            path.ends_with("Place") || path.ends_with("Odd")
        );
    }
    // Not gRPC: a JSON POST to a gRPC-looking path is left alone.
    let json = Request::post("/shop.Orders/Place")
        .header("content-type", "application/json")
        .body(String::new())
        .unwrap();
    app.clone()
        .oneshot(json)
        .await
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap();
    // Abandoned before the trailers: cancelled.
    let response = app
        .clone()
        .oneshot(grpc_request("/shop.Orders/Place"))
        .await
        .unwrap();
    let mut body = response.into_body();
    assert!(body.frame().await.unwrap().unwrap().is_data());
    drop(body);

    let text = metrics.render(Format::PrometheusText).unwrap();
    let orders = |method, code| handled(&text, "shop.Orders", method, code);
    assert_eq!(orders("Place", "Unavailable"), Some(1.0), "{text}");
    assert_eq!(orders("Get", "PermissionDenied"), Some(1.0), "{text}");
    assert_eq!(orders("Odd", "Unknown"), Some(1.0), "{text}");
    assert_eq!(orders("Silent", "Unknown"), Some(1.0), "{text}");
    assert_eq!(orders("Place", "Canceled"), Some(1.0), "{text}");
    assert_eq!(
        total(&parse_text(&text), "grpc_server_handled_total", &[]),
        5.0,
        "each call is counted once, the JSON request never:\n{text}"
    );
}

/// A body that announces its exact size: its data frames, then its trailers.
struct KnownSize(std::collections::VecDeque<Frame<Bytes>>, u64);

impl http_body::Body for KnownSize {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        std::task::Poll::Ready(self.0.pop_front().map(Ok))
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.1)
    }
}

/// A body of known size has ended with its last byte, but a gRPC status may still follow in
/// its trailers: it is read there, not counted as `Unknown`.
#[tokio::test]
async fn status_is_read_from_the_trailers_of_a_body_of_known_size() {
    let metrics = Metrics::builder().process_metrics(false).build().unwrap();
    let app = ServiceBuilder::new()
        .layer(metrics.layer())
        .service_fn(|_: Request<String>| async move {
            let mut trailers = HeaderMap::new();
            trailers.insert("grpc-status", "5".parse().unwrap());
            let frames = [
                Frame::data(Bytes::from_static(b"\0\0\0\0\0")),
                Frame::trailers(trailers),
            ];
            let mut response = Response::new(KnownSize(frames.into(), 5));
            response
                .headers_mut()
                .insert("content-type", "application/grpc".parse().unwrap());
            Ok::<_, Infallible>(response)
        });
    let response = app.oneshot(grpc_request("/shop.Orders/Sized")).await.unwrap();
    let collected = response.into_body().collect().await.unwrap();
    assert!(collected.trailers().is_some());

    let text = metrics.render(Format::PrometheusText).unwrap();
    assert_eq!(
        handled(&text, "shop.Orders", "Sized", "NotFound"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        total(&parse_text(&text), "grpc_server_handled_total", &[]),
        1.0,
        "{text}"
    );
    assert!(text.contains("http_responses_body_total_bytes_sum 5.0"), "{text}");
}

#[tokio::test]
async fn made_up_methods_fold_into_overflow_beyond_the_cap() {
    let metrics = Metrics::builder()
        .process_metrics(false)
        .max_label_sets(2)
        .build()
        .unwrap();
    let app = ServiceBuilder::new()
        .layer(metrics.layer())
        .service_fn(|_request: Request<String>| async {
            Ok::<_, Infallible>(grpc_response(&[("grpc-status", "12")], None))
        });
    for method in ["A", "B", "C", "D", "A"] {
        let response = app
            .clone()
            .oneshot(grpc_request(&format!("/scan.Me/{method}")))
            .await
            .unwrap();
        response.into_body().collect().await.unwrap();
    }
    let text = metrics.render(Format::PrometheusText).unwrap();
    assert_eq!(
        handled(&text, "scan.Me", "A", "Unimplemented"),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        handled(&text, "scan.Me", "B", "Unimplemented"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(handled(&text, "scan.Me", "C", "Unimplemented"), None, "{text}");
    assert_eq!(
        handled(&text, "<overflow>", "<overflow>", "Unimplemented"),
        Some(2.0),
        "{text}"
    );
    assert!(
        text.contains("http_metrics_label_overflow_total{label=\"grpc_method\"} 2"),
        "{text}"
    );
}

/// A tonic service generated from a `.proto` (tonic-health ships one), including a
/// server-streaming method whose status arrives in the trailers, or never when the client
/// walks away.
#[tokio::test]
async fn generated_services_unary_and_streaming() {
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let metrics = Metrics::builder().process_metrics(false).build().unwrap();
    let (_reporter, health) = tonic_health::server::health_reporter();
    let server = tonic::transport::Server::builder()
        .layer(metrics.layer())
        .add_service(health)
        .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener));
    tokio::spawn(server);

    let http2 = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build::<_, tonic::body::Body>(HttpConnector::new());
    let mut client = HealthClient::with_origin(http2, format!("http://{address}").parse().unwrap());
    let check = |service: &str| HealthCheckRequest {
        service: service.to_owned(),
    };
    let bounded = Duration::from_secs(30);
    tokio::time::timeout(bounded, client.check(check("")))
        .await
        .unwrap()
        .unwrap();
    let missing = tokio::time::timeout(bounded, client.check(check("no.Such")))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);

    // Watch streams until the client leaves: the server never sends a status.
    let mut updates = tokio::time::timeout(bounded, client.watch(check("")))
        .await
        .unwrap()
        .unwrap()
        .into_inner();
    assert!(tokio::time::timeout(bounded, updates.message())
        .await
        .unwrap()
        .unwrap()
        .is_some());
    drop(updates);
    drop(client);

    let service = "grpc.health.v1.Health";
    let deadline = tokio::time::Instant::now() + bounded;
    let text = loop {
        let text = metrics.render(Format::PrometheusText).unwrap();
        if handled(&text, service, "Watch", "Canceled").is_some() {
            break text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "Watch never counted:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(handled(&text, service, "Check", "OK"), Some(1.0), "{text}");
    assert_eq!(handled(&text, service, "Check", "NotFound"), Some(1.0), "{text}");
    assert_eq!(handled(&text, service, "Watch", "Canceled"), Some(1.0), "{text}");
    assert!(
        text.contains("http_requests_cancelled_total{view=\"<unnamed view>\",method=\"POST\"} 1"),
        "{text}"
    );
}
