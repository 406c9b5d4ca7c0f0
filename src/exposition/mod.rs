//! The exposition: content negotiation between Prometheus protobuf, OpenMetrics 1.0 text and
//! Prometheus text 0.0.4, rendering with prometheus-client's encoders, gzip, the scrape
//! self-metrics, and a service that serves it.
//!
//! | `Accept` | format | `Content-Type` |
//! |---|---|---|
//! | prefers `application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited` (feature `protobuf`) | Prometheus protobuf, with native histograms | `application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited` |
//! | prefers `application/openmetrics-text` | OpenMetrics 1.0.0 | `application/openmetrics-text; version=1.0.0; charset=utf-8` |
//! | anything else, or none | Prometheus text 0.0.4 | `text/plain; version=0.0.4; charset=utf-8` |
//!
//! With the default feature `gzip`, a client whose `Accept-Encoding` allows gzip gets the body
//! compressed, with `Content-Encoding: gzip`; every answer carries `Vary: Accept, Accept-Encoding`
//! (`401` and `405` included), and `HEAD` gets the headers `GET` would, `Content-Length` included.
//!
//! Scrapes that arrive while the same format and encoding is being rendered wait for that
//! rendering and share its bytes ([`ExpositionFuture`]): concurrent scrapes cost one rendering
//! and hold one copy of the exposition between them, and at most one rendering per format and
//! encoding runs at a time. A rendering whose previous result exceeded 64 KiB runs on a thread
//! of its own, off the executor's workers.

pub(crate) mod auth;
mod body;
pub(crate) mod coalesce;
#[cfg(feature = "gzip")]
mod compress;
pub(crate) mod config;
mod encode;
mod error_policy;
#[cfg(test)]
mod fast_text_tests;
mod format;
mod future;
mod negotiate;
pub(crate) mod respond;
pub(crate) mod self_metrics;
mod service;
pub(crate) mod text;

pub use body::ExpositionBody;
pub use encode::EncodeError;
pub use error_policy::EncodeErrorPolicy;
pub use format::Format;
pub use future::ExpositionFuture;
pub use negotiate::negotiate;
pub use service::ExpositionService;
