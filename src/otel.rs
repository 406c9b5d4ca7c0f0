//! The default buckets and the label values of the
//! [`OpenTelemetry`](crate::Naming::OpenTelemetry) naming, where django-prometheus's naming
//! uses [`defaults`](crate::defaults) and [`label_values`](crate::label_values).

pub use crate::registry::otel::{CANCELLED, DURATION_BUCKETS, OTHER};
