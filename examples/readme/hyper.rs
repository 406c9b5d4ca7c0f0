//! hyper 1 without axum: `cargo run --example readme-hyper`, then `curl 127.0.0.1:3000/metrics`.
use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tower::ServiceBuilder;
use tower_prometheus::{Metrics, ViewName};

async fn handle(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut response = Response::new(Full::from("hello\n"));
    if request.uri().path().starts_with("/users/") {
        // The handler knows the route it matched: name it in the response.
        response.extensions_mut().insert(ViewName::new("/users/{id}"));
    }
    Ok(response)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    // Or name views from the request head, before the handler runs.
    let metrics = Metrics::builder()
        .view_resolver(|request| (request.uri().path() == "/").then(|| ViewName::new("/")))
        .build()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let service = ServiceBuilder::new().layer(metrics.layer()).service_fn(handle);
        tokio::spawn(async move {
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
                .await;
        });
    }
}
