//! The families computed at scrape time equal the totals of the families they are derived
//! from, and the numbers of requests and responses sent, in every format and whatever ended
//! the requests (a response under many views, methods, statuses and request-label values,
//! `<overflow>` included, an inner error, a panic, a cancellation before or after the head):
//! `http_requests_before_middlewares_total` is Σ `http_requests_total_by_method_total`,
//! `http_responses_total_by_status_total` is, status by status, Σ
//! `http_responses_total_by_status_view_method_total`, `http_responses_before_middlewares_total`
//! is Σ of either, and
//! `http_requests_latency_including_middlewares_seconds` is the bucket-wise Σ of
//! `http_requests_latency_seconds_by_view_method`. With per-view buckets, native histograms or
//! exemplars that histogram is recorded per request, and is still right.

use crate::support;

use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use support::exposition::{parse, Sample};
use tower::{ServiceBuilder, ServiceExt};
use tower_prometheus::{Format, Metrics, MetricsBuilder, ViewName};

const REQUESTS: &str = "http_requests_before_middlewares_total";
const BY_METHOD: &str = "http_requests_total_by_method_total";
const RESPONSES: &str = "http_responses_before_middlewares_total";
const BY_STATUS: &str = "http_responses_total_by_status_total";
const BY_STATUS_VIEW_METHOD: &str = "http_responses_total_by_status_view_method_total";
const LATENCY: &str = "http_requests_latency_including_middlewares_seconds";
const BY_VIEW_METHOD: &str = "http_requests_latency_seconds_by_view_method";

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
];
const STATUSES: [u16; 5] = [200, 201, 404, 500, 503];
const TENANTS: [&str; 3] = ["a", "b", "c"];

/// `/{view}/{status}` answers `status` under view `/{view}`; `/error` fails, `/panic` panics,
/// `/pending` never answers.
async fn handler(request: Request<String>) -> Result<Response<String>, std::io::Error> {
    let path = request.uri().path().to_owned();
    match path.as_str() {
        "/error" => Err(std::io::Error::other("inner error")),
        "/panic" => panic!("the inner service panics on purpose"),
        "/pending" => std::future::pending().await,
        _ => {
            let (view, status) = path.rsplit_once('/').expect("/{view}/{status}");
            let mut response = Response::new(String::from("body"));
            *response.status_mut() = status.parse::<StatusCode>().expect("a status");
            response.extensions_mut().insert(ViewName::new(view.to_owned()));
            Ok(response)
        }
    }
}

/// What the requests sent so far should have recorded.
#[derive(Clone, Copy, Debug, Default)]
struct Sent {
    requests: u64,
    responses: u64,
    /// Responses and inner errors: what the latency histograms observe.
    latencies: u64,
}

impl Sent {
    fn add(&mut self, other: Self) {
        self.requests += other.requests;
        self.responses += other.responses;
        self.latencies += other.latencies;
    }
}

/// `count` requests answered normally, across methods, views, statuses and tenants, with the
/// `traceparent` of a sampled trace on every fourth; the response bodies are read to the end.
async fn send_responses(metrics: &Metrics, count: usize) -> Sent {
    let app = ServiceBuilder::new().layer(metrics.layer()).service_fn(handler);
    for i in 0..count {
        let mut request = Request::builder()
            .method(METHODS[i % METHODS.len()].clone())
            .uri(format!(
                "/v{}/{}",
                i % 7,
                STATUSES[(i / METHODS.len()) % STATUSES.len()]
            ))
            .header("x-tenant", TENANTS[i % TENANTS.len()]);
        if i % 4 == 0 {
            request = request.header("traceparent", TRACEPARENT);
        }
        let response = app
            .clone()
            .oneshot(request.body(String::new()).unwrap())
            .await
            .unwrap();
        response.into_body().collect().await.unwrap();
    }
    let count = count as u64;
    Sent {
        requests: count,
        responses: count,
        latencies: count,
    }
}

/// Requests that end otherwise: inner errors, panics, cancellations before the head and
/// response bodies dropped before their end.
async fn send_the_other_endings(metrics: &Metrics) -> Sent {
    support::tools::quiet_intentional_panics();
    let app = ServiceBuilder::new().layer(metrics.layer()).service_fn(handler);
    let get = |path: &str| Request::get(path).body(String::new()).unwrap();
    let (errors, panics, cancelled, dropped_bodies) = (3, 2, 2, 2);
    for _ in 0..errors {
        assert!(app.clone().oneshot(get("/error")).await.is_err());
    }
    for _ in 0..panics {
        let unwound = AssertUnwindSafe(app.clone().oneshot(get("/panic")))
            .catch_unwind()
            .await;
        assert!(unwound.is_err(), "the panic reaches the caller");
    }
    for _ in 0..cancelled {
        let mut pending = Box::pin(app.clone().oneshot(get("/pending")));
        assert!(futures_util::poll!(&mut pending).is_pending());
    }
    for _ in 0..dropped_bodies {
        let response = app.clone().oneshot(get("/dropped/200")).await.unwrap();
        drop(response);
    }
    Sent {
        requests: errors + panics + cancelled + dropped_bodies,
        responses: dropped_bodies,
        latencies: dropped_bodies + errors,
    }
}

/// Every kind of ending, through a layer with request labels and a cap that folds views into
/// `<overflow>`.
async fn every_ending(builder: MetricsBuilder) -> (Metrics, Sent) {
    let metrics = builder
        .request_label("tenant", |head| head.headers().get("x-tenant")?.to_str().ok(), 2)
        .max_label_sets(12)
        .process_metrics(false)
        .build()
        .unwrap();
    let mut sent = send_responses(&metrics, 140).await;
    sent.add(send_the_other_endings(&metrics).await);
    (metrics, sent)
}

/// A classic histogram as read back: `(le, cumulative count)` summed by `le`, count and sum.
#[derive(Debug, Default)]
struct Classic {
    buckets: Vec<(f64, u64)>,
    count: u64,
    sum: f64,
}

impl Classic {
    fn add_bucket(&mut self, le: f64, count: u64) {
        match self.buckets.iter_mut().find(|(bound, _)| *bound == le) {
            Some((_, total)) => *total += count,
            None => self.buckets.push((le, count)),
        }
        self.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    }

    fn bounds(&self) -> Vec<f64> {
        self.buckets.iter().map(|(le, _)| *le).collect()
    }
}

/// What one exposition says of the derived families and of their sources.
#[derive(Debug, Default)]
struct Read {
    requests: u64,
    by_method: u64,
    responses: u64,
    by_status: u64,
    /// `(status, count)` of the family by status, in status order.
    statuses: Vec<(String, u64)>,
    /// `(status, Σ count)` of the family by status, view and method, in status order.
    statuses_of_views: Vec<(String, u64)>,
    latency: Classic,
    by_view_method: Classic,
}

fn as_count(value: f64) -> u64 {
    assert!(value >= 0.0 && value.fract() == 0.0, "a count: {value}");
    value as u64
}

/// Reads a text exposition (an OpenMetrics one without its exemplars).
fn read_text(text: &str, format: Format) -> Read {
    let without_exemplars: String = text
        .lines()
        .map(|line| line.split_once(" # {").map_or(line, |(sample, _)| sample))
        .flat_map(|line| [line, "\n"])
        .collect();
    let samples = parse(&without_exemplars, format).unwrap_or_else(|problem| panic!("{problem}\n{text}"));
    // 0 for a family without series yet (a scrape before the first request).
    let sum_of = |name: &str| {
        as_count(
            samples
                .iter()
                .filter(|sample| sample.name == name)
                .map(|sample| sample.value)
                .sum(),
        )
    };
    let histogram = |name: &str| {
        let mut classic = Classic::default();
        for sample in &samples {
            if sample.name == format!("{name}_bucket") {
                let le = match sample.labels["le"].as_str() {
                    "+Inf" => f64::INFINITY,
                    le => le.parse().expect("an le"),
                };
                classic.add_bucket(le, as_count(sample.value));
            } else if sample.name == format!("{name}_count") {
                classic.count += as_count(sample.value);
            } else if sample.name == format!("{name}_sum") {
                classic.sum += sample.value;
            }
        }
        classic
    };
    let statuses = |name: &str| {
        let mut statuses = std::collections::BTreeMap::new();
        for sample in samples.iter().filter(|sample| sample.name == name) {
            *statuses.entry(sample.labels["status"].clone()).or_insert(0) += as_count(sample.value);
        }
        statuses.into_iter().collect::<Vec<_>>()
    };
    let unlabelled = |name: &str| {
        let matching: Vec<&Sample> = samples.iter().filter(|sample| sample.name == name).collect();
        assert_eq!(matching.len(), 1, "{name} once, without labels");
        assert!(matching[0].labels.is_empty());
        as_count(matching[0].value)
    };
    Read {
        requests: unlabelled(REQUESTS),
        by_method: sum_of(BY_METHOD),
        responses: unlabelled(RESPONSES),
        by_status: sum_of(BY_STATUS),
        statuses: statuses(BY_STATUS),
        statuses_of_views: statuses(BY_STATUS_VIEW_METHOD),
        latency: histogram(LATENCY),
        by_view_method: histogram(BY_VIEW_METHOD),
    }
}

#[cfg(feature = "protobuf")]
mod protobuf {
    use prometheus_client::encoding::prometheus_protobuf::prometheus_data_model::{
        Histogram, MetricFamily, MetricType,
    };

    use super::*;

    pub(super) use support::exposition::{protobuf_families as families, protobuf_family as family};

    fn counter_total(families: &[MetricFamily], name: &str) -> u64 {
        let family = family(families, name);
        assert_eq!(family.r#type, MetricType::Counter as i32, "{name}");
        as_count(
            family
                .metric
                .iter()
                .map(|metric| metric.counter.as_ref().expect("a counter").value)
                .sum(),
        )
    }

    fn statuses(families: &[MetricFamily], name: &str) -> Vec<(String, u64)> {
        let mut statuses = std::collections::BTreeMap::new();
        for metric in &family(families, name).metric {
            let status = metric
                .label
                .iter()
                .find(|pair| pair.name == "status")
                .expect("a status label");
            *statuses.entry(status.value.clone()).or_insert(0) +=
                as_count(metric.counter.as_ref().expect("a counter").value);
        }
        statuses.into_iter().collect()
    }

    pub(super) fn histograms<'f>(families: &'f [MetricFamily], name: &str) -> Vec<&'f Histogram> {
        let family = family(families, name);
        assert_eq!(family.r#type, MetricType::Histogram as i32, "{name}");
        family
            .metric
            .iter()
            .map(|metric| metric.histogram.as_ref().expect("a histogram"))
            .collect()
    }

    fn classic(histograms: &[&Histogram]) -> Classic {
        let mut classic = Classic::default();
        for histogram in histograms {
            for bucket in &histogram.bucket {
                classic.add_bucket(bucket.upper_bound, bucket.cumulative_count);
            }
            classic.count += histogram.sample_count;
            classic.sum += histogram.sample_sum;
        }
        classic
    }

    pub(super) fn read(metrics: &Metrics) -> Read {
        let families = families(metrics);
        for name in [REQUESTS, RESPONSES, LATENCY] {
            let family = family(&families, name);
            assert_eq!(family.metric.len(), 1, "{name}: one series");
            assert!(family.metric[0].label.is_empty(), "{name}: no labels");
        }
        Read {
            requests: counter_total(&families, REQUESTS),
            by_method: counter_total(&families, BY_METHOD),
            responses: counter_total(&families, RESPONSES),
            by_status: counter_total(&families, BY_STATUS),
            statuses: statuses(&families, BY_STATUS),
            statuses_of_views: statuses(&families, BY_STATUS_VIEW_METHOD),
            latency: classic(&histograms(&families, LATENCY)),
            by_view_method: classic(&histograms(&families, BY_VIEW_METHOD)),
        }
    }
}

/// Every exposition of `metrics`: Prometheus text, OpenMetrics, and protobuf when built.
fn read_every_format(metrics: &Metrics) -> Vec<(&'static str, Read)> {
    #[cfg_attr(not(feature = "protobuf"), allow(unused_mut))]
    let mut reads = vec![
        (
            "text",
            read_text(
                &metrics.render(Format::PrometheusText).unwrap(),
                Format::PrometheusText,
            ),
        ),
        (
            "openmetrics",
            read_text(&metrics.render(Format::OpenMetrics).unwrap(), Format::OpenMetrics),
        ),
    ];
    #[cfg(feature = "protobuf")]
    reads.push(("protobuf", protobuf::read(metrics)));
    reads
}

fn assert_close(a: f64, b: f64, what: &str) {
    assert!(
        (a - b).abs() <= 1e-9 * a.abs().max(b.abs()),
        "{what}: {a} and {b} differ beyond rounding"
    );
}

/// The counters equal their sources' totals and what was sent; the latency histogram counts
/// every response and inner error, and its sum is the view family's.
fn assert_counts(metrics: &Metrics, sent: Sent) {
    for (format, read) in read_every_format(metrics) {
        assert_eq!(read.requests, sent.requests, "{format}: requests");
        assert_eq!(read.by_method, sent.requests, "{format}: Σ by method");
        assert_eq!(read.responses, sent.responses, "{format}: responses");
        assert_eq!(read.by_status, sent.responses, "{format}: Σ by status");
        assert_eq!(
            read.statuses, read.statuses_of_views,
            "{format}: status by status"
        );
        assert_eq!(read.latency.count, sent.latencies, "{format}: latency count");
        assert_eq!(
            read.by_view_method.count, sent.latencies,
            "{format}: Σ latency by view count"
        );
        assert_eq!(
            read.latency.buckets.last(),
            Some(&(f64::INFINITY, sent.latencies)),
            "{format}: +Inf bucket"
        );
        assert_close(read.latency.sum, read.by_view_method.sum, format);
    }
}

/// [`assert_counts`], and the latency histogram is bucket for bucket the view family's total.
fn assert_bucket_totals(metrics: &Metrics, sent: Sent) {
    assert_counts(metrics, sent);
    for (format, read) in read_every_format(metrics) {
        assert_eq!(
            read.latency.buckets, read.by_view_method.buckets,
            "{format}: bucket-wise total"
        );
        let mut bounds = tower_prometheus::defaults::LATENCY_BUCKETS.to_vec();
        bounds.push(f64::INFINITY);
        assert_eq!(read.latency.bounds(), bounds, "{format}: the family's buckets");
    }
}

#[tokio::test]
async fn derived_families_are_the_totals_of_their_sources_in_every_format() {
    let (metrics, mut sent) = every_ending(Metrics::builder()).await;
    assert_eq!(sent.requests, 140 + 9);
    let text = metrics.render(Format::PrometheusText).unwrap();
    assert!(
        text.contains("view=\"<overflow>\""),
        "the cap folded views: {text}"
    );
    assert!(
        text.contains("tenant=\"<overflow>\""),
        "the bound folded a tenant: {text}"
    );
    assert_bucket_totals(&metrics, sent);
    let expected: Vec<(String, u64)> = [
        ("200", 30 + 2),
        ("201", 30),
        ("404", 30),
        ("500", 25),
        ("503", 25),
    ]
    .map(|(status, count)| (status.to_owned(), count))
    .to_vec();
    for (format, read) in read_every_format(&metrics) {
        assert_eq!(read.statuses, expected, "{format}: responses by status");
    }
    // Later requests add up.
    sent.add(send_responses(&metrics, 10).await);
    assert_bucket_totals(&metrics, sent);
}

#[tokio::test]
async fn derived_families_hold_with_grouped_status_codes() {
    let (metrics, sent) = every_ending(Metrics::builder().group_status_codes(true)).await;
    assert_bucket_totals(&metrics, sent);
    let expected: Vec<(String, u64)> = [("2xx", 60 + 2), ("4xx", 30), ("5xx", 50)]
        .map(|(status, count)| (status.to_owned(), count))
        .to_vec();
    for (format, read) in read_every_format(&metrics) {
        assert_eq!(read.statuses, expected, "{format}: responses by status class");
    }
}

#[tokio::test]
async fn derived_families_hold_under_a_namespace_and_constant_labels() {
    let metrics = Metrics::builder()
        .namespace("django")
        .const_label("service", "billing")
        .process_metrics(false)
        .build()
        .unwrap();
    let sent = send_responses(&metrics, 12).await;
    let text = metrics.render(Format::PrometheusText).unwrap();
    assert!(
        text.contains(&format!(
            "django_http_requests_before_middlewares_total{{service=\"billing\"}} {}\n",
            sent.requests
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "django_http_responses_before_middlewares_total{{service=\"billing\"}} {}\n",
            sent.responses
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "django_http_requests_latency_including_middlewares_seconds_bucket{{service=\"billing\",le=\"+Inf\"}} {}\n",
            sent.latencies
        )),
        "{text}"
    );
}

#[tokio::test]
async fn with_per_view_buckets_the_latency_histogram_still_counts_every_request() {
    let (metrics, sent) = every_ending(Metrics::builder().latency_buckets_for_view("/v1", [0.5, 1.0])).await;
    assert_counts(&metrics, sent);
    for (format, read) in read_every_format(&metrics) {
        let mut bounds = tower_prometheus::defaults::LATENCY_BUCKETS.to_vec();
        bounds.push(f64::INFINITY);
        assert_eq!(read.latency.bounds(), bounds, "{format}: the family's buckets");
        assert!(
            read.by_view_method.bounds().contains(&0.5),
            "{format}: /v1's own buckets"
        );
    }
}

#[tokio::test]
async fn with_native_histograms_the_latency_histogram_still_counts_every_request() {
    let native = tower_prometheus::NativeHistograms::classic_and_native();
    let (metrics, sent) = every_ending(Metrics::builder().native_histograms(native)).await;
    assert_bucket_totals(&metrics, sent);
    #[cfg(feature = "protobuf")]
    {
        let families = protobuf::families(&metrics);
        let latency = protobuf::histograms(&families, LATENCY);
        assert_eq!(latency[0].schema, 3, "native buckets, as before");
        assert!(!latency[0].positive_span.is_empty() || latency[0].zero_count > 0);
    }
}

#[tokio::test]
async fn with_exemplars_the_latency_histogram_still_counts_every_request_and_keeps_its_exemplar() {
    let (metrics, sent) = every_ending(Metrics::builder().exemplars_from_traceparent()).await;
    assert_bucket_totals(&metrics, sent);
    let openmetrics = metrics.render(Format::OpenMetrics).unwrap();
    let exemplar = format!("# {{trace_id=\"{TRACE_ID}\"}}");
    assert!(
        openmetrics
            .lines()
            .any(|line| line.starts_with(&format!("{LATENCY}_bucket")) && line.contains(&exemplar)),
        "the unlabelled histogram keeps its exemplar: {openmetrics}"
    );
}

#[test]
fn derived_families_render_as_before_without_any_request() {
    let metrics = Metrics::builder().process_metrics(false).build().unwrap();
    let text = metrics.render(Format::PrometheusText).unwrap();
    for line in [
        "http_requests_before_middlewares_total 0\n",
        "http_responses_before_middlewares_total 0\n",
        "http_requests_latency_including_middlewares_seconds_bucket{le=\"0.01\"} 0\n",
        "http_requests_latency_including_middlewares_seconds_bucket{le=\"+Inf\"} 0\n",
        "http_requests_latency_including_middlewares_seconds_sum 0.0\n",
        "http_requests_latency_including_middlewares_seconds_count 0\n",
    ] {
        assert!(text.contains(line), "{line:?} in {text}");
    }
    assert!(
        !text.contains(BY_METHOD),
        "the sources have no series yet: {text}"
    );
    let openmetrics = metrics.render(Format::OpenMetrics).unwrap();
    assert!(openmetrics.contains("http_requests_before_middlewares_total 0\n"));
    assert!(openmetrics.contains("http_requests_latency_including_middlewares_seconds_count 0\n"));
    #[cfg(feature = "protobuf")]
    {
        let families = protobuf::families(&metrics);
        for name in [REQUESTS, RESPONSES] {
            let family = protobuf::family(&families, name);
            assert_eq!(family.metric.len(), 1, "{name}");
            assert_eq!(family.metric[0].counter.as_ref().unwrap().value, 0.0, "{name}");
        }
        let latency = protobuf::histograms(&families, LATENCY);
        assert_eq!(latency.len(), 1);
        assert_eq!(latency[0].sample_count, 0);
        assert_eq!(
            latency[0].bucket.len(),
            tower_prometheus::defaults::LATENCY_BUCKETS.len() + 1
        );
    }
}

#[test]
fn four_threads_recording_at_once_give_exact_totals() {
    const PER_THREAD: usize = 500;
    let metrics = Metrics::builder().process_metrics(false).build().unwrap();
    let sent: Vec<Sent> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let metrics = &metrics;
                scope.spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .build()
                        .expect("a runtime");
                    runtime.block_on(send_responses(metrics, PER_THREAD))
                })
            })
            .collect();
        // Scrapes racing the requests see counts that only grow.
        let mut last = 0;
        while threads.iter().any(|thread| !thread.is_finished()) {
            let read = read_text(
                &metrics.render(Format::PrometheusText).unwrap(),
                Format::PrometheusText,
            );
            assert!(read.requests >= last, "a derived counter never goes back");
            last = read.requests;
            std::thread::yield_now();
        }
        threads.into_iter().map(|thread| thread.join().unwrap()).collect()
    });
    let mut total = Sent::default();
    sent.into_iter().for_each(|sent| total.add(sent));
    assert_eq!(total.requests, 4 * PER_THREAD as u64);
    assert_bucket_totals(&metrics, total);
}

#[tokio::test]
async fn the_opentelemetry_profile_shows_none_of_the_derived_families() {
    let metrics = Metrics::builder()
        .naming(tower_prometheus::Naming::OpenTelemetry)
        .process_metrics(false)
        .build()
        .unwrap();
    send_responses(&metrics, 5).await;
    let text = metrics.render(Format::PrometheusText).unwrap();
    for name in [REQUESTS, RESPONSES, LATENCY] {
        assert!(!text.contains(name), "{name} in {text}");
    }
    assert!(
        text.contains("http_server_request_duration_seconds_count"),
        "{text}"
    );
}

/// `http_requests_total_by_method_total`, `http_requests_total_by_transport_total` and
/// `http_requests_before_middlewares_total` are the totals of one grid of counters by method
/// and transport: each value's count is what was sent with it, in every format, and a value
/// no request had is absent.
#[tokio::test]
async fn requests_by_method_and_by_transport_count_what_was_sent() {
    let metrics = Metrics::new();
    let app = ServiceBuilder::new().layer(metrics.layer()).service_fn(handler);
    let mut sent_by_method = std::collections::BTreeMap::new();
    let mut sent_by_transport = std::collections::BTreeMap::new();
    for (index, method) in METHODS.iter().enumerate() {
        // Method i: i + 1 requests over http and 2 i over https (none for the first).
        for (transport, count) in [("http", index + 1), ("https", 2 * index)] {
            for _ in 0..count {
                let uri = match transport {
                    "https" => "https://example.com/v/200",
                    _ => "/v/200",
                };
                let request = Request::builder()
                    .method(method.clone())
                    .uri(uri)
                    .body(String::new())
                    .unwrap();
                let response = app.clone().oneshot(request).await.unwrap();
                response.into_body().collect().await.unwrap();
            }
            *sent_by_method.entry(method.as_str().to_owned()).or_insert(0.0) += count as f64;
            *sent_by_transport.entry(transport.to_owned()).or_insert(0.0) += count as f64;
        }
    }
    let sent: f64 = sent_by_method.values().sum();
    for format in [Format::PrometheusText, Format::OpenMetrics] {
        let text = metrics.render(format).unwrap();
        let samples = parse(&text, format).unwrap();
        let by = |name: &str, label: &str| -> std::collections::BTreeMap<String, f64> {
            samples
                .iter()
                .filter(|sample| sample.name == name)
                .map(|sample| (sample.labels[label].clone(), sample.value))
                .collect()
        };
        assert_eq!(by(BY_METHOD, "method"), sent_by_method, "{format:?}");
        assert_eq!(
            by("http_requests_total_by_transport_total", "transport"),
            sent_by_transport,
            "{format:?}"
        );
        let total: Vec<f64> = samples
            .iter()
            .filter(|sample| sample.name == REQUESTS)
            .map(|sample| sample.value)
            .collect();
        assert_eq!(total, [sent], "{format:?}");
        assert!(
            !text.contains("method=\"HEAD\""),
            "no HEAD request was sent: {text}"
        );
    }
    #[cfg(feature = "protobuf")]
    {
        let families = protobuf::families(&metrics);
        let by = |name: &str, label: &str| -> std::collections::BTreeMap<String, f64> {
            protobuf::family(&families, name)
                .metric
                .iter()
                .map(|metric| {
                    let value = metric
                        .label
                        .iter()
                        .find(|pair| pair.name == label)
                        .expect("the label")
                        .value
                        .clone();
                    (value, metric.counter.as_ref().expect("a counter").value)
                })
                .collect()
        };
        assert_eq!(by(BY_METHOD, "method"), sent_by_method);
        assert_eq!(
            by("http_requests_total_by_transport_total", "transport"),
            sent_by_transport
        );
    }
}
