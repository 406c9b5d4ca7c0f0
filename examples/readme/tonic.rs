//! tonic: `cargo run --example readme-tonic --features grpc`, then `curl 127.0.0.1:50051/metrics`.
use tonic::transport::Server;
use tower_prometheus::{Metrics, ViewName};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let metrics = Metrics::builder()
        // tonic routes inside the layer: gRPC paths (/package.Service/Method) are the views.
        .view_resolver(|request| Some(ViewName::new(request.uri().path().to_owned())))
        .build()
        .unwrap();
    // Any generated `FooServer::new(...)` goes here; the health service ships ready-made.
    let (_reporter, health) = tonic_health::server::health_reporter();
    Server::builder()
        .accept_http1(true) // Prometheus scrapes over HTTP/1.1
        .layer(metrics.layer())
        .add_service(health)
        .serve("127.0.0.1:50051".parse()?)
        .await?;
    Ok(())
}
