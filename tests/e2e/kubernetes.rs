//! The manifests of `examples/kubernetes`, checked offline: the core kinds against the
//! Kubernetes API schemas (PyPI's `kubernetes-validate`, strict), the Prometheus Operator kinds
//! field by field, that selectors, port names, paths and annotations agree with the pods, that
//! the example server answers the probe and metrics paths, and the annotation-based scrape
//! config's relabeling through promtool. (`remote_write.rs` runs that relabeling in a real
//! Prometheus agent.)

use crate::harness::e2e_tests;
use crate::support;

use std::process::Command;

use serde_json::Value;
use support::example_server::ExampleServer;
use support::monitoring::{kubernetes_dir, yaml_as_json, yaml_documents_as_json};
use support::tools::{KUBERNETES_VALIDATE, PROMTOOL, PYYAML, TempDir, program, python, run};

e2e_tests! {
    core_kinds_pass_the_kubernetes_api_schemas_strictly needs [PYYAML, KUBERNETES_VALIDATE],
    selectors_port_names_paths_and_annotations_agree_with_the_pods needs [PYYAML],
    operator_durations_are_checked needs [],
    the_example_server_answers_the_probe_and_metrics_paths needs [PYYAML],
    promtool_accepts_the_annotation_scrape_config_with_its_relabeling needs [PYYAML, PROMTOOL],
}

/// The manifests of Kubernetes kinds, in the order the README applies them.
const MANIFESTS: [&str; 3] = ["deployment.yaml", "servicemonitor.yaml", "podmonitor.yaml"];

/// Validates every document of the files given as arguments whose kind Kubernetes itself
/// defines, against the schemas of each version below, strictly (an unknown field is an
/// error). Prints one JSON line per (document, version): kind, version, error or null.
/// The last two documents are controls, which a strict validator refuses: the Deployment with
/// a misspelt field, and with a string where an integer belongs.
const VALIDATE: &str = r#"
import copy, json, sys, yaml, kubernetes_validate
docs = [d for path in sys.argv[1:] for d in yaml.safe_load_all(open(path))]
deployment = next(d for d in docs if d["kind"] == "Deployment")
unknown_field = copy.deepcopy(deployment)
unknown_field["metadata"]["name"] = "control-unknown-field"
unknown_field["spec"]["template"]["spec"]["containers"][0]["containerPorts"] = []
wrong_type = copy.deepcopy(deployment)
wrong_type["metadata"]["name"] = "control-wrong-type"
wrong_type["spec"]["replicas"] = "3"
for doc in docs + [unknown_field, wrong_type]:
    if doc["apiVersion"].startswith("monitoring.coreos.com/"):
        continue
    for version in ["1.25", "1.37"]:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
            error = None
        except Exception as e:
            error = "%s: %s" % (type(e).__name__, e)
        print(json.dumps({"name": doc["metadata"]["name"], "kind": doc["kind"], "version": version, "error": error}))
"#;

fn core_kinds_pass_the_kubernetes_api_schemas_strictly() {
    let python = python();
    let dir = kubernetes_dir();
    let output = run(
        Command::new(&python)
            .args(["-c", VALIDATE])
            .args(MANIFESTS.iter().map(|file| dir.join(file))),
        b"",
    );
    assert!(
        output.status.success(),
        "kubernetes-validate: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect();
    let mut validated = Vec::new();
    let mut refused_controls = 0;
    for result in &results {
        let (name, kind, version) = (&result["name"], &result["kind"], &result["version"]);
        if name.as_str().is_some_and(|name| name.starts_with("control-")) {
            let error = result["error"]
                .as_str()
                .unwrap_or_else(|| panic!("the validator accepted {name} ({version})"));
            assert!(error.contains("ValidationError"), "{error}");
            refused_controls += 1;
        } else {
            assert!(
                result["error"].is_null(),
                "{kind} {name} for Kubernetes {version}: {}",
                result["error"]
            );
            validated.push(format!(
                "{}/{}",
                kind.as_str().unwrap(),
                version.as_str().unwrap()
            ));
        }
    }
    assert_eq!(refused_controls, 4, "both controls refused for both versions");
    assert_eq!(
        validated,
        [
            "Deployment/1.25",
            "Deployment/1.37",
            "Service/1.25",
            "Service/1.37"
        ],
        "every core kind validated against both versions"
    );
}

/// The one document of `kind` among `documents`.
fn one<'a>(documents: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = documents.iter().filter(|doc| doc["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "exactly one {kind}");
    found[0]
}

/// Whether every `key: value` of a `matchLabels` (or Service `selector`) is among `labels`.
fn selects(selector: &Value, labels: &Value) -> bool {
    let selector = selector.as_object().expect("a selector is a map");
    !selector.is_empty() && selector.iter().all(|(key, value)| labels.get(key) == Some(value))
}

/// A Prometheus Operator `Duration` (`^(0|(([0-9]+)y)?(([0-9]+)w)?…(([0-9]+)ms)?)$`): numbers,
/// each followed by a unit, units in decreasing order.
fn is_operator_duration(text: &str) -> bool {
    const UNITS: [&str; 7] = ["y", "w", "d", "h", "m", "s", "ms"];
    if text == "0" {
        return true;
    }
    let mut rest = text;
    let mut next_unit = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        // "ms" before "m", so that "5ms" is not read as minutes.
        let Some(unit) = (next_unit..UNITS.len())
            .filter(|&unit| rest.starts_with(UNITS[unit]))
            .max_by_key(|&unit| UNITS[unit].len())
        else {
            return false;
        };
        rest = &rest[UNITS[unit].len()..];
        next_unit = unit + 1;
    }
    !text.is_empty()
}

/// The keys of `object` that `allowed` does not list.
fn unknown_keys(object: &Value, allowed: &[&str]) -> Vec<String> {
    object
        .as_object()
        .expect("a map")
        .keys()
        .filter(|key| !allowed.contains(&key.as_str()))
        .cloned()
        .collect()
}

// The fields of the monitoring.coreos.com/v1 CRDs (prometheus-operator's
// `monitoring.coreos.com_servicemonitors.yaml` / `_podmonitors.yaml`) these files may use.
const OPERATOR_TOP: &[&str] = &["apiVersion", "kind", "metadata", "spec"];
const OPERATOR_METADATA: &[&str] = &["name", "namespace", "labels", "annotations"];
const SERVICE_MONITOR_SPEC: &[&str] = &[
    "selector",
    "endpoints",
    "namespaceSelector",
    "jobLabel",
    "targetLabels",
    "podTargetLabels",
    "sampleLimit",
    "targetLimit",
    "attachMetadata",
    "scrapeClass",
];
const POD_MONITOR_SPEC: &[&str] = &[
    "selector",
    "podMetricsEndpoints",
    "namespaceSelector",
    "jobLabel",
    "podTargetLabels",
    "sampleLimit",
    "targetLimit",
    "attachMetadata",
    "scrapeClass",
];
const ENDPOINT: &[&str] = &[
    "port",
    "path",
    "scheme",
    "interval",
    "scrapeTimeout",
    "honorLabels",
    "honorTimestamps",
    "relabelings",
    "metricRelabelings",
    "params",
];

/// The Operator object in `file`: apiVersion, kind, no field outside `spec_fields`, a
/// `matchLabels` selector, and its endpoints (under `endpoints_field`) checked for fields,
/// `interval` and `path`. Returns (selector, endpoints).
fn operator_object<'a>(
    documents: &'a [Value],
    kind: &str,
    spec_fields: &[&str],
    endpoints_field: &str,
) -> (&'a Value, &'a [Value]) {
    assert_eq!(documents.len(), 1, "one {kind} per file");
    let object = one(documents, kind);
    assert_eq!(object["apiVersion"], "monitoring.coreos.com/v1", "{kind}");
    assert_eq!(unknown_keys(object, OPERATOR_TOP), Vec::<String>::new(), "{kind}");
    assert_eq!(
        unknown_keys(&object["metadata"], OPERATOR_METADATA),
        Vec::<String>::new(),
        "{kind}"
    );
    assert!(object["metadata"]["name"]
        .as_str()
        .is_some_and(|name| !name.is_empty()));
    assert!(
        object["metadata"]["labels"]["release"].is_string(),
        "{kind}: the release label kube-prometheus-stack selects by"
    );
    let spec = &object["spec"];
    assert_eq!(
        unknown_keys(spec, spec_fields),
        Vec::<String>::new(),
        "{kind}.spec"
    );
    assert_eq!(
        unknown_keys(&spec["selector"], &["matchLabels"]),
        Vec::<String>::new()
    );
    let endpoints = spec[endpoints_field]
        .as_array()
        .unwrap_or_else(|| panic!("{kind}.spec.{endpoints_field} is a list"));
    assert!(!endpoints.is_empty(), "{kind}: no endpoint");
    for endpoint in endpoints {
        assert_eq!(
            unknown_keys(endpoint, ENDPOINT),
            Vec::<String>::new(),
            "{kind} endpoint"
        );
        let interval = endpoint["interval"].as_str().expect("interval is a string");
        assert!(is_operator_duration(interval), "{kind}: interval {interval:?}");
        assert_eq!(
            endpoint["path"], "/metrics",
            "{kind}: the example server's metrics path"
        );
    }
    (&spec["selector"]["matchLabels"], endpoints)
}

fn selectors_port_names_paths_and_annotations_agree_with_the_pods() {
    let python = python();
    let dir = kubernetes_dir();
    let core = yaml_documents_as_json(&python, &dir.join("deployment.yaml"));
    assert_eq!(core.len(), 2, "a Deployment and a Service");

    // The Deployment: several replicas, selecting its own pods.
    let deployment = one(&core, "Deployment");
    assert_eq!(deployment["apiVersion"], "apps/v1");
    assert!(
        deployment["spec"]["replicas"].as_u64().is_some_and(|n| n >= 2),
        "several replicas"
    );
    let pod = &deployment["spec"]["template"];
    let pod_labels = &pod["metadata"]["labels"];
    assert!(selects(
        &deployment["spec"]["selector"]["matchLabels"],
        pod_labels
    ));
    let containers = pod["spec"]["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1);
    let container = &containers[0];
    let ports = container["ports"].as_array().expect("container ports");
    let http = ports
        .iter()
        .find(|port| port["name"] == "http")
        .expect("a port named http");
    let container_port = http["containerPort"].as_u64().expect("containerPort");
    let env = |name: &str| {
        container["env"]
            .as_array()
            .expect("env")
            .iter()
            .find(|var| var["name"] == name)
            .and_then(|var| var["value"].as_str())
            .unwrap_or_else(|| panic!("env {name} is set"))
            .to_owned()
    };
    assert_eq!(env("HOST"), "0.0.0.0", "the server must listen on the pod's IP");
    assert_eq!(
        env("PORT"),
        container_port.to_string(),
        "the server listens on the container port"
    );
    // The probes name a port the container has; readiness asks a path the server answers
    // (checked against the real server below).
    assert_eq!(container["readinessProbe"]["httpGet"]["port"], "http");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/");
    assert_eq!(container["livenessProbe"]["tcpSocket"]["port"], "http");

    // The annotations of the annotation-based scrape config name that port and the path.
    let annotations = &pod["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/scrape"], "true");
    assert_eq!(annotations["prometheus.io/port"], container_port.to_string());
    assert_eq!(annotations["prometheus.io/path"], "/metrics");

    // The Service selects the pods and targets the named port.
    let service = one(&core, "Service");
    assert_eq!(service["apiVersion"], "v1");
    assert!(
        selects(&service["spec"]["selector"], pod_labels),
        "the Service selects the pods"
    );
    let service_ports = service["spec"]["ports"].as_array().expect("service ports");
    let service_http = service_ports
        .iter()
        .find(|port| port["name"] == "http")
        .expect("a Service port named http");
    assert_eq!(
        service_http["targetPort"], "http",
        "targets the container port by name"
    );

    // ServiceMonitor: selects the Service by its labels, scrapes its port by name.
    let documents = yaml_documents_as_json(&python, &dir.join("servicemonitor.yaml"));
    let (selector, endpoints) =
        operator_object(&documents, "ServiceMonitor", SERVICE_MONITOR_SPEC, "endpoints");
    assert!(
        selects(selector, &service["metadata"]["labels"]),
        "the ServiceMonitor selects the Service"
    );
    for endpoint in endpoints {
        assert_eq!(endpoint["port"], service_http["name"], "a Service port name");
    }

    // PodMonitor: selects the pods by their labels, scrapes the container port by name.
    let documents = yaml_documents_as_json(&python, &dir.join("podmonitor.yaml"));
    let (selector, endpoints) =
        operator_object(&documents, "PodMonitor", POD_MONITOR_SPEC, "podMetricsEndpoints");
    assert!(selects(selector, pod_labels), "the PodMonitor selects the pods");
    for endpoint in endpoints {
        assert_eq!(endpoint["port"], http["name"], "a container port name");
    }

    // The image the Deployment runs is the one the Dockerfile and the README build, with the
    // same port.
    let image = container["image"].as_str().expect("image");
    let dockerfile = std::fs::read_to_string(dir.join("Dockerfile")).unwrap();
    assert!(
        dockerfile.contains(&format!("-t {image} ")),
        "the Dockerfile's build command tags {image}"
    );
    assert!(dockerfile.contains(&format!("EXPOSE {container_port}\n")));
    assert!(dockerfile.contains(&format!("PORT={container_port}")));
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    assert!(
        readme.contains(&format!("-t {image} ")),
        "the README's build command tags {image}"
    );
}

fn operator_durations_are_checked() {
    for good in ["15s", "1m30s", "0", "1h", "500ms", "1d12h"] {
        assert!(is_operator_duration(good), "{good}");
    }
    for bad in ["", "15", "s", "1.5s", "30s1m", "15 s", "1sm"] {
        assert!(!is_operator_duration(bad), "{bad}");
    }
    let labels = serde_json::json!({"app": "a", "tier": "web"});
    assert!(selects(&serde_json::json!({"app": "a"}), &labels));
    assert!(!selects(&serde_json::json!({"app": "b"}), &labels));
    assert!(
        !selects(&serde_json::json!({}), &labels),
        "an empty selector selects everything"
    );
}

fn the_example_server_answers_the_probe_and_metrics_paths() {
    let python = python();
    let core = yaml_documents_as_json(&python, &kubernetes_dir().join("deployment.yaml"));
    let pod = &one(&core, "Deployment")["spec"]["template"];
    let readiness = pod["spec"]["containers"][0]["readinessProbe"]["httpGet"]["path"]
        .as_str()
        .expect("readiness path");
    let metrics = pod["metadata"]["annotations"]["prometheus.io/path"]
        .as_str()
        .expect("metrics path");
    let server = ExampleServer::start(&[]);
    assert_eq!(server.get(readiness).status, 200, "GET {readiness}");
    let response = server.get(metrics);
    assert_eq!(response.status, 200, "GET {metrics}");
    assert!(response
        .text()
        .contains("# TYPE http_requests_total_by_method_total counter"));
}

fn promtool_accepts_the_annotation_scrape_config_with_its_relabeling() {
    let python = python();
    let promtool = program("promtool");
    let config = yaml_as_json(&python, &kubernetes_dir().join("prometheus-kubernetes-sd.yml"));
    let jobs = config["scrape_configs"].as_array().expect("scrape_configs");
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0];
    assert_eq!(
        unknown_keys(job, &["job_name", "kubernetes_sd_configs", "relabel_configs"]),
        Vec::<String>::new()
    );
    // Debian's Prometheus 2.42 is built without Kubernetes discovery, so its promtool refuses
    // `kubernetes_sd_configs` as an unknown field: that block is checked here, and promtool
    // checks the rest (relabel actions, regexes, labels) with file discovery in its place.
    assert_eq!(job["kubernetes_sd_configs"], serde_json::json!([{"role": "pod"}]));
    let relabel = job["relabel_configs"].as_array().expect("relabel_configs");
    let sources: Vec<&str> = relabel
        .iter()
        .flat_map(|rule| rule["source_labels"].as_array().into_iter().flatten())
        .map(|label| label.as_str().unwrap())
        .collect();
    for source in &sources {
        assert!(
            source.starts_with("__meta_kubernetes_"),
            "{source} is a discovery label"
        );
    }
    for annotation in ["scrape", "port", "path"] {
        let label = format!("__meta_kubernetes_pod_annotation_prometheus_io_{annotation}");
        assert!(sources.contains(&label.as_str()), "the relabeling reads {label}");
    }

    let mut checked = config.clone();
    let checked_job = &mut checked["scrape_configs"][0];
    checked_job
        .as_object_mut()
        .unwrap()
        .remove("kubernetes_sd_configs");
    checked_job["file_sd_configs"] = serde_json::json!([{"files": ["targets.json"]}]);
    let dir = TempDir::new("kubernetes-sd");
    let path = dir.path().join("prometheus.yml");
    // JSON is YAML.
    std::fs::write(&path, serde_json::to_vec_pretty(&checked).unwrap()).unwrap();
    let output = run(Command::new(&promtool).args(["check", "config"]).arg(&path), b"");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success() && report.contains("SUCCESS"), "{report}");

    // promtool does look at relabel rules: a broken regex fails.
    checked["scrape_configs"][0]["relabel_configs"][0]["regex"] = "(unclosed".into();
    std::fs::write(&path, serde_json::to_vec_pretty(&checked).unwrap()).unwrap();
    let output = run(Command::new(&promtool).args(["check", "config"]).arg(&path), b"");
    assert!(
        !output.status.success(),
        "promtool accepted a broken relabel regex"
    );
}
