//! django-prometheus-style HTTP metrics and a `/metrics` route for any
//! [`tower`](https://docs.rs/tower) / [`http`] service, in two lines:
//!
//! ```
//! # use axum::{routing::get, Router};
//! # async fn user() -> &'static str { "user" }
//! let metrics = tower_prometheus::Metrics::new();                                  // line 1
//! let app = Router::new().route("/users/{id}", get(user)).layer(metrics.layer()); // line 2
//! # let _: &Router = &app;
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! #     use tower::ServiceExt;
//! #     let scrape = http::Request::get("/metrics").body(axum::body::Body::empty()).unwrap();
//! #     assert_eq!(app.oneshot(scrape).await.unwrap().status(), 200);
//! # });
//! ```
//!
//! Every request through the layer is measured, and `GET /metrics` on the same service
//! answers with the exposition (Prometheus text 0.0.4, OpenMetrics 1.0, or Prometheus
//! protobuf with the `protobuf` feature, negotiated on `Accept`). The metric families mirror
//! django-prometheus's request/response metrics; with `.namespace("django")` the names are
//! exactly django-prometheus's, so its dashboards work.
//!
//! Create one [`Metrics`] per service and clone it wherever it is needed (the layer takes a
//! clone): clones share one registry, while two `Metrics` built separately share nothing, so a
//! metric registered on one never shows on the other's `/metrics`.
//!
//! # Guides
//!
//! The manual lives in [`guide`], one page per topic, every example a doctest:
//! [configuration](guide::configuration) (every builder option, your own metrics, Cargo
//! features), [metrics](guide::metrics), [labels](guide::labels),
//! [frameworks](guide::frameworks) (axum, hyper, tonic, any tower service, with their
//! `[dependencies]`), [placement](guide::placement) (where the layer goes on a router and in a
//! tower-http stack), [formats](guide::formats), [native histograms](guide::native_histograms),
//! [exemplars](guide::exemplars), [OpenTelemetry](guide::opentelemetry) naming,
//! [interop](guide::interop) (the `metrics` crate, rust-prometheus and other prometheus-client
//! registries) and [security](guide::security).
//!
//! The crate is not on crates.io yet: depend on a local clone by path,
//! `tower-prometheus = { path = "../tower-prometheus" }` (once published,
//! `tower-prometheus = "0.1"`). axum support is a default feature.
//!
//! # Where things are
//!
//! Each item has one path. The types and functions are at the crate root: [`Metrics`] and its
//! [`MetricsBuilder`], the tower middleware ([`MetricsLayer`], [`MetricsService`],
//! [`ResponseFuture`], [`ResponseBody`]), the exposition ([`Format`], [`ExpositionService`],
//! [`negotiate`], …), the separate listener ([`MetricsServer`], feature `server`). The
//! constants are in three small modules: [`defaults`] (the builder's default buckets, cap and
//! path), [`label_values`] (the values the crate writes for an unnamed view, an overflow, …)
//! and [`otel`] (the same for the OpenTelemetry naming). [`process`] (feature `process`) holds
//! the process-metrics collector and its table of names. [`guide`] is documentation only.
//!
//! # Example
//!
//! Any `Service<http::Request<_>>` works; here a `tower::service_fn` whose view (route
//! template) comes from a resolver closure, with small buckets to keep the exposition short.
//! With the `axum` feature (on by default), axum's `MatchedPath` names the view without any
//! resolver.
//!
//! ```
//! use http::{Request, Response};
//! use http_body_util::BodyExt;
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_prometheus::{Format, Metrics, ViewName};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let metrics = Metrics::builder()
//!     .latency_buckets([60.0])
//!     .size_buckets([16.0])
//!     .view_resolver(|request| (request.uri().path() == "/hello").then(|| ViewName::new("/hello")))
//!     .process_metrics(false)
//!     .build().unwrap();
//! let app = ServiceBuilder::new().layer(metrics.layer()).service_fn(|_request: Request<String>| async {
//!     let mut response = Response::new(String::from("hello"));
//!     response.headers_mut().insert("content-type", "text/plain; charset=utf-8".parse().unwrap());
//!     Ok::<_, std::convert::Infallible>(response)
//! });
//!
//! let response = app.clone().oneshot(Request::get("/hello").body(String::new()).unwrap()).await.unwrap();
//! assert_eq!(response.into_body().collect().await.unwrap().to_bytes(), "hello");
//!
//! // Every line of the exposition but the latency sums, which vary from run to run:
//! let text = metrics.render(Format::PrometheusText).unwrap();
//! let stable: Vec<&str> = text
//!     .lines()
//!     .filter(|line| !(line.contains("_seconds") && line.contains("_sum")))
//!     .collect();
//! let expected = r#"
//! ## HELP http_requests_before_middlewares_total Total count of requests before middlewares run.
//! ## TYPE http_requests_before_middlewares_total counter
//! http_requests_before_middlewares_total 1
//! ## HELP http_responses_before_middlewares_total Total count of responses before middlewares run.
//! ## TYPE http_responses_before_middlewares_total counter
//! http_responses_before_middlewares_total 1
//! ## HELP http_requests_latency_including_middlewares_seconds Histogram of requests processing time (including middleware processing time).
//! ## TYPE http_requests_latency_including_middlewares_seconds histogram
//! http_requests_latency_including_middlewares_seconds_bucket{le="60"} 1
//! http_requests_latency_including_middlewares_seconds_bucket{le="+Inf"} 1
//! http_requests_latency_including_middlewares_seconds_count 1
//! ## HELP http_requests_unknown_latency_including_middlewares_total Count of requests for which the latency was unknown (when computing http_requests_latency_including_middlewares_seconds).
//! ## TYPE http_requests_unknown_latency_including_middlewares_total counter
//! http_requests_unknown_latency_including_middlewares_total 0
//! ## HELP http_requests_latency_seconds_by_view_method Histogram of request processing time labelled by view.
//! ## TYPE http_requests_latency_seconds_by_view_method histogram
//! http_requests_latency_seconds_by_view_method_bucket{view="/hello",method="GET",le="60"} 1
//! http_requests_latency_seconds_by_view_method_bucket{view="/hello",method="GET",le="+Inf"} 1
//! http_requests_latency_seconds_by_view_method_count{view="/hello",method="GET"} 1
//! ## HELP http_requests_unknown_latency_total Count of requests for which the latency was unknown.
//! ## TYPE http_requests_unknown_latency_total counter
//! http_requests_unknown_latency_total 0
//! ## HELP http_ajax_requests_total Count of AJAX requests.
//! ## TYPE http_ajax_requests_total counter
//! http_ajax_requests_total 0
//! ## HELP http_requests_total_by_method_total Count of requests by method.
//! ## TYPE http_requests_total_by_method_total counter
//! http_requests_total_by_method_total{method="GET"} 1
//! ## HELP http_requests_total_by_transport_total Count of requests by transport.
//! ## TYPE http_requests_total_by_transport_total counter
//! http_requests_total_by_transport_total{transport="http"} 1
//! ## HELP http_requests_total_by_view_transport_method_total Count of requests by view, transport, method.
//! ## TYPE http_requests_total_by_view_transport_method_total counter
//! http_requests_total_by_view_transport_method_total{view="/hello",transport="http",method="GET"} 1
//! ## HELP http_requests_body_total_bytes Histogram of requests by body size.
//! ## TYPE http_requests_body_total_bytes histogram
//! http_requests_body_total_bytes_bucket{le="16"} 0
//! http_requests_body_total_bytes_bucket{le="+Inf"} 0
//! http_requests_body_total_bytes_sum 0.0
//! http_requests_body_total_bytes_count 0
//! ## HELP http_responses_total_by_status_total Count of responses by status.
//! ## TYPE http_responses_total_by_status_total counter
//! http_responses_total_by_status_total{status="200"} 1
//! ## HELP http_responses_total_by_status_view_method_total Count of responses by status, view, method.
//! ## TYPE http_responses_total_by_status_view_method_total counter
//! http_responses_total_by_status_view_method_total{status="200",view="/hello",method="GET"} 1
//! ## HELP http_responses_body_total_bytes Histogram of responses by body size.
//! ## TYPE http_responses_body_total_bytes histogram
//! http_responses_body_total_bytes_bucket{le="16"} 1
//! http_responses_body_total_bytes_bucket{le="+Inf"} 1
//! http_responses_body_total_bytes_sum 5.0
//! http_responses_body_total_bytes_count 1
//! ## HELP http_responses_total_by_charset_total Count of responses by charset.
//! ## TYPE http_responses_total_by_charset_total counter
//! http_responses_total_by_charset_total{charset="utf-8"} 1
//! ## HELP http_responses_streaming_total Count of streaming responses.
//! ## TYPE http_responses_streaming_total counter
//! http_responses_streaming_total 0
//! ## HELP http_requests_in_flight Requests being processed, from the request until the end of its response body.
//! ## TYPE http_requests_in_flight gauge
//! http_requests_in_flight{view="/hello",method="GET"} 0
//! "#;
//! assert_eq!(stable.join("\n"), expected.trim());
//!
//! // The same layer answers `GET /metrics` with that exposition.
//! let scrape = app.oneshot(Request::get("/metrics").body(String::new()).unwrap()).await.unwrap();
//! assert_eq!(scrape.headers()["content-type"], Format::PrometheusText.content_type());
//! # }
//! ```
//!
//! # Feature flags
//! - `axum` (default): reads axum's `MatchedPath` for the `view` label.
//! - `process` (default): registers the standard `process_*` metrics (Linux), see [`process`].
//! - `gzip` (default): compresses the exposition when `Accept-Encoding` allows gzip.
//! - `protobuf`: serves the Prometheus protobuf format, the one that carries native histograms.
//! - `server`: [`Metrics::server`] serves the exposition on a separate listener (hyper 1 +
//!   tokio), like django-prometheus's `PROMETHEUS_METRICS_EXPORT_PORT`: see [`MetricsServer`]
//!   and the [security guide](guide::security#a-separate-listener).
//! - `metrics`: [`Metrics::metrics_recorder`] exposes what the `metrics` crate's macros record,
//!   see [interop](guide::interop).
//! - `prometheus`: [`Metrics::register_rust_prometheus_registry`] exposes a rust-prometheus registry,
//!   see [interop](guide::interop).

#![cfg_attr(docsrs, feature(doc_cfg))]
// The guides link to items of optional features; a build without one of them cannot resolve
// those links. The all-features build (docs.rs, `.ci/run`) still denies every broken link.
#![cfg_attr(
    not(all(
        feature = "server",
        feature = "metrics",
        feature = "prometheus",
        feature = "protobuf"
    )),
    allow(rustdoc::broken_intra_doc_links)
)]

mod builder;
mod config_error;
pub mod defaults;
mod exposition;
#[cfg(all(test, feature = "axum"))]
mod golden_tests;
pub mod guide;
mod interop;
pub mod label_values;
mod metrics;
mod middleware;
pub mod otel;
mod primitives;
#[cfg(feature = "process")]
#[cfg_attr(docsrs, doc(cfg(feature = "process")))]
pub mod process;
mod registration_error;
mod registry;
mod request_head;
#[cfg(feature = "server")]
mod server;

pub use builder::MetricsBuilder;
pub use config_error::ConfigError;
pub use exposition::{
    negotiate, EncodeError, EncodeErrorPolicy, ExpositionBody, ExpositionFuture, ExpositionService, Format,
};
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub use interop::MetricsRecorder;
pub use metrics::Metrics;
pub use middleware::{MetricsLayer, MetricsService, ResponseBody, ResponseFuture};
pub use registration_error::RegistrationError;
pub use registry::{Naming, NativeHistograms, ViewName};
pub use request_head::RequestHead;

/// The prometheus-client this crate is built on, for the metrics you register with
/// [`Metrics::register`]: its types from here are always of the version `Metrics` accepts
/// (another version's types do not implement the traits it expects).
///
/// Deriving a label set (`#[derive(EncodeLabelSet)]`) needs more: the derive writes paths
/// that start at `::prometheus_client`, so add `prometheus-client = "0.26"` to your
/// `[dependencies]` (Cargo builds the one copy both crates share), as the
/// [configuration guide](crate::guide::configuration#your-own-metrics) shows.
///
/// ```
/// use tower_prometheus::prometheus_client::metrics::counter::Counter;
///
/// let metrics = tower_prometheus::Metrics::new();
/// let jobs: Counter = Counter::default();
/// metrics.register("jobs", "Jobs run", jobs.clone()).unwrap();
/// ```
pub use prometheus_client;
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub use server::{BoundMetricsServer, MetricsServer};

/// The README's Rust snippets, compiled (and those not marked `no_run` run) as doctests, so
/// that what the README shows stays true. They use every feature, as the README's test command
/// (`cargo test --all-features`) does.
#[cfg(all(
    doctest,
    feature = "axum",
    feature = "server",
    feature = "protobuf",
    feature = "gzip",
    feature = "process"
))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
