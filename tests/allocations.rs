//! Heap allocations of the layer, counted (not timed) by dhat's global allocator: a request
//! whose label set was seen before allocates nothing beyond what the inner service does, and a
//! new (view, method, status) combination costs at most 1 KiB across all families, averaged
//! over a views × methods × statuses grid and also when every combination is a new view; a
//! boxed error named before (by its `Debug` output or a classifier) allocates nothing either.
//!
//! One test function only: the allocator counts every thread, so nothing may run beside it.

use std::convert::Infallible;

use bytes::Bytes;
use futures_util::FutureExt;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_prometheus::{Format, Metrics, Naming, ViewName};

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

const WARM_REQUESTS: usize = 1_000;
const NEW_COMBINATIONS: usize = 500;
const MAX_BYTES_PER_COMBINATION: usize = 1024;

/// The request's body names its view (no allocation); the handler allocates only when asked
/// to attach a `ViewName` (axum-style extension map).
type ViewedRequest = Request<(Option<&'static str>, StatusCode)>;

fn handle(request: ViewedRequest) -> std::future::Ready<Result<Response<Full<Bytes>>, Infallible>> {
    let (view, status) = *request.body();
    let mut response = Response::new(Full::new(Bytes::from_static(b"hello")));
    *response.status_mut() = status;
    if let Some(view) = view {
        response.extensions_mut().insert(ViewName::new(view));
    }
    std::future::ready(Ok(response))
}

/// Sends `requests` through `service` to the end of each body, returning the heap blocks
/// allocated and the net live bytes added meanwhile. Everything is ready on the first poll, so
/// no runtime (and none of its allocations) is needed.
fn drive<S, B>(service: &mut S, requests: Vec<ViewedRequest>) -> (u64, i64)
where
    S: Service<ViewedRequest, Response = Response<B>>,
    S::Error: std::fmt::Debug,
    B: http_body::Body + Unpin,
    B::Error: std::fmt::Debug,
{
    let mut requests = requests.into_iter();
    let before = dhat::HeapStats::get();
    for request in requests.by_ref() {
        service.ready().now_or_never().expect("ready").expect("service");
        let response = service
            .call(request)
            .now_or_never()
            .expect("ready")
            .expect("response");
        let mut body = response.into_body();
        while let Some(frame) = body.frame().now_or_never().expect("ready") {
            frame.expect("frame");
        }
    }
    let after = dhat::HeapStats::get();
    drop(requests);
    (
        after.total_blocks - before.total_blocks,
        after.curr_bytes as i64 - before.curr_bytes as i64,
    )
}

fn requests(
    count: usize,
    view: impl Fn(usize) -> Option<&'static str>,
    status: StatusCode,
) -> Vec<ViewedRequest> {
    (0..count)
        .map(|index| {
            Request::builder()
                .method(Method::GET)
                .uri("/users/7")
                .header("content-length", "0")
                .body((view(index), status))
                .expect("request")
        })
        .collect()
}

#[test]
fn warm_requests_allocate_nothing_and_new_label_sets_stay_small() {
    let _profiler = dhat::Profiler::builder().testing().build();

    // A warm request with the view from the response's `ViewName`: the inner service's own
    // extension map is its only allocation, with or without the layer.
    let metrics = Metrics::new();
    let mut bare = tower::service_fn(handle);
    let mut layered = ServiceBuilder::new().layer(metrics.layer()).service_fn(handle);
    let named = |_| Some("/users/{id}");
    drive(&mut layered, requests(10, named, StatusCode::OK));
    drive(&mut bare, requests(10, named, StatusCode::OK));
    let (bare_blocks, _) = drive(&mut bare, requests(WARM_REQUESTS, named, StatusCode::OK));
    let (layered_blocks, _) = drive(&mut layered, requests(WARM_REQUESTS, named, StatusCode::OK));
    println!("warm, named view: bare {bare_blocks} blocks, layered {layered_blocks} blocks for {WARM_REQUESTS} requests");
    assert!(
        bare_blocks > 0,
        "the inner service's extension map must be counted"
    );
    assert_eq!(
        layered_blocks, bare_blocks,
        "the layer allocated on warm requests"
    );

    // Without a view name and with a resolver returning a static name: nothing at all.
    let resolved = Metrics::builder()
        .view_resolver(|request| (request.uri().path() == "/users/7").then_some(ViewName::new("users")))
        .build()
        .unwrap();
    for metrics in [Metrics::new(), resolved] {
        let mut layered = ServiceBuilder::new().layer(metrics.layer()).service_fn(handle);
        drive(&mut layered, requests(10, |_| None, StatusCode::NOT_FOUND));
        let (blocks, _) = drive(
            &mut layered,
            requests(WARM_REQUESTS, |_| None, StatusCode::NOT_FOUND),
        );
        assert_eq!(blocks, 0, "the layer allocated on warm requests");
        let text = metrics.render(Format::PrometheusText).expect("render");
        let expected = format!(
            "http_responses_total_by_status_total{{status=\"404\"}} {}",
            WARM_REQUESTS + 10
        );
        assert!(
            text.contains(&expected),
            "the requests were not recorded:\n{text}"
        );
    }

    // A realistic grid: views × 2 methods × 3 statuses, every combination new.
    let metrics = Metrics::builder()
        .max_label_sets(100 * NEW_COMBINATIONS)
        .build()
        .unwrap();
    let mut layered = ServiceBuilder::new().layer(metrics.layer()).service_fn(handle);
    let views: Vec<&'static str> = (0..NEW_COMBINATIONS)
        .map(|index| &*Box::leak(format!("/api/v1/resource_{index:04}/{{id}}").into_boxed_str()))
        .collect();
    drive(&mut layered, requests(1, |_| Some("/warm-up"), StatusCode::OK));
    let grid_views = NEW_COMBINATIONS / 6;
    let mut grid_bytes = 0;
    let mut warm_bytes = 0;
    for method in [Method::GET, Method::POST] {
        for status in [
            StatusCode::OK,
            StatusCode::NOT_FOUND,
            StatusCode::INTERNAL_SERVER_ERROR,
        ] {
            let batch = || with_method(requests(grid_views, |i| Some(views[i]), status), &method);
            grid_bytes += drive(&mut layered, batch()).1;
            // The same requests again, all warm: the bytes the consumed requests free.
            let (_, warm) = drive(&mut layered, batch());
            assert!(warm <= 0, "warm requests kept {warm} bytes");
            warm_bytes += warm;
        }
    }
    let per_grid_combination = (grid_bytes - warm_bytes) as f64 / (grid_views * 6) as f64;

    // The worst case: every combination on a view never seen before.
    let fresh = &views[grid_views..];
    let count = fresh.len();
    let (_, new_view_bytes) = drive(&mut layered, requests(count, |i| Some(fresh[i]), StatusCode::OK));
    let (_, warm) = drive(&mut layered, requests(count, |i| Some(fresh[i]), StatusCode::OK));
    let per_new_view = (new_view_bytes - warm) as f64 / count as f64;
    println!(
        "bytes per new (view, method, status): {per_grid_combination:.0} averaged over views x 2 methods x 3 statuses, \
         {per_new_view:.0} when each is a new view"
    );
    assert!(per_grid_combination > 0.0 && per_new_view > per_grid_combination);
    assert!(
        per_grid_combination <= MAX_BYTES_PER_COMBINATION as f64,
        "{per_grid_combination:.0} bytes per new (view, method, status)"
    );
    assert!(
        per_new_view <= MAX_BYTES_PER_COMBINATION as f64,
        "{per_new_view:.0} bytes per (view, method, status) on a new view"
    );
    let text = metrics.render(Format::PrometheusText).expect("render");
    assert!(text.contains(&format!(
        r#"http_responses_total_by_status_view_method_total{{status="500",view="{}",method="POST"}} 2"#,
        views[grid_views - 1]
    )));

    request_labels_warm_requests_allocate_nothing();
    boxed_errors_named_before_allocate_nothing();
    opentelemetry_profile_warm_requests_allocate_nothing();

    #[cfg(feature = "metrics")]
    facade_records_through_cached_handles_allocate_nothing();
}

/// With request labels (a value read from a header and a label without a value), a warm
/// request allocates nothing, and is recorded under its values.
fn request_labels_warm_requests_allocate_nothing() {
    let metrics = Metrics::builder()
        .request_label(
            "length",
            |head| head.headers().get("content-length")?.to_str().ok(),
            10,
        )
        .request_label("tenant", |head| head.headers().get("x-tenant")?.to_str().ok(), 10)
        .build()
        .unwrap();
    let mut layered = ServiceBuilder::new().layer(metrics.layer()).service_fn(handle);
    drive(&mut layered, requests(10, |_| None, StatusCode::OK));
    let (blocks, _) = drive(&mut layered, requests(WARM_REQUESTS, |_| None, StatusCode::OK));
    println!("request labels, warm: {blocks} blocks for {WARM_REQUESTS} requests");
    assert_eq!(blocks, 0, "request labels allocated on warm requests");
    let text = metrics.render(Format::PrometheusText).expect("render");
    let expected = format!(
        r#"http_responses_total_by_status_view_method_total{{status="200",view="<unnamed view>",method="GET",length="0",tenant=""}} {}"#,
        WARM_REQUESTS + 10
    );
    assert!(text.contains(&expected), "{text}");
}

/// An error the inner service fails with, allocating nothing itself.
#[derive(Debug)]
struct Boom;

impl std::fmt::Display for Boom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("boom")
    }
}

impl std::error::Error for Boom {}

fn fail(_request: ViewedRequest) -> std::future::Ready<Result<Response<Full<Bytes>>, Boom>> {
    std::future::ready(Err(Boom))
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn fail_boxed(_request: ViewedRequest) -> std::future::Ready<Result<Response<Full<Bytes>>, BoxError>> {
    // A zero-sized error: boxing it allocates nothing, so every block counted is the layer's.
    std::future::ready(Err(Box::new(Boom)))
}

/// The labels guide: an error's `type` is written on the stack, so a boxed error named before
/// (from its `Debug` output, or by an `error_type` classifier) costs no allocation.
fn boxed_errors_named_before_allocate_nothing() {
    let classified = Metrics::builder()
        .error_type(|error| error.is::<Boom>().then_some("boom".into()))
        .build()
        .unwrap();
    for (metrics, name) in [(Metrics::new(), "Boom"), (classified, "boom")] {
        let mut failing = ServiceBuilder::new()
            .layer(metrics.layer())
            .service_fn(fail_boxed);
        let mut send_failing = |count: usize| {
            let requests = requests(count, |_| None, StatusCode::OK);
            let before = dhat::HeapStats::get();
            for request in requests {
                failing.ready().now_or_never().expect("ready").expect("service");
                let error = failing.call(request).now_or_never().expect("ready");
                assert!(error.is_err(), "the inner service's error is passed on");
            }
            dhat::HeapStats::get().total_blocks - before.total_blocks
        };
        send_failing(10);
        let blocks = send_failing(WARM_REQUESTS);
        println!("boxed error named {name}: {blocks} blocks for {WARM_REQUESTS} warm requests");
        assert_eq!(blocks, 0, "naming the boxed error `{name}` allocated");
        let text = metrics.render(Format::PrometheusText).expect("render");
        let expected = format!(
            "http_exceptions_total_by_type_total{{type=\"{name}\"}} {}",
            WARM_REQUESTS + 10
        );
        assert!(text.contains(&expected), "missing {expected}:\n{text}");
    }
}

/// Under `Naming::OpenTelemetry`, a warm request allocates nothing: a 200, a 5xx (whose
/// `error_type` is its status code) and an inner service's error alike, and every one is
/// recorded in the profile's families.
fn opentelemetry_profile_warm_requests_allocate_nothing() {
    let metrics = Metrics::builder()
        .naming(Naming::OpenTelemetry)
        .view_resolver(|request| (request.uri().path() == "/users/7").then_some(ViewName::new("users")))
        .build()
        .unwrap();
    let mut layered = ServiceBuilder::new().layer(metrics.layer()).service_fn(handle);
    for status in [StatusCode::OK, StatusCode::BAD_GATEWAY] {
        drive(&mut layered, requests(10, |_| None, status));
        let (blocks, _) = drive(&mut layered, requests(WARM_REQUESTS, |_| None, status));
        println!("OpenTelemetry profile, warm {status}: {blocks} blocks for {WARM_REQUESTS} requests");
        assert_eq!(blocks, 0, "the profile allocated on warm {status} requests");
    }

    let mut failing = ServiceBuilder::new().layer(metrics.layer()).service_fn(fail);
    let mut send_failing = |count: usize| {
        let requests = requests(count, |_| None, StatusCode::OK);
        let before = dhat::HeapStats::get();
        for request in requests {
            failing.ready().now_or_never().expect("ready").expect("service");
            let error = failing.call(request).now_or_never().expect("ready");
            assert!(error.is_err(), "the inner service's error is passed on");
        }
        dhat::HeapStats::get().total_blocks - before.total_blocks
    };
    send_failing(10);
    let blocks = send_failing(WARM_REQUESTS);
    println!("OpenTelemetry profile, warm inner error: {blocks} blocks for {WARM_REQUESTS} requests");
    assert_eq!(blocks, 0, "the profile allocated on warm failing requests");

    let text = metrics.render(Format::PrometheusText).expect("render");
    for (status, error_type) in [("200", ""), ("502", "502")] {
        let expected = format!(
            "http_server_request_duration_seconds_count{{http_request_method=\"GET\",url_scheme=\"http\",\
             http_route=\"users\",http_response_status_code=\"{status}\",network_protocol_version=\"1.1\",\
             error_type=\"{error_type}\"}} {}",
            WARM_REQUESTS + 10
        );
        assert!(text.contains(&expected), "missing {expected}:\n{text}");
    }
    let expected = format!(
        "http_server_request_duration_seconds_count{{http_request_method=\"GET\",url_scheme=\"http\",\
         http_route=\"users\",http_response_status_code=\"\",network_protocol_version=\"1.1\",\
         error_type=\"Boom\"}} {}",
        WARM_REQUESTS + 10
    );
    assert!(text.contains(&expected), "missing {expected}:\n{text}");
}

/// The `metrics` facade through our recorder: once a handle is registered, recording through
/// it (a labelled counter, gauge and histogram) allocates nothing, and the samples land.
#[cfg(feature = "metrics")]
fn facade_records_through_cached_handles_allocate_nothing() {
    let metrics = Metrics::builder().process_metrics(false).build().unwrap();
    let recorder = metrics.metrics_recorder();
    let (counter, gauge, histogram) = metrics::with_local_recorder(&recorder, || {
        (
            metrics::counter!("jobs_total", "queue" => "mail"),
            metrics::gauge!("queue_depth", "queue" => "mail"),
            metrics::histogram!("job_duration_seconds", "queue" => "mail"),
        )
    });
    let before = dhat::HeapStats::get();
    for index in 0..WARM_REQUESTS {
        counter.increment(1);
        gauge.set(index as f64);
        gauge.increment(1.0);
        histogram.record(index as f64 * 0.001);
    }
    let blocks = dhat::HeapStats::get().total_blocks - before.total_blocks;
    println!("facade: {blocks} blocks for {WARM_REQUESTS} warm records of each kind");
    assert_eq!(blocks, 0, "recording through cached facade handles allocated");
    let text = metrics.render(Format::PrometheusText).expect("render");
    assert!(
        text.contains(&format!("jobs_total{{queue=\"mail\"}} {WARM_REQUESTS}")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "job_duration_seconds_count{{queue=\"mail\"}} {WARM_REQUESTS}"
        )),
        "{text}"
    );
}

fn with_method(mut requests: Vec<ViewedRequest>, method: &Method) -> Vec<ViewedRequest> {
    for request in &mut requests {
        *request.method_mut() = method.clone();
    }
    requests
}
