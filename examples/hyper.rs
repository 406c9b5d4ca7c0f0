//! hyper 1 without axum: a `tower::service_fn` served by hyper-util, measured by the layer.
//!
//! ```text
//! cargo run --example hyper            # PORT=3000 by default, binds 127.0.0.1
//! curl localhost:3000/users/7
//! curl localhost:3000/metrics
//! ```
//!
//! Without a router there is no route template to read, so the `view` label comes from two
//! places: the builder's resolver closure (for `/` and `/health`), and a [`ViewName`] that the
//! handler puts into its response (for `/users/{id}`, which only the handler parses).

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_prometheus::{Metrics, RequestHead, ViewName};

/// The metrics of this server: fixed paths are named by a resolver from the request head.
pub(crate) fn metrics() -> Metrics {
    Metrics::builder()
        .view_resolver(|request: &RequestHead<'_>| match request.uri().path() {
            "/" => Some(ViewName::new("/")),
            "/health" => Some(ViewName::new("/health")),
            _ => None,
        })
        .build()
        .unwrap()
}

/// The application, unaware of metrics except for naming the view it parsed.
async fn handle(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path();
    let response = if path == "/" {
        Response::new(Full::from("hello from hyper\n"))
    } else if path == "/health" {
        Response::new(Full::from("ok\n"))
    } else if let Some(id) = path
        .strip_prefix("/users/")
        .filter(|id| id.parse::<u32>().is_ok())
    {
        let mut response = Response::new(Full::from(format!("user {id}\n")));
        response.extensions_mut().insert(ViewName::new("/users/{id}"));
        response
    } else {
        let mut response = Response::new(Full::from("not found\n"));
        *response.status_mut() = StatusCode::NOT_FOUND;
        response
    };
    Ok(response)
}

/// Serves HTTP/1.1 and HTTP/2 (prior knowledge) on `listener` until the task is dropped.
pub(crate) async fn serve(listener: TcpListener, metrics: Metrics) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let service = ServiceBuilder::new().layer(metrics.layer()).service_fn(handle);
        tokio::spawn(async move {
            let connection = auto::Builder::new(TokioExecutor::new());
            // A client that resets its connection is not the server's error.
            let _ = connection
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
                .await;
        });
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = std::env::var("PORT")
        .ok()
        .and_then(|port| port.parse().ok())
        .unwrap_or(3000);
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    println!("metrics: http://{}/metrics", listener.local_addr()?);
    serve(listener, metrics()).await
}
