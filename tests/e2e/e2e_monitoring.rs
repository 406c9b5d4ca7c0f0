//! The monitoring stack of `examples/monitoring`, checked without Docker: promtool accepts the
//! Prometheus config and the alerting rules, the compose and Grafana provisioning YAML parse
//! and reference files that exist, and the dashboard has the panels the README promises.
//! (Its PromQL is evaluated against a real Prometheus in `e2e_prometheus.rs`.)

use crate::harness::e2e_tests;
use crate::support;

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use support::monitoring::{dashboard, dashboard_queries, monitoring_dir, yaml_as_json};
use support::tools::{PROMTOOL, PYYAML, program, python, run};

e2e_tests! {
    promtool_accepts_the_prometheus_config_and_the_alerting_rules needs [PROMTOOL],
    compose_prometheus_and_provisioning_yaml_parse_and_reference_files_that_exist needs [PYYAML],
    dashboard_has_the_panels_the_readme_lists needs [],
}

fn promtool_check(promtool: &Path, what: &str, file: &str) -> String {
    let output = run(
        Command::new(promtool)
            .args(["check", what, file])
            .current_dir(monitoring_dir()),
        b"",
    );
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "promtool check {what} {file}: {}\n{report}",
        output.status
    );
    report
}

fn promtool_accepts_the_prometheus_config_and_the_alerting_rules() {
    let promtool = program("promtool");
    let config = promtool_check(&promtool, "config", "prometheus.yml");
    // `check config` also checks the rule files the config loads.
    assert!(config.contains("SUCCESS: 1 rule files found"), "{config}");
    let rules = promtool_check(&promtool, "rules", "alerts.yml");
    assert!(rules.contains("SUCCESS: 4 rules found"), "{rules}");
}

/// The (source, target) pairs of a compose service's `volumes`.
fn mounts(service: &Value) -> Vec<(String, String)> {
    service["volumes"]
        .as_array()
        .expect("the service has volumes")
        .iter()
        .map(|volume| {
            let spec = volume.as_str().expect("short volume syntax");
            let mut parts = spec.split(':');
            let source = parts.next().expect("volume source").to_owned();
            let target = parts
                .next()
                .unwrap_or_else(|| panic!("volume {spec:?} has a target"))
                .to_owned();
            (source, target)
        })
        .collect()
}

fn compose_prometheus_and_provisioning_yaml_parse_and_reference_files_that_exist() {
    let python = python();
    let dir = monitoring_dir();
    let compose = yaml_as_json(&python, &dir.join("docker-compose.yml"));
    let services = &compose["services"];
    let named_volumes = compose["volumes"].as_object().expect("top-level named volumes");

    // Prometheus reaches the host by name on Linux too, and keeps its data in a named volume.
    let prometheus = &services["prometheus"];
    assert!(prometheus["image"]
        .as_str()
        .is_some_and(|image| image.starts_with("prom/prometheus")));
    assert_eq!(
        prometheus["extra_hosts"],
        serde_json::json!(["host.docker.internal:host-gateway"])
    );
    let grafana = &services["grafana"];
    assert!(grafana["image"]
        .as_str()
        .is_some_and(|image| image.starts_with("grafana/grafana")));

    let mut container_paths = Vec::new();
    for (name, service) in [("prometheus", prometheus), ("grafana", grafana)] {
        let mut uses_named_volume = false;
        for (source, target) in mounts(service) {
            if let Some(relative) = source.strip_prefix("./") {
                assert!(
                    dir.join(relative).exists(),
                    "{name} mounts {source}, which does not exist"
                );
                container_paths.push((relative.to_owned(), target));
            } else {
                assert!(
                    named_volumes.contains_key(&source),
                    "{name} mounts undeclared volume {source}"
                );
                uses_named_volume = true;
            }
        }
        assert!(uses_named_volume, "{name} keeps its data in a named volume");
    }
    let mounted_at = |relative: &str| {
        container_paths
            .iter()
            .find(|(source, _)| source == relative)
            .map(|(_, target)| target.clone())
            .unwrap_or_else(|| panic!("./{relative} is mounted"))
    };

    // prometheus.yml: the 5 s job on host.docker.internal, and rule files that are mounted.
    let config = yaml_as_json(&python, &dir.join("prometheus.yml"));
    let jobs = config["scrape_configs"].as_array().expect("scrape_configs");
    let job = jobs
        .iter()
        .find(|job| job["job_name"] == "tower-prometheus")
        .expect("job tower-prometheus");
    let interval = job["scrape_interval"]
        .as_str()
        .or(config["global"]["scrape_interval"].as_str());
    assert_eq!(interval, Some("5s"));
    let targets = &job["static_configs"][0]["targets"];
    assert_eq!(targets, &serde_json::json!(["host.docker.internal:3000"]));
    let config_in_container = mounted_at("prometheus.yml");
    let config_dir = Path::new(&config_in_container)
        .parent()
        .expect("config directory");
    for rule_file in config["rule_files"].as_array().expect("rule_files") {
        let rule_file = rule_file.as_str().expect("rule file path");
        assert!(dir.join(rule_file).exists(), "rule file {rule_file} exists here");
        let in_container = config_dir.join(rule_file);
        assert_eq!(
            mounted_at(rule_file),
            in_container.to_string_lossy(),
            "{rule_file} is mounted where the config looks for it"
        );
    }

    // alerts.yml: the four alerts the README lists.
    let alerts = yaml_as_json(&python, &dir.join("alerts.yml"));
    let names: Vec<&str> = alerts["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|group| group["rules"].as_array().expect("rules"))
        .map(|rule| rule["alert"].as_str().expect("alerting rules only"))
        .collect();
    assert_eq!(
        names,
        [
            "TargetDown",
            "HighServerErrorRatio",
            "HighP99Latency",
            "InFlightRequestsStuck"
        ]
    );

    // Grafana: the provisioning directory is mounted where Grafana reads it; the data source is
    // the compose service; the dashboard provider's path is where the dashboards are mounted.
    assert_eq!(mounted_at("grafana/provisioning"), "/etc/grafana/provisioning");
    let datasources = yaml_as_json(
        &python,
        &dir.join("grafana/provisioning/datasources/prometheus.yml"),
    );
    let datasource = &datasources["datasources"][0];
    assert_eq!(datasource["type"], "prometheus");
    assert_eq!(datasource["url"], "http://prometheus:9090");
    let providers = yaml_as_json(
        &python,
        &dir.join("grafana/provisioning/dashboards/tower-prometheus.yml"),
    );
    let provider_path = providers["providers"][0]["options"]["path"]
        .as_str()
        .expect("provider path");
    assert_eq!(mounted_at("grafana/dashboards"), provider_path);
    let home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
        .as_str()
        .expect("a home dashboard");
    let home_file = Path::new(home)
        .strip_prefix(provider_path)
        .expect("home dashboard is provisioned");
    assert!(
        dir.join("grafana/dashboards").join(home_file).exists(),
        "{home} exists"
    );

    // Every panel queries the provisioned data source.
    let uid = datasource["uid"].as_str().expect("data source uid");
    for panel in dashboard()["panels"].as_array().expect("panels") {
        assert_eq!(panel["datasource"]["uid"], uid, "panel {}", panel["title"]);
        for target in panel["targets"].as_array().expect("targets") {
            assert_eq!(
                target["datasource"]["uid"], uid,
                "target of panel {}",
                panel["title"]
            );
        }
    }
}

fn dashboard_has_the_panels_the_readme_lists() {
    let titles: Vec<String> = dashboard()["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .map(|panel| panel["title"].as_str().expect("title").to_owned())
        .collect();
    let readme = std::fs::read_to_string(monitoring_dir().join("README.md")).expect("README.md");
    for title in &titles {
        assert!(
            readme.contains(&format!("| {title} |")),
            "README explains panel {title:?}"
        );
    }
    // The issue's list: rate by view, quantiles by view, error ratios, status, in-flight,
    // body sizes, exceptions by type, cancellations.
    let queries = dashboard_queries();
    let uses = |needle: &str| queries.iter().any(|(_, expr)| expr.contains(needle));
    assert!(uses("rate(http_requests_total_by_view_transport_method_total"));
    for quantile in ["0.50", "0.95", "0.99"] {
        assert!(uses(&format!(
            "histogram_quantile({quantile}, sum by (view, le) (rate(http_requests_latency_seconds_by_view_method_bucket"
        )));
    }
    assert!(uses(r#"http_responses_total_by_status_total{status=~"4.."}"#));
    assert!(uses(r#"http_responses_total_by_status_total{status=~"5.."}"#));
    assert!(uses("sum by (status) (rate(http_responses_total_by_status_total"));
    assert!(uses("http_requests_in_flight"));
    assert!(uses("http_requests_body_total_bytes_bucket"));
    assert!(uses("http_responses_body_total_bytes_bucket"));
    assert!(uses("sum by (type) (rate(http_exceptions_total_by_type_total"));
    assert!(uses("rate(http_requests_cancelled_total"));
}
