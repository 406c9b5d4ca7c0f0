//! hyper 1 without axum, end to end on loopback: the `examples/hyper.rs` server, driven over
//! HTTP/1.1 and HTTP/2 by a hyper-util client, then scraped through its own `/metrics`.

use crate::support;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use support::exposition::{parse_text, value};
use tokio::net::TcpListener;

#[path = "../../examples/hyper.rs"]
#[allow(dead_code)]
mod example;

/// Starts the example server on a free loopback port; it stops when the runtime does.
async fn start() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(example::serve(listener, example::metrics()));
    address
}

async fn get(
    client: &Client<HttpConnector, Empty<Bytes>>,
    address: SocketAddr,
    path: &str,
) -> (StatusCode, String) {
    let request = Request::get(format!("http://{address}{path}"))
        .body(Empty::new())
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(30), client.request(request))
        .await
        .expect("the server answers within 30 s")
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn views_come_from_the_resolver_and_the_response_extension() {
    let address = start().await;
    let http1 = Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let http2 = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build(HttpConnector::new());

    assert_eq!(
        get(&http1, address, "/").await,
        (StatusCode::OK, "hello from hyper\n".into())
    );
    assert_eq!(
        get(&http1, address, "/users/7").await,
        (StatusCode::OK, "user 7\n".into())
    );
    assert_eq!(
        get(&http2, address, "/users/8").await,
        (StatusCode::OK, "user 8\n".into())
    );
    assert_eq!(get(&http1, address, "/nowhere").await.0, StatusCode::NOT_FOUND);
    assert_eq!(get(&http2, address, "/users/x").await.0, StatusCode::NOT_FOUND);

    let (status, text) = get(&http1, address, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    let samples = parse_text(&text);
    let responses = |status: &str, view: &str| {
        value(
            &samples,
            "http_responses_total_by_status_view_method_total",
            &[("status", status), ("view", view), ("method", "GET")],
        )
    };
    assert_eq!(responses("200", "/"), Some(1.0), "{text}");
    assert_eq!(responses("200", "/users/{id}"), Some(2.0), "{text}");
    assert_eq!(responses("404", "<unnamed view>"), Some(2.0), "{text}");
    assert_eq!(
        responses("200", "/users/7"),
        None,
        "raw paths never become views:\n{text}"
    );
    assert_eq!(
        value(&samples, "http_requests_before_middlewares_total", &[]),
        Some(6.0),
        "{text}"
    );
    assert_eq!(
        value(&samples, "http_responses_before_middlewares_total", &[]),
        Some(5.0),
        "{text}"
    );
    // Both protocols pass the same layer; hyper's server leaves the scheme out of the URI.
    assert_eq!(
        value(
            &samples,
            "http_requests_total_by_transport_total",
            &[("transport", "http")]
        ),
        Some(6.0),
        "{text}"
    );
    // In flight is labelled with the view known on arrival: the response names it later.
    assert_eq!(
        value(
            &samples,
            "http_requests_in_flight",
            &[("view", "<unnamed view>"), ("method", "GET")]
        ),
        Some(0.0),
        "{text}"
    );
}
