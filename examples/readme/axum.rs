//! axum: `cargo run --example readme-axum --features axum`, then `curl 127.0.0.1:3000/metrics`.
use axum::extract::Path;
use axum::routing::get;
use axum::Router;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let metrics = tower_prometheus::Metrics::new();
    let app = Router::new()
        .route("/", get(|| async { "hello" }))
        .route(
            "/users/{id}",
            get(|Path(id): Path<u32>| async move { format!("user {id}") }),
        )
        // `layer` after the routes: each route gets its template as `view`, unmatched paths
        // are counted as `<unnamed view>`, and the layer answers GET /metrics.
        .layer(metrics.layer());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    axum::serve(listener, app).await
}
