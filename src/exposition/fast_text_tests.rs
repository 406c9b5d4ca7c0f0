//! The text fast path of the HTTP families (`text.rs`) writes exactly the bytes prometheus-client's
//! `prometheus_text::encode` (Prometheus text) and `text::encode` (OpenMetrics) write for the
//! same registry: with a
//! namespace, constant labels and hostile label values (quotes, backslashes, newlines,
//! unicode, 10 kB) from a view resolver, `ViewName` extensions and charsets, after traffic
//! with varied latencies and body sizes, errors, panics, cancellations and requests in flight;
//! and on random traffic (proptest).

use std::time::Duration;

use super::text::Dialect;
use crate::{Format, Metrics, ViewName};
use bytes::Bytes;
use futures_util::FutureExt;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use prometheus_client::metrics::counter::Counter;
use proptest::prelude::*;
use tower::{Service, ServiceExt};

/// What the inner service does with a request.
#[derive(Clone, Copy, Debug)]
enum Outcome {
    Ok,
    Error,
    Panic,
    Cancel,
}

#[derive(Clone, Debug)]
struct Traffic {
    /// The view, from the resolver (header `x-view`) or, when `extension`, from the response.
    view: String,
    extension: bool,
    method: &'static str,
    status: u16,
    request_bytes: usize,
    response_bytes: usize,
    charset: Option<String>,
    sleep_micros: u64,
    outcome: Outcome,
}

const HOSTILE: &[&str] = &[
    "/plain",
    "quo\"te",
    "back\\slash",
    "new\nline",
    "\\\"\n\\n\"",
    "unicode é ☃ 𝄞 \u{2028}\u{feff}",
    "{}=#,\t\r\0\u{1b}",
    "<unnamed view>",
    "",
];

fn ten_kilobytes() -> String {
    "a\"b\\c\nd☃".repeat(1_024)
}

fn metrics(group_status_codes: bool) -> Metrics {
    let metrics = Metrics::builder()
        .namespace("my_app_v2")
        .const_label("env", "pr\"od\\\nuction ☃")
        .const_label("region_1", "eu")
        .latency_buckets([0.00001, 0.0005, 0.001, 0.25, 1.0, 2.5, 1e6, 2.5e7])
        .size_buckets([0.0, 1.0, 100.0, 1_024.0, 1.5e6])
        .group_status_codes(group_status_codes)
        .process_metrics(false)
        .view_resolver(|request| {
            let view = request.headers().get("x-view")?;
            Some(ViewName::new(
                String::from_utf8_lossy(view.as_bytes()).into_owned(),
            ))
        })
        .build()
        .unwrap();
    // A custom part after ours keeps its place.
    let orders: Counter = Counter::default();
    metrics
        .register("orders_placed", "Orders placed", orders.clone())
        .unwrap();
    orders.inc_by(7);
    metrics
}

fn percent_free(value: &str) -> http::HeaderValue {
    // Header values cannot hold newlines or most controls: those reach the registry through
    // the response extension instead.
    http::HeaderValue::from_bytes(value.as_bytes()).unwrap_or(http::HeaderValue::from_static("/fallback"))
}

async fn drive(metrics: &Metrics, traffic: &[Traffic]) {
    let inner = tower::service_fn(|request: Request<Full<Bytes>>| async move {
        let spec = request.extensions().get::<Traffic>().cloned().unwrap();
        if spec.sleep_micros > 0 {
            tokio::time::sleep(Duration::from_micros(spec.sleep_micros)).await;
        }
        match spec.outcome {
            Outcome::Ok => {}
            Outcome::Error => return Err(std::io::Error::other("inner service failed")),
            Outcome::Panic => panic!("inner service panics on purpose"),
            Outcome::Cancel => std::future::pending::<()>().await,
        }
        let mut response = Response::new(Full::new(Bytes::from(vec![b'x'; spec.response_bytes])));
        *response.status_mut() = http::StatusCode::from_u16(spec.status).unwrap();
        if let Some(charset) = &spec.charset {
            let content_type = format!("text/plain; charset={charset}");
            response
                .headers_mut()
                .insert(http::header::CONTENT_TYPE, percent_free(&content_type));
        }
        if spec.extension {
            response.extensions_mut().insert(ViewName::new(spec.view.clone()));
        }
        Ok(response)
    });
    let app = tower::ServiceBuilder::new().layer(metrics.layer()).service(inner);
    for spec in traffic {
        let mut request = Request::builder()
            .method(spec.method)
            .uri("/anything")
            .body(Full::new(Bytes::from(vec![b'y'; spec.request_bytes])))
            .unwrap();
        if !spec.extension {
            request.headers_mut().insert("x-view", percent_free(&spec.view));
        }
        request.extensions_mut().insert(spec.clone());
        let call = app.clone().oneshot(request);
        if let Outcome::Cancel = spec.outcome {
            // Dropped before the end: a cancellation.
            let _ = tokio::time::timeout(Duration::from_millis(1), call).await;
            continue;
        }
        // The layer counts a panic and lets it unwind on; caught here.
        if let Ok(Ok(response)) = std::panic::AssertUnwindSafe(call).catch_unwind().await {
            let _ = response.into_body().collect().await;
        }
    }
}

/// Renders through the fast path and through prometheus-client, in both text formats, and
/// compares byte for byte, after checking that the fast path applies (else `render` would
/// compare prometheus-client with itself). Returns the Prometheus text.
fn assert_identical(metrics: &Metrics) -> String {
    for dialect in [Dialect::OpenMetrics, Dialect::Prometheus] {
        assert!(
            metrics.fast_path_text(dialect).is_some(),
            "{dialect:?}: the fast path applies to this registry"
        );
    }
    assert_render_is_prometheus_clients(metrics)
}

/// `render` writes, in both text formats, exactly what prometheus-client's encoders write.
/// Returns the Prometheus text.
fn assert_render_is_prometheus_clients(metrics: &Metrics) -> String {
    for format in [Format::OpenMetrics, Format::PrometheusText] {
        let fast = metrics.render(format).unwrap();
        let reference = metrics.render_with_prometheus_client(format).unwrap();
        if fast != reference {
            let line = fast
                .lines()
                .zip(reference.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(fast.lines().count().min(reference.lines().count()));
            panic!(
                "{format:?}: fast path differs at line {line}:\n  fast:      {:?}\n  reference: {:?}\n(lengths {} vs {})",
                fast.lines().nth(line),
                reference.lines().nth(line),
                fast.len(),
                reference.len()
            );
        }
    }
    metrics.render(Format::PrometheusText).unwrap()
}

fn scripted_traffic() -> Vec<Traffic> {
    let methods = ["GET", "POST", "PUT", "DELETE", "BREW", "PATCH", "HEAD"];
    let outcomes = [
        Outcome::Ok,
        Outcome::Ok,
        Outcome::Error,
        Outcome::Panic,
        Outcome::Cancel,
    ];
    let statuses = [200, 201, 404, 500, 302, 418, 599];
    let mut views: Vec<String> = HOSTILE.iter().map(|view| (*view).to_owned()).collect();
    views.push(ten_kilobytes());
    let mut traffic = Vec::new();
    for (index, view) in views.iter().enumerate() {
        for round in 0..6 {
            let n = index * 7 + round;
            traffic.push(Traffic {
                view: view.clone(),
                extension: n % 2 == 0,
                method: methods[n % methods.len()],
                status: statuses[n % statuses.len()],
                request_bytes: [0, 1, 99, 1_000, 5_000][n % 5],
                response_bytes: [0, 2, 100, 1_025, 70_000][(n / 2) % 5],
                charset: [None, Some("utf-8"), Some("x\"\\{}=#x"), Some("ISO-8859-1")][n % 4]
                    .map(str::to_owned),
                sleep_micros: [0, 0, 300, 1_500][n % 4],
                outcome: outcomes[n % outcomes.len()],
            });
        }
    }
    traffic
}

#[tokio::test]
async fn fast_path_is_byte_identical_to_prometheus_client_after_hostile_traffic() {
    for group_status_codes in [false, true] {
        let metrics = metrics(group_status_codes);
        // Before any traffic: empty families are left out alike.
        assert_identical(&metrics);
        drive(&metrics, &scripted_traffic()).await;

        // One request held in flight while rendering.
        let inner = tower::service_fn(|_: Request<Full<Bytes>>| async {
            std::future::pending::<()>().await;
            Ok::<_, std::convert::Infallible>(Response::new(Full::<Bytes>::default()))
        });
        let mut app = tower::ServiceBuilder::new().layer(metrics.layer()).service(inner);
        let request = Request::builder()
            .method("OPTIONS")
            .uri("/held")
            .header("x-view", "held \"view\"")
            .body(Full::default())
            .unwrap();
        let mut held = Box::pin(app.ready().await.unwrap().call(request));
        assert!(futures_util::poll!(&mut held).is_pending());

        let text = assert_identical(&metrics);
        // The comparison covered what matters, not an empty exposition.
        for needle in [
            "# TYPE my_app_v2_http_requests_latency_seconds_by_view_method histogram",
            "env=\"pr\\\"od\\\\\\nuction ☃\",region_1=\"eu\"",
            "view=\"new\\nline\"",
            "view=\"quo\\\"te\"",
            "view=\"back\\\\slash\"",
            "le=\"1e-05\"",
            "le=\"2.5e+07\"",
            "le=\"+Inf\"",
            "my_app_v2_http_requests_in_flight{",
            "my_app_v2_http_requests_cancelled_total{",
            "type=\"panic\"",
            "my_app_v2_orders_placed_total{env=",
        ] {
            assert!(text.contains(needle), "{needle} missing");
        }
        assert!(
            text.contains("view=\"<overflow>\"") && text.contains("label=\"view\""),
            "the 10 kB view is beyond the byte bound: folded and counted"
        );
        drop(held);
        assert_identical(&metrics);
    }
}

fn traffic_strategy() -> impl Strategy<Value = Traffic> {
    let view = prop_oneof![
        4 => prop::sample::select(HOSTILE).prop_map(str::to_owned),
        2 => "[a-z/\"\\\\\n☃é{}=]{0,12}",
        1 => Just(ten_kilobytes()),
    ];
    (
        view,
        any::<bool>(),
        prop::sample::select(vec!["GET", "POST", "TRACE", "CONNECT", "FOO", "OPTIONS"]),
        100u16..600,
        0usize..3_000,
        0usize..3_000,
        prop::option::of("[a-z0-9\"\\\\{}=#-]{1,8}"),
        prop_oneof![Just(0u64), 1u64..2_000],
        prop::sample::select(vec![
            Outcome::Ok,
            Outcome::Ok,
            Outcome::Error,
            Outcome::Panic,
            Outcome::Cancel,
        ]),
    )
        .prop_map(
            |(
                view,
                extension,
                method,
                status,
                request_bytes,
                response_bytes,
                charset,
                sleep_micros,
                outcome,
            )| {
                Traffic {
                    view,
                    extension,
                    method,
                    status,
                    request_bytes,
                    response_bytes,
                    charset: charset.map(|charset| format!("x{charset}x")),
                    sleep_micros,
                    outcome,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn fast_path_matches_prometheus_client_on_random_traffic(
        traffic in prop::collection::vec(traffic_strategy(), 0..24),
        group_status_codes in any::<bool>(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let metrics = metrics(group_status_codes);
        runtime.block_on(drive(&metrics, &traffic));
        assert_identical(&metrics);
    }
}

#[tokio::test]
async fn fast_path_is_byte_identical_to_prometheus_client_past_the_label_set_cap() {
    let metrics = Metrics::builder()
        .max_label_sets(4)
        .request_label("tenant", |head| head.headers().get("x-view")?.to_str().ok(), 2)
        .view_resolver(|request| {
            let view = request.headers().get("x-view")?.to_str().ok()?;
            Some(ViewName::new(view.to_owned()))
        })
        .process_metrics(false)
        .build()
        .unwrap();
    drive(&metrics, &scripted_traffic()).await;
    let text = assert_identical(&metrics);
    assert!(
        text.contains("view=\"<overflow>\""),
        "the cap folded views: {text}"
    );
    assert!(
        text.contains("tenant=\"<overflow>\""),
        "the bound folded a tenant: {text}"
    );
}

#[tokio::test]
async fn families_with_exemplars_or_native_buckets_fall_back_to_prometheus_client_whole() {
    let native = crate::NativeHistograms::classic_and_native();
    for metrics in [
        Metrics::builder()
            .exemplars_from_traceparent()
            .process_metrics(false)
            .build()
            .unwrap(),
        Metrics::builder()
            .native_histograms(native)
            .process_metrics(false)
            .build()
            .unwrap(),
    ] {
        drive(&metrics, &scripted_traffic()[..12]).await;
        for dialect in [Dialect::OpenMetrics, Dialect::Prometheus] {
            assert!(
                metrics.fast_path_text(dialect).is_none(),
                "{dialect:?}: exemplars and native buckets leave the fast path"
            );
        }
        let text = assert_render_is_prometheus_clients(&metrics);
        assert!(text.contains("http_requests_latency_seconds_by_view_method_bucket{"));
    }
}
