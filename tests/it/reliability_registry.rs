//! Item 9: registry misuse. Custom metrics whose names collide with ours (or with each other)
//! are refused with a clear error, never a panic; two `Metrics` in one process keep separate
//! series (axum-prometheus panics on a second instance).

use crate::support;

use std::convert::Infallible;

use http::{Request, Response};
use http_body_util::BodyExt;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Unit;
use support::exposition::{scrape, total};
use tower::ServiceExt;
use tower_prometheus::{Format, Metrics, RegistrationError, ViewName};

/// Every name we expose, as users might try to register it (with and without `_total`).
const OUR_NAMES: &[&str] = &[
    "http_requests_before_middlewares",
    "http_requests_before_middlewares_total",
    "http_responses_before_middlewares",
    "http_requests_unknown_latency_including_middlewares",
    "http_requests_latency_seconds_by_view_method",
    "http_requests_unknown_latency",
    "http_ajax_requests",
    "http_requests_total_by_method",
    "http_requests_total_by_method_total",
    "http_requests_total_by_transport",
    "http_requests_total_by_view_transport_method",
    "http_responses_total_by_status",
    "http_responses_total_by_status_view_method",
    "http_responses_total_by_charset",
    "http_responses_streaming",
    "http_exceptions_total_by_type",
    "http_exceptions_total_by_view",
    "http_requests_in_flight",
    "http_requests_cancelled",
    "http_metrics_label_overflow",
];

#[test]
fn names_colliding_with_ours_are_refused() {
    let metrics = Metrics::new();
    for name in OUR_NAMES {
        let error = metrics
            .register(*name, "mine", Counter::<u64>::default())
            .expect_err(name);
        assert_eq!(error, RegistrationError::Reserved((*name).to_owned()));
        assert!(error.to_string().contains(name), "{error}");
        let error = metrics
            .register(*name, "mine", Gauge::<i64>::default())
            .unwrap_err();
        assert!(matches!(error, RegistrationError::Reserved(_)));
    }
    // With a unit, the exposed name is what collides.
    let error = metrics
        .register_with_unit(
            "http_requests_latency_including_middlewares",
            "mine",
            Unit::Seconds,
            Histogram::new([1.0]),
        )
        .unwrap_err();
    assert!(matches!(error, RegistrationError::Reserved(_)), "{error:?}");
    let error = metrics
        .register_with_unit(
            "http_requests_body_total",
            "mine",
            Unit::Bytes,
            Histogram::new([1.0]),
        )
        .unwrap_err();
    assert!(matches!(error, RegistrationError::Reserved(_)), "{error:?}");
    // A gauge or counter named like one of our histograms' sample lines would duplicate them.
    for name in [
        "http_requests_latency_seconds_by_view_method_count",
        "http_requests_latency_seconds_by_view_method_sum",
        "http_requests_latency_seconds_by_view_method_bucket",
        "http_responses_body_total_bytes_sum",
        "http_requests_latency_including_middlewares_seconds_count",
    ] {
        let error = metrics
            .register(name, "mine", Gauge::<i64>::default())
            .unwrap_err();
        assert!(
            matches!(error, RegistrationError::Reserved(_)),
            "{name}: {error:?}"
        );
    }
    // The refused metrics left no trace; the exposition is still valid and unambiguous.
    let samples = scrape(&metrics, Format::PrometheusText);
    assert!(!samples
        .iter()
        .any(|sample| sample.labels.is_empty() && sample.name == "http_ajax_requests"));
    let text = metrics.render(Format::PrometheusText).unwrap();
    assert_eq!(text.matches("# TYPE http_ajax_requests_total counter").count(), 1);
    assert!(!text.contains("mine"));
}

#[test]
fn duplicate_and_invalid_custom_names_are_refused() {
    let metrics = Metrics::new();
    let orders: Counter = Counter::default();
    metrics.register("orders", "Orders", orders.clone()).unwrap();
    let error = metrics
        .register("orders", "again", Counter::<u64>::default())
        .unwrap_err();
    assert_eq!(error, RegistrationError::Duplicate("orders".to_owned()));
    // `orders_total` would expose the same `orders_total` counter.
    let error = metrics
        .register("orders_total", "again", Counter::<u64>::default())
        .unwrap_err();
    assert!(matches!(error, RegistrationError::Duplicate(_)));
    // Between custom metrics too: a histogram `latency` exposes `latency_count`.
    metrics
        .register("latency", "Latency", Histogram::new([1.0]))
        .unwrap();
    let error = metrics
        .register("latency_count", "again", Gauge::<i64>::default())
        .unwrap_err();
    assert!(matches!(error, RegistrationError::Duplicate(_)));
    metrics
        .register("queue_depth", "Depth", Gauge::<i64>::default())
        .unwrap();
    // `queue` exposes queue_bucket, queue_count and queue_sum, never queue_depth.
    metrics
        .register("queue", "histogram", Histogram::new([1.0]))
        .unwrap();
    for bad in ["", "2fast", "with space", "dash-ed", "ünïcode", "new\nline"] {
        let error = metrics
            .register(bad, "bad", Counter::<u64>::default())
            .unwrap_err();
        assert_eq!(error, RegistrationError::InvalidName(bad.to_owned()));
    }
    orders.inc();
    let samples = scrape(&metrics, Format::OpenMetrics);
    assert_eq!(total(&samples, "orders_total", &[]), 1.0);
}

#[test]
fn a_counter_named_with_total_is_exposed_once_with_it() {
    // prometheus-client panics (debug) on such a name and would expose `jobs_total_total`.
    let metrics = Metrics::new();
    let jobs: Counter = Counter::default();
    metrics.register("jobs_total", "Jobs done", jobs.clone()).unwrap();
    jobs.inc();
    for format in [Format::PrometheusText, Format::OpenMetrics] {
        let text = metrics.render(format).unwrap();
        assert!(text.contains("\njobs_total 1\n"), "{format}: {text}");
        assert!(!text.contains("jobs_total_total"));
    }
    let error = metrics
        .register("jobs", "again", Counter::<u64>::default())
        .unwrap_err();
    assert!(matches!(error, RegistrationError::Duplicate(_)));
    // A gauge keeps its name as given.
    metrics
        .register("queue_total", "Queued", Gauge::<i64>::default())
        .unwrap();
    assert!(metrics
        .render(Format::PrometheusText)
        .unwrap()
        .contains("\nqueue_total 0\n"));
}

#[test]
fn a_counter_name_still_ending_in_total_without_its_suffix_is_refused_not_a_panic() {
    let metrics = Metrics::new();
    for name in ["_total", "jobs_total_total"] {
        let plain = metrics.register(name, "refused", Counter::<u64>::default());
        assert_eq!(plain, Err(RegistrationError::CounterName(name.to_owned())));
        let with_unit = metrics.register_with_unit(name, "refused", Unit::Seconds, Counter::<u64>::default());
        assert_eq!(with_unit, Err(RegistrationError::CounterName(name.to_owned())));
        let message = plain.unwrap_err().to_string();
        assert!(message.contains(name) && message.contains("_total"), "{message}");
    }
    // As gauges, the same names are fine.
    metrics
        .register("jobs_total_total", "a gauge", Gauge::<i64>::default())
        .unwrap();
    let text = metrics.render(Format::PrometheusText).unwrap();
    assert!(text.contains("\njobs_total_total 0\n"), "{text}");
}

#[test]
fn a_namespace_keeps_custom_names_apart_from_ours() {
    // Under a namespace our names are `shop_http_…`; a custom `http_…` name still collides
    // because it gets the same prefix.
    let metrics = Metrics::builder().namespace("shop").build().unwrap();
    assert!(metrics
        .register("http_ajax_requests", "mine", Counter::<u64>::default())
        .is_err());
    metrics
        .register("checkout", "mine", Counter::<u64>::default())
        .unwrap();
    let text = metrics.render(Format::PrometheusText).unwrap();
    assert!(text.contains("shop_checkout_total 0"));
}

async fn hello(_request: Request<String>) -> Result<Response<String>, Infallible> {
    let mut response = Response::new(String::from("hello"));
    response.extensions_mut().insert(ViewName::new("/hello"));
    Ok(response)
}

#[tokio::test]
async fn two_instances_in_one_process_keep_separate_series() {
    let first = Metrics::new();
    let second = Metrics::new();
    let first_app = tower::ServiceBuilder::new()
        .layer(first.layer())
        .service_fn(hello);
    let second_app = tower::ServiceBuilder::new()
        .layer(second.layer())
        .service_fn(hello);
    for _ in 0..3 {
        let response = first_app
            .clone()
            .oneshot(Request::get("/hello").body(String::new()).unwrap())
            .await
            .unwrap();
        response.into_body().collect().await.unwrap();
    }
    let response = second_app
        .clone()
        .oneshot(Request::get("/hello").body(String::new()).unwrap())
        .await
        .unwrap();
    response.into_body().collect().await.unwrap();

    let first_samples = scrape(&first, Format::PrometheusText);
    let second_samples = scrape(&second, Format::PrometheusText);
    let name = "http_requests_total_by_view_transport_method_total";
    assert_eq!(total(&first_samples, name, &[("view", "/hello")]), 3.0);
    assert_eq!(total(&second_samples, name, &[("view", "/hello")]), 1.0);
    let name = "http_requests_before_middlewares_total";
    assert_eq!(total(&first_samples, name, &[]), 3.0);
    assert_eq!(total(&second_samples, name, &[]), 1.0);

    // Each serves its own exposition on its own layer.
    let scrape_second = second_app
        .oneshot(Request::get("/metrics").body(String::new()).unwrap())
        .await
        .unwrap();
    let body = scrape_second.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(text.contains("http_requests_total_by_view_transport_method_total{view=\"/hello\",transport=\"http\",method=\"GET\"} 1\n"));

    // The same custom name on both instances is fine: they are separate registries.
    let first_orders: Counter = Counter::default();
    let second_orders: Counter = Counter::default();
    first.register("orders", "Orders", first_orders.clone()).unwrap();
    second
        .register("orders", "Orders", second_orders.clone())
        .unwrap();
    first_orders.inc_by(5);
    second_orders.inc_by(2);
    assert_eq!(
        total(&scrape(&first, Format::PrometheusText), "orders_total", &[]),
        5.0
    );
    assert_eq!(
        total(&scrape(&second, Format::PrometheusText), "orders_total", &[]),
        2.0
    );
}

#[test]
fn many_instances_can_be_created_and_dropped() {
    for index in 0..200 {
        let metrics = Metrics::builder()
            .namespace(format!("app{index}"))
            .build()
            .unwrap();
        metrics
            .register("custom", "custom", Counter::<u64>::default())
            .unwrap();
        let text = metrics.render(Format::OpenMetrics).unwrap();
        assert!(text.contains(&format!("app{index}_custom_total 0")));
    }
}

#[test]
fn registering_while_recording_and_scraping_is_safe() {
    let metrics = Metrics::new();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for index in 0..200 {
                let counter: Counter = Counter::default();
                metrics
                    .register(format!("custom_{index}"), "custom", counter.clone())
                    .unwrap();
                counter.inc();
            }
        });
        scope.spawn(|| {
            for _ in 0..50 {
                scrape(&metrics, Format::OpenMetrics);
            }
        });
        scope.spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let app = tower::ServiceBuilder::new()
                .layer(metrics.layer())
                .service_fn(hello);
            runtime.block_on(async {
                for _ in 0..200 {
                    let response = app
                        .clone()
                        .oneshot(Request::get("/hello").body(String::new()).unwrap())
                        .await
                        .unwrap();
                    response.into_body().collect().await.unwrap();
                }
            });
        });
    });
    let samples = scrape(&metrics, Format::PrometheusText);
    assert_eq!(total(&samples, "custom_199_total", &[]), 1.0);
    assert_eq!(
        total(
            &samples,
            "http_requests_total_by_view_transport_method_total",
            &[("view", "/hello")]
        ),
        200.0
    );
}
