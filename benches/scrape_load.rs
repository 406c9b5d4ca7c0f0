//! Scrapes of a large exposition against the service and the heap, through the layer on a
//! real server (axum 0.8 on hyper, two worker threads), each figure against a baseline of the
//! same run:
//!
//! - **memory**: 50 slow readers (they read one byte, then stop) of a 40 MB exposition, all
//!   arriving at once; the growth of the process's resident memory while they hold their
//!   answers, in expositions. The baseline is the same with 10 readers of a route that renders
//!   one exposition per request (what the layer did before renderings were shared). The same
//!   50 readers arriving one after another (each once the previous one has its first byte, so
//!   that no two share a rendering) are measured too.
//! - **latency**: the p99 of ordinary requests (8 connections, closed loop) while four loops
//!   scrape the exposition, over the p99 of the same without scrapes (three rounds of each,
//!   interleaved, medians compared). The baseline is the same with the four loops on the
//!   render-per-request route.
//!
//! ```text
//! cargo bench --bench scrape_load
//! ```
//!
//! Linux only (resident memory is read from `/proc/self/statm`). Without `--bench` (as under
//! `cargo test --benches`) it only says how to run it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::get;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower_prometheus::{Format, Metrics};

/// Series of about 200 bytes each: 200 000 make a 40 MB exposition, above glibc's largest
/// mmap threshold (32 MiB), so that a freed exposition leaves resident memory at once and the
/// growth measured is what is held.
const SERIES: usize = 200_000;
const SLOW_READERS: usize = 50;
const SLOW_READERS_PER_REQUEST_ROUTE: usize = 10;
const SCRAPE_LOOPS: usize = 4;
const CONNECTIONS: usize = 8;
const LATENCY_WINDOW: Duration = Duration::from_secs(4);
/// Idle and loaded runs alternate, so that a load from outside the bench (another process)
/// weighs on both alike; the medians are compared.
const ROUNDS: usize = 3;

fn main() {
    if !std::env::args().any(|argument| argument == "--bench") {
        println!("scrape_load: run it with `cargo bench --bench scrape_load`");
        return;
    }
    let metrics = Metrics::builder().process_metrics(false).build().unwrap();
    let family = Family::<Vec<(String, String)>, Counter>::default();
    let padding = "p".repeat(120);
    for index in 0..SERIES {
        family
            .get_or_create(&vec![
                ("instance".to_owned(), format!("{padding}-{index}")),
                ("shard".to_owned(), (index % 97).to_string()),
            ])
            .inc();
    }
    metrics
        .register("bench_wide", "Series making the exposition large", family)
        .unwrap();
    let exposition = metrics.render_bytes(Format::PrometheusText).unwrap().len();
    println!("exposition: {:.1} MB", exposition as f64 / 1e6);

    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let per_request = metrics.clone();
    let app = axum::Router::new()
        .route("/hello", get(|| async { "hello" }))
        // A render per request, on the worker: one copy per reader.
        .route(
            "/per-request",
            get(move || {
                let metrics = per_request.clone();
                async move { metrics.render_bytes(Format::PrometheusText).unwrap() }
            }),
        )
        .layer(metrics.layer());
    let listener = server
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let address = listener.local_addr().unwrap();
    server.spawn(async move { axum::serve(listener, app).await });

    let client = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    // Warm both routes (and the allocator) once.
    client.block_on(scrape(address, "/metrics"));
    client.block_on(scrape(address, "/per-request"));

    println!("\nmemory held while slow readers hold their answers:");
    let shared = client.block_on(slow_readers(address, "/metrics", SLOW_READERS, false));
    let one_after_another = client.block_on(slow_readers(address, "/metrics", SLOW_READERS, true));
    let per_request = client.block_on(slow_readers(
        address,
        "/per-request",
        SLOW_READERS_PER_REQUEST_ROUTE,
        false,
    ));
    let renderings = renderings(&metrics);
    println!(
        "  {SLOW_READERS} readers of /metrics (shared):        {:7.1} MB = {:.2} expositions ({renderings} renderings of text so far)",
        shared as f64 / 1e6,
        shared as f64 / exposition as f64
    );
    println!(
        "  {SLOW_READERS} readers of /metrics, one after another: {:7.1} MB = {:.2} expositions",
        one_after_another as f64 / 1e6,
        one_after_another as f64 / exposition as f64
    );
    println!(
        "  {SLOW_READERS_PER_REQUEST_ROUTE} readers of a render-per-request route: {:7.1} MB = {:.2} expositions",
        per_request as f64 / 1e6,
        per_request as f64 / exposition as f64
    );
    println!(
        "  target: {SLOW_READERS} slow readers pin at most 2 expositions: {}",
        if (shared.max(one_after_another) as f64) <= 2.0 * exposition as f64 {
            "met"
        } else {
            "MISSED"
        }
    );

    println!("\nlatency of ordinary requests ({CONNECTIONS} connections, closed loop), rounds interleaved:");
    let mut idle = Vec::new();
    let mut loaded = Vec::new();
    for round in 1..=ROUNDS {
        let run = client.block_on(latencies(address, None));
        println!("  round {round} idle                                   {run}");
        idle.push(run);
        let run = client.block_on(latencies(address, Some("/metrics")));
        println!("  round {round} {SCRAPE_LOOPS} loops on /metrics                    {run}");
        loaded.push(run);
    }
    let per_request = client.block_on(latencies(address, Some("/per-request")));
    println!("  {SCRAPE_LOOPS} loops on a render-per-request route           {per_request}");
    let median = |runs: &mut Vec<Latencies>, of: fn(&Latencies) -> f64| {
        runs.sort_by(|a, b| of(a).total_cmp(&of(b)));
        of(&runs[runs.len() / 2])
    };
    let idle_p99 = median(&mut idle, |run| run.p99.as_secs_f64());
    let loaded_p99 = median(&mut loaded, |run| run.p99.as_secs_f64());
    let idle_rate = median(&mut idle, |run| run.per_second);
    let loaded_rate = median(&mut loaded, |run| run.per_second);
    let ratio = loaded_p99 / idle_p99;
    println!(
        "  p99 ratio, median loaded / median idle: shared {ratio:.2}, render-per-request {:.2}",
        per_request.p99.as_secs_f64() / idle_p99
    );
    println!(
        "  throughput ratio, loaded / idle: shared {:.2}, render-per-request {:.2}",
        loaded_rate / idle_rate,
        per_request.per_second / idle_rate
    );
    println!(
        "  target: p99 within 3x of unloaded with {SCRAPE_LOOPS} scrape loops: {}",
        if ratio <= 3.0 { "met" } else { "MISSED" }
    );
}

fn renderings(metrics: &Metrics) -> String {
    let text = metrics.render(Format::PrometheusText).unwrap();
    text.lines()
        .find(|line| {
            line.starts_with("http_metrics_encode_duration_seconds_count{format=\"prometheus-text-0.0.4\"")
        })
        .and_then(|line| line.rsplit(' ').next())
        .unwrap_or("?")
        .to_owned()
}

fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// One full scrape on a connection of its own.
async fn scrape(address: SocketAddr, path: &str) -> usize {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buffer = vec![0_u8; 1 << 20];
    let mut total = 0;
    loop {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return total,
            Ok(read) => total += read,
        }
    }
}

/// `readers` clients ask for `path` (at once, or `one_after_another`: each once the previous one
/// has its first byte), read one byte each, and stop reading; returns how much resident memory
/// grew once every one has its answer.
async fn slow_readers(address: SocketAddr, path: &str, readers: usize, one_after_another: bool) -> usize {
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = resident_bytes();
    let request = format!("GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n");
    let mut streams = Vec::new();
    for _ in 0..readers {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut stream = socket.connect(address).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        if one_after_another {
            let mut first = [0_u8; 1];
            stream.read_exact(&mut first).await.unwrap();
        }
        streams.push(stream);
    }
    for stream in streams.iter_mut().filter(|_| !one_after_another) {
        let mut first = [0_u8; 1];
        stream.read_exact(&mut first).await.unwrap();
    }
    // Let the server fill the connections' buffers.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let held = resident_bytes().saturating_sub(before);
    drop(streams);
    held
}

struct Latencies {
    p50: Duration,
    p99: Duration,
    max: Duration,
    per_second: f64,
}

impl std::fmt::Display for Latencies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {:>9.2?}  p99 {:>9.2?}  max {:>9.2?}  {:>7.0} requests/s",
            self.p50, self.p99, self.max, self.per_second
        )
    }
}

/// Ordinary requests on `CONNECTIONS` keep-alive connections for `LATENCY_WINDOW`, while
/// `SCRAPE_LOOPS` loops scrape `scrapes` if given.
async fn latencies(address: SocketAddr, scrapes: Option<&'static str>) -> Latencies {
    let stop = Arc::new(AtomicBool::new(false));
    let loops: Vec<_> = scrapes
        .into_iter()
        .flat_map(|path| (0..SCRAPE_LOOPS).map(move |_| path))
        .map(|path| {
            let stop = stop.clone();
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    scrape(address, path).await;
                }
            })
        })
        .collect();
    // Let the scrapes begin.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let clients: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            tokio::spawn(async move {
                let mut stream = TcpStream::connect(address).await.unwrap();
                stream.set_nodelay(true).unwrap();
                let mut samples = Vec::new();
                let mut buffer = vec![0_u8; 4096];
                while started.elapsed() < LATENCY_WINDOW {
                    let start = Instant::now();
                    stream
                        .write_all(b"GET /hello HTTP/1.1\r\nHost: bench\r\n\r\n")
                        .await
                        .unwrap();
                    read_response(&mut stream, &mut buffer).await;
                    samples.push(start.elapsed());
                }
                samples
            })
        })
        .collect();
    let mut samples = Vec::new();
    for client in clients {
        samples.extend(client.await.unwrap());
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for scrape_loop in loops {
        let _ = scrape_loop.await;
    }
    samples.sort_unstable();
    let at = |quantile: f64| samples[((samples.len() - 1) as f64 * quantile) as usize];
    Latencies {
        p50: at(0.5),
        p99: at(0.99),
        max: *samples.last().unwrap(),
        per_second: samples.len() as f64 / elapsed.as_secs_f64(),
    }
}

/// Reads one small response with a `Content-Length`.
async fn read_response(stream: &mut TcpStream, buffer: &mut [u8]) {
    let mut filled = 0;
    loop {
        let read = stream.read(&mut buffer[filled..]).await.unwrap();
        assert_ne!(read, 0, "the server closed the connection");
        filled += read;
        let Some(end) = buffer[..filled]
            .windows(4)
            .position(|window| window == b"\r\n\r\n")
        else {
            continue;
        };
        let head = std::str::from_utf8(&buffer[..end]).unwrap().to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .map_or(0, |value| value.trim().parse().unwrap());
        if filled >= end + 4 + length {
            return;
        }
    }
}
