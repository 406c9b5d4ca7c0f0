//! `examples/server.rs` as a child process, and the known traffic the end-to-end tests send
//! to it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::http::{http_request, HttpResponse};
use super::tools::{wait_until, ChildGuard, MAX_WAIT};

/// `examples/server.rs` running as a child process on an OS-assigned loopback port.
#[derive(Debug)]
pub(crate) struct ExampleServer {
    addr: SocketAddr,
    child: ChildGuard,
}

/// The example binary next to this test executable (`<target>/<profile>/examples/server`),
/// brought up to date once per test process.
///
/// `cargo test --all-features` builds examples, but `cargo test --test NAME` does not, and a
/// stale binary would test old code. Cargo releases its build lock before running tests, so
/// the nested build is a no-op when the binary is fresh. It runs at the workspace root, whose
/// default members are the library and the `examples` package (which owns `server`), with
/// `--all-features` as the README's test command: the same feature resolution, so the outer
/// build's artifacts are reused rather than rebuilt.
pub(crate) fn example_server_binary() -> PathBuf {
    static BINARY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BINARY
        .get_or_init(|| {
            let test_exe = std::env::current_exe().expect("path of the test executable");
            // <target>/<profile>/deps/<test> -> <target>/<profile>/examples/server
            let profile_dir = test_exe
                .parent()
                .and_then(Path::parent)
                .expect("test executable lives in <target>/<profile>/deps");
            let mut build = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
            build
                .args(["build", "--quiet", "--example", "server", "--all-features"])
                .current_dir(env!("CARGO_MANIFEST_DIR"));
            if profile_dir.file_name().is_some_and(|name| name == "release") {
                build.arg("--release");
            }
            let status = build.status().expect("run cargo build --example server");
            assert!(
                status.success(),
                "cargo build --example server --all-features failed"
            );
            let binary = profile_dir.join("examples").join("server");
            assert!(
                binary.exists(),
                "example server binary missing at {}",
                binary.display()
            );
            binary
        })
        .clone()
}

impl ExampleServer {
    /// Starts the example server with `PORT=0` (the OS picks a free port, so two servers never
    /// race for one), reads the bound address from its `metrics: http://ADDR/metrics` line and
    /// waits until it accepts connections. `extra_env` is added to its environment.
    pub(crate) fn start(extra_env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(example_server_binary());
        command
            .env("PORT", "0")
            .envs(extra_env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            // The /panic route prints a panic message by design; keep it out of the test output.
            .stderr(Stdio::null());
        let mut child = ChildGuard(command.spawn().expect("spawn the example server"));
        let stdout = child.0.stdout.take().expect("piped stdout");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(address) = line
                    .strip_prefix("metrics: http://")
                    .and_then(|rest| rest.strip_suffix("/metrics"))
                {
                    let _ = sender.send(address.to_owned());
                }
            }
        });
        let address = receiver
            .recv_timeout(MAX_WAIT)
            .expect("the example server printed its address");
        let addr: SocketAddr = address.parse().expect("the printed address is host:port");
        // The server binds before printing; a connection proves it is accepting (a GET would
        // add to the metrics the tests count).
        wait_until("the example server to accept connections", MAX_WAIT, || {
            TcpStream::connect_timeout(&addr, Duration::from_secs(1))
                .map(drop)
                .map_err(|error| error.to_string())
        });
        Self { addr, child }
    }

    /// The bound loopback address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `GET path` on this server; panics on I/O errors.
    pub(crate) fn get(&self, path_and_query: &str) -> HttpResponse {
        self.request("GET", path_and_query, &[], &[])
    }

    /// Any request on this server; panics on I/O errors.
    pub(crate) fn request(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> HttpResponse {
        http_request(self.addr, method, path_and_query, headers, body)
            .unwrap_or_else(|error| panic!("{method} {path_and_query} on {}: {error}", self.addr))
    }

    /// The exposition in Prometheus text 0.0.4.
    pub(crate) fn metrics_text(&self) -> String {
        let response = self.request("GET", "/metrics", &[("Accept", "text/plain; version=0.0.4")], &[]);
        assert_eq!(response.status, 200, "GET /metrics");
        response.text()
    }

    /// The exposition in OpenMetrics 1.0.0.
    pub(crate) fn metrics_openmetrics(&self) -> String {
        let response = self.request(
            "GET",
            "/metrics",
            &[("Accept", "application/openmetrics-text; version=1.0.0")],
            &[],
        );
        assert_eq!(response.status, 200, "GET /metrics (OpenMetrics)");
        response.text()
    }
}

/// One request the tests sent and what came back.
#[derive(Debug, Clone)]
pub(crate) struct Sent {
    /// The request method.
    pub(crate) method: &'static str,
    /// The request target.
    pub(crate) path: String,
    /// The `view` label the request must be recorded under (its route template).
    pub(crate) view: &'static str,
    /// The request body (sent with `Content-Length` when non-empty or for `POST`).
    pub(crate) body: Vec<u8>,
    /// Whether it carried `X-Requested-With: XMLHttpRequest`.
    pub(crate) ajax: bool,
    /// Whether the handler panics (the layer records an exception, not a response).
    pub(crate) panics: bool,
    /// The response the client read.
    pub(crate) response: HttpResponse,
}

/// The requests of [`send_every_route`]: (method, path, view, body, ajax, panics).
const EVERY_ROUTE: &[(&str, &str, &str, &str, bool, bool)] = &[
    ("GET", "/", "/", "", false, false),
    ("GET", "/", "/", "", true, false),
    ("GET", "/users/1", "/users/{id}", "", false, false),
    ("GET", "/users/22", "/users/{id}", "", false, false),
    ("GET", "/users/333", "/users/{id}", "", false, false),
    ("POST", "/echo", "/echo", "hello, echo", false, false),
    ("GET", "/slow?ms=30", "/slow", "", false, false),
    ("GET", "/error", "/error", "", false, false),
    ("GET", "/stream?chunks=3", "/stream", "", false, false),
    ("GET", "/panic", "/panic", "", false, true),
    ("GET", "/no/such/route", "<unnamed view>", "", false, false),
];

/// Sends one request to every route of the example server (and one unmatched path), checks
/// each answer's status, and returns what was sent. Every response is read to the end, so
/// every request is fully accounted for when this returns.
pub(crate) fn send_every_route(server: &ExampleServer) -> Vec<Sent> {
    EVERY_ROUTE
        .iter()
        .map(|&(method, path, view, body, ajax, panics)| {
            let headers: &[(&str, &str)] = if ajax {
                &[("X-Requested-With", "XMLHttpRequest")]
            } else {
                &[]
            };
            let response = server.request(method, path, headers, body.as_bytes());
            let expected_status = match path {
                "/error" | "/panic" => 500,
                "/no/such/route" => 404,
                _ => 200,
            };
            assert_eq!(response.status, expected_status, "{method} {path}");
            Sent {
                method,
                path: path.to_owned(),
                view,
                body: body.as_bytes().to_vec(),
                ajax,
                panics,
                response,
            }
        })
        .collect()
}

/// Starts `GET /stream` with 100 chunks 50 ms apart, reads the first bytes and closes the
/// connection: the server's next writes fail and the response body is dropped unfinished,
/// which the layer counts in `http_requests_cancelled_total{view="/stream"}`.
pub(crate) fn cancel_a_streaming_request(server: &ExampleServer) {
    let mut stream = TcpStream::connect_timeout(&server.addr(), Duration::from_secs(5)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("set read timeout");
    let request = format!(
        "GET /stream?chunks=100&ms=50 HTTP/1.1\r\nHost: {}\r\n\r\n",
        server.addr()
    );
    stream.write_all(request.as_bytes()).expect("send the request");
    let mut first = [0u8; 64];
    let read = stream.read(&mut first).expect("read the response head");
    assert!(first[..read].starts_with(b"HTTP/1.1 200"), "the stream started");
    drop(stream);
}
