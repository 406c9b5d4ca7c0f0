//! Latency buckets chosen per view
//! ([`MetricsBuilder::latency_buckets_for_view`](crate::MetricsBuilder::latency_buckets_for_view)).
//!
//! A rule is looked up only when a view's latency series is created, once per `(view, method)`
//! pair: warm requests never see this module.

use std::sync::atomic::{AtomicBool, Ordering};

use super::config::RecordingConfig;
use super::exemplars::{LatencyHistogram, LatencyHistograms};
use prometheus_client::metrics::family::MetricConstructor;

/// One view's buckets, and whether a request of that view has used them yet.
#[derive(Debug)]
struct Rule {
    view: Box<str>,
    histograms: LatencyHistograms,
    used: AtomicBool,
}

/// Every per-view bucket rule of the configuration.
#[derive(Debug, Default)]
pub(crate) struct ViewBuckets {
    rules: Box<[Rule]>,
}

impl ViewBuckets {
    pub(crate) fn new(config: &RecordingConfig) -> Self {
        let rules = config
            .view_latency_buckets
            .iter()
            .map(|(view, buckets)| Rule {
                view: view.as_str().into(),
                histograms: LatencyHistograms {
                    buckets: buckets.as_slice().into(),
                    native: config.native_histograms,
                    exemplars: config.trace_id_source.is_some(),
                },
                used: AtomicBool::new(false),
            })
            .collect();
        Self { rules }
    }

    /// A new latency histogram with `view`'s own buckets, `None` when no rule names `view`
    /// (the family's default buckets apply). Marks the rule used.
    pub(crate) fn histogram_for(&self, view: &str) -> Option<LatencyHistogram> {
        let rule = self.rules.iter().find(|rule| &*rule.view == view)?;
        rule.used.store(true, Ordering::Relaxed);
        Some(rule.histograms.new_metric())
    }

    /// The views of the rules no request has used yet, in the order they were given.
    pub(crate) fn unmatched(&self) -> Vec<String> {
        self.rules
            .iter()
            .filter(|rule| !rule.used.load(Ordering::Relaxed))
            .map(|rule| rule.view.to_string())
            .collect()
    }
}
