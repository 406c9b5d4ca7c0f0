//! What a scrape costs: our families holding 1 000, 10 000 and 100 000 series (views × methods
//! × statuses, filled by real requests through the layer), rendered by `Metrics::render` in
//! each format, against prometheus-client's raw encoders on a registry holding the same
//! families, label sets and buckets; plus gzip of the 100 000-series text at several levels.
//!
//! Ours holds 40 sample lines more at every size: the request-time `<unnamed view>` series
//! (in-flight gauge, empty latency histogram) the layer opens before the response names its
//! view.
//!
//! Run: `cargo bench --all-features --bench encode`. After criterion's output, a summary prints
//! our time over the raw encoder's per format and size, and each gzip level's cost relative to
//! encoding, for zlib-rs (the crate's backend) and miniz_oxide (flate2's default backend, the
//! one the crate used before).

#[path = "support/criterion_report.rs"]
mod criterion_report;

use std::hint::black_box;
use std::io::Write;
use std::time::Duration;

use criterion::{criterion_group, BenchmarkId, Criterion};
use http::{Method, Request, Response, StatusCode};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use tower::{Service, ServiceExt};
use tower_prometheus::defaults::{
    LATENCY_BUCKETS as DEFAULT_LATENCY_BUCKETS, SIZE_BUCKETS as DEFAULT_SIZE_BUCKETS,
};
use tower_prometheus::{Format, Metrics, ViewName};

const GROUP: &str = "encode";
const SIZES: [usize; 3] = [1_000, 10_000, 100_000];
const METHODS: [Method; 2] = [Method::GET, Method::POST];
const STATUSES: [StatusCode; 3] = [
    StatusCode::OK,
    StatusCode::NOT_FOUND,
    StatusCode::INTERNAL_SERVER_ERROR,
];
const GZIP_LEVELS: [u32; 5] = [1, 2, 3, 6, 9];
/// Levels measured with miniz_oxide, flate2's default backend, beside the crate's zlib-rs.
const MINIZ_LEVELS: [u32; 2] = [1, 6];
const BODY: &str = "user";

/// Our registry, filled by `views` × [`METHODS`] × [`STATUSES`] requests through the layer.
fn ours(views: usize) -> Metrics {
    let metrics = Metrics::builder().max_label_sets(usize::MAX).build().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime");
    let mut app = tower::ServiceBuilder::new().layer(metrics.layer()).service_fn(
        |request: Request<String>| async move {
            let body = request.into_body();
            let (view, status) = body.split_once(' ').expect("view and status");
            let mut response = Response::new(BODY.to_owned());
            *response.status_mut() = status.parse().expect("status");
            response.extensions_mut().insert(ViewName::new(view.to_owned()));
            Ok::<_, std::convert::Infallible>(response)
        },
    );
    runtime.block_on(async {
        for view in 0..views {
            for method in &METHODS {
                for status in STATUSES {
                    let body = format!("/api/v1/resource_{view}/{{id}} {}", status.as_u16());
                    let request = Request::builder()
                        .method(method)
                        .uri("/x")
                        .body(body)
                        .expect("request");
                    let response = app
                        .ready()
                        .await
                        .expect("ready")
                        .call(request)
                        .await
                        .expect("response");
                    http_body_util::BodyExt::collect(response.into_body())
                        .await
                        .expect("body");
                }
            }
        }
    });
    metrics
}

type LabelSet = Vec<(&'static str, String)>;

fn histogram_family(buckets: &'static [f64]) -> Family<LabelSet, Histogram, impl Fn() -> Histogram + Clone> {
    Family::new_with_constructor(move || Histogram::new(buckets.iter().copied()))
}

/// A plain prometheus-client registry holding what [`ours`] holds after the same requests.
fn raw(views: usize) -> Registry {
    let mut registry = Registry::default();
    let requests = Counter::<u64>::default();
    let responses = Counter::<u64>::default();
    let latency_all = Histogram::new(DEFAULT_LATENCY_BUCKETS.iter().copied());
    let latency = histogram_family(DEFAULT_LATENCY_BUCKETS);
    let by_method = Family::<LabelSet, Counter>::default();
    let by_transport = Family::<LabelSet, Counter>::default();
    let by_view_transport_method = Family::<LabelSet, Counter>::default();
    let by_status = Family::<LabelSet, Counter>::default();
    let by_status_view_method = Family::<LabelSet, Counter>::default();
    let response_bytes = Histogram::new(DEFAULT_SIZE_BUCKETS.iter().copied());
    let by_charset = Family::<LabelSet, Counter>::default();
    let in_flight = Family::<LabelSet, Gauge>::default();
    for view in 0..views {
        let view = format!("/api/v1/resource_{view}/{{id}}");
        for method in &METHODS {
            let method = method.as_str().to_owned();
            let view_method = vec![("view", view.clone()), ("method", method.clone())];
            drop(in_flight.get_or_create(&view_method));
            for status in STATUSES {
                let status = status.as_u16().to_string();
                requests.inc();
                responses.inc();
                latency_all.observe(0.000_01);
                latency.get_or_create(&view_method).observe(0.000_01);
                by_method.get_or_create(&vec![("method", method.clone())]).inc();
                by_transport
                    .get_or_create(&vec![("transport", "http".to_owned())])
                    .inc();
                by_view_transport_method
                    .get_or_create(&vec![
                        ("view", view.clone()),
                        ("transport", "http".to_owned()),
                        ("method", method.clone()),
                    ])
                    .inc();
                by_status.get_or_create(&vec![("status", status.clone())]).inc();
                by_status_view_method
                    .get_or_create(&vec![
                        ("status", status.clone()),
                        ("view", view.clone()),
                        ("method", method.clone()),
                    ])
                    .inc();
                response_bytes.observe(BODY.len() as f64);
                by_charset
                    .get_or_create(&vec![("charset", "<no charset>".to_owned())])
                    .inc();
            }
        }
    }
    let empty = Family::<LabelSet, Counter>::default;
    registry.register("http_requests_before_middlewares", "Requests", requests);
    registry.register("http_responses_before_middlewares", "Responses", responses);
    registry.register_with_unit(
        "http_requests_latency_including_middlewares",
        "Latency",
        Unit::Seconds,
        latency_all,
    );
    registry.register(
        "http_requests_unknown_latency_including_middlewares",
        "Unknown",
        Counter::<u64>::default(),
    );
    registry.register(
        "http_requests_latency_seconds_by_view_method",
        "Latency by view",
        latency,
    );
    registry.register(
        "http_requests_unknown_latency",
        "Unknown",
        Counter::<u64>::default(),
    );
    registry.register("http_ajax_requests", "AJAX", Counter::<u64>::default());
    registry.register("http_requests_total_by_method", "By method", by_method);
    registry.register("http_requests_total_by_transport", "By transport", by_transport);
    registry.register(
        "http_requests_total_by_view_transport_method",
        "By view",
        by_view_transport_method,
    );
    registry.register_with_unit(
        "http_requests_body_total",
        "Request bytes",
        Unit::Bytes,
        Histogram::new(DEFAULT_SIZE_BUCKETS.iter().copied()),
    );
    registry.register("http_responses_total_by_status", "By status", by_status);
    registry.register(
        "http_responses_total_by_status_view_method",
        "By status view",
        by_status_view_method,
    );
    registry.register_with_unit(
        "http_responses_body_total",
        "Response bytes",
        Unit::Bytes,
        response_bytes,
    );
    registry.register("http_responses_total_by_charset", "By charset", by_charset);
    registry.register("http_responses_streaming", "Streaming", Counter::<u64>::default());
    registry.register("http_exceptions_total_by_type", "By type", empty());
    registry.register("http_exceptions_total_by_view", "By view", empty());
    registry.register("http_requests_in_flight", "In flight", in_flight);
    registry.register("http_requests_cancelled", "Cancelled", empty());
    registry.register("http_metrics_label_overflow", "Overflow", empty());
    registry
}

fn raw_encode(registry: &Registry, format: Format) -> String {
    let mut output = String::with_capacity(16 * 1024);
    match format {
        Format::OpenMetrics => prometheus_client::encoding::text::encode(&mut output, registry),
        _ => prometheus_client::encoding::prometheus_text::encode(&mut output, registry),
    }
    .expect("encode");
    output
}

fn sample_lines(exposition: &str) -> usize {
    exposition.lines().filter(|line| !line.starts_with('#')).count()
}

/// How many views make at least `series` sample lines, from the lines one view adds.
fn views_for(series: usize) -> usize {
    let lines = |views| sample_lines(&ours(views).render(Format::PrometheusText).expect("render"));
    let (one, two) = (lines(1), lines(2));
    let per_view = two - one;
    let base = one - per_view;
    series.saturating_sub(base).div_ceil(per_view)
}

fn gzip(text: &[u8], level: u32) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
    encoder.write_all(text).expect("gzip");
    encoder.finish().expect("gzip")
}

/// gzip through miniz_oxide as flate2's default backend does it: raw deflate, crc32fast for
/// the trailer, and the same 10-byte header.
fn miniz_gzip(text: &[u8], level: u32) -> Vec<u8> {
    let level = u8::try_from(level).expect("level");
    let deflated = miniz_oxide::deflate::compress_to_vec(text, level);
    let mut out = Vec::with_capacity(deflated.len() + 18);
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    out.extend_from_slice(&deflated);
    out.extend_from_slice(&crc32fast::hash(text).to_le_bytes());
    out.extend_from_slice(&u32::try_from(text.len()).expect("under 4 GiB").to_le_bytes());
    out
}

fn encode(c: &mut Criterion) {
    let formats = [
        ("text", Format::PrometheusText),
        ("openmetrics", Format::OpenMetrics),
    ];
    let mut group = c.benchmark_group(GROUP);
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    let mut largest_text = String::new();
    for series in SIZES {
        let views = views_for(series);
        let metrics = ours(views);
        let registry = raw(views);
        for (name, format) in formats {
            let (mine, theirs) = (
                metrics.render(format).expect("render"),
                raw_encode(&registry, format),
            );
            println!(
                "{series} series, {name}: ours {} sample lines / {} bytes, raw {} sample lines / {} bytes",
                sample_lines(&mine),
                mine.len(),
                sample_lines(&theirs),
                theirs.len()
            );
            group.bench_with_input(
                BenchmarkId::new(format!("tower_prometheus_{name}"), series),
                &format,
                |b, &format| b.iter(|| black_box(metrics.render(format).expect("render"))),
            );
            group.bench_with_input(
                BenchmarkId::new(format!("prometheus_client_{name}"), series),
                &format,
                |b, &format| b.iter(|| black_box(raw_encode(&registry, format))),
            );
            if format == Format::PrometheusText && series == SIZES[SIZES.len() - 1] {
                largest_text = mine;
            }
        }
    }
    let series = SIZES[SIZES.len() - 1];
    for level in GZIP_LEVELS {
        let compressed = gzip(largest_text.as_bytes(), level).len();
        println!(
            "gzip (zlib-rs) level {level}: {} bytes -> {compressed} bytes",
            largest_text.len()
        );
        group.bench_with_input(
            BenchmarkId::new(format!("gzip_{level}_text"), series),
            &level,
            |b, &level| b.iter(|| black_box(gzip(largest_text.as_bytes(), level))),
        );
    }
    for level in MINIZ_LEVELS {
        let compressed = miniz_gzip(largest_text.as_bytes(), level);
        // The baseline must be a real gzip stream of the same text.
        let mut decoded = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(compressed.as_slice()),
            &mut decoded,
        )
        .expect("miniz_oxide gzip decodes");
        assert!(decoded == largest_text.as_bytes(), "miniz_oxide gzip round trip");
        println!(
            "gzip (miniz_oxide) level {level}: {} bytes -> {} bytes",
            largest_text.len(),
            compressed.len()
        );
        group.bench_with_input(
            BenchmarkId::new(format!("miniz_oxide_gzip_{level}_text"), series),
            &level,
            |b, &level| b.iter(|| black_box(miniz_gzip(largest_text.as_bytes(), level))),
        );
    }
    group.finish();
}

criterion_group!(benches, encode);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    if std::env::args().any(|argument| argument == "--bench") {
        print_summary();
    }
}

/// The median time of `function` at `series`, in ms, from criterion's report of this run.
fn median_ms(function: &str, series: usize) -> Option<f64> {
    Some(criterion_report::median_ns(&[GROUP, function, &series.to_string()])? / 1e6)
}

fn print_summary() {
    println!("\nencode summary (medians of this run):");
    for series in SIZES {
        for name in ["text", "openmetrics"] {
            let ours = median_ms(&format!("tower_prometheus_{name}"), series);
            let raw = median_ms(&format!("prometheus_client_{name}"), series);
            if let (Some(ours), Some(raw)) = (ours, raw) {
                println!(
                    "  {series:>6} series {name:<11}: ours {ours:8.3} ms, prometheus-client {raw:8.3} ms, ours / raw = {:.2}",
                    ours / raw
                );
            }
        }
    }
    let series = SIZES[SIZES.len() - 1];
    if let Some(encode) = median_ms("tower_prometheus_text", series) {
        println!("  target: {series} series in text under 20 ms: {encode:.1} ms");
        for level in GZIP_LEVELS {
            if let Some(gzip) = median_ms(&format!("gzip_{level}_text"), series) {
                println!(
                    "  gzip level {level} (zlib-rs, the crate's): {gzip:.1} ms = {:.2} x the text encode",
                    gzip / encode
                );
            }
        }
        for level in MINIZ_LEVELS {
            if let Some(gzip) = median_ms(&format!("miniz_oxide_gzip_{level}_text"), series) {
                println!(
                    "  gzip level {level} (miniz_oxide, flate2's default): {gzip:.1} ms = {:.2} x the text encode",
                    gzip / encode
                );
            }
        }
    }
}
