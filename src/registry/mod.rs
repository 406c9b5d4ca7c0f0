//! The recording side: the HTTP (and gRPC) metric families, the one table that names them, the
//! rules that turn a request into label values, and the recorder that updates the families for
//! each request. Nothing here knows how the families are encoded: that is
//! [`exposition`](crate::exposition)'s job.
//!
//! The public items here are the label values a user can meet in an exposition
//! ([`UNNAMED_VIEW`], [`OVERFLOW`], …), [`ViewName`], [`NativeHistograms`] and the defaults of
//! the recording options.

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

pub use config::{DEFAULT_LATENCY_BUCKETS, DEFAULT_MAX_LABEL_SETS, DEFAULT_SIZE_BUCKETS};
pub use labels::{
    ViewName, INVALID_METHOD, MAX_LABEL_VALUE_BYTES, NO_CHARSET, OVERFLOW, PANIC_TYPE, UNNAMED_VIEW,
};
pub use native_histograms::NativeHistograms;
pub use otel::{Naming, OTEL_CANCELLED, OTEL_DURATION_BUCKETS, OTEL_OTHER};
