//! The label values the crate writes itself: an unnamed view, an overflow, a panic, ….
//!
//! They stand for requests that do not say what a label should be: an unnamed view, a method
//! outside the standard nine, a response without a charset, a family past its label-set cap, a
//! panic. Match on them in queries and tests instead of spelling them out.
//!
//! The values the [`OpenTelemetry`](crate::Naming::OpenTelemetry) naming writes instead are in
//! [`otel`](crate::otel).

pub use crate::registry::labels::{
    INVALID_METHOD, MAX_LABEL_VALUE_BYTES, NO_CHARSET, OVERFLOW, PANIC_TYPE, UNNAMED_VIEW,
};
