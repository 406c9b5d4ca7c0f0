//! Labels taken from the request (`MetricsBuilder::request_label`), through the public API:
//! which families carry them, in which order, their bound and its folds, the empty value, the
//! response's view, the cap on combinations, and the options `build()` refuses.

use crate::support;

use std::convert::Infallible;

use http::{Request, Response};
use http_body_util::BodyExt;
use support::exposition::{assert_values, scrape, value, Sample};
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_prometheus::{ConfigError, Format, Metrics, MetricsBuilder, Naming, RequestHead, ViewName};

const BY_TRANSPORT: &str = "http_requests_total_by_view_transport_method_total";
const BY_STATUS: &str = "http_responses_total_by_status_view_method_total";
const LATENCY_COUNT: &str = "http_requests_latency_seconds_by_view_method_count";
const DURATION_COUNT: &str = "http_responses_duration_seconds_by_view_method_count";
const IN_FLIGHT: &str = "http_requests_in_flight";
const CANCELLED: &str = "http_requests_cancelled_total";
const OVERFLOW_FOLDS: &str = "http_metrics_label_overflow_total";

fn tenant<'a>(head: &RequestHead<'a>) -> Option<&'a str> {
    head.headers().get("x-tenant")?.to_str().ok()
}

/// The API version: the first path segment when it looks like `v1`, `v2`, …
fn version<'a>(head: &RequestHead<'a>) -> Option<&'a str> {
    let segment = head.uri().path().trim_start_matches('/').split('/').next()?;
    segment.strip_prefix('v')?.parse::<u32>().ok().map(|_| segment)
}

fn with_tenant(max_values: usize) -> MetricsBuilder {
    Metrics::builder().request_label("tenant", tenant, max_values)
}

fn get(path: &str, tenant: Option<&str>) -> Request<()> {
    let mut request = Request::get(path);
    if let Some(tenant) = tenant {
        request = request.header("x-tenant", tenant);
    }
    request.body(()).unwrap()
}

async fn ok(_request: Request<()>) -> Result<Response<String>, Infallible> {
    Ok(Response::new(String::from("hello")))
}

/// Sends each request through `metrics`' layer around [`ok`], reading each body to its end.
async fn send(metrics: &Metrics, requests: impl IntoIterator<Item = Request<()>>) {
    let app = ServiceBuilder::new().layer(metrics.layer()).service_fn(ok);
    for request in requests {
        let response = app.clone().oneshot(request).await.unwrap();
        response.into_body().collect().await.unwrap();
    }
}

fn samples(metrics: &Metrics) -> Vec<Sample> {
    scrape(metrics, Format::PrometheusText)
}

const UNNAMED: (&str, &str) = ("view", "<unnamed view>");
const GET: (&str, &str) = ("method", "GET");
const HTTP: (&str, &str) = ("transport", "http");

#[tokio::test]
async fn a_request_label_reaches_the_view_method_families_only() {
    let metrics = with_tenant(10)
        .response_duration_histogram(true)
        .process_metrics(false)
        .build()
        .unwrap();
    let mut app = ServiceBuilder::new().layer(metrics.layer()).service_fn(ok);

    // In flight while the body streams, under the tenant.
    let response = app
        .ready()
        .await
        .unwrap()
        .call(get("/", Some("acme")))
        .await
        .unwrap();
    let acme: &[(&str, &str)] = &[UNNAMED, GET, ("tenant", "acme")];
    assert_eq!(value(&samples(&metrics), IN_FLIGHT, acme), Some(1.0));
    response.into_body().collect().await.unwrap();

    // A request whose future is dropped before its answer: cancelled, under the tenant.
    let future = app.ready().await.unwrap().call(get("/", Some("acme")));
    drop(future);

    let samples = samples(&metrics);
    assert_values(
        &samples,
        &[
            (IN_FLIGHT, acme, 0.0),
            (CANCELLED, acme, 1.0),
            (BY_TRANSPORT, &[UNNAMED, HTTP, GET, ("tenant", "acme")], 2.0),
            (
                BY_STATUS,
                &[("status", "200"), UNNAMED, GET, ("tenant", "acme")],
                1.0,
            ),
            (LATENCY_COUNT, acme, 1.0),
            (DURATION_COUNT, acme, 1.0),
            // Families not labelled by view and method keep their own labels.
            ("http_requests_total_by_method_total", &[GET], 2.0),
            ("http_responses_total_by_status_total", &[("status", "200")], 1.0),
        ],
    );
    let tenanted: Vec<&str> = samples
        .iter()
        .filter(|sample| sample.labels.contains_key("tenant"))
        .map(|sample| sample.name.as_str())
        .collect();
    for name in &tenanted {
        assert!(
            [BY_TRANSPORT, BY_STATUS, IN_FLIGHT, CANCELLED].contains(name)
                || name.starts_with("http_requests_latency_seconds_by_view_method")
                || name.starts_with("http_responses_duration_seconds_by_view_method"),
            "{name} carries the request label"
        );
    }
    // The request label comes after the family's own labels.
    let text = metrics.render(Format::PrometheusText).unwrap();
    assert!(
        text.contains(r#"{status="200",view="<unnamed view>",method="GET",tenant="acme"} 1"#),
        "{text}"
    );
}

#[tokio::test]
async fn values_beyond_max_values_fold_into_overflow_and_are_counted() {
    let metrics = with_tenant(2).build().unwrap();
    let tenants = ["a", "b", "c", "d", "c", "a"];
    send(&metrics, tenants.map(|tenant| get("/", Some(tenant)))).await;
    let samples = samples(&metrics);
    let by_tenant = |tenant| value(&samples, BY_TRANSPORT, &[UNNAMED, HTTP, GET, ("tenant", tenant)]);
    assert_eq!(by_tenant("a"), Some(2.0));
    assert_eq!(by_tenant("b"), Some(1.0));
    assert_eq!(by_tenant("c"), None);
    assert_eq!(by_tenant("d"), None);
    assert_eq!(by_tenant("<overflow>"), Some(3.0), "c, d and c again");
    assert_eq!(value(&samples, OVERFLOW_FOLDS, &[("label", "tenant")]), Some(3.0));
    assert_eq!(value(&samples, OVERFLOW_FOLDS, &[("label", "view")]), None);
}

#[tokio::test]
async fn a_request_without_a_value_gets_the_empty_value() {
    let metrics = with_tenant(10).build().unwrap();
    send(
        &metrics,
        [get("/", None), get("/", Some("")), get("/", Some("acme"))],
    )
    .await;
    let samples = samples(&metrics);
    let by_tenant = |tenant| value(&samples, BY_TRANSPORT, &[UNNAMED, HTTP, GET, ("tenant", tenant)]);
    assert_eq!(by_tenant(""), Some(2.0), "no header, and an empty header");
    assert_eq!(by_tenant("acme"), Some(1.0));
    assert_eq!(value(&samples, OVERFLOW_FOLDS, &[("label", "tenant")]), None);
    let text = metrics.render(Format::PrometheusText).unwrap();
    assert!(text.contains(r#"method="GET",tenant=""} 2"#), "{text}");
}

#[tokio::test]
async fn several_request_labels_keep_their_declared_order() {
    let metrics = with_tenant(10)
        .request_label("api_version", version, 5)
        .build()
        .unwrap();
    send(
        &metrics,
        [
            get("/v2/orders", Some("acme")),
            get("/v2/orders", Some("acme")),
            get("/health", Some("acme")),
        ],
    )
    .await;
    for format in [Format::PrometheusText, Format::OpenMetrics] {
        let text = metrics.render(format).unwrap();
        assert!(
            text.contains(r#"method="GET",tenant="acme",api_version="v2"} 2"#),
            "{format:?}: {text}"
        );
        assert!(
            text.contains(r#"method="GET",tenant="acme",api_version=""} 1"#),
            "{format:?}: {text}"
        );
    }
    let samples = scrape(&metrics, Format::OpenMetrics);
    assert_eq!(
        value(
            &samples,
            BY_TRANSPORT,
            &[UNNAMED, HTTP, GET, ("tenant", "acme"), ("api_version", "v2")]
        ),
        Some(2.0)
    );
}

#[tokio::test]
async fn the_responses_view_keeps_the_requests_values() {
    let metrics = with_tenant(10).build().unwrap();
    let app = ServiceBuilder::new()
        .layer(metrics.layer())
        .service_fn(|_request: Request<()>| async {
            let mut response = Response::new(String::new());
            response.extensions_mut().insert(ViewName::new("/orders/{id}"));
            Ok::<_, Infallible>(response)
        });
    let response = app.oneshot(get("/orders/7", Some("acme"))).await.unwrap();
    response.into_body().collect().await.unwrap();
    let samples = samples(&metrics);
    let orders: &[(&str, &str)] = &[("view", "/orders/{id}"), GET, ("tenant", "acme")];
    assert_values(
        &samples,
        &[
            (LATENCY_COUNT, orders, 1.0),
            (
                BY_TRANSPORT,
                &[("view", "/orders/{id}"), HTTP, GET, ("tenant", "acme")],
                1.0,
            ),
            // In flight under the request-time view, and back to 0.
            (IN_FLIGHT, &[UNNAMED, GET, ("tenant", "acme")], 0.0),
        ],
    );
    assert_eq!(
        value(&samples, IN_FLIGHT, &[UNNAMED, GET, ("tenant", "acme")]),
        Some(0.0)
    );
}

#[tokio::test]
async fn combinations_beyond_the_label_set_cap_record_overflow_for_every_request_label() {
    // One (view, method) pair and two combinations fit.
    let metrics = with_tenant(10)
        .request_label("api_version", version, 10)
        .max_label_sets(2)
        .build()
        .unwrap();
    send(
        &metrics,
        [
            get("/v1", Some("a")),
            get("/v1", Some("b")),
            get("/v1", Some("c")),
            get("/v2", Some("a")),
            get("/v1", Some("a")),
        ],
    )
    .await;
    let samples = samples(&metrics);
    let series = |tenant, version| {
        value(
            &samples,
            BY_TRANSPORT,
            &[UNNAMED, HTTP, GET, ("tenant", tenant), ("api_version", version)],
        )
    };
    assert_eq!(series("a", "v1"), Some(2.0));
    assert_eq!(series("b", "v1"), Some(1.0));
    assert_eq!(series("c", "v1"), None);
    assert_eq!(series("<overflow>", "<overflow>"), Some(2.0), "c/v1 and a/v2");
    assert_values(
        &samples,
        &[
            (OVERFLOW_FOLDS, &[("label", "tenant")], 2.0),
            (OVERFLOW_FOLDS, &[("label", "api_version")], 2.0),
            (
                LATENCY_COUNT,
                &[
                    UNNAMED,
                    GET,
                    ("tenant", "<overflow>"),
                    ("api_version", "<overflow>"),
                ],
                2.0,
            ),
        ],
    );
}

#[tokio::test]
async fn a_warm_request_with_request_labels_counts_every_request_once_across_threads() {
    let metrics = with_tenant(4).build().unwrap();
    let tasks: Vec<_> = (0..4)
        .map(|task| {
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let tenant = ["a", "b", "c", "d", "e", "f"][task % 6];
                send(&metrics, (0..50).map(|_| get("/", Some(tenant)))).await;
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let samples = samples(&metrics);
    for tenant in ["a", "b", "c", "d"] {
        assert_eq!(
            value(&samples, BY_TRANSPORT, &[UNNAMED, HTTP, GET, ("tenant", tenant)]),
            Some(50.0),
            "{tenant}"
        );
    }
}

fn refused(builder: MetricsBuilder) -> ConfigError {
    match builder.build() {
        Ok(_) => panic!("build() accepted a request label it must refuse"),
        Err(error) => error,
    }
}

fn assert_refused(builder: MetricsBuilder, input: &str) {
    let error = refused(builder);
    assert_eq!(
        (error.option(), error.input()),
        ("request_label", input),
        "{error}"
    );
    assert!(error.to_string().contains(input), "{error}");
}

#[test]
fn request_labels_prometheus_or_the_families_cannot_take_are_refused() {
    for name in [
        "", "1tenant", "ten-ant", "__tenant", "view", "method", "status", "le", "label",
    ] {
        let error = refused(Metrics::builder().request_label(name, tenant, 10));
        assert_eq!(error.option(), "request_label", "{name}: {error}");
        assert_eq!(error.input(), name, "{error}");
    }
    assert_refused(
        Metrics::builder()
            .request_label("tenant", tenant, 10)
            .request_label("tenant", version, 10),
        "tenant (max_values 10)",
    );
    assert_refused(with_tenant(0), "tenant (max_values 0)");
    let five = ["a", "b", "c", "d", "e"]
        .into_iter()
        .fold(Metrics::builder(), |builder, name| {
            builder.request_label(name, tenant, 10)
        });
    assert_refused(five, "e (max_values 10)");
    let four = ["a", "b", "c", "d"]
        .into_iter()
        .fold(Metrics::builder(), |builder, name| {
            builder.request_label(name, tenant, 10)
        });
    assert!(four.build().is_ok());
    // A constant label of the same name, declared before or after.
    assert_refused(
        Metrics::builder()
            .const_label("tenant", "x")
            .request_label("tenant", tenant, 10),
        "tenant (max_values 10)",
    );
    assert_refused(
        with_tenant(10).const_label("tenant", "x"),
        "tenant (max_values 10)",
    );
    // The OpenTelemetry profile does not expose the families the label would go to.
    let error = refused(with_tenant(10).naming(Naming::OpenTelemetry));
    assert_eq!(error.option(), "request_label", "{error}");
}

/// With exemplars and native histograms, the request label reaches every format: the text
/// formats parse strictly, and protobuf carries the label on the native latency histogram and
/// on the exemplar-bearing counter.
#[cfg(feature = "protobuf")]
#[tokio::test]
async fn request_labels_hold_with_exemplars_and_native_histograms_in_every_format() {
    use prometheus_client::encoding::prometheus_protobuf::prometheus_data_model::MetricFamily;
    use prost::Message;
    use tower_prometheus::NativeHistograms;

    const SAMPLED: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let metrics = with_tenant(10)
        .exemplars_from_traceparent()
        .native_histograms(NativeHistograms::classic_and_native())
        .build()
        .unwrap();
    let mut request = get("/", Some("acme"));
    request
        .headers_mut()
        .insert("traceparent", http::HeaderValue::from_static(SAMPLED));
    send(&metrics, [request]).await;

    let samples = scrape(&metrics, Format::PrometheusText);
    assert_eq!(
        value(&samples, BY_TRANSPORT, &[UNNAMED, HTTP, GET, ("tenant", "acme")]),
        Some(1.0)
    );
    // OpenMetrics carries the exemplar after the labelled sample (the strict parser of the
    // tests reads no exemplars).
    let openmetrics = metrics.render(Format::OpenMetrics).unwrap();
    assert!(
        openmetrics.contains(&format!(
            r#"{BY_TRANSPORT}{{view="<unnamed view>",transport="http",method="GET",tenant="acme"}} 1 # {{trace_id="4bf92f3577b34da6a3ce929d0e0e4736"}} 1.0"#
        )),
        "{openmetrics}"
    );
    let mut bytes = &metrics.render_bytes(Format::Protobuf).unwrap()[..];
    let mut families = Vec::new();
    while !bytes.is_empty() {
        families.push(MetricFamily::decode_length_delimited(&mut bytes).expect("a delimited MetricFamily"));
    }
    let labels_of = |name: &str| {
        let family = families
            .iter()
            .find(|family| family.name == name)
            .unwrap_or_else(|| panic!("{name} is missing"));
        let metric = &family.metric[0];
        let labels: Vec<(String, String)> = metric
            .label
            .iter()
            .map(|pair| (pair.name.clone(), pair.value.clone()))
            .collect();
        (labels, metric.clone())
    };
    let (labels, counter) = labels_of(BY_TRANSPORT);
    assert_eq!(labels.last(), Some(&("tenant".to_owned(), "acme".to_owned())));
    let exemplar = counter.counter.unwrap().exemplar.expect("the counter's exemplar");
    assert_eq!(exemplar.label[0].value, "4bf92f3577b34da6a3ce929d0e0e4736");
    let (labels, latency) = labels_of("http_requests_latency_seconds_by_view_method");
    assert_eq!(labels.last(), Some(&("tenant".to_owned(), "acme".to_owned())));
    let histogram = latency.histogram.unwrap();
    assert_eq!(histogram.sample_count, 1);
    assert!(
        !histogram.positive_span.is_empty() || histogram.zero_count == 1,
        "native buckets"
    );
}

#[tokio::test]
async fn a_value_spelled_overflow_or_too_long_folds_into_the_one_overflow_series() {
    let metrics = with_tenant(1).build().unwrap();
    let long = "x".repeat(257);
    send(
        &metrics,
        [
            get("/", Some("<overflow>")),
            get("/", Some("a")),
            get("/", Some("b")),
            get("/", Some(&long)),
        ],
    )
    .await;
    // `value` panics when two series carry the same labels.
    let samples = samples(&metrics);
    let by_tenant = |tenant| value(&samples, BY_TRANSPORT, &[UNNAMED, HTTP, GET, ("tenant", tenant)]);
    assert_eq!(
        by_tenant("<overflow>"),
        Some(3.0),
        "<overflow>, b and the long value"
    );
    assert_eq!(by_tenant("a"), Some(1.0));
    assert_eq!(value(&samples, OVERFLOW_FOLDS, &[("label", "tenant")]), Some(3.0));
    let text = metrics.render(Format::PrometheusText).unwrap();
    assert!(!text.contains(&long), "a value over 256 bytes is never exposed");
    // A value of exactly 256 bytes is kept.
    let fits = "y".repeat(256);
    let roomy = with_tenant(10).build().unwrap();
    send(&roomy, [get("/", Some(&fits))]).await;
    let samples = scrape(&roomy, Format::PrometheusText);
    assert_eq!(
        value(&samples, BY_TRANSPORT, &[UNNAMED, HTTP, GET, ("tenant", &fits)]),
        Some(1.0)
    );
}

#[tokio::test]
async fn a_series_a_familys_cap_refuses_keeps_its_request_labels() {
    // Three label sets per family: the status family's three series go to a's 200 and 404 and
    // b's 200, so b's 404 is refused by that family's cap, and recorded under the overflow
    // view with b kept (the third combination).
    let metrics = with_tenant(10).max_label_sets(3).build().unwrap();
    let app = ServiceBuilder::new()
        .layer(metrics.layer())
        .service_fn(|request: Request<()>| async move {
            let mut response = Response::new(String::new());
            if request.uri().path() == "/missing" {
                *response.status_mut() = http::StatusCode::NOT_FOUND;
            }
            Ok::<_, Infallible>(response)
        });
    for (path, tenant) in [("/", "a"), ("/missing", "a"), ("/", "b"), ("/missing", "b")] {
        app.clone().oneshot(get(path, Some(tenant))).await.unwrap();
    }
    let samples = samples(&metrics);
    assert_values(
        &samples,
        &[
            (
                BY_STATUS,
                &[("status", "200"), UNNAMED, GET, ("tenant", "a")],
                1.0,
            ),
            (
                BY_STATUS,
                &[("status", "404"), UNNAMED, GET, ("tenant", "a")],
                1.0,
            ),
            (
                BY_STATUS,
                &[("status", "200"), UNNAMED, GET, ("tenant", "b")],
                1.0,
            ),
            (
                BY_STATUS,
                &[("status", "404"), ("view", "<overflow>"), GET, ("tenant", "b")],
                1.0,
            ),
            (OVERFLOW_FOLDS, &[("label", "view")], 1.0),
            (OVERFLOW_FOLDS, &[("label", "tenant")], 0.0),
        ],
    );
    // No series of a tenanted family lost its request label.
    for sample in samples.iter().filter(|sample| sample.name == BY_STATUS) {
        assert!(sample.labels.contains_key("tenant"), "{sample:?}");
    }
}

#[tokio::test]
async fn a_request_is_counted_once_per_label_however_many_times_it_folds() {
    // The value folds (max_values 1), and so does its combination under the response's view.
    let metrics = with_tenant(1).max_label_sets(3).build().unwrap();
    let app = ServiceBuilder::new()
        .layer(metrics.layer())
        .service_fn(|_request: Request<()>| async {
            let mut response = Response::new(String::new());
            response.extensions_mut().insert(ViewName::new("/named"));
            Ok::<_, Infallible>(response)
        });
    for tenant in ["a", "b"] {
        let response = app.clone().oneshot(get("/", Some(tenant))).await.unwrap();
        response.into_body().collect().await.unwrap();
    }
    let samples = samples(&metrics);
    assert_eq!(value(&samples, OVERFLOW_FOLDS, &[("label", "tenant")]), Some(1.0));
    assert_eq!(
        value(
            &samples,
            BY_TRANSPORT,
            &[("view", "/named"), HTTP, GET, ("tenant", "<overflow>")]
        ),
        Some(1.0)
    );
}

#[test]
fn a_max_values_beyond_what_ids_can_number_is_refused() {
    assert_refused(
        with_tenant(usize::MAX),
        &format!("tenant (max_values {})", usize::MAX),
    );
    assert!(with_tenant(1_000_000).build().is_ok());
}
