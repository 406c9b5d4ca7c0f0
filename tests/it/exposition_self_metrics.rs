//! The scrape self-metrics: scrapes by format and status, encode time, bytes written (after
//! compression), and their names are reserved.

use crate::support;

use http::Request;
use http_body_util::BodyExt;
use prometheus_client::metrics::counter::Counter;
use support::exposition::{parse_text, value};
use tower::ServiceExt;
use tower_prometheus::{Format, Metrics, RegistrationError};

async fn scrape(metrics: &Metrics, headers: &[(&str, &str)]) -> (u16, usize) {
    let mut request = Request::get("/metrics");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = metrics
        .exposition_service()
        .oneshot(request.body(()).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, body.len())
}

#[tokio::test]
async fn scrapes_are_counted_by_format_and_status_with_their_sizes() {
    let metrics = Metrics::new();
    let (_, first_plain) = scrape(&metrics, &[]).await;
    let (_, second_plain) = scrape(&metrics, &[]).await;
    let (_, gzipped) = scrape(&metrics, &[("accept-encoding", "gzip")]).await;
    let gzip_scrapes = u8::from(!cfg!(feature = "gzip"));
    scrape(&metrics, &[("accept", "application/openmetrics-text")]).await;
    // HEAD renders (and is counted) but writes no body.
    let head = metrics
        .exposition_service()
        .oneshot(Request::head("/metrics").body(()).unwrap())
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    let refused = metrics
        .exposition_service()
        .oneshot(Request::post("/metrics").body(()).unwrap())
        .await
        .unwrap();
    assert_eq!(refused.status(), 405);

    let text = metrics.render(Format::PrometheusText).unwrap();
    let samples = parse_text(&text);
    let sample = |name: &str, labels: &[(&str, &str)]| {
        value(&samples, name, labels).unwrap_or_else(|| panic!("no sample {name} {labels:?} in\n{text}"))
    };
    let text_format = ("format", "prometheus-text-0.0.4");
    let ok = ("status", "200");
    assert_eq!(sample("http_metrics_scrapes_total", &[text_format, ok]), 4.0);
    assert_eq!(
        sample(
            "http_metrics_scrapes_total",
            &[("format", "openmetrics-text-1.0.0"), ok]
        ),
        1.0
    );
    assert!(
        !text.contains("status=\"405\""),
        "a refused method is not a scrape"
    );
    assert_eq!(
        sample("http_metrics_encode_duration_seconds_count", &[text_format]),
        4.0
    );
    assert!(sample("http_metrics_encode_duration_seconds_sum", &[text_format]) > 0.0);
    let identity = [text_format, ("encoding", "identity")];
    assert_eq!(
        sample("http_metrics_response_bytes_count", &identity),
        f64::from(3 + gzip_scrapes)
    );
    if cfg!(feature = "gzip") {
        assert_eq!(
            sample("http_metrics_response_bytes_sum", &identity),
            (first_plain + second_plain) as f64,
            "the bytes written are the bodies' lengths"
        );
        assert_eq!(
            sample(
                "http_metrics_response_bytes_sum",
                &[text_format, ("encoding", "gzip")]
            ),
            gzipped as f64
        );
        assert!(gzipped < second_plain, "the gzip size is the compressed size");
    }
}

#[test]
fn the_self_metric_names_are_reserved() {
    let metrics = Metrics::new();
    for name in [
        "http_metrics_scrapes",
        "http_metrics_scrapes_total",
        "http_metrics_encode_duration_seconds",
        "http_metrics_response_bytes",
        "http_metrics_encode_errors",
    ] {
        let counter: Counter = Counter::default();
        assert!(
            matches!(
                metrics.register(name, "clash", counter),
                Err(RegistrationError::Reserved(_))
            ),
            "{name} must be refused"
        );
    }
}
