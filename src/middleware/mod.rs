//! The middleware: [`MetricsLayer`], [`MetricsService`], [`ResponseFuture`] and
//! [`ResponseBody`].
//!
//! Every request is accounted for exactly once: a normal response, an inner `Err`, a panic
//! (recorded, then the unwinding continues), the response future dropped (the client went
//! away), or the response body dropped before its end. The in-flight gauge always returns to
//! its previous value.

mod body;
mod future;
mod headers;
mod layer;
mod service;
mod tracker;
mod unwind;
mod view;

pub use body::ResponseBody;
pub use future::ResponseFuture;
pub use layer::MetricsLayer;
pub use service::MetricsService;

use tracker::RequestTracker;
