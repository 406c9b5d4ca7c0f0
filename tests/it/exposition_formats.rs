//! The exposition's negotiation through the public API: format by `Accept` (q-values),
//! gzip by `Accept-Encoding` (q-values), `Vary`, `HEAD`, and the protobuf body decoded with
//! prost.

#[cfg(feature = "gzip")]
use std::io::Read;

use http::{Request, Response};
use http_body_util::BodyExt;
use tower::{ServiceBuilder, ServiceExt};
use tower_prometheus::{ExpositionBody, Format, Metrics, ViewName};

/// What Prometheus 2.42 sends with `--enable-feature=native-histograms`.
const PROMETHEUS_NATIVE_ACCEPT: &str = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// What Prometheus 2.42 sends without it.
const PROMETHEUS_DEFAULT_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

async fn scrape(metrics: &Metrics, method: &str, headers: &[(&str, &str)]) -> (Response<()>, Vec<u8>) {
    let mut request = Request::builder().method(method).uri("/metrics");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response: Response<ExpositionBody> = metrics
        .exposition_service()
        .oneshot(request.body(()).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes().to_vec();
    (Response::from_parts(parts, ()), bytes)
}

#[cfg(feature = "gzip")]
fn gunzip(bytes: &[u8]) -> String {
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut text)
        .expect("a valid gzip stream");
    text
}

/// Three requests to `/users/{id}` through the layer.
pub(crate) async fn with_traffic() -> Metrics {
    let metrics = Metrics::new();
    let app = ServiceBuilder::new()
        .layer(metrics.layer())
        .service_fn(|_request: Request<String>| async {
            let mut response = Response::new(String::from("{}"));
            response.extensions_mut().insert(ViewName::new("/users/{id}"));
            Ok::<_, std::convert::Infallible>(response)
        });
    for id in 0..3 {
        let request = Request::get(format!("/users/{id}")).body(String::new()).unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        response.into_body().collect().await.unwrap();
    }
    metrics
}

#[tokio::test]
async fn accept_picks_the_format_by_quality() {
    let metrics = with_traffic().await;
    let cases: &[(Option<&str>, Format)] = &[
        (None, Format::PrometheusText),
        (Some("*/*"), Format::PrometheusText),
        (Some("text/plain;version=0.0.4"), Format::PrometheusText),
        (Some(PROMETHEUS_DEFAULT_ACCEPT), Format::OpenMetrics),
        (
            Some("application/openmetrics-text;q=0.3, text/plain;q=0.9"),
            Format::PrometheusText,
        ),
        (Some("application/json"), Format::PrometheusText),
        #[cfg(feature = "protobuf")]
        (Some(PROMETHEUS_NATIVE_ACCEPT), Format::Protobuf),
        #[cfg(not(feature = "protobuf"))]
        (Some(PROMETHEUS_NATIVE_ACCEPT), Format::OpenMetrics),
    ];
    for (accept, expected) in cases {
        let headers: Vec<(&str, &str)> = accept.iter().map(|accept| ("accept", *accept)).collect();
        let (response, body) = scrape(&metrics, "GET", &headers).await;
        assert_eq!(response.status(), 200, "{accept:?}");
        assert_eq!(
            response.headers()["content-type"],
            expected.content_type(),
            "Accept: {accept:?}"
        );
        assert!(!body.is_empty());
        if *expected == Format::OpenMetrics {
            assert!(body.ends_with(b"# EOF\n"));
        }
    }
}

#[cfg(feature = "gzip")]
#[tokio::test]
async fn gzip_is_served_when_accept_encoding_allows_it() {
    let metrics = with_traffic().await;
    let (plain, plain_body) = scrape(&metrics, "GET", &[]).await;
    assert!(plain.headers().get("content-encoding").is_none());
    let plain_text = String::from_utf8(plain_body).unwrap();
    assert!(plain_text.contains(
        "http_requests_total_by_view_transport_method_total{view=\"/users/{id}\",transport=\"http\",method=\"GET\"} 3"
    ));

    for accept_encoding in ["gzip", "br;q=1.0, gzip;q=0.8, *;q=0.1", "*", "x-gzip"] {
        let (response, body) = scrape(&metrics, "GET", &[("accept-encoding", accept_encoding)]).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-encoding"],
            "gzip",
            "{accept_encoding}"
        );
        assert_eq!(response.headers()["vary"], "Accept, Accept-Encoding");
        assert_eq!(
            response.headers()["content-type"],
            Format::PrometheusText.content_type()
        );
        let text = gunzip(&body);
        assert!(body.len() < text.len(), "compressed is smaller");
        assert!(text.contains(
            "http_requests_total_by_view_transport_method_total{view=\"/users/{id}\",transport=\"http\",method=\"GET\"} 3"
        ));
    }

    for accept_encoding in [
        "gzip;q=0",
        "identity",
        "gzip;q=0.5, identity;q=1",
        "br",
        "gzip;q=x",
        "",
    ] {
        let (response, body) = scrape(&metrics, "GET", &[("accept-encoding", accept_encoding)]).await;
        assert!(
            response.headers().get("content-encoding").is_none(),
            "{accept_encoding:?} must get identity"
        );
        assert_eq!(response.headers()["vary"], "Accept, Accept-Encoding");
        assert!(String::from_utf8(body)
            .unwrap()
            .contains("# TYPE http_requests_in_flight gauge"));
    }
}

#[cfg(feature = "gzip")]
#[tokio::test]
async fn openmetrics_is_compressed_too() {
    let metrics = with_traffic().await;
    let (response, body) = scrape(
        &metrics,
        "GET",
        &[("accept", PROMETHEUS_DEFAULT_ACCEPT), ("accept-encoding", "gzip")],
    )
    .await;
    assert_eq!(response.headers()["content-encoding"], "gzip");
    assert_eq!(
        response.headers()["content-type"],
        Format::OpenMetrics.content_type()
    );
    assert!(gunzip(&body).ends_with("# EOF\n"));
}

#[cfg(feature = "gzip")]
#[tokio::test]
async fn head_has_the_headers_of_get_and_no_body() {
    let metrics = with_traffic().await;
    let (response, body) = scrape(
        &metrics,
        "HEAD",
        &[("accept", PROMETHEUS_DEFAULT_ACCEPT), ("accept-encoding", "gzip")],
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        Format::OpenMetrics.content_type()
    );
    assert_eq!(response.headers()["content-encoding"], "gzip");
    assert!(body.is_empty());
}

#[cfg(feature = "gzip")]
#[tokio::test]
async fn the_layer_serves_the_same_negotiation() {
    let metrics = Metrics::new();
    let app = ServiceBuilder::new()
        .layer(metrics.layer())
        .service_fn(|_request: Request<String>| async {
            Ok::<_, std::convert::Infallible>(Response::new(String::new()))
        });
    let request = Request::get("/metrics")
        .header("accept", PROMETHEUS_DEFAULT_ACCEPT)
        .header("accept-encoding", "gzip")
        .body(String::new())
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    assert_eq!(response.headers()["content-encoding"], "gzip");
    assert_eq!(
        response.headers()["content-type"],
        Format::OpenMetrics.content_type()
    );
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert!(gunzip(&body).ends_with("# EOF\n"));
}

#[cfg(feature = "protobuf")]
mod protobuf {
    use prometheus_client::encoding::prometheus_protobuf::prometheus_data_model::{MetricFamily, MetricType};
    use prost::Message;

    use super::*;

    /// Splits a length-delimited stream into its messages; fails on any trailing garbage.
    pub(crate) fn decode_families(mut bytes: &[u8]) -> Vec<MetricFamily> {
        let mut families = Vec::new();
        while !bytes.is_empty() {
            families
                .push(MetricFamily::decode_length_delimited(&mut bytes).expect("a delimited MetricFamily"));
        }
        families
    }

    #[tokio::test]
    async fn protobuf_decodes_to_the_metric_families_with_the_traffic() {
        let metrics = with_traffic().await;
        let (response, body) = scrape(&metrics, "GET", &[("accept", PROMETHEUS_NATIVE_ACCEPT)]).await;
        assert_eq!(
            response.headers()["content-type"],
            Format::Protobuf.content_type()
        );
        let families = decode_families(&body);
        let by_view = families
            .iter()
            .find(|family| family.name == "http_requests_total_by_view_transport_method_total")
            .expect("the request counter family");
        assert_eq!(by_view.r#type, MetricType::Counter as i32);
        let metric = &by_view.metric[0];
        let labels: Vec<(&str, &str)> = metric
            .label
            .iter()
            .map(|pair| (pair.name.as_str(), pair.value.as_str()))
            .collect();
        assert_eq!(
            labels,
            [("view", "/users/{id}"), ("transport", "http"), ("method", "GET")]
        );
        assert_eq!(metric.counter.as_ref().unwrap().value, 3.0);
        let latency = families
            .iter()
            .find(|family| family.name == "http_requests_latency_including_middlewares_seconds")
            .expect("the latency family");
        let histogram = latency.metric[0].histogram.as_ref().unwrap();
        assert_eq!(histogram.sample_count, 3);
        // The configured bounds, then +Inf.
        assert_eq!(
            histogram.bucket.len(),
            tower_prometheus::defaults::LATENCY_BUCKETS.len() + 1
        );
        assert_eq!(histogram.bucket.last().unwrap().upper_bound, f64::INFINITY);
        assert_eq!(histogram.bucket.last().unwrap().cumulative_count, 3);
        assert!(histogram.positive_span.is_empty(), "classic only by default");
    }

    #[cfg(feature = "gzip")]
    #[tokio::test]
    async fn protobuf_is_gzipped_and_matches_render_bytes() {
        let metrics = with_traffic().await;
        let (response, body) = scrape(
            &metrics,
            "GET",
            &[("accept", PROMETHEUS_NATIVE_ACCEPT), ("accept-encoding", "gzip")],
        )
        .await;
        assert_eq!(response.headers()["content-encoding"], "gzip");
        let mut decompressed = Vec::new();
        flate2::read::GzDecoder::new(body.as_slice())
            .read_to_end(&mut decompressed)
            .unwrap();
        let names: Vec<String> = decode_families(&decompressed)
            .into_iter()
            .map(|family| family.name)
            .collect();
        assert!(names.contains(&"http_requests_in_flight".to_owned()));
        let rendered = metrics.render_bytes(Format::Protobuf).unwrap();
        let rendered_names: Vec<String> = decode_families(&rendered)
            .into_iter()
            .map(|family| family.name)
            .collect();
        // The second rendering adds the self-metrics of the first scrape, and loses nothing.
        assert!(names.iter().all(|name| rendered_names.contains(name)));
        assert!(rendered_names.contains(&"http_metrics_scrapes_total".to_owned()));
        assert!(!names.contains(&"http_metrics_scrapes_total".to_owned()));
        assert!(metrics.render(Format::Protobuf).is_err(), "render is text-only");
    }
}
