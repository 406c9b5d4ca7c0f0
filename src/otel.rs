//! The default buckets and the label values of the OpenTelemetry naming.
//!
//! Under [`Naming::OpenTelemetry`](crate::Naming::OpenTelemetry) these take the place of
//! [`defaults::LATENCY_BUCKETS`](crate::defaults::LATENCY_BUCKETS) and of some
//! [`label_values`](crate::label_values).

pub use crate::registry::otel::{CANCELLED, DURATION_BUCKETS, OTHER};
