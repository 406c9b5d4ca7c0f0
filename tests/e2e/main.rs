//! The end-to-end tests, in one binary: they check the exposition against external tools (a
//! real Prometheus, promtool, the Python `prometheus_client`) and run `examples/server.rs` as a
//! child process. A missing tool prints `SKIP: <tool> not found`, or fails the test under
//! `TOWER_PROMETHEUS_REQUIRE_E2E=1` (CI).

#[path = "../support/mod.rs"]
mod support;

mod e2e_monitoring;
mod e2e_prometheus;
mod e2e_promtool;
mod e2e_python;
#[cfg(feature = "server")]
mod e2e_route_control;
mod exposition_e2e;
mod exposition_python;
mod formats_hostile_input;
mod interop;
mod kubernetes;
mod otel;
mod reliability_hostile_labels;
mod remote_write;
