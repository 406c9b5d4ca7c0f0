//! The golden expositions: one fixed traffic through the layer, rendered in every format and
//! compared byte for byte with the files under `tests/golden/`, so that a change to how
//! requests are recorded or encoded shows as a diff of what a scraper reads.
//!
//! The latencies are the times the handlers set: the recorder reads a quanta mock clock that
//! the handlers and body streams advance (a unit test, so no public hook exposes the clock).
//! What still depends on the run is made independent of it, and nothing else: each family's
//! series are compared in label order ([`compare::in_label_order`]); the latencies are exact binary
//! fractions ([`traffic::advance`]); the encode duration of the scrape in the traffic, timed by the
//! system clock, reads `<elapsed>` ([`compare::elapsed_text`]; its count is still compared),
//! and the creation time of native histograms in protobuf reads 0 ([`compare::protobuf`]).
//!
//! `TOWER_PROMETHEUS_BLESS=1 cargo test --all-features --lib golden` rewrites the files from
//! this run (CONTRIBUTING.md).

mod compare;
mod traffic;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use quanta::Mock;

use self::compare::{diff, elapsed_text, in_label_order};
use crate::{Format, Metrics, Naming, NativeHistograms, ViewName};

/// The environment variable that makes the tests rewrite the golden files.
const BLESS: &str = "TOWER_PROMETHEUS_BLESS";

/// The configurations whose expositions are kept.
#[derive(Clone, Copy)]
enum Profile {
    /// `Naming::Django` with every option that shapes its families.
    Django,
    /// The same with native histograms beside the classic ones: the latency totals are then
    /// recorded per request rather than computed at a scrape, and protobuf carries the native
    /// buckets.
    DjangoNative,
    /// `Naming::OpenTelemetry` with the options it accepts.
    OpenTelemetry,
}

impl Profile {
    /// The golden files' name before the format's extension.
    fn stem(self) -> &'static str {
        match self {
            Self::Django => "django",
            Self::DjangoNative => "django_native",
            Self::OpenTelemetry => "opentelemetry",
        }
    }
}

/// Every option that shapes the exposition, as far as the profile's naming accepts it;
/// latencies are read from the returned mock clock.
fn metrics(profile: Profile) -> (Metrics, Arc<Mock>) {
    let naming = match profile {
        Profile::Django | Profile::DjangoNative => Naming::Django,
        Profile::OpenTelemetry => Naming::OpenTelemetry,
    };
    let mut builder = Metrics::builder()
        .naming(naming)
        .namespace("shop")
        .const_label("region", "eu-1")
        .const_label("build", "2.0 \"blue\"\\canary")
        .latency_buckets([0.005, 0.05, 0.5, 5.0])
        .size_buckets([16.0, 1024.0])
        .max_label_sets(16)
        .process_metrics(false)
        .view_resolver(|head| {
            head.uri()
                .path()
                .starts_with("/reports/")
                .then(|| ViewName::new("/reports/{name}"))
        });
    if naming == Naming::Django {
        builder = builder
            .latency_buckets_for_view("/upload", [1.0, 10.0])
            .response_duration_histogram(true)
            .request_label("tenant", |head| head.headers().get("x-tenant")?.to_str().ok(), 2);
    }
    if let Profile::DjangoNative = profile {
        builder = builder.native_histograms(NativeHistograms::classic_and_native().with_schema(2));
    }
    let mut metrics = builder.build().expect("the golden configuration is valid");
    let (clock, mock) = quanta::Clock::mock();
    Arc::get_mut(&mut metrics.shared)
        .expect("a Metrics just built has no other clone")
        .recorder_mut()
        .use_clock(clock);
    (metrics, mock)
}

/// The expositions of the golden traffic under `profile`, by golden file name.
fn expositions(profile: Profile) -> Vec<(String, String)> {
    let (metrics, clock) = metrics(profile);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    runtime.block_on(traffic::drive(&metrics, &clock));
    let stem = profile.stem();
    let mut files = Vec::new();
    for (format, extension) in [(Format::PrometheusText, "prom"), (Format::OpenMetrics, "om")] {
        let text = metrics.render(format).expect("the exposition renders");
        files.push((
            format!("{stem}.{extension}"),
            elapsed_text(&in_label_order(&text)),
        ));
    }
    #[cfg(feature = "protobuf")]
    files.push((format!("{stem}.protobuf.txt"), compare::protobuf(&metrics)));
    files
}
fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

/// Compares every exposition with its golden file, or rewrites the files when blessing.
fn check(profile: Profile) {
    let bless = std::env::var_os(BLESS).is_some_and(|value| value == "1");
    let mut failures = String::new();
    for (name, actual) in expositions(profile) {
        let path = golden_path(&name);
        if bless {
            std::fs::create_dir_all(path.parent().expect("a parent directory"))
                .expect("tests/golden is writable");
            std::fs::write(&path, &actual).expect("the golden file is writable");
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(expected) if expected == actual => {}
            Ok(expected) => {
                let _ = writeln!(
                    failures,
                    "{} differs (- golden, + now):\n{}",
                    path.display(),
                    diff(&expected, &actual)
                );
            }
            Err(error) => {
                let _ = writeln!(failures, "{}: {error}", path.display());
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{failures}\nIf the change is intended, rewrite the golden files with {BLESS}=1 and review their diff."
    );
}
#[test]
fn the_django_exposition_of_the_golden_traffic_is_unchanged() {
    check(Profile::Django);
}

#[test]
fn the_django_exposition_with_native_histograms_of_the_golden_traffic_is_unchanged() {
    check(Profile::DjangoNative);
}

#[test]
fn the_opentelemetry_exposition_of_the_golden_traffic_is_unchanged() {
    check(Profile::OpenTelemetry);
}
