//! A tower-http stack: `cargo run --example readme-tower-http`.
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use http::StatusCode;
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let metrics = tower_prometheus::Metrics::new();
    let app = Router::new().route("/", get(|| async { "hello" })).layer(
        // Top to bottom = outside to inside. First, the metrics see what the client sees:
        // the timeout's 408 with the latency the client waited, and compressed body bytes.
        ServiceBuilder::new()
            .layer(metrics.layer())
            .layer(TraceLayer::new_for_http())
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                Duration::from_secs(10),
            ))
            .layer(CompressionLayer::new()),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    axum::serve(listener, app).await
}
