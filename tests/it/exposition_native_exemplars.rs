//! Native histograms and exemplars through the public API: what each format carries.

use std::time::Duration;

use http::{Request, Response};
use http_body_util::BodyExt;
use tower::{ServiceBuilder, ServiceExt};
use tower_prometheus::{Format, Metrics, ViewName};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SAMPLED: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const NOT_SAMPLED: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";

/// Sends `GET /work` through the layer with `headers`; the handler sleeps `delay`.
async fn request(metrics: &Metrics, delay: Duration, headers: &[(&str, &str)]) {
    let app = ServiceBuilder::new().layer(metrics.layer()).service_fn(
        move |_request: Request<String>| async move {
            tokio::time::sleep(delay).await;
            let mut response = Response::new(String::from("done"));
            response.extensions_mut().insert(ViewName::new("/work"));
            Ok::<_, std::convert::Infallible>(response)
        },
    );
    let mut request = Request::get("/work");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app.oneshot(request.body(String::new()).unwrap()).await.unwrap();
    response.into_body().collect().await.unwrap();
}

/// Lines of `text` holding an exemplar (` # {`), for families starting with `family`.
fn exemplar_lines<'t>(text: &'t str, family: &str) -> Vec<&'t str> {
    text.lines()
        .filter(|line| line.starts_with(family) && line.contains(" # {"))
        .collect()
}

#[cfg(feature = "protobuf")]
mod protobuf {
    use prometheus_client::encoding::prometheus_protobuf::prometheus_data_model::{Histogram, MetricFamily};
    use tower_prometheus::NativeHistograms;

    use super::*;

    pub(super) use crate::support::exposition::{protobuf_families as families, protobuf_family as family};

    /// The latency histogram of view `/work`.
    fn view_latency(families: &[MetricFamily]) -> Histogram {
        family(families, "http_requests_latency_seconds_by_view_method")
            .metric
            .iter()
            .find(|metric| {
                metric
                    .label
                    .iter()
                    .any(|pair| pair.name == "view" && pair.value == "/work")
            })
            .and_then(|metric| metric.histogram.clone())
            .expect("the /work latency histogram")
    }

    /// The native buckets as (index, count), from spans and deltas.
    fn native_buckets(histogram: &Histogram) -> Vec<(i32, i64)> {
        let mut buckets = Vec::new();
        let mut deltas = histogram.positive_delta.iter();
        let (mut index, mut count) = (0_i32, 0_i64);
        for (position, span) in histogram.positive_span.iter().enumerate() {
            index += span.offset + if position == 0 { 0 } else { 1 };
            for step in 0..span.length {
                if step > 0 {
                    index += 1;
                }
                count += deltas.next().expect("one delta per bucket");
                buckets.push((index, count));
            }
        }
        assert!(deltas.next().is_none(), "no delta beyond the spans");
        buckets
    }

    #[tokio::test]
    async fn classic_and_native_puts_the_latency_in_the_right_exponential_bucket() {
        let metrics = Metrics::builder()
            .native_histograms(NativeHistograms::classic_and_native())
            .build()
            .unwrap();
        request(&metrics, Duration::from_millis(30), &[]).await;

        let families = families(&metrics);
        let histogram = view_latency(&families);
        assert_eq!(histogram.schema, 3);
        assert_eq!(histogram.sample_count, 1);
        let latency = histogram.sample_sum;
        assert!(latency >= 0.03, "slept 30 ms, observed {latency}");
        let buckets = native_buckets(&histogram);
        assert_eq!(buckets.iter().map(|(_, count)| count).sum::<i64>(), 1);
        let (index, _) = buckets.iter().find(|(_, count)| *count == 1).unwrap();
        // Schema 3: bucket i holds (2^((i-1)/8), 2^(i/8)].
        let upper = (f64::from(*index) / 8.0).exp2();
        let lower = (f64::from(*index - 1) / 8.0).exp2();
        assert!(
            lower < latency && latency <= upper,
            "{latency} in ({lower}, {upper}]"
        );
        // Classic buckets are kept for text scrapers.
        assert_eq!(
            histogram.bucket.len(),
            tower_prometheus::defaults::LATENCY_BUCKETS.len() + 1
        );
        let text = metrics.render(Format::PrometheusText).unwrap();
        assert!(text.contains(r#"http_requests_latency_seconds_by_view_method_bucket{view="/work",method="GET",le="0.05"} 1"#), "{text}");
        let openmetrics = metrics.render(Format::OpenMetrics).unwrap();
        assert!(openmetrics.ends_with("# EOF\n"));
    }

    #[tokio::test]
    async fn schema_and_bucket_factor_set_the_resolution() {
        let metrics = Metrics::builder()
            .native_histograms(NativeHistograms::native_only().with_bucket_factor(2.0))
            .build()
            .unwrap();
        request(&metrics, Duration::from_millis(1), &[]).await;
        let histogram = view_latency(&families(&metrics));
        assert_eq!(histogram.schema, 0);
        assert!(histogram.bucket.is_empty(), "native only: no classic buckets");
        assert_eq!(
            native_buckets(&histogram)
                .iter()
                .map(|(_, count)| count)
                .sum::<i64>(),
            1
        );
    }

    #[tokio::test]
    async fn native_only_serves_text_instead_of_openmetrics() {
        let metrics = Metrics::builder()
            .native_histograms(NativeHistograms::native_only())
            .build()
            .unwrap();
        request(&metrics, Duration::from_millis(1), &[]).await;
        let response = metrics
            .exposition_service()
            .oneshot(
                Request::get("/metrics")
                    .header("accept", "application/openmetrics-text")
                    .body(())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"],
            Format::PrometheusText.content_type()
        );
        let text =
            String::from_utf8(response.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
        // Only the +Inf bucket survives in text.
        let buckets: Vec<&str> = text
            .lines()
            .filter(|line| {
                line.starts_with(r#"http_requests_latency_seconds_by_view_method_bucket{view="/work""#)
            })
            .collect();
        assert_eq!(
            buckets,
            [r#"http_requests_latency_seconds_by_view_method_bucket{view="/work",method="GET",le="+Inf"} 1"#]
        );
        // prometheus-client refuses OpenMetrics for native-only histograms.
        assert!(metrics.render(Format::OpenMetrics).is_err());
    }

    #[tokio::test]
    async fn protobuf_carries_exemplars_of_counters_and_classic_buckets() {
        let metrics = Metrics::builder().exemplars_from_traceparent().build().unwrap();
        request(&metrics, Duration::from_millis(1), &[("traceparent", SAMPLED)]).await;
        let families = families(&metrics);
        let counter = family(&families, "http_requests_total_by_view_transport_method_total").metric[0]
            .counter
            .clone()
            .unwrap();
        let exemplar = counter.exemplar.expect("the counter's exemplar");
        assert_eq!(exemplar.label[0].name, "trace_id");
        assert_eq!(exemplar.label[0].value, TRACE_ID);
        assert_eq!(exemplar.value, 1.0);
        assert!(exemplar.timestamp.is_some());
        let histogram = view_latency(&families);
        let with_exemplar: Vec<_> = histogram
            .bucket
            .iter()
            .filter_map(|bucket| bucket.exemplar.as_ref())
            .collect();
        assert_eq!(with_exemplar.len(), 1);
        assert_eq!(with_exemplar[0].label[0].value, TRACE_ID);
        assert_eq!(with_exemplar[0].value, histogram.sample_sum);
    }

    #[tokio::test]
    async fn with_native_histograms_the_counter_still_carries_the_exemplar() {
        let metrics = Metrics::builder()
            .native_histograms(NativeHistograms::classic_and_native())
            .exemplars_from_traceparent()
            .build()
            .unwrap();
        request(&metrics, Duration::from_millis(1), &[("traceparent", SAMPLED)]).await;
        let families = families(&metrics);
        let counter = family(&families, "http_requests_total_by_view_transport_method_total").metric[0]
            .counter
            .clone()
            .unwrap();
        assert_eq!(counter.exemplar.unwrap().label[0].value, TRACE_ID);
        assert!(!view_latency(&families).positive_span.is_empty());
    }
}

#[tokio::test]
async fn sampled_traceparents_become_openmetrics_exemplars_and_never_reach_text() {
    let metrics = Metrics::builder().exemplars_from_traceparent().build().unwrap();
    request(&metrics, Duration::from_millis(1), &[("traceparent", SAMPLED)]).await;
    let openmetrics = metrics.render(Format::OpenMetrics).unwrap();
    let expected = format!(r#"# {{trace_id="{TRACE_ID}"}} "#);
    let latency = exemplar_lines(
        &openmetrics,
        "http_requests_latency_seconds_by_view_method_bucket",
    );
    assert_eq!(latency.len(), 1, "{openmetrics}");
    assert!(latency[0].contains(&expected), "{}", latency[0]);
    let unlabelled = exemplar_lines(
        &openmetrics,
        "http_requests_latency_including_middlewares_seconds_bucket",
    );
    assert_eq!(unlabelled.len(), 1, "{openmetrics}");
    let counter = exemplar_lines(&openmetrics, "http_requests_total_by_view_transport_method_total");
    assert_eq!(counter.len(), 1, "{openmetrics}");
    assert!(counter[0].starts_with(r#"http_requests_total_by_view_transport_method_total{view="/work",transport="http",method="GET"} 1 # {trace_id=""#));

    // A later request without a trace keeps the counter's exemplar and increments it.
    request(&metrics, Duration::from_millis(1), &[]).await;
    request(
        &metrics,
        Duration::from_millis(1),
        &[("traceparent", NOT_SAMPLED)],
    )
    .await;
    let openmetrics = metrics.render(Format::OpenMetrics).unwrap();
    let counter = exemplar_lines(&openmetrics, "http_requests_total_by_view_transport_method_total");
    assert_eq!(counter.len(), 1);
    assert!(
        counter[0].contains(" 3 # {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\"} 1"),
        "{}",
        counter[0]
    );
    assert!(
        !openmetrics.contains("0af7651916cd43dd8448eb211c80319c"),
        "unsampled traces are not exemplars"
    );

    let text = metrics.render(Format::PrometheusText).unwrap();
    assert!(
        !text.contains(" # {"),
        "Prometheus text 0.0.4 has no exemplars:\n{text}"
    );
    assert!(!text.contains(TRACE_ID));
}

#[tokio::test]
async fn without_the_option_traceparent_is_ignored() {
    let metrics = Metrics::new();
    request(&metrics, Duration::from_millis(1), &[("traceparent", SAMPLED)]).await;
    let openmetrics = metrics.render(Format::OpenMetrics).unwrap();
    assert!(!openmetrics.contains(TRACE_ID));
    // The request was recorded, without any exemplar.
    let samples = crate::support::exposition::parse(&openmetrics, Format::OpenMetrics).unwrap();
    assert_eq!(
        crate::support::exposition::value(
            &samples,
            "http_requests_total_by_view_transport_method_total",
            &[("view", "/work"), ("transport", "http"), ("method", "GET")]
        ),
        Some(1.0),
        "{openmetrics}"
    );
    assert_eq!(exemplar_lines(&openmetrics, "http_"), Vec::<&str>::new());
}

#[tokio::test]
async fn a_closure_can_supply_the_trace_id_within_the_openmetrics_limit() {
    let metrics = Metrics::builder()
        .exemplars_from(|request: &tower_prometheus::RequestHead<'_>| {
            Some(request.headers().get("x-trace-id")?.to_str().ok()?.to_owned())
        })
        .build()
        .unwrap();
    request(
        &metrics,
        Duration::from_millis(1),
        &[("x-trace-id", "order-\"42\"")],
    )
    .await;
    let openmetrics = metrics.render(Format::OpenMetrics).unwrap();
    let counter = exemplar_lines(&openmetrics, "http_requests_total_by_view_transport_method_total");
    assert!(
        counter[0].contains(r#"# {trace_id="order-\"42\""} 1"#),
        "escaped: {}",
        counter[0]
    );

    // 121 characters would exceed OpenMetrics' 128 for `trace_id` + value: not recorded.
    let too_long = "x".repeat(121);
    let fresh = Metrics::builder()
        .exemplars_from(move |_request: &tower_prometheus::RequestHead<'_>| Some(too_long.clone()))
        .build()
        .unwrap();
    request(&fresh, Duration::from_millis(1), &[]).await;
    let openmetrics = fresh.render(Format::OpenMetrics).unwrap();
    assert!(!openmetrics.contains(" # {"), "{openmetrics}");
    assert!(openmetrics.contains(
        r#"http_requests_total_by_view_transport_method_total{view="/work",transport="http",method="GET"} 1"#
    ));
}
