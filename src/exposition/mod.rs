//! The exposition: content negotiation between OpenMetrics 1.0 text and Prometheus text
//! 0.0.4, rendering with prometheus-client's encoders, and a service that serves it.
//!
//! | `Accept` | format | `Content-Type` |
//! |---|---|---|
//! | prefers `application/openmetrics-text` | OpenMetrics 1.0.0 | `application/openmetrics-text; version=1.0.0; charset=utf-8` |
//! | anything else, or none | Prometheus text 0.0.4 | `text/plain; version=0.0.4; charset=utf-8` |

pub(crate) mod auth;
mod body;
mod encode;
mod format;
mod negotiate;
pub(crate) mod respond;
mod service;

pub use body::ExpositionBody;
pub use encode::EncodeError;
pub use format::Format;
pub use negotiate::negotiate;
pub use service::ExpositionService;
