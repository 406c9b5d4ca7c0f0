//! More than one process: a Prometheus agent scrapes three example servers, found through the
//! relabeling of `examples/kubernetes/prometheus-kubernetes-sd.yml` (file discovery standing in
//! for Kubernetes pod discovery, with the labels Kubernetes would give the pods), and
//! remote-writes to a central Prometheus. The central one's sums equal the traffic sent, the
//! latency histograms arrive as native histograms and the trace-id exemplars arrive too.


use crate::harness::e2e_tests;
use crate::support;

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use support::example_server::ExampleServer;
use support::http::percent_encode;
use support::monitoring::{kubernetes_dir, yaml_as_json};
use support::prometheus::PrometheusServer;
use support::tools::{MAX_WAIT, PROMETHEUS, PYYAML, TempDir, program, python, wait_until};

e2e_tests! {
    an_agent_remote_writes_several_servers_with_native_histograms_and_exemplars needs [PYYAML, PROMETHEUS],
}

/// Requests to `/users/{id}` sent to each replica; one of them carries a sampled traceparent.
const REQUESTS: [u32; 3] = [4, 6, 9];
const TRACE_IDS: [&str; 3] = [
    "4bf92f3577b34da6a3ce929d0e0e4736",
    "5bf92f3577b34da6a3ce929d0e0e4737",
    "6bf92f3577b34da6a3ce929d0e0e4738",
];
const COUNTER: &str = r#"http_requests_total_by_view_transport_method_total{view="/users/{id}"}"#;
const LATENCY: &str = r#"http_requests_latency_seconds_by_view_method{view="/users/{id}"}"#;

/// The file-discovery target group Kubernetes pod discovery would give a replica's container
/// port (`__address__` is the pod IP and container port; the relabeling must replace its port
/// with the annotated one, so a wrong one here proves it does).
fn pod_target(name: &str, port: u16, scrape: &str, phase: &str) -> Value {
    json!({
        "targets": ["127.0.0.1:1"],
        "labels": {
            "__meta_kubernetes_namespace": "shop",
            "__meta_kubernetes_pod_name": name,
            "__meta_kubernetes_pod_ip": "127.0.0.1",
            "__meta_kubernetes_pod_phase": phase,
            "__meta_kubernetes_pod_label_app_kubernetes_io_name": "tower-prometheus-example",
            "__meta_kubernetes_pod_annotation_prometheus_io_scrape": scrape,
            "__meta_kubernetes_pod_annotation_prometheus_io_port": port.to_string(),
            "__meta_kubernetes_pod_annotation_prometheus_io_path": "/metrics",
        }
    })
}

/// The central server's values of `promql` by `pod`, sorted by pod.
fn by_pod(central: &PrometheusServer, promql: &str) -> Vec<(String, f64)> {
    let mut values: Vec<(String, f64)> = central
        .query_vector(promql)
        .into_iter()
        .map(|(labels, value)| (labels["pod"].as_str().unwrap_or_default().to_owned(), value))
        .collect();
    values.sort_by(|a, b| a.0.cmp(&b.0));
    values
}

fn an_agent_remote_writes_several_servers_with_native_histograms_and_exemplars() {
    let python = python();
    let prometheus = program("prometheus");
    let environment = [
        ("TOWER_PROMETHEUS_NATIVE_HISTOGRAMS", "1"),
        ("TOWER_PROMETHEUS_EXEMPLARS", "1"),
    ];
    let servers: Vec<ExampleServer> = (0..REQUESTS.len())
        .map(|_| ExampleServer::start(&environment))
        .collect();
    let pods: Vec<String> = (0..servers.len())
        .map(|i| format!("tower-prometheus-example-{i}"))
        .collect();

    let central = PrometheusServer::start_with(
        &prometheus,
        "global:\n  scrape_interval: 1s\n",
        &[
            "--web.enable-remote-write-receiver",
            "--enable-feature=native-histograms",
            "--enable-feature=exemplar-storage",
        ],
    );

    // The agent: the example's job with file discovery in place of Kubernetes discovery, a
    // pod that is not annotated and one that is not running (both must be dropped).
    let discovery = TempDir::new("kubernetes-pods");
    let mut groups: Vec<Value> = servers
        .iter()
        .zip(&pods)
        .map(|(server, pod)| pod_target(pod, server.addr().port(), "true", "Running"))
        .collect();
    groups.push(pod_target(
        "not-annotated",
        servers[0].addr().port(),
        "false",
        "Running",
    ));
    groups.push(pod_target("pending", servers[1].addr().port(), "true", "Pending"));
    let targets = discovery.path().join("targets.json");
    std::fs::write(&targets, serde_json::to_vec(&groups).unwrap()).unwrap();
    let example = yaml_as_json(&python, &kubernetes_dir().join("prometheus-kubernetes-sd.yml"));
    let mut job = example["scrape_configs"][0].clone();
    job.as_object_mut().unwrap().remove("kubernetes_sd_configs");
    job["file_sd_configs"] = json!([{"files": [targets.display().to_string()], "refresh_interval": "1s"}]);
    job["scrape_interval"] = json!("1s");
    let agent_config = json!({
        "global": {"scrape_interval": "1s"},
        "scrape_configs": [job],
        "remote_write": [{
            "url": format!("http://{}/api/v1/write", central.addr()),
            "send_exemplars": true,
            "send_native_histograms": true,
            "queue_config": {"batch_send_deadline": "1s"},
        }],
    });
    // JSON is YAML. The agent asks for protobuf (native histograms) like the central server.
    let _agent = PrometheusServer::start_agent(
        &prometheus,
        &serde_json::to_string_pretty(&agent_config).unwrap(),
        &["--enable-feature=native-histograms"],
    );

    // The three annotated, running pods are scraped, on the annotated port, each as its own
    // target; the other two never are.
    wait_until("three pods up at the central server", MAX_WAIT, || {
        let up = by_pod(&central, r#"up{job="kubernetes-pods"}"#);
        let expected: Vec<(String, f64)> = pods.iter().map(|pod| (pod.clone(), 1.0)).collect();
        if up == expected {
            Ok(())
        } else {
            Err(format!("{up:?}"))
        }
    });
    let up = central.query_vector(r#"up{job="kubernetes-pods"}"#);
    for (labels, _) in &up {
        assert_eq!(labels["namespace"], "shop");
        assert_eq!(labels["app"], "tower-prometheus-example");
        assert!(labels["instance"].as_str().unwrap().starts_with("127.0.0.1:"));
        assert!(
            !labels.contains_key("__meta_kubernetes_pod_ip"),
            "meta labels are dropped"
        );
    }

    // The traffic: a different number of requests to each replica, one traced.
    for ((server, &requests), trace_id) in servers.iter().zip(&REQUESTS).zip(TRACE_IDS) {
        let traceparent = format!("00-{trace_id}-00f067aa0ba902b7-01");
        assert_eq!(
            server
                .request("GET", "/users/1", &[("traceparent", &traceparent)], &[])
                .status,
            200
        );
        for id in 2..=requests {
            assert_eq!(server.get(&format!("/users/{id}")).status, 200);
        }
    }
    let sent: u32 = REQUESTS.iter().sum();

    // Stored centrally: the total, and each replica's own count under its pod label.
    central.wait_for_value(&format!("sum({COUNTER})"), f64::from(sent));
    let expected: Vec<(String, f64)> = pods
        .iter()
        .zip(REQUESTS)
        .map(|(pod, requests)| (pod.clone(), f64::from(requests)))
        .collect();
    assert_eq!(by_pod(&central, &format!("sum by (pod) ({COUNTER})")), expected);

    // The latency histograms arrived as native histograms: counts by pod and in total, and no
    // classic series beside them.
    central.wait_for_value(&format!("histogram_count(sum({LATENCY}))"), f64::from(sent));
    assert_eq!(
        by_pod(&central, &format!("histogram_count(sum by (pod) ({LATENCY}))")),
        expected
    );
    let sum = central
        .query_single(&format!("histogram_sum(sum({LATENCY}))"))
        .expect("a native histogram sum");
    assert!(
        sum > 0.0 && sum < f64::from(sent),
        "{sent} quick requests took {sum} s in total"
    );
    assert_eq!(
        central.query_single(
            r#"count(http_requests_latency_seconds_by_view_method_bucket{view="/users/{id}"})"#
        ),
        None,
        "native only: Prometheus 2.42 ingests no classic buckets beside native ones"
    );

    // Each replica's trace id came through the agent as an exemplar of its counter.
    wait_until("the three exemplars at the central server", MAX_WAIT, || {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let data = central.api(&format!(
            "query_exemplars?query={}&start={}&end={}",
            percent_encode(COUNTER),
            now - 600,
            now + 60
        ))?;
        let mut found: Vec<(String, String)> = data
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|series| {
                let pod = series["seriesLabels"]["pod"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                series["exemplars"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(move |exemplar| {
                        exemplar["labels"]["trace_id"]
                            .as_str()
                            .map(|id| (pod.clone(), id.to_owned()))
                    })
            })
            .collect();
        found.sort();
        found.dedup();
        let wanted: Vec<(String, String)> = pods
            .iter()
            .cloned()
            .zip(TRACE_IDS.iter().map(|id| (*id).to_owned()))
            .collect();
        if found == wanted {
            Ok(())
        } else {
            Err(format!("{found:?}"))
        }
    });
    eprintln!(
        "remote write: {sent} requests sent ({REQUESTS:?}), {sent} stored centrally by counter and by native histogram count; 3 exemplars"
    );
}
