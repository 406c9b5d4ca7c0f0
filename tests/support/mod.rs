//! Shared harness of the end-to-end tests: external tools, the example server as a child
//! process, a minimal HTTP/1.1 client and a real Prometheus server.
//!
//! Every child process and temporary directory is owned by a guard whose `Drop` kills the
//! process and removes the files, so nothing is left behind when an assertion fails. Every
//! wait is bounded (at most [`MAX_WAIT`]).

// Each test crate uses a different subset of this module.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The environment variable that turns a missing external tool from a skip into a failure.
pub(crate) const REQUIRE_E2E_ENV: &str = "TOWER_PROMETHEUS_REQUIRE_E2E";

/// No wait in the end-to-end tests lasts longer than this.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(60);

/// Whether missing tools must fail the test (CI) rather than skip it.
pub(crate) fn e2e_required() -> bool {
    std::env::var(REQUIRE_E2E_ENV).is_ok_and(|value| value == "1")
}

/// Reports a missing prerequisite: panics under [`REQUIRE_E2E_ENV`]`=1`, else prints
/// `SKIP: <what> not found` so the calling test can return.
pub(crate) fn skip_or_fail(what: &str) {
    if e2e_required() {
        panic!("{what} not found, and {REQUIRE_E2E_ENV}=1 requires it");
    }
    eprintln!("SKIP: {what} not found");
}

/// The path of the executable `name` on `PATH`, or `None` after [`skip_or_fail`].
pub(crate) fn require_tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|candidate| is_executable(candidate))
    });
    if found.is_none() {
        skip_or_fail(name);
    }
    found
}

/// The `python3` executable when it can import every module in `modules`, or `None` after
/// [`skip_or_fail`].
pub(crate) fn require_python_modules(modules: &[&str]) -> Option<PathBuf> {
    let python = require_tool("python3")?;
    for module in modules {
        let imports = Command::new(&python)
            .args(["-c", &format!("import {module}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !imports {
            skip_or_fail(&format!("python3 module {module}"));
            return None;
        }
    }
    Some(python)
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// A port that was free on 127.0.0.1 a moment ago (the OS picks it; the listener is closed).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind an ephemeral loopback port")
        .port()
}

/// Calls `probe` every 100 ms until it returns `Some`, for at most `timeout` (capped at
/// [`MAX_WAIT`]); panics with `what` and the last state description on timeout.
pub(crate) fn wait_until<T>(
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + timeout.min(MAX_WAIT);
    loop {
        match probe() {
            Ok(value) => return value,
            Err(last) if Instant::now() >= deadline => {
                panic!("timed out after {timeout:?} waiting for {what}; last state: {last}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// A directory under the system temp dir, removed with its contents on drop.
#[derive(Debug)]
pub(crate) struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates a fresh, uniquely named directory.
    pub(crate) fn new(prefix: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let unique = format!(
            "{prefix}-{}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_nanos())
        );
        let path = std::env::temp_dir().join(unique);
        std::fs::create_dir_all(&path).expect("create a temporary directory");
        Self { path }
    }

    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A child process killed and reaped on drop.
#[derive(Debug)]
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP client
// ---------------------------------------------------------------------------------------------

/// A response read by [`http_request`].
#[derive(Debug, Clone)]
pub(crate) struct HttpResponse {
    /// The status code.
    pub(crate) status: u16,
    /// Header names (lower-cased) and values, in order.
    pub(crate) headers: Vec<(String, String)>,
    /// The body, with chunked transfer coding removed.
    pub(crate) body: Vec<u8>,
}

impl HttpResponse {
    /// The first value of header `name` (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The body as UTF-8 text (panics otherwise: every body the tests read is text).
    pub(crate) fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("response body is UTF-8")
    }
}

/// Sends one HTTP/1.1 request on a fresh connection (`Connection: close`) and reads the whole
/// response. `headers` are added after `Host`; a non-empty `body` gets a `Content-Length`.
/// A `HEAD` response is read without a body.
pub(crate) fn http_request(
    addr: SocketAddr,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<HttpResponse> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    let mut request = format!("{method} {path_and_query} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || method == "POST" || method == "PUT" {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()?;

    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_response(&raw, method == "HEAD")
}

/// `GET path` with no extra headers.
pub(crate) fn http_get(addr: SocketAddr, path_and_query: &str) -> std::io::Result<HttpResponse> {
    http_request(addr, "GET", path_and_query, &[], &[])
}

fn invalid(message: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message.into())
}

fn parse_response(raw: &[u8], head_only: bool) -> std::io::Result<HttpResponse> {
    let head_end = raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .ok_or_else(|| invalid("no end of response head"))?;
    let head = std::str::from_utf8(&raw[..head_end]).map_err(|_| invalid("response head is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| invalid(format!("bad status line {status_line:?}")))?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect::<Vec<_>>();
    let mut response = HttpResponse {
        status,
        headers,
        body: Vec::new(),
    };
    if head_only {
        return Ok(response);
    }
    let rest = &raw[head_end + 4..];
    let chunked = response
        .header("transfer-encoding")
        .is_some_and(|coding| coding.eq_ignore_ascii_case("chunked"));
    response.body = if chunked { dechunk(rest)? } else { rest.to_vec() };
    Ok(response)
}

fn dechunk(mut rest: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = rest
            .windows(2)
            .position(|window| window == b"\r\n")
            .ok_or_else(|| invalid("truncated chunk size"))?;
        let size_line =
            std::str::from_utf8(&rest[..line_end]).map_err(|_| invalid("chunk size not UTF-8"))?;
        let size_hex = size_line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| invalid(format!("bad chunk size {size_line:?}")))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        if rest.len() < size + 2 {
            return Err(invalid("truncated chunk"));
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters (for query strings and
/// `application/x-www-form-urlencoded` bodies).
pub(crate) fn percent_encode(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len() * 3);
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

// ---------------------------------------------------------------------------------------------
// The example server
// ---------------------------------------------------------------------------------------------

/// `examples/server.rs` running as a child process on an OS-assigned loopback port.
#[derive(Debug)]
pub(crate) struct ExampleServer {
    addr: SocketAddr,
    child: ChildGuard,
}

/// The example binary built next to this test executable (`<target>/debug/examples/server`),
/// built with cargo first when it is missing.
pub(crate) fn example_server_binary() -> PathBuf {
    let test_exe = std::env::current_exe().expect("path of the test executable");
    // <target>/<profile>/deps/<test> -> <target>/<profile>/examples/server
    let profile_dir = test_exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable lives in <target>/<profile>/deps");
    let binary = profile_dir.join("examples").join("server");
    if !binary.exists() {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--example", "server", "--features", "axum"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build --example server");
        assert!(
            status.success(),
            "cargo build --example server --features axum failed"
        );
    }
    assert!(
        binary.exists(),
        "example server binary missing at {}",
        binary.display()
    );
    binary
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

// ---------------------------------------------------------------------------------------------
// Prometheus
// ---------------------------------------------------------------------------------------------

/// A real `prometheus` server on a free loopback port with a temporary storage directory.
/// On drop the process is killed and the directory (config, data, log) removed; when the
/// thread is panicking the tail of Prometheus's log is printed first.
#[derive(Debug)]
pub(crate) struct PrometheusServer {
    addr: SocketAddr,
    // Field order matters: the process dies before its directory is removed.
    child: ChildGuard,
    dir: TempDir,
}

impl PrometheusServer {
    /// Writes `config_yaml` to `prometheus.yml` in a temporary directory, starts `prometheus`
    /// with that config, a storage dir inside it, `--web.listen-address=127.0.0.1:<free>` and
    /// `extra_flags`, and waits for `/-/ready`. `None` (after [`skip_or_fail`]) when the
    /// binary is missing.
    pub(crate) fn start(config_yaml: &str, extra_flags: &[&str]) -> Option<Self> {
        let binary = require_tool("prometheus")?;
        Some(Self::start_with(&binary, config_yaml, extra_flags))
    }

    /// [`Self::start`] with the binary given; files referenced by the config (rule files) can
    /// be written with [`Self::write_file`] only afterwards, so use absolute paths for those.
    pub(crate) fn start_with(binary: &Path, config_yaml: &str, extra_flags: &[&str]) -> Self {
        let dir = TempDir::new("tower-prometheus-e2e");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, config_yaml).expect("write prometheus.yml");
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("create the log file");
        let port = free_port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut command = Command::new(binary);
        command
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .args(extra_flags)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log);
        let child = ChildGuard(command.spawn().expect("spawn prometheus"));
        let mut server = Self { addr, child, dir };
        // On a panic here `server` is dropped: the process is killed and its files removed.
        wait_until("Prometheus to be ready (/-/ready)", MAX_WAIT, || {
            if let Ok(Some(status)) = server.child.0.try_wait() {
                return Err(format!("prometheus exited with {status}: {}", server.log_tail()));
            }
            match http_get(addr, "/-/ready") {
                Ok(response) if response.status == 200 => Ok(()),
                Ok(response) => Err(format!("status {}", response.status)),
                Err(error) => Err(error.to_string()),
            }
        });
        server
    }

    /// The listen address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The temporary directory holding config, data and log.
    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The last 40 lines of Prometheus's log.
    pub(crate) fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// `GET /api/v1/<endpoint>?<query>` decoded as JSON; `Err` carries Prometheus's
    /// `errorType: error` when the call failed.
    pub(crate) fn api(&self, endpoint_and_query: &str) -> Result<serde_json::Value, String> {
        let response = http_get(self.addr, &format!("/api/v1/{endpoint_and_query}"))
            .map_err(|error| error.to_string())?;
        let json: serde_json::Value = serde_json::from_slice(&response.body).map_err(|error| {
            format!(
                "status {}: not JSON ({error}): {}",
                response.status,
                String::from_utf8_lossy(&response.body)
            )
        })?;
        if json["status"] == "success" {
            Ok(json["data"].clone())
        } else {
            Err(format!("{}: {}", json["errorType"], json["error"]))
        }
    }

    /// Evaluates `promql` at the current time; `Err` with Prometheus's message when it fails
    /// to parse or evaluate. The value is the API's `data` (`resultType` and `result`).
    pub(crate) fn try_query(&self, promql: &str) -> Result<serde_json::Value, String> {
        self.api(&format!("query?query={}", percent_encode(promql)))
    }

    /// [`Self::try_query`] that panics on an error.
    pub(crate) fn query(&self, promql: &str) -> serde_json::Value {
        self.try_query(promql)
            .unwrap_or_else(|error| panic!("query {promql:?} failed: {error}"))
    }

    /// The samples of an instant-vector `promql` as (labels, value) pairs.
    pub(crate) fn query_vector(
        &self,
        promql: &str,
    ) -> Vec<(serde_json::Map<String, serde_json::Value>, f64)> {
        let data = self.query(promql);
        assert_eq!(
            data["resultType"], "vector",
            "query {promql:?} is not a vector: {data}"
        );
        data["result"]
            .as_array()
            .expect("result array")
            .iter()
            .map(|sample| {
                let labels = sample["metric"].as_object().cloned().unwrap_or_default();
                let value = sample["value"][1]
                    .as_str()
                    .and_then(|value| value.parse::<f64>().ok())
                    .expect("sample value is a number string");
                (labels, value)
            })
            .collect()
    }

    /// The single value of `promql`, `None` when the vector is empty.
    pub(crate) fn query_single(&self, promql: &str) -> Option<f64> {
        let samples = self.query_vector(promql);
        assert!(
            samples.len() <= 1,
            "query {promql:?} returned {} samples",
            samples.len()
        );
        samples.first().map(|(_, value)| *value)
    }

    /// Waits (at most [`MAX_WAIT`]) until `promql` returns the single value `expected`.
    pub(crate) fn wait_for_value(&self, promql: &str, expected: f64) {
        wait_until(&format!("{promql} == {expected}"), MAX_WAIT, || {
            match self.query_single(promql) {
                Some(value) if value == expected => Ok(()),
                other => Err(format!("{other:?}")),
            }
        });
    }

    /// Waits until exactly `targets` targets are up and each was scraped at least `scrapes`
    /// times (`count_over_time(up[1h])`).
    pub(crate) fn wait_for_scrapes(&self, targets: usize, scrapes: usize) {
        wait_until(
            &format!("{targets} targets up with {scrapes} scrapes each"),
            MAX_WAIT,
            || {
                let samples = self.query_vector("count_over_time(up[1h]) * on(instance, job) group_left up");
                let done =
                    samples.len() == targets && samples.iter().all(|(_, count)| *count >= scrapes as f64);
                if done {
                    Ok(())
                } else {
                    Err(format!("{samples:?}"))
                }
            },
        );
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- prometheus log (last lines) ---\n{}", self.log_tail());
        }
    }
}

/// A Prometheus config scraping each of `targets` every second on `/metrics` in job `job`.
pub(crate) fn scrape_config(job: &str, targets: &[SocketAddr], rule_files: &[&Path]) -> String {
    let targets = targets
        .iter()
        .map(|addr| format!("\"{addr}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let rule_files = rule_files
        .iter()
        .map(|path| format!("\"{}\"", path.display()))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         rule_files: [{rule_files}]\n\
         scrape_configs:\n  - job_name: \"{job}\"\n    static_configs:\n      - targets: [{targets}]\n"
    )
}

// ---------------------------------------------------------------------------------------------
// Known traffic
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// examples/monitoring
// ---------------------------------------------------------------------------------------------

/// `examples/monitoring` in this repository.
pub(crate) fn monitoring_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/monitoring")
}

/// The dashboard JSON of the monitoring stack.
pub(crate) fn dashboard() -> serde_json::Value {
    let path = monitoring_dir().join("grafana/dashboards/tower-prometheus.json");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("read {}: {error}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("{} is not JSON: {error}", path.display()))
}

/// Every (panel title, PromQL expression) of the dashboard, in panel order.
pub(crate) fn dashboard_queries() -> Vec<(String, String)> {
    let dashboard = dashboard();
    let panels = dashboard["panels"].as_array().expect("the dashboard has panels");
    let mut queries = Vec::new();
    for panel in panels {
        let title = panel["title"]
            .as_str()
            .expect("every panel has a title")
            .to_owned();
        let targets = panel["targets"].as_array().expect("every panel has targets");
        assert!(!targets.is_empty(), "panel {title:?} has no targets");
        for target in targets {
            let expr = target["expr"].as_str().expect("every target has an expr");
            queries.push((title.clone(), expr.to_owned()));
        }
    }
    queries
}

/// Loads a YAML file with PyYAML's `safe_load` (get `python` from
/// `require_python_modules(&["yaml"])`) and returns it as JSON; panics when it does not parse.
pub(crate) fn yaml_as_json(python: &Path, path: &Path) -> serde_json::Value {
    let output = Command::new(python)
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        ])
        .arg(path)
        .output()
        .expect("run python3");
    assert!(
        output.status.success(),
        "{} is not valid YAML: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("python printed JSON")
}
