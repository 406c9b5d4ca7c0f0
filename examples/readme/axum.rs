//! axum: `cargo run --example readme-axum`, then `curl 127.0.0.1:3000/metrics`.
use axum::extract::Path;
use axum::routing::get;
use axum::Router;

async fn user(Path(id): Path<u32>) -> String {
    format!("user {id}")
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    // Create one `Metrics` and clone it wherever it is needed: `layer()` takes a clone.
    let metrics = tower_prometheus::Metrics::new(); // line 1
    let app = Router::new()
        .route("/", get(|| async { "hello" }))
        .route("/users/{id}", get(user))
        // `layer` after the routes: each route gets its template as `view`, unmatched paths
        // are counted as `<unnamed view>`, and the layer answers GET /metrics.
        .layer(metrics.layer()); // line 2
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    axum::serve(listener, app).await
}
