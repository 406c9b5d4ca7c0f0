//! The bundled example server: a small axum app measured by tower-prometheus.
//!
//! ```text
//! cargo run --example server
//! curl http://127.0.0.1:3000/metrics
//! ```
//!
//! `PORT` picks the port (default 3000); the server binds `127.0.0.1` unless `HOST` names
//! another address (`HOST=0.0.0.0` lets the Prometheus container of `examples/monitoring`
//! reach it through `host.docker.internal`).
//! `TOWER_PROMETHEUS_NATIVE_HISTOGRAMS=1` adds native buckets to the latency histograms
//! (served as protobuf with `--features protobuf`), and `TOWER_PROMETHEUS_EXEMPLARS=1`
//! attaches the trace id of sampled `traceparent` headers as exemplars.
//! `TOWER_PROMETHEUS_NAMING=opentelemetry` exposes the OpenTelemetry HTTP server conventions'
//! metrics instead of django-prometheus's (`django`, the default, keeps them).

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use tower_http::catch_panic::CatchPanicLayer;

/// Sleeps are capped so that no request can hold the server for long.
const MAX_SLEEP: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // Errors are printed with Display: the Debug form `main` would print escapes the message.
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> std::io::Result<()> {
    let port: u16 = match std::env::var("PORT") {
        Ok(port) => port
            .parse()
            .map_err(|_| std::io::Error::other(format!("PORT must be a port number, got {port:?}")))?,
        Err(_) => 3000,
    };
    let host: std::net::IpAddr = match std::env::var("HOST") {
        Ok(host) => host
            .parse()
            .map_err(|_| std::io::Error::other(format!("HOST must be an IP address, got {host:?}")))?,
        Err(_) => std::net::Ipv4Addr::LOCALHOST.into(),
    };
    let mut builder = tower_prometheus::Metrics::builder();
    match std::env::var("TOWER_PROMETHEUS_NAMING").as_deref() {
        Ok("opentelemetry") => builder = builder.naming(tower_prometheus::Naming::OpenTelemetry),
        Ok("django") | Err(_) => {}
        Ok(other) => {
            return Err(std::io::Error::other(format!(
                "TOWER_PROMETHEUS_NAMING must be `django` or `opentelemetry`, got {other:?}"
            )))
        }
    }
    if env_flag("TOWER_PROMETHEUS_NATIVE_HISTOGRAMS") {
        builder = builder.native_histograms(tower_prometheus::NativeHistograms::classic_and_native());
    }
    if env_flag("TOWER_PROMETHEUS_EXEMPLARS") {
        builder = builder.exemplars_from_traceparent();
    }
    let metrics = builder.build().map_err(std::io::Error::other)?;
    let app = app(&metrics);
    let listener = tokio::net::TcpListener::bind((host, port))
        .await
        .map_err(|error| {
            let hint = match error.kind() {
                std::io::ErrorKind::AddrInUse => format!("PORT={port} is in use; set PORT to a free port"),
                std::io::ErrorKind::AddrNotAvailable => {
                    format!("HOST={host} is not an address of this machine; set HOST (default 127.0.0.1)")
                }
                std::io::ErrorKind::PermissionDenied => {
                    format!("PORT={port} needs privileges; set PORT to 1024 or above")
                }
                _ => String::from("set HOST and PORT to an address this machine can listen on"),
            };
            std::io::Error::new(
                error.kind(),
                format!("cannot listen on {host}:{port}: {error}; {hint}"),
            )
        })?;
    let address = listener.local_addr()?;
    println!("metrics: http://{address}/metrics");
    axum::serve(listener, app).await
}

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|value| value == "1")
}

/// The routes later tests rely on; panics become 500 answers outside the metrics layer, which
/// records them as `type="panic"` first.
fn app(metrics: &tower_prometheus::Metrics) -> Router {
    Router::new()
        .route("/", get(|| async { "Hello from tower-prometheus\n" }))
        .route("/users/{id}", get(user))
        .route("/echo", post(|body: Bytes| async move { body }))
        .route("/slow", get(slow))
        .route(
            "/error",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "something failed\n") }),
        )
        .route("/stream", get(stream))
        .route("/panic", get(panic))
        .layer(metrics.layer())
        .layer(CatchPanicLayer::new())
}

async fn user(Path(id): Path<u64>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "id": id, "name": format!("user {id}") }))
}

#[derive(Deserialize)]
struct SlowQuery {
    ms: Option<u64>,
}

async fn slow(Query(query): Query<SlowQuery>) -> String {
    let delay = Duration::from_millis(query.ms.unwrap_or(100)).min(MAX_SLEEP);
    tokio::time::sleep(delay).await;
    format!("slept {} ms\n", delay.as_millis())
}

#[derive(Deserialize)]
struct StreamQuery {
    chunks: Option<u32>,
    ms: Option<u64>,
}

/// A body of `chunks` chunks (default 5, at most 10 000), `ms` apart, with no Content-Length.
async fn stream(Query(query): Query<StreamQuery>) -> Body {
    let chunks = query.chunks.unwrap_or(5).min(10_000);
    let pause = Duration::from_millis(query.ms.unwrap_or(0)).min(MAX_SLEEP);
    let chunks = futures_util::stream::unfold(0, move |sent| async move {
        if sent == chunks {
            return None;
        }
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
        Some((
            Ok::<_, Infallible>(Bytes::from(format!("chunk {sent}\n"))),
            sent + 1,
        ))
    });
    Body::from_stream(chunks)
}

async fn panic() -> &'static str {
    panic!("the /panic route panics on purpose")
}
