//! The end-to-end tests, in one binary: they check the exposition against external tools (a
//! real Prometheus, promtool, the Python `prometheus_client`, PyYAML, kubernetes-validate) and
//! run `examples/server.rs` as a child process.
//!
//! The binary has its own harness (`harness = false`, libtest-mimic) because libtest cannot
//! decide at run time that a test is ignored: a test whose tools are missing shows as
//! `ignored (promtool not found on PATH)`, and fails under `TOWER_PROMETHEUS_REQUIRE_E2E=1` (CI).
//! Filters, `--exact`, `--list` and `--test-threads` work as with libtest; output is not
//! captured.
//!
//! # Adding a test
//!
//! Write a plain `fn name()` (no `#[test]`: this harness would never run it, and the
//! `harness::every_file_is_a_registered_module_without_plain_tests` check fails on it) and list
//! it with the tools it needs in the module's `e2e_tests!`:
//!
//! ```text
//! use crate::harness::e2e_tests;
//! use crate::support::tools::{program, PROMTOOL};
//!
//! e2e_tests! {
//!     promtool_accepts_it needs [PROMTOOL],
//! }
//!
//! fn promtool_accepts_it() {
//!     let promtool = program("promtool");
//!     // ...
//! }
//! ```
//!
//! A new file also goes into `e2e_modules!` below. An `async` test wraps its body in
//! `crate::harness::block_on(async { ... })`. A function left out of the list is dead code, which
//! clippy (`-D warnings`) refuses.

#[path = "../support/mod.rs"]
mod support;

mod harness;

harness::e2e_modules! {
    e2e_monitoring,
    e2e_prometheus,
    e2e_promtool,
    e2e_python,
    #[cfg(feature = "server")]
    e2e_route_control,
    #[cfg(all(feature = "gzip", feature = "protobuf"))]
    exposition_e2e,
    exposition_python,
    formats_hostile_input,
    interop,
    kubernetes,
    names_once,
    otel,
    #[cfg(feature = "process")]
    process,
    reliability_hostile_labels,
    #[cfg(feature = "protobuf")]
    remote_write,
}

fn main() -> std::process::ExitCode {
    harness::main(trials())
}
