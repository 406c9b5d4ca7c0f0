//! The golden expositions: one fixed traffic through the layer, rendered in every format and
//! compared byte for byte with the files under `tests/golden/`, so that a change to how
//! requests are recorded or encoded shows as a diff of what a scraper reads.
//!
//! The latencies are the times the handlers set: the recorder reads a quanta mock clock that
//! the handlers and body streams advance (a unit test, so no public hook exposes the clock).
//! The one value timed by another clock, the encode duration of the scrape in the traffic, is
//! replaced by `<elapsed>` before comparing; its count still is compared.
//!
//! `TOWER_PROMETHEUS_BLESS=1 cargo test --all-features --lib golden` rewrites the files from
//! this run (CONTRIBUTING.md).

use std::fmt::{Display, Write as _};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use futures_util::{FutureExt, StreamExt};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use quanta::Mock;
use tower::{Service, ServiceBuilder, ServiceExt};

use crate::{Format, Metrics, Naming, ViewName};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The environment variable that makes the tests rewrite the golden files.
const BLESS: &str = "TOWER_PROMETHEUS_BLESS";

/// Every option that shapes the exposition, as far as `naming` accepts it; latencies are read
/// from the returned mock clock.
fn metrics(naming: Naming) -> (Metrics, Arc<Mock>) {
    let mut builder = Metrics::builder()
        .naming(naming)
        .namespace("shop")
        .const_label("region", "eu-1")
        .const_label("build", "2.0 \"blue\"\\canary")
        .latency_buckets([0.005, 0.05, 0.5, 5.0])
        .size_buckets([16.0, 1024.0])
        .max_label_sets(16)
        .process_metrics(false)
        .view_resolver(|head| {
            head.uri()
                .path()
                .starts_with("/reports/")
                .then(|| ViewName::new("/reports/{name}"))
        });
    if naming == Naming::Django {
        builder = builder
            .latency_buckets_for_view("/upload", [1.0, 10.0])
            .response_duration_histogram(true)
            .request_label("tenant", |head| head.headers().get("x-tenant")?.to_str().ok(), 2);
    }
    let mut metrics = builder.build().expect("the golden configuration is valid");
    let (clock, mock) = quanta::Clock::mock();
    Arc::get_mut(&mut metrics.shared)
        .expect("a Metrics just built has no other clone")
        .recorder_mut()
        .use_clock(clock);
    (metrics, mock)
}

/// Advances the clock by `ticks` of 1/512 s. A multiple of 1/512 s is a whole number of
/// nanoseconds whose value in seconds is exact in binary: the latency totals computed at a
/// scrape add their series up in hash-map order, and exact values make their sum the same
/// in any order.
fn advance(mock: &Mock, ticks: u64) {
    mock.increment(Duration::from_nanos(ticks * 1_953_125));
}

/// Routes axum names (`MatchedPath`), and the metrics path the layer answers.
fn router(metrics: &Metrics, mock: &Arc<Mock>) -> Router {
    let clock = Arc::clone(mock);
    let user = get(move || {
        let clock = Arc::clone(&clock);
        async move {
            advance(&clock, 1);
            ([(CONTENT_TYPE, "application/json")], "{\"id\":1}")
        }
    });
    let clock = Arc::clone(mock);
    let upload = post(move |body: String| {
        let clock = Arc::clone(&clock);
        async move {
            advance(&clock, 384);
            (StatusCode::CREATED, format!("stored {} bytes", body.len()))
        }
    });
    let clock = Arc::clone(mock);
    let old = get(move || {
        let clock = Arc::clone(&clock);
        async move {
            advance(&clock, 1);
            (StatusCode::MOVED_PERMANENTLY, [(LOCATION, "/users/1")])
        }
    });
    Router::new()
        .route("/users/{id}", user)
        .route("/upload", upload)
        .route("/old", old)
        .layer(metrics.layer())
}

fn respond(
    status: u16,
    content_type: Option<&'static str>,
    body: Body,
    view: Option<&str>,
) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(status).expect("a valid status");
    if let Some(content_type) = content_type {
        response
            .headers_mut()
            .insert(CONTENT_TYPE, content_type.parse().expect("a valid header value"));
    }
    if let Some(view) = view {
        response.extensions_mut().insert(ViewName::new(view.to_owned()));
    }
    response
}

/// A body of `chunks` frames, each advancing the clock by 1/8 s when it is produced.
fn streaming(mock: &Arc<Mock>, chunks: usize) -> Body {
    let clock = Arc::clone(mock);
    Body::from_stream(futures_util::stream::iter(0..chunks).map(move |chunk| {
        advance(&clock, 64);
        Ok::<_, BoxError>(Bytes::from(format!("chunk {chunk}\n")))
    }))
}

/// The handler behind a plain tower service: views named by the response, by the resolver
/// or not at all, errors, panics, streams and gRPC answers.
async fn handle(request: Request<String>, clock: Arc<Mock>) -> Result<Response<Body>, BoxError> {
    let path = request.uri().path().to_owned();
    let response = match path.as_str() {
        "/orders/7" => {
            advance(&clock, 8);
            respond(
                200,
                Some("text/html; charset=utf-8"),
                Body::from("<p>order</p>"),
                Some("/orders/{id}"),
            )
        }
        "/reports/daily" => {
            advance(&clock, 16);
            respond(
                503,
                Some("text/plain; charset=ISO-8859-1"),
                Body::from("busy"),
                None,
            )
        }
        "/missing" => {
            advance(&clock, 1);
            respond(404, None, Body::empty(), None)
        }
        "/cache" => {
            advance(&clock, 1);
            respond(200, None, Body::empty(), Some("/cache/{key}"))
        }
        "/fail" => {
            advance(&clock, 8);
            return Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "backend reset").into());
        }
        "/panic" => {
            advance(&clock, 2);
            panic!("the golden traffic's panicking handler");
        }
        "/slow" => {
            advance(&clock, 1024);
            std::future::pending::<()>().await;
            unreachable!("the request is cancelled while pending")
        }
        "/stream" => {
            advance(&clock, 1);
            respond(
                200,
                Some("text/plain; charset=utf-8"),
                streaming(&clock, 3),
                Some("/stream"),
            )
        }
        "/stream/abandoned" => {
            advance(&clock, 2);
            respond(
                200,
                Some("text/plain; charset=utf-8"),
                streaming(&clock, 2),
                Some("/stream"),
            )
        }
        "/stream/broken" => {
            advance(&clock, 2);
            let frames = futures_util::stream::iter([
                Ok(Bytes::from_static(b"partial")),
                Err(BoxError::from(std::io::Error::new(
                    std::io::ErrorKind::BrokenPipe,
                    "upstream closed",
                ))),
            ]);
            respond(200, None, Body::from_stream(frames), Some("/stream"))
        }
        "/shop.Orders/Get" => {
            // A trailers-only answer: the status in the response headers.
            advance(&clock, 2);
            let mut response = respond(200, Some("application/grpc"), Body::empty(), None);
            response
                .headers_mut()
                .insert("grpc-status", "5".parse().expect("a valid header value"));
            response
        }
        "/shop.Orders/List" => {
            advance(&clock, 4);
            let mut trailers = HeaderMap::new();
            trailers.insert("grpc-status", "0".parse().expect("a valid header value"));
            let frames = futures_util::stream::iter([
                Ok::<_, std::convert::Infallible>(http_body::Frame::data(Bytes::from_static(b"\0\0\0\0\0"))),
                Ok(http_body::Frame::trailers(trailers)),
            ]);
            respond(
                200,
                Some("application/grpc"),
                Body::new(StreamBody::new(frames)),
                None,
            )
        }
        burst if burst.starts_with("/burst/") => {
            advance(&clock, 1);
            respond(200, None, Body::empty(), Some(burst))
        }
        other => unreachable!("no golden request goes to {other}"),
    };
    Ok(response)
}

/// Sends `request` and reads the whole answer: its status, or how it failed.
async fn exchange<S, B>(app: &S, request: Request<String>) -> Result<StatusCode, String>
where
    S: Service<Request<String>, Response = Response<B>> + Clone,
    S::Error: Display,
    B: http_body::Body,
    B::Error: Display,
{
    let call = app.clone().oneshot(request);
    let response = AssertUnwindSafe(call)
        .catch_unwind()
        .await
        .map_err(|_| String::from("panicked"))?
        .map_err(|error| format!("error: {error}"))?;
    let status = response.status();
    response
        .into_body()
        .collect()
        .await
        .map_err(|error| format!("body error: {error}"))?;
    Ok(status)
}

fn request(method: &str, path: &str) -> http::request::Builder {
    Request::builder()
        .method(Method::from_bytes(method.as_bytes()).expect("a valid method"))
        .uri(path)
}

fn with_body(method: &str, path: &str, body: &str) -> Request<String> {
    request(method, path)
        .header(CONTENT_LENGTH, body.len())
        .body(body.to_owned())
        .expect("a valid request")
}

fn empty(method: &str, path: &str) -> Request<String> {
    request(method, path)
        .body(String::new())
        .expect("a valid request")
}

/// The fixed traffic, one request after another, each outcome checked so that a change of
/// the traffic itself does not pass for a change of the exposition.
async fn drive(metrics: &Metrics, clock: &Arc<Mock>) {
    let router = router(metrics, clock);
    let handler_clock = Arc::clone(clock);
    let service = ServiceBuilder::new()
        .layer(metrics.layer())
        .service(tower::service_fn(move |request| {
            handle(request, Arc::clone(&handler_clock))
        }));

    let ajax = request("GET", "/users/1")
        .header("x-requested-with", "XMLHttpRequest")
        .header("x-tenant", "acme")
        .body(String::new())
        .expect("a valid request");
    assert_eq!(exchange(&router, ajax).await, Ok(StatusCode::OK));
    assert_eq!(
        exchange(&router, empty("GET", "/users/2")).await,
        Ok(StatusCode::OK)
    );
    let mut upload = with_body("POST", "/upload", &"x".repeat(2048));
    upload
        .headers_mut()
        .insert("x-tenant", "globex".parse().expect("a valid header value"));
    assert_eq!(exchange(&router, upload).await, Ok(StatusCode::CREATED));
    let mut third_tenant = empty("GET", "/old");
    third_tenant
        .headers_mut()
        .insert("x-tenant", "initech".parse().expect("a valid header value"));
    assert_eq!(
        exchange(&router, third_tenant).await,
        Ok(StatusCode::MOVED_PERMANENTLY)
    );

    assert_eq!(
        exchange(&service, with_body("PUT", "/orders/7", "{\"qty\":2}")).await,
        Ok(StatusCode::OK)
    );
    assert_eq!(
        exchange(&service, empty("GET", "/reports/daily")).await,
        Ok(StatusCode::SERVICE_UNAVAILABLE)
    );
    assert_eq!(
        exchange(&service, empty("GET", "/missing")).await,
        Ok(StatusCode::NOT_FOUND)
    );
    assert_eq!(
        exchange(&service, empty("PURGE", "/cache")).await,
        Ok(StatusCode::OK)
    );
    assert_eq!(
        exchange(&service, with_body("DELETE", "/fail", "")).await,
        Err(String::from("error: backend reset"))
    );
    assert_eq!(
        exchange(&service, empty("GET", "/panic")).await,
        Err(String::from("panicked"))
    );
    assert_eq!(
        exchange(&service, empty("GET", "/stream")).await,
        Ok(StatusCode::OK)
    );
    assert_eq!(
        exchange(&service, empty("GET", "/stream/broken")).await,
        Err(String::from("body error: upstream closed"))
    );

    // Cancelled: the response future dropped while the handler waits.
    let pending = service.clone().oneshot(empty("GET", "/slow")).now_or_never();
    assert!(pending.is_none(), "the slow handler never answers");

    // The body dropped after its first frame.
    let response = service
        .clone()
        .oneshot(empty("GET", "/stream/abandoned"))
        .await
        .expect("an answer");
    let mut body = response.into_body();
    let frame = body.frame().await.expect("a first frame").expect("no body error");
    assert_eq!(frame.into_data().expect("a data frame"), "chunk 0\n");
    drop(body);

    for method in ["Get", "List"] {
        let call = request("POST", &format!("/shop.Orders/{method}"))
            .header(CONTENT_TYPE, "application/grpc")
            .body(String::new())
            .expect("a valid request");
        assert_eq!(exchange(&service, call).await, Ok(StatusCode::OK));
    }

    // A scrape through the layer, in the middle of the traffic as a scraper's would be.
    assert_eq!(
        exchange(&router, empty("GET", "/metrics")).await,
        Ok(StatusCode::OK)
    );

    // Views named after raw paths: beyond the cap they fold into `<overflow>`.
    for burst in 0..6 {
        assert_eq!(
            exchange(&service, empty("GET", &format!("/burst/{burst}"))).await,
            Ok(StatusCode::OK)
        );
    }
}

/// The expositions of the golden traffic under `naming`, by golden file name.
fn expositions(naming: Naming) -> Vec<(String, String)> {
    let (metrics, clock) = metrics(naming);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    runtime.block_on(drive(&metrics, &clock));
    let stem = match naming {
        Naming::Django => "django",
        Naming::OpenTelemetry => "opentelemetry",
    };
    let mut files = Vec::new();
    for (format, extension) in [(Format::PrometheusText, "prom"), (Format::OpenMetrics, "om")] {
        let text = metrics.render(format).expect("the exposition renders");
        files.push((
            format!("{stem}.{extension}"),
            elapsed_text(&in_label_order(&text)),
        ));
    }
    #[cfg(feature = "protobuf")]
    files.push((format!("{stem}.protobuf.txt"), protobuf(&metrics)));
    files
}

/// The exposition with each family's series sorted by their labels, each series' lines kept
/// together and in their order. A family lists its series in the order of a hash map seeded
/// per process, so that order is no part of what a scraper can rely on.
fn in_label_order(text: &str) -> String {
    let mut ordered = String::with_capacity(text.len());
    let mut samples: Vec<&str> = Vec::new();
    for line in text.split_inclusive('\n') {
        if line.starts_with('#') {
            samples.sort_by_cached_key(|sample| series_labels(sample));
            ordered.extend(samples.drain(..));
            ordered.push_str(line);
        } else {
            samples.push(line);
        }
    }
    samples.sort_by_cached_key(|sample| series_labels(sample));
    ordered.extend(samples);
    ordered
}

/// The label pairs of a sample line but `le`, which tells a histogram's buckets apart: the
/// lines of one series share them.
fn series_labels(line: &str) -> String {
    let Some(open) = line.find('{') else {
        return String::new();
    };
    let mut pairs = Vec::new();
    let mut rest = &line[open + 1..];
    while !rest.starts_with('}') {
        let (name, quoted) = rest.split_once("=\"").expect("a label pair");
        // The value runs to the first quote that is not escaped.
        let bytes = quoted.as_bytes();
        let mut end = 0;
        while bytes[end] != b'"' {
            end += if bytes[end] == b'\\' { 2 } else { 1 };
        }
        if name != "le" {
            pairs.push(&rest[..name.len() + 2 + end + 1]);
        }
        rest = quoted[end + 1..].trim_start_matches(',');
    }
    pairs.join(",")
}

/// The encode duration's sum and finite buckets, the only values timed by the wall clock,
/// as `<elapsed>`.
fn elapsed_text(text: &str) -> String {
    let mut normalised = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let timed = line.contains("http_metrics_encode_duration_seconds_sum")
            || (line.contains("http_metrics_encode_duration_seconds_bucket")
                && !line.contains("le=\"+Inf\""));
        match line.rsplit_once(' ') {
            Some((series, _)) if timed && !line.starts_with('#') => {
                let _ = writeln!(normalised, "{series} <elapsed>");
            }
            _ => normalised.push_str(line),
        }
    }
    normalised
}

/// The protobuf exposition decoded, as prost prints it. The decoded messages encode back to
/// the very bytes, so comparing them compares the bytes but for the order of a family's
/// series, sorted by their labels as in [`in_label_order`]. The encode duration's sum reads
/// `NaN` and its finite buckets `0` (`<elapsed>` in the text formats).
#[cfg(feature = "protobuf")]
fn protobuf(metrics: &Metrics) -> String {
    use prometheus_client::encoding::prometheus_protobuf::prometheus_data_model::MetricFamily;
    use prost::Message;

    let bytes = metrics
        .render_bytes(Format::Protobuf)
        .expect("the exposition renders");
    let mut rest = bytes.as_slice();
    let mut families = Vec::new();
    while !rest.is_empty() {
        families.push(MetricFamily::decode_length_delimited(&mut rest).expect("a delimited MetricFamily"));
    }
    let encoded_again: Vec<u8> = families
        .iter()
        .flat_map(Message::encode_length_delimited_to_vec)
        .collect();
    assert!(
        encoded_again == bytes,
        "the decoded form holds every byte of the exposition"
    );
    for family in &mut families {
        // In label order, as the text formats are compared.
        family.metric.sort_by_cached_key(|metric| {
            metric
                .label
                .iter()
                .map(|pair| (pair.name.clone(), pair.value.clone()))
                .collect::<Vec<_>>()
        });
        if family.name.ends_with("http_metrics_encode_duration_seconds") {
            for histogram in family
                .metric
                .iter_mut()
                .filter_map(|metric| metric.histogram.as_mut())
            {
                histogram.sample_sum = f64::NAN;
                for bucket in &mut histogram.bucket {
                    if bucket.upper_bound.is_finite() {
                        bucket.cumulative_count = 0;
                    }
                }
            }
        }
    }
    format!("{families:#?}\n")
}

fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

/// Compares every exposition with its golden file, or rewrites the files when blessing.
fn check(naming: Naming) {
    let bless = std::env::var_os(BLESS).is_some_and(|value| value == "1");
    let mut failures = String::new();
    for (name, actual) in expositions(naming) {
        let path = golden_path(&name);
        if bless {
            std::fs::create_dir_all(path.parent().expect("a parent directory"))
                .expect("tests/golden is writable");
            std::fs::write(&path, &actual).expect("the golden file is writable");
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(expected) if expected == actual => {}
            Ok(expected) => {
                let _ = writeln!(
                    failures,
                    "{} differs (- golden, + now):\n{}",
                    path.display(),
                    diff(&expected, &actual)
                );
            }
            Err(error) => {
                let _ = writeln!(failures, "{}: {error}", path.display());
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{failures}\nIf the change is intended, rewrite the golden files with {BLESS}=1 and review their diff."
    );
}

/// A line diff (longest common subsequence) of the lines that differ, numbered as in the
/// golden file (`-`, and unchanged lines) or in the new exposition (`+`), with three lines of
/// context.
fn diff(expected: &str, actual: &str) -> String {
    let old: Vec<&str> = expected.lines().collect();
    let new: Vec<&str> = actual.lines().collect();
    // common[i][j]: the length of the longest common subsequence of old[i..] and new[j..].
    let mut common = vec![vec![0_usize; new.len() + 1]; old.len() + 1];
    for i in (0..old.len()).rev() {
        for j in (0..new.len()).rev() {
            common[i][j] = if old[i] == new[j] {
                common[i + 1][j + 1] + 1
            } else {
                common[i + 1][j].max(common[i][j + 1])
            };
        }
    }
    let mut edits = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        if i < old.len() && j < new.len() && old[i] == new[j] {
            edits.push((' ', i, old[i]));
            i += 1;
            j += 1;
        } else if j < new.len() && (i == old.len() || common[i][j + 1] >= common[i + 1][j]) {
            edits.push(('+', j, new[j]));
            j += 1;
        } else {
            edits.push(('-', i, old[i]));
            i += 1;
        }
    }
    let changed: Vec<usize> = (0..edits.len()).filter(|&at| edits[at].0 != ' ').collect();
    let mut out = String::new();
    let mut last_shown = None;
    for (at, &(kind, line, text)) in edits.iter().enumerate() {
        let near = changed.iter().any(|&change| change.abs_diff(at) <= 3);
        if !near {
            continue;
        }
        if last_shown.is_some_and(|last| last + 1 != at) {
            out.push_str("   …\n");
        }
        let _ = writeln!(out, "{kind}{:>5} {text}", line + 1);
        last_shown = Some(at);
    }
    out
}

#[test]
fn the_django_exposition_of_the_golden_traffic_is_unchanged() {
    check(Naming::Django);
}

#[test]
fn the_opentelemetry_exposition_of_the_golden_traffic_is_unchanged() {
    check(Naming::OpenTelemetry);
}

#[test]
fn the_diff_shows_the_changed_lines_with_context() {
    let expected = "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl\n";
    let actual = "a\nc\nd\ne\nf\ng\nh\ni\nj\nK\nl\n";
    let shown = [
        "     1 a", "-    2 b", "     3 c", "     4 d", "     5 e", "   …", "     8 h", "     9 i",
        "    10 j", "+   10 K", "-   11 k", "    12 l",
    ];
    assert_eq!(
        diff(expected, actual),
        shown.map(|line| format!("{line}\n")).concat()
    );
    assert_eq!(diff(expected, expected), "");
}
