//! Concurrent scrapes share one rendering: a scrape that arrives while the same format and
//! encoding is being rendered waits for it and gets the same bytes (one copy in memory), at
//! most one rendering runs per format and encoding, and a large exposition is rendered off the
//! caller's thread.

use crate::support;

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::BodyExt;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use support::exposition::{scrape, value};
use tower::{Service, ServiceExt};
use tower_prometheus::{ExpositionBody, ExpositionService, Format, Metrics};

/// How long a closed gate holds a rendering before letting it through anyway, so that a
/// regression (a scrape rendering inline on the test's thread) fails instead of hanging.
const GATE_PATIENCE: Duration = Duration::from_secs(2);

/// A point inside every rendering (a collector) that a test can close, to hold renderings
/// in progress while more scrapes arrive.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct GateState {
    closed: bool,
    /// Renderings that reached the gate.
    entered: usize,
    /// Renderings let through because the gate stayed closed too long.
    forced: usize,
}

impl Gate {
    /// A gate, installed on `metrics`, then closed: renderings from here on wait for
    /// [`open`](Self::open).
    pub(crate) fn closed_on(metrics: &Metrics) -> Arc<Self> {
        let gate = Arc::new(Self::default());
        gate.install(metrics);
        gate.close();
        gate
    }

    /// Registers a collector on `metrics` that passes this gate each time it is encoded.
    pub(crate) fn install(self: &Arc<Self>, metrics: &Metrics) {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Gated(self.clone())));
        metrics.register_prometheus_client_registry(registry).unwrap();
    }

    fn pass(&self) {
        let mut state = self.state.lock().unwrap();
        state.entered += 1;
        self.changed.notify_all();
        let (mut state, waited) = self
            .changed
            .wait_timeout_while(state, GATE_PATIENCE, |state| state.closed)
            .unwrap();
        if waited.timed_out() {
            state.forced += 1;
        }
    }

    /// Waits (at most 10 s) until `count` renderings have reached the gate.
    pub(crate) fn wait_entered(&self, count: usize) {
        let state = self.state.lock().unwrap();
        let (state, waited) = self
            .changed
            .wait_timeout_while(state, Duration::from_secs(10), |state| state.entered < count)
            .unwrap();
        assert!(
            !waited.timed_out(),
            "{} renderings started, not {count}",
            state.entered
        );
    }

    pub(crate) fn open(&self) {
        self.state.lock().unwrap().closed = false;
        self.changed.notify_all();
    }

    /// Closes the gate and counts renderings from zero (registration may encode too).
    pub(crate) fn close(&self) {
        *self.state.lock().unwrap() = GateState {
            closed: true,
            ..GateState::default()
        };
    }

    pub(crate) fn entered(&self) -> usize {
        self.state.lock().unwrap().entered
    }

    pub(crate) fn forced(&self) -> usize {
        self.state.lock().unwrap().forced
    }
}

#[derive(Debug)]
struct Gated(Arc<Gate>);

impl Collector for Gated {
    fn encode(&self, _encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        self.0.pass();
        Ok(())
    }
}

fn request(accept: &str, accept_encoding: &str) -> Request<()> {
    Request::get("/metrics")
        .header("accept", accept)
        .header("accept-encoding", accept_encoding)
        .body(())
        .unwrap()
}

/// The status and the one data frame of an answer.
async fn read(response: http::Response<ExpositionBody>) -> (u16, Bytes) {
    let status = response.status().as_u16();
    let mut body = response.into_body();
    let data = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert!(body.frame().await.is_none(), "one frame");
    (status, data)
}

async fn scrape_once(service: &ExpositionService, request: Request<()>) -> (u16, Bytes) {
    read(service.clone().oneshot(request).await.unwrap()).await
}

/// Starts one scrape on a thread of its own (the one that renders, blocked in the gate).
fn lead(service: &ExpositionService, request: Request<()>) -> std::thread::JoinHandle<(u16, Bytes)> {
    let service = service.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(scrape_once(&service, request))
    })
}

#[tokio::test(flavor = "current_thread")]
async fn scrapes_during_a_rendering_share_it_and_one_rendering_runs_per_format_and_encoding() {
    let metrics = Metrics::builder().process_metrics(false).build().unwrap();
    let gate = Gate::closed_on(&metrics);
    let service = metrics.exposition_service();
    let kinds = [
        ("text/plain", "identity"),
        ("text/plain", "gzip"),
        ("application/openmetrics-text", "identity"),
    ];
    // One scrape per kind starts its rendering and is held in the gate, on a thread each.
    let leaders: Vec<_> = kinds
        .iter()
        .map(|(accept, encoding)| lead(&service, request(accept, encoding)))
        .collect();
    gate.wait_entered(kinds.len());
    // Five more of each arrive meanwhile: they join the renderings in progress.
    let mut followers = Vec::new();
    for (accept, encoding) in kinds {
        for _ in 0..5 {
            let mut service = service.clone();
            followers.push((accept, encoding, service.call(request(accept, encoding))));
        }
    }
    assert_eq!(
        gate.entered(),
        kinds.len(),
        "a scrape that arrived during a rendering rendered again"
    );
    gate.open();

    let leaders: Vec<_> = leaders.into_iter().map(|leader| leader.join().unwrap()).collect();
    for (accept, encoding, follower) in followers {
        let (status, data) = read(follower.await.unwrap()).await;
        assert_eq!(status, 200);
        let kind = kinds.iter().position(|kind| *kind == (accept, encoding)).unwrap();
        let (leader_status, leader_data) = &leaders[kind];
        assert_eq!(*leader_status, 200);
        assert_eq!(&data, leader_data, "{accept} {encoding}");
        // Not an equal copy: the same bytes, held once.
        assert_eq!(data.as_ptr(), leader_data.as_ptr(), "{accept} {encoding}");
    }
    assert_eq!(gate.forced(), 0);
    assert_eq!(gate.entered(), kinds.len());

    let samples = scrape(&metrics, Format::PrometheusText);
    for (format, renderings, scrapes) in [
        ("prometheus-text-0.0.4", 2.0, 12.0),
        ("openmetrics-text-1.0.0", 1.0, 6.0),
    ] {
        assert_eq!(
            value(
                &samples,
                "http_metrics_encode_duration_seconds_count",
                &[("format", format)]
            ),
            Some(renderings),
            "{format}"
        );
        assert_eq!(
            value(
                &samples,
                "http_metrics_scrapes_total",
                &[("format", format), ("status", "200")]
            ),
            Some(scrapes),
            "{format}"
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_scrape_after_a_rendering_renders_anew() {
    let metrics = Metrics::builder().process_metrics(false).build().unwrap();
    let service = metrics.exposition_service();
    let (_, first) = scrape_once(&service, request("text/plain", "identity")).await;
    let (_, second) = scrape_once(&service, request("text/plain", "identity")).await;
    // The second shows the first scrape: it was not served the first one's bytes.
    assert_ne!(first, second);
    assert!(String::from_utf8_lossy(&second)
        .contains("http_metrics_scrapes_total{format=\"prometheus-text-0.0.4\",status=\"200\"} 1"));
}

#[tokio::test(flavor = "current_thread")]
async fn a_large_exposition_is_rendered_off_the_callers_thread() {
    let metrics = Metrics::builder().process_metrics(false).build().unwrap();
    let family = Family::<Vec<(String, String)>, Counter>::default();
    for index in 0..2_000 {
        family
            .get_or_create(&vec![(
                "key".to_owned(),
                format!("a-label-value-long-enough-to-count-{index}"),
            )])
            .inc();
    }
    metrics
        .register("large", "Series enough for an exposition over 64 KiB", family)
        .unwrap();
    let gate = Arc::new(Gate::default());
    gate.install(&metrics);
    let service = metrics.exposition_service();
    // The first rendering tells how large the exposition is.
    let (_, first) = scrape_once(&service, request("text/plain", "identity")).await;
    assert!(first.len() > 64 * 1024, "{} bytes", first.len());

    gate.close();
    // `call` returns while the gate is closed: the rendering runs on another thread.
    let pending = service.clone().call(request("text/plain", "identity"));
    gate.wait_entered(1);
    gate.open();
    let (status, second) = read(pending.await.unwrap()).await;
    assert_eq!(status, 200);
    assert!(second.len() > 64 * 1024);
    assert_eq!(gate.forced(), 0, "the rendering ran on the caller's thread");
}

#[tokio::test(flavor = "current_thread")]
async fn slow_readers_one_after_another_pin_at_most_two_renderings_per_format() {
    let metrics = Metrics::builder().process_metrics(false).build().unwrap();
    let service = metrics.exposition_service();
    let text = || request("text/plain", "identity");
    // Two readers that have not read their answers yet, each arrived after the other's
    // rendering was done: each holds a rendering of its own.
    let first = service.clone().oneshot(text()).await.unwrap();
    let second = service.clone().oneshot(text()).await.unwrap();
    assert_eq!((first.status().as_u16(), second.status().as_u16()), (200, 200));

    // A third would be a third copy in memory: refused, with a hint to retry.
    let refused = service.clone().oneshot(text()).await.unwrap();
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    let (_, message) = read(refused).await;
    assert!(String::from_utf8_lossy(&message).contains("still being read"));
    // Other formats and encodings have places of their own.
    let (status, _) = scrape_once(&service, request("application/openmetrics-text", "identity")).await;
    assert_eq!(status, 200);
    let (status, _) = scrape_once(&service, request("text/plain", "gzip")).await;
    assert_eq!(status, 200);

    // Once a reader is done, its place is free again, and the refusal was counted.
    let (status, _) = read(first).await;
    assert_eq!(status, 200);
    let (status, after) = scrape_once(&service, text()).await;
    assert_eq!(status, 200);
    let after = String::from_utf8_lossy(&after);
    assert!(
        after.contains("http_metrics_scrapes_total{format=\"prometheus-text-0.0.4\",status=\"503\"} 1"),
        "{after}"
    );
    drop(second);
    // Dropping an unread answer frees its place too.
    for _ in 0..3 {
        assert_eq!(scrape_once(&service, text()).await.0, 200);
    }
}
