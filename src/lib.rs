//! django-prometheus-style HTTP metrics and a `/metrics` route for any
//! [`tower`](https://docs.rs/tower) / [`http`] service, in two lines:
//!
//! ```ignore
//! let metrics = tower_prometheus::Metrics::new();                                  // line 1
//! let app = Router::new().route("/users/{id}", get(user)).layer(metrics.layer()); // line 2
//! ```
//!
//! Every request through the layer is measured, and `GET /metrics` on the same service
//! answers with the exposition (OpenMetrics 1.0 or Prometheus text 0.0.4, negotiated on
//! `Accept`). The metric families mirror django-prometheus's request/response metrics; with
//! `.namespace("django")` the names are exactly django-prometheus's, so its dashboards work.
//!
//! The crate has three parts:
//! - [`registry`]: [`Metrics`], its [`MetricsBuilder`], the families and label rules;
//! - [`middleware`]: the tower [`MetricsLayer`] and what it is made of;
//! - [`exposition`]: content negotiation, rendering, and a stand-alone [`ExpositionService`].
//!
//! # Example
//!
//! Any `Service<http::Request<_>>` works; here a `tower::service_fn`, with small buckets to
//! keep the exposition short. The view label comes from a [`ViewName`] response extension
//! (with the `axum` feature, axum's `MatchedPath` is read automatically).
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
//!     .build();
//! let app = ServiceBuilder::new().layer(metrics.layer()).service_fn(|_request: Request<String>| async {
//!     let mut response = Response::new(String::from("hello"));
//!     response.headers_mut().insert("content-type", "text/plain; charset=utf-8".parse().unwrap());
//!     response.extensions_mut().insert(ViewName::new("/hello"));
//!     Ok::<_, std::convert::Infallible>(response)
//! });
//!
//! let response = app.clone().oneshot(Request::get("/hello").body(String::new()).unwrap()).await.unwrap();
//! assert_eq!(response.into_body().collect().await.unwrap().to_bytes(), "hello");
//!
//! // The same layer serves the exposition; the latency sums vary from run to run.
//! let scrape = app.oneshot(Request::get("/metrics").body(String::new()).unwrap()).await.unwrap();
//! assert_eq!(scrape.headers()["content-type"], Format::PrometheusText.content_type());
//! let body = scrape.into_body().collect().await.unwrap().to_bytes();
//! let text = String::from_utf8(body.to_vec()).unwrap();
//! let stable: Vec<&str> = text
//!     .lines()
//!     .filter(|line| !(line.contains("seconds") && line.contains("_sum")))
//!     .collect();
//! assert_eq!(stable.join("\n") + "\n", r#"# HELP http_requests_before_middlewares_total Total count of requests before middlewares run.
//! # TYPE http_requests_before_middlewares_total counter
//! http_requests_before_middlewares_total 2
//! # HELP http_responses_before_middlewares_total Total count of responses before middlewares run.
//! # TYPE http_responses_before_middlewares_total counter
//! http_responses_before_middlewares_total 1
//! # HELP http_requests_latency_including_middlewares_seconds Histogram of requests processing time (including middleware processing time).
//! # TYPE http_requests_latency_including_middlewares_seconds histogram
//! http_requests_latency_including_middlewares_seconds_count 1
//! http_requests_latency_including_middlewares_seconds_bucket{le="60.0"} 1
//! http_requests_latency_including_middlewares_seconds_bucket{le="+Inf"} 1
//! # HELP http_requests_unknown_latency_including_middlewares_total Count of requests for which the latency was unknown (when computing http_requests_latency_including_middlewares_seconds).
//! # TYPE http_requests_unknown_latency_including_middlewares_total counter
//! http_requests_unknown_latency_including_middlewares_total 0
//! # HELP http_requests_latency_seconds_by_view_method Histogram of request processing time labelled by view.
//! # TYPE http_requests_latency_seconds_by_view_method histogram
//! http_requests_latency_seconds_by_view_method_count{view="/hello",method="GET"} 1
//! http_requests_latency_seconds_by_view_method_bucket{le="60.0",view="/hello",method="GET"} 1
//! http_requests_latency_seconds_by_view_method_bucket{le="+Inf",view="/hello",method="GET"} 1
//! "#);
//! # }
//! ```
//!
//! # Feature flags
//! - `axum`: reads axum's `MatchedPath` for the `view` label.
//! - `server`: [`Metrics::serve`] serves the exposition on a separate listener (hyper 1 +
//!   tokio), like django-prometheus's `PROMETHEUS_METRICS_EXPORT_PORT`.

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod exposition;
pub mod middleware;
pub mod registry;
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub mod server;

pub use exposition::{negotiate, EncodeError, ExpositionBody, ExpositionService, Format};
pub use middleware::{MetricsLayer, MetricsService, ResponseBody, ResponseFuture};
pub use registry::{Metrics, MetricsBuilder, RegistrationError, ViewName};
#[cfg(feature = "server")]
pub use server::MetricsServer;
