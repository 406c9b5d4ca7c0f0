//! promtool accepts the standard process metrics (their other tests are in
//! `tests/integration_process.rs`, a binary of its own because it compares process-wide counts).

use crate::harness::e2e_tests;
use crate::support;

use prometheus_client::registry::Registry;
use support::tools::{program, promtool_check_metrics, PROMTOOL};
use tower_prometheus::process::ProcessCollector;

e2e_tests! {
    promtool_accepts_the_process_metrics needs [PROMTOOL],
}

fn promtool_accepts_the_process_metrics() {
    let promtool = program("promtool");
    let mut registry = Registry::default();
    registry.register_collector(Box::new(ProcessCollector::new()));
    let mut prometheus_text = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut prometheus_text, &registry).unwrap();
    assert_eq!(
        prometheus_text.contains("process_threads"),
        ProcessCollector::is_supported()
    );
    if let Err(report) = promtool_check_metrics(&promtool, &prometheus_text) {
        panic!("{report}\n--- exposition ---\n{prometheus_text}");
    }
}
