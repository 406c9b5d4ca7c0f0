//! What one sample recorded through the `metrics` facade costs once warm: a labelled counter
//! increment and a labelled histogram record through a cached handle, on our recorder
//! (`Metrics::metrics_recorder`) and on metrics-exporter-prometheus's, the facade's usual
//! exporter, measured in the same run.
//!
//! Run: `cargo bench --features metrics --bench facade`. After criterion's output, a summary
//! prints each operation's median per record and ours over metrics-exporter-prometheus's.

#[path = "support/criterion_report.rs"]
mod criterion_report;

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, Criterion};
use metrics::{Counter, Histogram, Recorder};
use metrics_exporter_prometheus::PrometheusBuilder;
use tower_prometheus::{Format, Metrics};

const GROUP: &str = "facade";
const BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Records per criterion iteration, so that one iteration is long enough to time well.
const BATCH: u64 = 1_000;

/// A labelled counter and histogram, registered once through the macros as an application
/// caching its handles does.
fn handles(recorder: &impl Recorder) -> (Counter, Histogram) {
    metrics::with_local_recorder(recorder, || {
        (
            metrics::counter!("jobs_total", "queue" => "mail", "outcome" => "ok"),
            metrics::histogram!("job_duration_seconds", "queue" => "mail"),
        )
    })
}

fn record_counter(counter: &Counter) {
    for _ in 0..BATCH {
        black_box(counter).increment(1);
    }
}

fn record_histogram(histogram: &Histogram) {
    for index in 0..BATCH {
        black_box(histogram).record(black_box(index as f64 * 0.001));
    }
}

fn facade(c: &mut Criterion) {
    let metrics = Metrics::builder().process_metrics(false).build().unwrap();
    let ours = metrics.metrics_recorder().default_buckets(BUCKETS).unwrap();
    let theirs = PrometheusBuilder::new()
        .set_buckets(&BUCKETS)
        .expect("buckets")
        .build_recorder();
    let theirs_handle = theirs.handle();
    let (our_counter, our_histogram) = handles(&ours);
    let (their_counter, their_histogram) = handles(&theirs);

    let mut group = c.benchmark_group(GROUP);
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    group.bench_function("tower_prometheus_counter", |b| {
        b.iter(|| record_counter(&our_counter))
    });
    group.bench_function("exporter_prometheus_counter", |b| {
        b.iter(|| record_counter(&their_counter))
    });
    group.bench_function("tower_prometheus_histogram", |b| {
        b.iter(|| record_histogram(&our_histogram))
    });
    group.bench_function("exporter_prometheus_histogram", |b| {
        b.iter(|| record_histogram(&their_histogram))
    });
    group.finish();

    // Both sides must have recorded what was measured.
    let text = metrics.render(Format::PrometheusText).unwrap();
    assert!(
        text.contains("jobs_total{outcome=\"ok\",queue=\"mail\"}"),
        "{text}"
    );
    let rendered = theirs_handle.render();
    assert!(rendered.contains("job_duration_seconds_bucket"), "{rendered}");
}

criterion_group!(benches, facade);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    if std::env::args().any(|argument| argument == "--bench") {
        print_summary();
    }
}

/// The median time of one record by `function`, in ns, from criterion's report of this run.
fn median_ns_per_record(function: &str) -> Option<f64> {
    Some(criterion_report::median_ns(&[GROUP, function])? / BATCH as f64)
}

fn print_summary() {
    println!("\nfacade summary (medians of this run, per record, warm cached handle, labelled):");
    for operation in ["counter", "histogram"] {
        let ours = median_ns_per_record(&format!("tower_prometheus_{operation}"));
        let theirs = median_ns_per_record(&format!("exporter_prometheus_{operation}"));
        if let (Some(ours), Some(theirs)) = (ours, theirs) {
            println!(
                "  {operation:<9}: ours {ours:6.2} ns, metrics-exporter-prometheus {theirs:6.2} ns, ours / theirs = {:.2}",
                ours / theirs
            );
        }
    }
}
