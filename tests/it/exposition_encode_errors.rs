//! A collector that fails half-way through never yields a truncated `200`: by default the
//! scrape answers `500` with a message; with `EncodeErrorPolicy::ServeWhatEncodes` everything
//! but the failing part is served, and `http_metrics_encode_errors_total` counts the loss.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use http::Request;
use http_body_util::BodyExt;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;
use tower::ServiceExt;
use tower_prometheus::{EncodeErrorPolicy, Format, Metrics};

/// Writes one good gauge, starts a second family, then fails while `failing` is set: a naive
/// encoder would leave `half_written_ok 1` and the `half_written_broken` descriptor behind.
#[derive(Debug)]
struct FailsHalfWay {
    failing: Arc<AtomicBool>,
}

impl Collector for FailsHalfWay {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let gauge = ConstGauge::new(1);
        let metric =
            encoder.encode_descriptor("half_written_ok", "Encoded first", None, gauge.metric_type())?;
        gauge.encode(metric)?;
        if self.failing.load(Ordering::Relaxed) {
            let _metric = encoder.encode_descriptor(
                "half_written_broken",
                "Never finished",
                None,
                gauge.metric_type(),
            )?;
            return Err(std::fmt::Error);
        }
        Ok(())
    }
}

#[derive(Debug)]
struct Healthy;

impl Collector for Healthy {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let gauge = ConstGauge::new(42);
        let metric = encoder.encode_descriptor(
            "healthy_answer",
            "Registered after the failing one",
            None,
            gauge.metric_type(),
        )?;
        gauge.encode(metric)
    }
}

fn metrics_with(policy: Option<EncodeErrorPolicy>) -> (Metrics, Arc<AtomicBool>) {
    let builder = Metrics::builder();
    let metrics = match policy {
        Some(policy) => builder.encode_error_policy(policy),
        None => builder,
    }
    .build()
    .unwrap();
    let failing = Arc::new(AtomicBool::new(true));
    metrics
        .register_collector(Box::new(FailsHalfWay {
            failing: Arc::clone(&failing),
        }))
        .unwrap();
    metrics.register_collector(Box::new(Healthy)).unwrap();
    (metrics, failing)
}

async fn scrape(metrics: &Metrics, accept: &str) -> (u16, String, String) {
    let request = Request::get("/metrics")
        .header("accept", accept)
        .body(())
        .unwrap();
    let response = metrics.exposition_service().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, content_type, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn by_default_a_failing_collector_gives_500_with_a_clear_message() {
    let (metrics, failing) = metrics_with(None);
    for accept in ["text/plain", "application/openmetrics-text"] {
        let (status, content_type, body) = scrape(&metrics, accept).await;
        assert_eq!(status, 500, "{accept}");
        assert_eq!(content_type, "text/plain; charset=utf-8");
        assert!(body.contains("a metric or collector failed to encode"), "{body}");
        assert!(
            body.contains("encode_error_policy"),
            "the message says what to change: {body}"
        );
        assert!(
            !body.contains("http_requests_before_middlewares_total"),
            "no partial exposition: {body}"
        );
    }
    assert!(metrics.render(Format::PrometheusText).is_err());

    // Once the collector recovers, the failed scrapes are visible in the self-metrics.
    failing.store(false, Ordering::Relaxed);
    let (status, _, text) = scrape(&metrics, "text/plain").await;
    assert_eq!(status, 200);
    for line in [
        r#"http_metrics_scrapes_total{format="prometheus-text-0.0.4",status="500"} 1"#,
        r#"http_metrics_scrapes_total{format="openmetrics-text-1.0.0",status="500"} 1"#,
        // The text scrape and the render.
        r#"http_metrics_encode_errors_total{format="prometheus-text-0.0.4"} 2"#,
        r#"http_metrics_encode_errors_total{format="openmetrics-text-1.0.0"} 1"#,
        "half_written_ok 1",
        "healthy_answer 42",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert!(!text.contains("half_written_broken"));
}

#[tokio::test]
async fn serve_what_encodes_drops_only_the_failing_collector_and_counts_it() {
    let (metrics, _failing) = metrics_with(Some(EncodeErrorPolicy::ServeWhatEncodes));
    for accept in ["text/plain", "application/openmetrics-text"] {
        let (status, content_type, body) = scrape(&metrics, accept).await;
        assert_eq!(status, 200, "{accept}");
        assert_ne!(content_type, "text/plain; charset=utf-8");
        assert!(
            body.contains("http_requests_before_middlewares_total"),
            "ours are served"
        );
        assert!(
            body.contains("healthy_answer 42"),
            "the part after the failing one is served"
        );
        assert!(
            !body.contains("half_written"),
            "nothing of the failing part: {body}"
        );
        if accept.starts_with("application/openmetrics-text") {
            assert!(body.ends_with("# EOF\n"), "the exposition is complete");
        }
    }
    let text = metrics.render(Format::PrometheusText).unwrap();
    assert!(
        text.contains(r#"http_metrics_encode_errors_total{format="prometheus-text-0.0.4"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"http_metrics_encode_errors_total{format="openmetrics-text-1.0.0"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"http_metrics_scrapes_total{format="prometheus-text-0.0.4",status="200"} 1"#));
}

#[cfg(feature = "protobuf")]
#[tokio::test]
async fn serve_what_encodes_holds_for_protobuf() {
    use prometheus_client::encoding::prometheus_protobuf::prometheus_data_model::MetricFamily;
    use prost::Message;

    let (metrics, _failing) = metrics_with(Some(EncodeErrorPolicy::ServeWhatEncodes));
    let mut bytes = metrics.render_bytes(Format::Protobuf).unwrap();
    let mut names = Vec::new();
    let mut rest = bytes.as_slice();
    while !rest.is_empty() {
        names.push(MetricFamily::decode_length_delimited(&mut rest).unwrap().name);
    }
    assert!(names.contains(&"healthy_answer".to_owned()));
    assert!(
        !names.iter().any(|name| name.starts_with("half_written")),
        "{names:?}"
    );
    bytes.clear();

    let (strict, _failing) = metrics_with(None);
    assert!(strict.render_bytes(Format::Protobuf).is_err());
}
