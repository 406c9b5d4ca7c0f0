//! The files of `examples/monitoring` and `examples/kubernetes`: the Grafana dashboard and YAML
//! read through PyYAML.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::tools::run;

/// `examples/monitoring` in this repository.
pub(crate) fn monitoring_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/monitoring")
}

/// The dashboard JSON of the monitoring stack.
pub(crate) fn dashboard() -> serde_json::Value {
    let path = monitoring_dir().join("grafana/dashboards/tower-prometheus.json");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("read {}: {error}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("{} is not JSON: {error}", path.display()))
}

/// Every (panel title, PromQL expression) of the dashboard, in panel order.
pub(crate) fn dashboard_queries() -> Vec<(String, String)> {
    let dashboard = dashboard();
    let panels = dashboard["panels"].as_array().expect("the dashboard has panels");
    let mut queries = Vec::new();
    for panel in panels {
        let title = panel["title"]
            .as_str()
            .expect("every panel has a title")
            .to_owned();
        let targets = panel["targets"].as_array().expect("every panel has targets");
        assert!(!targets.is_empty(), "panel {title:?} has no targets");
        for target in targets {
            let expr = target["expr"].as_str().expect("every target has an expr");
            queries.push((title.clone(), expr.to_owned()));
        }
    }
    queries
}

/// Loads a YAML file with PyYAML's `safe_load` (`python` from [`python`](super::tools::python),
/// in a test that needs [`PYYAML`](super::tools::PYYAML)) and returns it as JSON; panics when it does not parse.
pub(crate) fn yaml_as_json(python: &Path, path: &Path) -> serde_json::Value {
    python_yaml_as_json(python, path, "yaml.safe_load(open(sys.argv[1]))")
}

/// Prints `loaded` (a PyYAML expression reading `sys.argv[1]`, which is `path`) as JSON with
/// `python`; panics when the file does not parse.
fn python_yaml_as_json(python: &Path, path: &Path, loaded: &str) -> serde_json::Value {
    let script = format!("import json, sys, yaml; print(json.dumps({loaded}))");
    let output = run(Command::new(python).args(["-c", &script]).arg(path), b"");
    assert!(
        output.status.success(),
        "{} is not valid YAML: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("python printed JSON")
}

/// `examples/kubernetes` in this repository.
pub(crate) fn kubernetes_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/kubernetes")
}

/// Every document of a multi-document YAML file (PyYAML's `safe_load_all`), as JSON.
pub(crate) fn yaml_documents_as_json(python: &Path, path: &Path) -> Vec<serde_json::Value> {
    match python_yaml_as_json(python, path, "list(yaml.safe_load_all(open(sys.argv[1])))") {
        serde_json::Value::Array(documents) => documents,
        other => panic!("safe_load_all gave {other}"),
    }
}
