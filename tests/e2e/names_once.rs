//! End-to-end: an empty labelled family named like one of ours, registered through another
//! registry, never makes a name appear twice once it has series: promtool (Prometheus text)
//! and the Python OpenMetrics parser accept the exposition. Before, promtool reported a
//! "second HELP line".

use crate::harness::e2e_tests;
use crate::support;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use support::tools::{program, promtool_check_metrics, python, run_with_input, PROMTOOL, PYTHON_PROMETHEUS_CLIENT};
use tower_prometheus::{Format, Metrics};

e2e_tests! {
    promtool_accepts_the_exposition_after_late_name_clashes needs [PROMTOOL],
    the_python_openmetrics_parser_accepts_the_exposition_after_late_name_clashes needs [PYTHON_PROMETHEUS_CLIENT],
}

type Labelled = Family<Vec<(String, String)>, Counter>;

/// Metrics with two registries whose empty families (one named like ours, one like the
/// other's) got a series after registration.
fn metrics_with_late_clashes() -> Metrics {
    let metrics = Metrics::builder().process_metrics(false).build().unwrap();
    let mut families = Vec::new();
    for name in ["http_requests_total_by_method", "jobs"] {
        for _ in 0..2 {
            let mut registry = Registry::default();
            let family = Labelled::default();
            registry.register(name, "a library's family", family.clone());
            metrics.register_prometheus_client_registry(registry).unwrap();
            families.push(family);
        }
    }
    for family in &families {
        family
            .get_or_create(&vec![("queue".to_owned(), "mail".to_owned())])
            .inc();
    }
    metrics
}

fn promtool_accepts_the_exposition_after_late_name_clashes() {
    let promtool = program("promtool");
    let text = metrics_with_late_clashes()
        .render(Format::PrometheusText)
        .unwrap();
    if let Err(report) = promtool_check_metrics(&promtool, &text) {
        panic!("{report}\n{text}");
    }
}

fn the_python_openmetrics_parser_accepts_the_exposition_after_late_name_clashes() {
    let python = python();
    let text = metrics_with_late_clashes().render(Format::OpenMetrics).unwrap();
    let parse = "import sys\n\
        from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse\n\
        names = [family.name for family in parse(sys.stdin.read())]\n\
        assert len(names) == len(set(names)), names\n";
    let output = run_with_input(&python, &["-c", parse], text.as_bytes());
    assert!(
        output.status.success(),
        "{}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
}
