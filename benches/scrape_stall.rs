//! Scrapes don't stall traffic: with ~50 000 series, the latency of recording a request is
//! measured while another thread scrapes continuously, against the same without scrapes.
//!
//! ```text
//! cargo bench --bench scrape_stall
//! ```
//!
//! Prints the p50 / p99 / p99.9 / max of single requests through the layer (warm label sets,
//! and new label sets created during the scrape) in both conditions and the p99 ratio, then
//! runs the criterion benchmarks `record_request/idle` and `record_request/while_scraping`.

use std::borrow::Cow;
use std::convert::Infallible;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use futures_util::FutureExt;
use http::{Method, Request, Response};
use http_body_util::BodyExt;
use tower::ServiceExt;
use tower_prometheus::{Format, Metrics, MetricsService, ViewName};

const VIEWS: usize = 2_500;
const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
];
/// Requests timed one by one for the percentiles, per condition.
const TIMED_REQUESTS: usize = 200_000;
/// New views created per condition for the cold-path percentiles.
const NEW_VIEWS: usize = 2_000;
/// The interval between two requests with new label sets (2 000 × 250 µs = 0.5 s).
const COLD_PACING: Duration = Duration::from_micros(250);

type Inner =
    tower::util::ServiceFn<fn(Request<String>) -> std::future::Ready<Result<Response<String>, Infallible>>>;

/// Names the view from the request's `x-view` extension (a leaked `&'static str`).
fn inner(request: Request<String>) -> std::future::Ready<Result<Response<String>, Infallible>> {
    let view = *request.extensions().get::<&'static str>().unwrap();
    let mut response = Response::new(String::from("ok"));
    response
        .extensions_mut()
        .insert(ViewName::new(Cow::Borrowed(view)));
    std::future::ready(Ok(response))
}

fn view_names(prefix: &str, count: usize) -> Vec<&'static str> {
    (0..count)
        .map(|index| &*Box::leak(format!("/{prefix}/{index}/{{id}}").into_boxed_str()))
        .collect()
}

/// One request through the layer, body included; the inner service is always ready.
fn record(service: &MetricsService<Inner>, view: &'static str, method: &Method) {
    let mut request = Request::new(String::new());
    *request.method_mut() = method.clone();
    request.extensions_mut().insert(view);
    let response = service
        .clone()
        .oneshot(request)
        .now_or_never()
        .expect("ready")
        .unwrap();
    let body = response.into_body().collect().now_or_never().expect("ready");
    black_box(body.unwrap());
}

/// `VIEWS × METHODS` label sets, each in four families (latency histogram, in-flight gauge,
/// per view/transport/method and per status/view/method counters): 50 000 series.
fn populated() -> (Metrics, MetricsService<Inner>, Vec<&'static str>) {
    let metrics = Metrics::builder().max_label_sets(100_000).build().unwrap();
    let service = MetricsService::new(tower::service_fn(inner as fn(_) -> _), metrics.clone());
    let views = view_names("warm", VIEWS);
    for view in &views {
        for method in &METHODS {
            record(&service, view, method);
        }
    }
    (metrics, service, views)
}

struct Percentiles {
    p50: Duration,
    p99: Duration,
    p999: Duration,
    max: Duration,
}

impl Percentiles {
    fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        let at = |quantile: f64| samples[((samples.len() - 1) as f64 * quantile) as usize];
        Self {
            p50: at(0.5),
            p99: at(0.99),
            p999: at(0.999),
            max: *samples.last().unwrap(),
        }
    }
}

impl std::fmt::Display for Percentiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {:>9.2?}  p99 {:>9.2?}  p99.9 {:>9.2?}  max {:>9.2?}",
            self.p50, self.p99, self.p999, self.max
        )
    }
}

fn time_warm(service: &MetricsService<Inner>, views: &[&'static str]) -> Percentiles {
    let samples = (0..TIMED_REQUESTS)
        .map(|index| {
            let view = views[index % views.len()];
            let method = &METHODS[(index / views.len()) % METHODS.len()];
            let start = Instant::now();
            record(service, view, method);
            start.elapsed()
        })
        .collect();
    Percentiles::of(samples)
}

/// New label sets, one every `COLD_PACING`, so that they are spread over several scrapes
/// (and hit the encoding of every family) instead of completing in one short burst.
fn time_cold(service: &MetricsService<Inner>, views: &[&'static str]) -> Percentiles {
    let samples = views
        .iter()
        .map(|view| {
            let start = Instant::now();
            record(service, view, &Method::GET);
            let elapsed = start.elapsed();
            while start.elapsed() < COLD_PACING {
                std::hint::spin_loop();
            }
            elapsed
        })
        .collect();
    Percentiles::of(samples)
}

/// Scrapes `metrics` in a loop on another thread until dropped.
struct Scraper {
    stop: Arc<AtomicBool>,
    scrapes: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<Duration>>,
}

impl Scraper {
    fn start(metrics: &Metrics) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let scrapes = Arc::new(AtomicU64::new(0));
        let thread = std::thread::spawn({
            let (metrics, stop, scrapes) = (metrics.clone(), stop.clone(), scrapes.clone());
            move || {
                let mut longest = Duration::ZERO;
                while !stop.load(Ordering::Relaxed) {
                    let start = Instant::now();
                    black_box(metrics.render(Format::PrometheusText).unwrap());
                    longest = longest.max(start.elapsed());
                    scrapes.fetch_add(1, Ordering::Relaxed);
                }
                longest
            }
        });
        // Let the first scrape begin before measuring.
        std::thread::sleep(Duration::from_millis(20));
        Self {
            stop,
            scrapes,
            thread: Some(thread),
        }
    }

    /// Stops scraping; returns the number of scrapes and the longest one.
    fn finish(mut self) -> (u64, Duration) {
        self.stop.store(true, Ordering::Relaxed);
        let longest = self.thread.take().unwrap().join().unwrap();
        (self.scrapes.load(Ordering::Relaxed), longest)
    }
}

impl Drop for Scraper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn scrape_stall(c: &mut Criterion) {
    let (metrics, service, views) = populated();
    let text = metrics.render(Format::PrometheusText).unwrap();
    // A histogram is one series however many lines it has.
    let series = text
        .lines()
        .filter(|line| !line.starts_with('#') && !line.contains("_bucket{") && !line.contains("_sum"))
        .count();
    println!(
        "registry: {series} series ({} exposition lines, {} KiB)",
        text.lines().count(),
        text.len() / 1024
    );

    let idle_warm = time_warm(&service, &views);
    let idle_cold = time_cold(&service, &view_names("cold-idle", NEW_VIEWS));
    let scraper = Scraper::start(&metrics);
    let busy_warm = time_warm(&service, &views);
    let busy_cold = time_cold(&service, &view_names("cold-busy", NEW_VIEWS));
    let (scrapes, longest_scrape) = scraper.finish();

    println!("warm label sets, {TIMED_REQUESTS} requests each:");
    println!("  idle            {idle_warm}");
    println!("  while scraping  {busy_warm}");
    println!("new label sets, {NEW_VIEWS} requests each:");
    println!("  idle            {idle_cold}");
    println!("  while scraping  {busy_cold}");
    println!("{scrapes} scrapes during the measurement, the longest {longest_scrape:.2?}");
    println!(
        "p99 ratio (while scraping / idle): warm {:.2}, new label sets {:.2}",
        busy_warm.p99.as_secs_f64() / idle_warm.p99.as_secs_f64(),
        busy_cold.p99.as_secs_f64() / idle_cold.p99.as_secs_f64(),
    );

    let mut group = c.benchmark_group("record_request");
    let mut index = 0_usize;
    group.bench_function("idle", |b| {
        b.iter(|| {
            index = index.wrapping_add(1);
            record(&service, views[index % VIEWS], &METHODS[index % METHODS.len()]);
        })
    });
    let scraper = Scraper::start(&metrics);
    group.bench_function("while_scraping", |b| {
        b.iter(|| {
            index = index.wrapping_add(1);
            record(&service, views[index % VIEWS], &METHODS[index % METHODS.len()]);
        })
    });
    drop(scraper);
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = scrape_stall
}
criterion_main!(benches);
