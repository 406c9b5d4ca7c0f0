//! Shared helpers of the integration tests.
//!
//! - [`exposition`]: a strict parser of both text formats and sample lookups, used by every
//!   test that reads an exposition back;
//! - [`tools`]: the external tools of the end-to-end tests (which `tests/e2e`'s harness checks
//!   before a test runs), bounded waits, and guards that kill child processes and remove
//!   temporary directories also when an assertion fails;
//! - [`http`], [`example_server`], [`prometheus`], [`monitoring`]: the end-to-end harness (a
//!   minimal HTTP/1.1 client, `examples/server.rs` as a child process with known traffic, a real
//!   Prometheus server, and the files of `examples/monitoring`).
//!
//! Every wait is bounded by [`tools::MAX_WAIT`].

// Each test crate uses a different subset of this module.
#![allow(dead_code)]

pub(crate) mod example_server;
pub(crate) mod exposition;
pub(crate) mod http;
pub(crate) mod monitoring;
pub(crate) mod prometheus;
#[cfg(feature = "prometheus")]
pub(crate) mod rust_prometheus;
pub(crate) mod tools;
