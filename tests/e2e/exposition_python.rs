//! The Python client's OpenMetrics parser, an independent implementation, reads the exemplars
//! back from the exposition (and accepts the scrape self-metrics).

use crate::harness::{block_on, e2e_tests};
use crate::support;

use std::time::Duration;

use http::{Request, Response};
use http_body_util::BodyExt;
use support::tools::{PYTHON_PROMETHEUS_CLIENT, python, run_with_input};
use tower::{ServiceBuilder, ServiceExt};
use tower_prometheus::{Format, Metrics, ViewName};

e2e_tests! {
    python_reads_the_trace_id_exemplars_from_openmetrics needs [PYTHON_PROMETHEUS_CLIENT],
}

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SAMPLED: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// Prints `[sample name, labels, value, exemplar labels or null]` per sample, as JSON.
const PARSE_EXEMPLARS: &str = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
samples = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for sample in family.samples:
        exemplar = sample.exemplar.labels if sample.exemplar else None
        samples.append([sample.name, sample.labels, sample.value, exemplar])
print(json.dumps(samples))
"#;

fn python_reads_the_trace_id_exemplars_from_openmetrics() {
    block_on(async {
        let python = python();
        let metrics = Metrics::builder().exemplars_from_traceparent().build().unwrap();
        let app = ServiceBuilder::new()
            .layer(metrics.layer())
            .service_fn(|_request: Request<String>| async {
                tokio::time::sleep(Duration::from_millis(2)).await;
                let mut response = Response::new(String::from("ok"));
                response.extensions_mut().insert(ViewName::new("/traced"));
                Ok::<_, std::convert::Infallible>(response)
            });
        for traceparent in [Some(SAMPLED), None] {
            let mut request = Request::get("/traced");
            if let Some(traceparent) = traceparent {
                request = request.header("traceparent", traceparent);
            }
            let response = app
                .clone()
                .oneshot(request.body(String::new()).unwrap())
                .await
                .unwrap();
            response.into_body().collect().await.unwrap();
        }
        // One scrape first, so that the self-metrics have samples too.
        let scrape = Request::get("/metrics").header("accept", "application/openmetrics-text");
        let response = app.oneshot(scrape.body(String::new()).unwrap()).await.unwrap();
        response.into_body().collect().await.unwrap();
        let openmetrics = metrics.render(Format::OpenMetrics).unwrap();

        let output = run_with_input(python, &["-c", PARSE_EXEMPLARS], openmetrics.as_bytes());
        assert!(
            output.status.success(),
            "the OpenMetrics parser rejected the exposition: {}\n{openmetrics}",
            String::from_utf8_lossy(&output.stderr)
        );
        let samples: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
        let with_exemplar: Vec<&serde_json::Value> =
            samples.iter().filter(|sample| !sample[3].is_null()).collect();
        let names: Vec<&str> = with_exemplar
            .iter()
            .map(|sample| sample[0].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "http_requests_latency_including_middlewares_seconds_bucket",
                "http_requests_latency_seconds_by_view_method_bucket",
                "http_requests_total_by_view_transport_method_total",
            ],
            "{openmetrics}"
        );
        for sample in &with_exemplar {
            assert_eq!(sample[3]["trace_id"], TRACE_ID);
        }
        let counter = with_exemplar[2];
        assert_eq!(counter[1]["view"], "/traced");
        assert_eq!(
            counter[2], 2.0,
            "both requests counted, the untraced one kept the exemplar"
        );
        assert!(samples
            .iter()
            .any(|sample| sample[0] == "http_metrics_scrapes_total" && sample[2] == 1.0));
    });
}
