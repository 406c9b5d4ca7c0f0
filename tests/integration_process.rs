//! The standard process metrics: plausible values, standard names outside the namespace, and
//! an exposition promtool accepts.

#![cfg(feature = "process")]

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prometheus_client::registry::Registry;
use tower_prometheus::process::ProcessCollector;
use tower_prometheus::{Format, Metrics};

/// The fd and thread counts are process-wide: tests that compare them must not overlap.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The value of the unlabelled sample `name` in a Prometheus text exposition.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .find_map(|value| value.trim().parse().ok())
}

#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn scrape(metrics: &Metrics, name: &str) -> f64 {
    let text = metrics.render(Format::PrometheusText).unwrap();
    sample(&text, name).unwrap_or_else(|| panic!("{name} missing from:\n{text}"))
}

#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn now_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[cfg(target_os = "linux")]
#[test]
fn values_are_plausible() {
    let _serial = serial();
    let test_start = now_seconds();
    let metrics = Metrics::new();
    let rss = scrape(&metrics, "process_resident_memory_bytes");
    let virtual_memory = scrape(&metrics, "process_virtual_memory_bytes");
    assert!(rss > 0.0, "rss {rss}");
    assert!(virtual_memory >= rss, "virtual {virtual_memory} < rss {rss}");

    // The test binary started before this test and (bounded by the CI budget) not long ago.
    // `btime` is whole seconds, hence one second of slack.
    let started = scrape(&metrics, "process_start_time_seconds");
    assert!(
        started <= test_start + 1.0,
        "start {started} after the test began at {test_start}"
    );
    assert!(
        started > test_start - 3600.0,
        "start {started} more than an hour before {test_start}"
    );

    let open = scrape(&metrics, "process_open_fds");
    let max = scrape(&metrics, "process_max_fds");
    assert!(open >= 3.0, "stdin, stdout and stderr at least: {open}");
    assert!(max >= open, "max {max} < open {open}");
    assert!(scrape(&metrics, "process_threads") >= 1.0);
    assert!(scrape(&metrics, "process_cpu_seconds_total") >= 0.0);
}

#[cfg(target_os = "linux")]
#[test]
fn open_fds_rise_when_files_are_opened_and_fall_when_closed() {
    let _serial = serial();
    let metrics = Metrics::new();
    let before = scrape(&metrics, "process_open_fds");
    let files: Vec<std::fs::File> = (0..20)
        .map(|_| std::fs::File::open("Cargo.toml").unwrap())
        .collect();
    let during = scrape(&metrics, "process_open_fds");
    drop(files);
    let after = scrape(&metrics, "process_open_fds");
    assert!(
        during >= before + 20.0,
        "before {before}, with 20 more files {during}"
    );
    assert!(
        after <= during - 20.0,
        "with the files {during}, after closing them {after}"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn threads_and_cpu_time_follow_the_process() {
    let _serial = serial();
    let metrics = Metrics::new();
    let threads_before = scrape(&metrics, "process_threads");
    let barrier = std::sync::Barrier::new(5);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                barrier.wait();
                barrier.wait();
            });
        }
        barrier.wait();
        let threads_during = scrape(&metrics, "process_threads");
        barrier.wait();
        assert!(
            threads_during >= threads_before + 4.0,
            "before {threads_before}, with 4 more threads {threads_during}"
        );
    });

    // Spin until the counter shows a tenth of a second more CPU time; a broken reading never
    // does. The machine is shared, so the wall-clock bound is generous.
    let cpu_before = scrape(&metrics, "process_cpu_seconds_total");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut spins = 0u64;
    loop {
        let round = Instant::now();
        while round.elapsed() < Duration::from_millis(20) {
            spins = std::hint::black_box(spins.wrapping_add(1));
        }
        let cpu = scrape(&metrics, "process_cpu_seconds_total");
        if cpu >= cpu_before + 0.1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "CPU time stuck at {cpu} (from {cpu_before})"
        );
    }
}

#[test]
fn standard_names_escape_the_namespace_and_keep_constant_labels() {
    let _serial = serial();
    let metrics = Metrics::builder()
        .namespace("django")
        .const_label("service", "billing")
        .build();
    // Everything else still takes the namespace, custom metrics included.
    let orders: prometheus_client::metrics::counter::Counter = Default::default();
    metrics
        .register("orders_placed", "Orders placed", orders.clone())
        .unwrap();
    orders.inc();
    let text = metrics.render(Format::PrometheusText).unwrap();
    assert!(text.contains("django_http_requests_before_middlewares_total{service=\"billing\"} 0"));
    assert!(
        text.contains("\ndjango_orders_placed_total{service=\"billing\"} 1\n"),
        "{text}"
    );
    assert!(!text.contains("django_process_"), "{text}");
    if ProcessCollector::is_supported() {
        for name in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_virtual_memory_bytes",
            "process_open_fds",
            "process_max_fds",
            "process_start_time_seconds",
            "process_threads",
        ] {
            assert!(
                text.contains(&format!("\n{name}{{service=\"billing\"}} ")),
                "{name} in:\n{text}"
            );
        }
    } else {
        assert!(!text.contains("process_"), "{text}");
    }
}

#[test]
fn process_metrics_can_be_turned_off() {
    let _serial = serial();
    let text = Metrics::builder()
        .process_metrics(false)
        .build()
        .render(Format::OpenMetrics)
        .unwrap();
    assert!(!text.contains("process_"), "{text}");
    assert!(text.contains("http_requests_before_middlewares_total 0"));
}

#[cfg(target_os = "linux")]
#[test]
fn open_metrics_declares_units_and_types() {
    let _serial = serial();
    let text = Metrics::new().render(Format::OpenMetrics).unwrap();
    for expected in [
        "# TYPE process_cpu_seconds counter",
        "# UNIT process_cpu_seconds seconds",
        "# TYPE process_resident_memory_bytes gauge",
        "# UNIT process_resident_memory_bytes bytes",
        "# TYPE process_start_time_seconds gauge",
        "# TYPE process_open_fds gauge",
    ] {
        assert!(text.contains(expected), "{expected} in:\n{text}");
    }
}

/// Kills the child if the test fails before it exits.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn require_e2e() -> bool {
    std::env::var("TOWER_PROMETHEUS_REQUIRE_E2E").is_ok_and(|value| value == "1")
}

#[test]
fn promtool_accepts_the_process_metrics() {
    let _serial = serial();
    let Ok(child) = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        assert!(
            !require_e2e(),
            "promtool not found and TOWER_PROMETHEUS_REQUIRE_E2E=1"
        );
        println!("SKIP: promtool not found");
        return;
    };
    let mut child = KillOnDrop(child);
    let mut registry = Registry::default();
    registry.register_collector(Box::new(ProcessCollector::new()));
    let mut prometheus_text = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut prometheus_text, &registry).unwrap();
    assert_eq!(
        prometheus_text.contains("process_threads"),
        ProcessCollector::is_supported()
    );
    child
        .0
        .stdin
        .take()
        .unwrap()
        .write_all(prometheus_text.as_bytes())
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "promtool did not finish within 60 s");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut output = String::new();
    child
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut output)
        .unwrap();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut output)
        .unwrap();
    assert!(
        status.success(),
        "promtool rejected:\n{prometheus_text}\n{output}"
    );
    assert_eq!(
        output.trim(),
        "",
        "promtool lint findings for:\n{prometheus_text}"
    );
}

#[cfg(not(target_os = "linux"))]
#[test]
fn other_platforms_register_nothing() {
    let _serial = serial();
    assert!(!ProcessCollector::is_supported());
    let text = Metrics::new().render(Format::PrometheusText).unwrap();
    assert!(!text.contains("process_"), "{text}");
}
