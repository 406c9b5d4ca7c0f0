//! The integration tests through the public API, in one binary: each module was a test binary
//! of its own. Tests that need external tools are in `tests/e2e/`; the tests that measure the
//! whole process (heap allocations, fd and thread counts) keep a binary each.

#[path = "../support/mod.rs"]
mod support;

mod docs_features;
mod docs_metrics;
mod error_types;
mod example_server_errors;
mod exposition_encode_errors;
mod exposition_formats;
mod exposition_native_exemplars;
mod exposition_prometheus3;
mod exposition_self_metrics;
mod exposition_sharing;
mod failure_paths;
mod families;
mod families_derived;
mod fast_paths;
mod first_contact;
mod formats_hostile_input;
mod integration_grpc;
mod integration_hyper;
mod integration_readme;
mod integration_tower_http;
mod interop;
mod label_bounds;
mod label_rules;
mod metrics_path;
mod names_once;
mod otel;
mod reliability_auth;
mod reliability_cancellation;
mod reliability_cardinality;
mod reliability_concurrency;
mod reliability_no_panic;
mod reliability_panics;
mod reliability_registry;
mod reliability_server;
mod request_head;
mod request_labels;
mod route_control;
mod support_exposition;
