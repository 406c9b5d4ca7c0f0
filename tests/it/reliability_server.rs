//! Item 8, second half: the exposition on a separate listener (feature `server`), so the
//! application's public port need not serve `/metrics` at all.
#![cfg(feature = "server")]

use crate::support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use support::exposition::{parse, total};
use tokio::sync::oneshot;
use tower_prometheus::{Format, Metrics};

/// A runtime serving one `MetricsServer`; shut down (gracefully, bounded) when dropped.
struct Running {
    address: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    runtime: tokio::runtime::Runtime,
}

impl Running {
    fn start(server: tower_prometheus::MetricsServer) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = runtime.spawn(server.serve_with_shutdown(listener, async {
            stopped.await.ok();
        }));
        Self {
            address,
            stop: Some(stop),
            server: Some(server),
            runtime,
        }
    }

    /// Signals shutdown and waits (at most 10 s) for `serve_with_shutdown` to return.
    fn shut_down(&mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let server = self.server.take().expect("running");
        self.runtime
            .block_on(async { tokio::time::timeout(Duration::from_secs(10), server).await })
            .expect("the server stops within 10 s")
            .expect("the server task does not panic")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.server.is_some() {
            let _ = self.shut_down();
        }
    }
}

/// One HTTP/1.1 request with `Connection: close`; returns the status line, headers and body.
fn http_get(address: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let response = String::from_utf8(response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("a complete response");
    let status = head[9..12].parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_owned())
}

#[test]
fn the_separate_listener_serves_the_exposition_and_nothing_else() {
    let metrics = Metrics::new();
    let mut running = Running::start(metrics.server());

    let (status, head, body) = http_get(running.address, "/metrics", &[]);
    assert_eq!(status, 200);
    assert!(
        head.contains("content-type: text/plain; version=0.0.4; charset=utf-8"),
        "{head}"
    );
    parse(&body, Format::PrometheusText).unwrap();

    let (status, head, body) = http_get(
        running.address,
        "/metrics",
        &[("accept", "application/openmetrics-text; version=1.0.0")],
    );
    assert_eq!(status, 200);
    assert!(head.contains("application/openmetrics-text"), "{head}");
    parse(&body, Format::OpenMetrics).unwrap();

    for path in ["/", "/metrics/", "/other", "/metrics2"] {
        let (status, _, body) = http_get(running.address, path, &[]);
        assert_eq!(status, 404, "{path}");
        assert!(!body.contains("http_requests"));
    }
    // Requests to the metrics listener are not measured.
    let samples = support::exposition::scrape(&metrics, Format::PrometheusText);
    assert_eq!(
        total(&samples, "http_requests_before_middlewares_total", &[]),
        0.0
    );
    running.shut_down().unwrap();
}

#[test]
fn a_custom_path_and_the_bearer_token_apply() {
    let metrics = Metrics::builder().metrics_bearer_token("s3cret").build().unwrap();
    let running = Running::start(metrics.server().path("/internal/metrics"));
    assert_eq!(http_get(running.address, "/metrics", &[]).0, 404);
    let (status, head, _) = http_get(running.address, "/internal/metrics", &[]);
    assert_eq!(status, 401);
    assert!(
        head.contains("www-authenticate: bearer realm=\"metrics\""),
        "{head}"
    );
    let (status, _, body) = http_get(
        running.address,
        "/internal/metrics",
        &[("authorization", "Bearer s3cret")],
    );
    assert_eq!(status, 200);
    parse(&body, Format::PrometheusText).unwrap();
}

#[test]
fn the_app_port_need_not_expose_metrics() {
    use axum::routing::get;
    // django-prometheus's PROMETHEUS_METRICS_EXPORT_PORT: the app keeps the layer but not the
    // route; the exposition lives on its own listener.
    let metrics = Metrics::builder().disable_metrics_path().build().unwrap();
    let exporter = Running::start(metrics.server());
    let app = axum::Router::new()
        .route("/hello", get(|| async { "hello" }))
        .layer(metrics.layer());
    let app_listener = exporter
        .runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let app_address = app_listener.local_addr().unwrap();
    exporter
        .runtime
        .spawn(async move { axum::serve(app_listener, app).await });

    assert_eq!(http_get(app_address, "/hello", &[]).0, 200);
    let (status, _, body) = http_get(app_address, "/metrics", &[]);
    assert_eq!(status, 404, "the public port does not serve the exposition");
    assert!(!body.contains("http_requests"));

    let (status, _, body) = http_get(exporter.address, "/metrics", &[]);
    assert_eq!(status, 200);
    let samples = parse(&body, Format::PrometheusText).unwrap();
    // The app's two requests (the 404 included) are in the exporter's exposition.
    assert_eq!(
        total(&samples, "http_requests_before_middlewares_total", &[]),
        2.0
    );
}

#[test]
fn shutdown_closes_idle_keep_alive_connections_and_stops_accepting() {
    let metrics = Metrics::new();
    let mut running = Running::start(metrics.server());
    // A keep-alive connection that has been served once and then stays idle.
    let mut idle = TcpStream::connect(running.address).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    idle.write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n")
        .unwrap();
    let mut first = [0_u8; 12];
    idle.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");

    running.shut_down().unwrap();
    // The idle connection is closed by the server (the rest of the first response, then EOF).
    let mut rest = Vec::new();
    idle.read_to_end(&mut rest).unwrap();
    // No new connection is accepted.
    let refused =
        TcpStream::connect_timeout(&running.address, Duration::from_secs(2)).and_then(|mut stream| {
            stream.set_read_timeout(Some(Duration::from_secs(2)))?;
            stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n")?;
            let mut buffer = [0_u8; 1];
            match stream.read(&mut buffer)? {
                0 => Err(std::io::ErrorKind::ConnectionReset.into()),
                _ => Ok(()),
            }
        });
    assert!(refused.is_err(), "served after shutdown");
}

#[test]
fn serve_answers_until_its_task_is_dropped() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    // `serve` takes an address, so the test finds a free port, releases it and lets `serve`
    // bind it; another process may take the port in between, so that case is retried.
    let (address, task) = (0..5)
        .find_map(|_| {
            let address = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap();
            let task = runtime.spawn(async move { Metrics::new().serve(address).await });
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while TcpStream::connect(address).is_err() {
                assert!(std::time::Instant::now() < deadline, "serve never listened");
                if task.is_finished() {
                    let result = runtime.block_on(task).expect("the serve task");
                    let error = result.expect_err("serve returned without an error");
                    assert_eq!(error.kind(), std::io::ErrorKind::AddrInUse, "{error}");
                    return None;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Some((address, task))
        })
        .expect("five ports in a row were taken before serve could bind them");
    assert!(!task.is_finished(), "serve stopped: the port was someone else's");
    assert_eq!(http_get(address, "/metrics", &[]).0, 200);
    task.abort();
    runtime.shutdown_timeout(Duration::from_secs(5));
}

/// A raw request; returns everything the server sent until it closed the connection.
fn http_raw(address: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    String::from_utf8(response).unwrap()
}

fn header_value<'h>(head: &'h str, name: &str) -> Option<&'h str> {
    head.lines().find_map(|line| {
        let (found, value) = line.split_once(':')?;
        found.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

#[test]
fn head_is_answered_with_the_content_length_get_would_have() {
    let metrics = Metrics::new();
    let running = Running::start(metrics.server());
    // The first scrape adds the scrape self-metrics' series; the second shows them.
    http_get(running.address, "/metrics", &[]);
    let (status, _, body) = http_get(running.address, "/metrics", &[]);
    assert_eq!(status, 200);
    let head = http_raw(
        running.address,
        "HEAD /metrics HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
    );
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.ends_with("\r\n\r\n"), "a HEAD answer has no body: {head}");
    let length: usize = header_value(&head, "content-length")
        .expect("content-length")
        .parse()
        .unwrap();
    // The exposition grew by one scrape in between: a few bytes at most.
    assert!(
        length.abs_diff(body.len()) < 200 && body.len() > 1000,
        "HEAD says {length} bytes, GET sent {}",
        body.len()
    );
    assert!(header_value(&head, "vary").is_some(), "{head}");
}

#[test]
fn shutdown_waits_for_the_request_in_progress() {
    let metrics = Metrics::builder().process_metrics(false).build().unwrap();
    let gate = crate::exposition_sharing::Gate::closed_on(&metrics);
    let mut running = Running::start(metrics.server());
    let address = running.address;
    let client = std::thread::spawn(move || http_get(address, "/metrics", &[]));
    gate.wait_entered(1);

    let _ = running.stop.take().unwrap().send(());
    std::thread::sleep(Duration::from_millis(300));
    let server = running.server.take().unwrap();
    assert!(
        !server.is_finished(),
        "serve_with_shutdown returned with a request in progress"
    );
    gate.open();
    let (status, _, body) = client.join().unwrap();
    assert_eq!(status, 200);
    parse(&body, Format::PrometheusText).unwrap();
    running
        .runtime
        .block_on(async { tokio::time::timeout(Duration::from_secs(10), server).await })
        .expect("the server stops once the request is answered")
        .unwrap()
        .unwrap();
    assert_eq!(gate.forced(), 0);
}

/// Whether the server closed `stream` (end of stream or reset) within `wait`.
fn closed_within(mut stream: &TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut buffer = [0_u8; 64];
    match stream.read(&mut buffer) {
        Ok(0) => true,
        Ok(read) => panic!("the server sent {read} bytes unasked"),
        Err(error) => matches!(
            error.kind(),
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
        ),
    }
}

#[test]
fn connections_beyond_the_cap_are_closed_and_idle_ones_time_out() {
    let metrics = Metrics::new();
    let running = Running::start(
        metrics
            .server()
            .max_connections(4)
            .idle_timeout(Duration::from_millis(1_500)),
    );
    let idle: Vec<TcpStream> = (0..10)
        .map(|_| TcpStream::connect(running.address).unwrap())
        .collect();
    let held = idle
        .iter()
        .filter(|stream| !closed_within(stream, Duration::from_millis(200)))
        .count();
    assert_eq!(held, 4, "connections held open");
    // While the cap is taken, a scraper is closed too.
    let mut scraper = TcpStream::connect(running.address).unwrap();
    scraper
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n")
        .unwrap();
    assert!(closed_within(&scraper, Duration::from_secs(5)));

    // The idle ones are closed after the idle timeout, which frees their places.
    for stream in &idle {
        assert!(
            closed_within(stream, Duration::from_secs(10)),
            "an idle connection stayed open"
        );
    }
    assert_eq!(http_get(running.address, "/metrics", &[]).0, 200);
}

#[test]
fn a_reader_that_stops_reading_is_cut_off_after_the_write_timeout() {
    let metrics = Metrics::builder().process_metrics(false).build().unwrap();
    // About 8 MiB, more than the kernel buffers of a connection.
    let family = prometheus_client::metrics::family::Family::<
        Vec<(String, String)>,
        prometheus_client::metrics::counter::Counter,
    >::default();
    for index in 0..1_000 {
        family
            .get_or_create(&vec![(
                "value".to_owned(),
                format!("{index}-{}", "x".repeat(8 * 1024)),
            )])
            .inc();
    }
    metrics
        .register("wide", "Series with wide label values", family)
        .unwrap();
    let running = Running::start(
        metrics
            .server()
            .max_connections(1)
            .write_timeout(Duration::from_millis(300)),
    );
    let full = metrics.render(Format::PrometheusText).unwrap().len();
    let stalled = running.runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut stream = socket.connect(running.address).await.unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut stream, b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n")
            .await
            .unwrap();
        stream
    });
    // The one place is free again once the stalled answer is given up.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let served = TcpStream::connect(running.address).and_then(|mut stream| {
            stream.set_read_timeout(Some(Duration::from_secs(10)))?;
            stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")?;
            let mut response = Vec::new();
            stream.read_to_end(&mut response)?;
            Ok(response)
        });
        if served
            .as_ref()
            .is_ok_and(|response| response.starts_with(b"HTTP/1.1 200"))
        {
            assert!(served.unwrap().len() > full);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the stalled reader kept the only place"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // What the stalled reader can still read stops short of the exposition.
    let received = running.runtime.block_on(async move {
        let mut stream = stalled;
        let mut received = Vec::new();
        let _ = tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut received).await;
        received.len()
    });
    assert!(received < full, "{received} of {full} bytes");
}

/// A limit that would close every connection is refused when the listener is bound, the
/// message naming the option; the smallest allowed values bind.
#[tokio::test]
async fn zero_limits_are_refused_naming_the_option() {
    let metrics = Metrics::new();
    let refusals = [
        ("max_connections", metrics.server().max_connections(0)),
        ("idle_timeout", metrics.server().idle_timeout(Duration::ZERO)),
        ("write_timeout", metrics.server().write_timeout(Duration::ZERO)),
    ];
    for (option, server) in refusals {
        let refused = server.bind("127.0.0.1:0").await.unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::InvalidInput, "{option}");
        assert!(
            refused
                .to_string()
                .starts_with(&format!("`server().{option}` refused ")),
            "{option}: {refused}"
        );
    }
    let bound = metrics
        .server()
        .max_connections(1)
        .idle_timeout(Duration::from_millis(1))
        .write_timeout(Duration::from_millis(1))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    assert_ne!(bound.local_addr().unwrap().port(), 0);
}
