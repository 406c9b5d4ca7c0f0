//! The recording side: the HTTP (and gRPC) metric families, the one table that names them, the
//! rules that turn a request into label values, and the recorder that updates the families for
//! each request. Nothing here knows how the families are encoded: that is
//! [`exposition`](crate::exposition)'s job.
//!
//! Its public items are reached from the crate root ([`ViewName`], [`NativeHistograms`],
//! [`Naming`]) and from [`defaults`](crate::defaults), [`label_values`](crate::label_values)
//! and [`otel`](crate::otel).

pub(crate) mod config;
pub(crate) mod derived;
pub(crate) mod error_types;
pub(crate) mod exclusions;
pub(crate) mod exemplars;
pub(crate) mod families;
pub(crate) mod grpc;
pub(crate) mod labels;
pub(crate) mod names;
mod native_histograms;
pub(crate) mod otel;
pub(crate) mod recorder;
pub(crate) mod request_labels;
pub(crate) mod view_buckets;

pub use labels::ViewName;
pub use native_histograms::NativeHistograms;
pub use otel::Naming;
