//! The standard process metrics: plausible values and standard names outside the namespace.
//! (promtool's check of them is in `tests/e2e/process.rs`.)

#![cfg(feature = "process")]

mod support;

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use support::exposition::{scrape, value};
use tower_prometheus::process::ProcessCollector;
use tower_prometheus::{Format, Metrics};

/// The fd and thread counts are process-wide: tests that compare them must not overlap.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The value of the unlabelled process metric `name`, freshly scraped.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn process_metric(metrics: &Metrics, name: &str) -> f64 {
    let samples = scrape(metrics, Format::PrometheusText);
    value(&samples, name, &[]).unwrap_or_else(|| panic!("{name} missing from {samples:?}"))
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
    let rss = process_metric(&metrics, "process_resident_memory_bytes");
    let virtual_memory = process_metric(&metrics, "process_virtual_memory_bytes");
    assert!(rss > 0.0, "rss {rss}");
    assert!(virtual_memory >= rss, "virtual {virtual_memory} < rss {rss}");

    // The test binary started before this test and (bounded by the CI budget) not long ago.
    // `btime` is whole seconds, hence one second of slack.
    let started = process_metric(&metrics, "process_start_time_seconds");
    assert!(
        started <= test_start + 1.0,
        "start {started} after the test began at {test_start}"
    );
    assert!(
        started > test_start - 3600.0,
        "start {started} more than an hour before {test_start}"
    );

    let open = process_metric(&metrics, "process_open_fds");
    let max = process_metric(&metrics, "process_max_fds");
    assert!(open >= 3.0, "stdin, stdout and stderr at least: {open}");
    assert!(max >= open, "max {max} < open {open}");
    assert!(process_metric(&metrics, "process_threads") >= 1.0);
    assert!(process_metric(&metrics, "process_cpu_seconds_total") >= 0.0);
}

#[cfg(target_os = "linux")]
#[test]
fn open_fds_rise_when_files_are_opened_and_fall_when_closed() {
    let _serial = serial();
    let metrics = Metrics::new();
    let before = process_metric(&metrics, "process_open_fds");
    let files: Vec<std::fs::File> = (0..20)
        .map(|_| std::fs::File::open("Cargo.toml").unwrap())
        .collect();
    let during = process_metric(&metrics, "process_open_fds");
    drop(files);
    let after = process_metric(&metrics, "process_open_fds");
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
    // The test harness's thread of the previous test may still be exiting when `before` is
    // read, so a count one short is retried; a broken reading never passes.
    let with_four_more_threads = || {
        let threads_before = process_metric(&metrics, "process_threads");
        let barrier = std::sync::Barrier::new(5);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    barrier.wait();
                    barrier.wait();
                });
            }
            barrier.wait();
            let threads_during = process_metric(&metrics, "process_threads");
            barrier.wait();
            (threads_before, threads_during)
        })
    };
    let (threads_before, threads_during) = (0..5)
        .map(|_| with_four_more_threads())
        .find(|(before, during)| *during >= before + 4.0)
        .unwrap_or_else(with_four_more_threads);
    assert!(
        threads_during >= threads_before + 4.0,
        "before {threads_before}, with 4 more threads {threads_during}"
    );

    // Spin until the counter shows a tenth of a second more CPU time; a broken reading never
    // does. The machine is shared, so the wall-clock bound is generous.
    let cpu_before = process_metric(&metrics, "process_cpu_seconds_total");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut spins = 0u64;
    loop {
        let round = Instant::now();
        while round.elapsed() < Duration::from_millis(20) {
            spins = std::hint::black_box(spins.wrapping_add(1));
        }
        let cpu = process_metric(&metrics, "process_cpu_seconds_total");
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
        .build()
        .unwrap();
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
        .unwrap()
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

#[cfg(not(target_os = "linux"))]
#[test]
fn other_platforms_register_nothing() {
    let _serial = serial();
    assert!(!ProcessCollector::is_supported());
    let text = Metrics::new().render(Format::PrometheusText).unwrap();
    assert!(!text.contains("process_"), "{text}");
}
