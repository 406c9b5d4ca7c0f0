//! Memory held by hostile label values: 10 000 gRPC calls with 60 KB paths answered as gRPC
//! (every call reaches the gRPC family) and 10 000 gRPC-looking POSTs with 60 KB paths to a
//! plain axum app answering 404, then the growth of the resident set and the size of one
//! Prometheus text scrape. `cargo bench --all-features --bench label_memory`; a binary of its
//! own, because anything else in the process would move the resident set.
//!
//! Targets (issue 22): the resident set grows by at most 50 MB, a scrape stays under 5 MB.

use std::convert::Infallible;

use axum::routing::get;
use axum::Router;
use http::{Request, Response};
use tower::{ServiceBuilder, ServiceExt};
use tower_prometheus::{Format, Metrics};

const LONG: usize = 60 * 1024;
const CALLS: usize = 10_000;
const MAX_GROWTH: u64 = 50_000_000;
const MAX_SCRAPE: usize = 5_000_000;

/// A path segment of `bytes` bytes, distinct for every `index`.
fn long_segment(index: usize, bytes: usize) -> String {
    let prefix = format!("m{index}_");
    format!("{prefix}{}", "x".repeat(bytes - prefix.len()))
}

fn grpc_post(path: &str) -> Request<axum::body::Body> {
    Request::post(path)
        .header("content-type", "application/grpc")
        .body(axum::body::Body::empty())
        .unwrap()
}

/// The process's resident set, in bytes (Linux).
fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn main() {
    let Some(before) = rss_bytes() else {
        eprintln!("label_memory: no /proc/self/status to read the resident set from; not measured");
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let metrics = Metrics::builder().process_metrics(false).build().unwrap();
    let grpc =
        ServiceBuilder::new()
            .layer(metrics.layer())
            .service_fn(|_: Request<axum::body::Body>| async {
                let mut response = Response::new(String::new());
                let headers = response.headers_mut();
                headers.insert("content-type", "application/grpc".parse().unwrap());
                headers.insert("grpc-status", "12".parse().unwrap());
                Ok::<_, Infallible>(response)
            });
    let plain = Router::new()
        .route("/", get(|| async { "home" }))
        .layer(metrics.layer());
    runtime.block_on(async {
        for index in 0..CALLS {
            let path = format!("/{}/Get", long_segment(index, LONG));
            grpc.clone().oneshot(grpc_post(&path)).await.unwrap();
            let path = format!("/{}/Get", long_segment(index + CALLS, LONG));
            plain.clone().oneshot(grpc_post(&path)).await.unwrap();
        }
    });
    let after = rss_bytes().unwrap();
    let scrape = metrics.render(Format::PrometheusText).unwrap().len();
    let grown = after.saturating_sub(before);
    println!(
        "label_memory: {CALLS} + {CALLS} requests with {LONG}-byte paths: resident set {:.1} MB -> {:.1} MB (+{:.1} MB, target <= {} MB); scrape {:.1} KB (target < {} MB)",
        before as f64 / 1e6,
        after as f64 / 1e6,
        grown as f64 / 1e6,
        MAX_GROWTH / 1_000_000,
        scrape as f64 / 1e3,
        MAX_SCRAPE / 1_000_000,
    );
    assert!(grown <= MAX_GROWTH, "the resident set grew by {grown} bytes");
    assert!(scrape < MAX_SCRAPE, "a scrape of {scrape} bytes");
}
