//! Panics of the inner service's future or body: recorded once, then the unwinding continues.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use super::RequestTracker;

/// Runs `poll`; when it panics, records the panic for the request (taking the tracker, so that
/// nothing else is recorded for it) and lets the panic continue to the caller.
pub(super) fn record_panic<T>(tracker: &mut Option<RequestTracker>, poll: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(poll)) {
        Ok(value) => value,
        Err(payload) => {
            if let Some(mut tracker) = tracker.take() {
                tracker.on_panic();
            }
            resume_unwind(payload)
        }
    }
}
