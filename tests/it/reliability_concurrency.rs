//! Item 1: counters are exact under concurrency, also while `/metrics` is scraped in a loop.

use crate::support;

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use support::exposition::{parse, scrape, total, Sample};
use tower::{Service, ServiceExt};
use tower_prometheus::{Format, Metrics, ViewName};

const TASKS: usize = 16;
const REQUESTS_PER_TASK: usize = 400;
const VIEWS: usize = 5;
const STATUSES: [u16; 4] = [200, 201, 404, 503];
const BODY: &[u8] = b"twelve bytes";

fn methods() -> Vec<(Method, &'static str)> {
    vec![
        (Method::GET, "GET"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::DELETE, "DELETE"),
        (Method::from_bytes(b"PURGE").unwrap(), "<invalid method>"),
    ]
}

/// `/v{view}/{status}`: names view `/v{view}` in the response and answers with `status`.
async fn inner(request: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    tokio::task::yield_now().await;
    let mut segments = request.uri().path().trim_start_matches('/').split('/');
    let view = format!("/{}", segments.next().unwrap());
    let status: u16 = segments.next().unwrap().parse().unwrap();
    let mut response = Response::new(Full::new(Bytes::from_static(BODY)));
    *response.status_mut() = StatusCode::from_u16(status).unwrap();
    response.extensions_mut().insert(ViewName::new(view));
    Ok(response)
}

/// The request `task` sends as its `index`-th: spreads over views, methods and statuses.
fn plan(task: usize, index: usize) -> (usize, usize, u16) {
    let n = task * 7919 + index * 31;
    (
        n % VIEWS,
        (n / VIEWS) % methods().len(),
        STATUSES[(n / 3) % STATUSES.len()],
    )
}

fn run(scrape_concurrently: bool) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let metrics = Metrics::new();
    let service = tower::ServiceBuilder::new()
        .layer(metrics.layer())
        .service_fn(inner);
    let stop = Arc::new(AtomicBool::new(false));
    let scrapes = Arc::new(AtomicU64::new(0));

    runtime.block_on(async {
        let scraper = scrape_concurrently.then(|| {
            let (service, stop, scrapes) = (service.clone(), stop.clone(), scrapes.clone());
            tokio::spawn(async move {
                let mut previous: HashMap<String, f64> = HashMap::new();
                let mut formats = [Format::PrometheusText, Format::OpenMetrics].into_iter().cycle();
                while !stop.load(Ordering::Relaxed) || scrapes.load(Ordering::Relaxed) < 3 {
                    let format = formats.next().unwrap();
                    let accept = match format {
                        Format::OpenMetrics => "application/openmetrics-text",
                        _ => "text/plain",
                    };
                    let request = Request::get("/metrics")
                        .header("accept", accept)
                        .body(Full::default())
                        .unwrap();
                    let response = service.clone().oneshot(request).await.unwrap();
                    scrapes.fetch_add(1, Ordering::Relaxed);
                    let body = response.into_body().collect().await.unwrap().to_bytes();
                    let text = String::from_utf8(body.to_vec()).unwrap();
                    let samples = parse(&text, format).unwrap_or_else(|e| panic!("mid-load scrape: {e}"));
                    assert_monotonic(&mut previous, &samples);
                    tokio::task::yield_now().await;
                }
            })
        });

        let senders: Vec<_> = (0..TASKS)
            .map(|task| {
                let mut service = service.clone();
                tokio::spawn(async move {
                    for index in 0..REQUESTS_PER_TASK {
                        let (view, method, status) = plan(task, index);
                        let request = Request::builder()
                            .method(methods()[method].0.clone())
                            .uri(format!("/v{view}/{status}"))
                            .body(Full::default())
                            .unwrap();
                        let response = service.ready().await.unwrap().call(request).await.unwrap();
                        assert_eq!(response.status().as_u16(), status);
                        let body = response.into_body().collect().await.unwrap().to_bytes();
                        assert_eq!(body, BODY);
                    }
                })
            })
            .collect();
        for sender in senders {
            sender.await.unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        if let Some(scraper) = scraper {
            scraper.await.unwrap();
        }
    });

    let scrapes = scrapes.load(Ordering::Relaxed) as f64;
    let samples = scrape(&metrics, Format::PrometheusText);
    let sent = (TASKS * REQUESTS_PER_TASK) as f64;
    let mut expected: HashMap<(usize, usize, u16), f64> = HashMap::new();
    for task in 0..TASKS {
        for index in 0..REQUESTS_PER_TASK {
            *expected.entry(plan(task, index)).or_default() += 1.0;
        }
    }
    let methods = methods();
    for view in 0..VIEWS {
        let view_label = format!("/v{view}");
        for (method, (_, method_label)) in methods.iter().enumerate() {
            let labels = [("view", view_label.as_str()), ("method", *method_label)];
            let mut view_method_total = 0.0;
            for status in STATUSES {
                let want = expected.get(&(view, method, status)).copied().unwrap_or(0.0);
                view_method_total += want;
                let status_label = status.to_string();
                let got = total(
                    &samples,
                    "http_responses_total_by_status_view_method_total",
                    &[labels[0], labels[1], ("status", &status_label)],
                );
                assert_eq!(got, want, "{view_label} {method_label} {status}");
            }
            let counted = total(
                &samples,
                "http_requests_total_by_view_transport_method_total",
                &labels,
            );
            assert_eq!(counted, view_method_total, "{view_label} {method_label}");
            let histogram = total(
                &samples,
                "http_requests_latency_seconds_by_view_method_count",
                &labels,
            );
            assert_eq!(
                histogram, counted,
                "latency _count of {view_label} {method_label}"
            );
        }
    }
    for (index, (_, method_label)) in methods.iter().enumerate() {
        let want: f64 = expected
            .iter()
            .filter(|((_, method, _), _)| *method == index)
            .map(|(_, count)| count)
            .sum();
        let scrapes_here = if *method_label == "GET" { scrapes } else { 0.0 };
        let got = total(
            &samples,
            "http_requests_total_by_method_total",
            &[("method", method_label)],
        );
        assert_eq!(got, want + scrapes_here, "method {method_label}");
    }
    for status in STATUSES {
        let want: f64 = expected
            .iter()
            .filter(|((_, _, s), _)| *s == status)
            .map(|(_, count)| count)
            .sum();
        let scrapes_here = if status == 200 { scrapes } else { 0.0 };
        let got = total(
            &samples,
            "http_responses_total_by_status_total",
            &[("status", &status.to_string())],
        );
        assert_eq!(got, want + scrapes_here, "status {status}");
    }
    // The scraper's own requests are measured under the metrics path, exactly once each.
    let scrape_requests = total(
        &samples,
        "http_requests_total_by_view_transport_method_total",
        &[("view", "/metrics")],
    );
    assert_eq!(scrape_requests, scrapes);
    for name in [
        "http_requests_before_middlewares_total",
        "http_responses_before_middlewares_total",
        "http_requests_latency_including_middlewares_seconds_count",
        "http_responses_body_total_bytes_count",
    ] {
        assert_eq!(total(&samples, name, &[]), sent + scrapes, "{name}");
    }
    let body_bytes = total(&samples, "http_responses_body_total_bytes_sum", &[]);
    assert!(body_bytes >= sent * BODY.len() as f64, "body bytes {body_bytes}");
    assert_eq!(total(&samples, "http_requests_in_flight", &[]), 0.0, "in flight");
    assert_eq!(
        total(&samples, "http_requests_cancelled_total", &[]),
        0.0,
        "cancelled"
    );
    assert_eq!(total(&samples, "http_requests_unknown_latency_total", &[]), 0.0);
    assert_eq!(total(&samples, "http_exceptions_total_by_type_total", &[]), 0.0);
}

/// Counters and histogram counts never go backwards between two scrapes.
fn assert_monotonic(previous: &mut HashMap<String, f64>, samples: &[Sample]) {
    for sample in samples {
        let cumulative = sample.name.ends_with("_total")
            || sample.name.ends_with("_count")
            || sample.name.ends_with("_bucket");
        if !cumulative {
            continue;
        }
        let key = format!("{}{:?}", sample.name, sample.labels);
        if let Some(before) = previous.insert(key.clone(), sample.value) {
            assert!(
                sample.value >= before,
                "{key} went from {before} to {}",
                sample.value
            );
        }
    }
}

#[test]
fn counters_are_exact_under_concurrency() {
    run(false);
}

#[test]
fn counters_are_exact_while_metrics_is_scraped_concurrently() {
    run(true);
}
