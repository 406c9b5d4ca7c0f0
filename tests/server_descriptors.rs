//! The separate listener's connection cap, in file descriptors: 1 100 idle connections to the
//! metrics port hold at most the cap's worth of the process's descriptors, and the
//! application's own port keeps answering. A binary of its own, so that no other test opens
//! descriptors while they are counted.
#![cfg(all(feature = "server", target_os = "linux"))]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use tower_prometheus::Metrics;

const IDLE: usize = 1_100;
/// `tower_prometheus::defaults::SERVER_MAX_CONNECTIONS`, spelled out so that the figure can be
/// measured the same way on a version without a cap.
const CAP: usize = 64;

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn status_of_get(address: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response.lines().next().unwrap_or_default().to_owned())
}

#[test]
fn idle_connections_to_the_metrics_port_hold_at_most_the_cap_in_descriptors() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let metrics = Metrics::builder().disable_metrics_path().build().unwrap();
    let bound = runtime.block_on(metrics.server().bind("127.0.0.1:0")).unwrap();
    let metrics_address = bound.local_addr().unwrap();
    runtime.spawn(bound.serve());
    let app = axum::Router::new()
        .route("/hello", axum::routing::get(|| async { "hello" }))
        .layer(metrics.layer());
    let app_listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let app_address = app_listener.local_addr().unwrap();
    runtime.spawn(async move { axum::serve(app_listener, app).await });
    assert_eq!(status_of_get(app_address, "/hello").unwrap(), "HTTP/1.1 200 OK");

    let before = open_descriptors();
    let idle: Vec<TcpStream> = (0..IDLE)
        .map(|_| TcpStream::connect(metrics_address).unwrap())
        .collect();
    // Let the server accept (or refuse) every one of them.
    std::thread::sleep(Duration::from_secs(1));
    let held_by_server = open_descriptors() - before - idle.len();
    println!(
        "{IDLE} idle connections to the metrics port: the server holds {held_by_server} descriptors for them"
    );
    let still_open = idle
        .iter()
        .filter(|stream| {
            stream.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
            let mut byte = [0_u8; 1];
            // Still open: nothing to read yet. Closed: end of stream or reset.
            let read = (&mut &**stream).read(&mut byte);
            matches!(read, Err(error) if matches!(error.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut))
        })
        .count();
    println!(
        "{still_open} of them still open, {} closed by the server",
        IDLE - still_open
    );
    assert!(
        held_by_server <= CAP + 2,
        "{held_by_server} descriptors for idle connections"
    );
    assert_eq!(status_of_get(app_address, "/hello").unwrap(), "HTTP/1.1 200 OK");
    drop(idle);
}
