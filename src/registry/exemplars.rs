//! Exemplars: the trace id of a request, where it comes from, and the metric types that keep
//! it (the latency histograms and the request counter by view).

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, LabelSetEncoder, MetricEncoder};
use prometheus_client::metrics::counter::{Atomic, Counter};
use prometheus_client::metrics::exemplar::{CounterWithExemplar, HistogramWithExemplars};
use prometheus_client::metrics::family::MetricConstructor;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::{MetricType, TypedMetric};

use super::labels::encode_label;
use super::native_histograms::NativeHistograms;
use crate::primitives::atomic_histogram::AtomicHistogram;

/// The exemplar label name.
const TRACE_ID: &str = "trace_id";

/// OpenMetrics caps an exemplar's label names and values at 128 UTF-8 characters in total;
/// a longer id is dropped rather than break the exposition.
const MAX_TRACE_ID_CHARS: usize = 128 - TRACE_ID.len();

type ExtractTraceId = dyn Fn(&crate::RequestHead<'_>) -> Option<String> + Send + Sync;

/// Where the trace id of a request comes from.
#[derive(Clone)]
pub(crate) enum TraceIdSource {
    /// A sampled W3C `traceparent` header.
    Traceparent,
    /// The user's closure.
    Custom(Arc<ExtractTraceId>),
}

impl fmt::Debug for TraceIdSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Traceparent => f.write_str("Traceparent"),
            Self::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

/// A parsed name: looking a `&str` up parses it on every request.
const TRACEPARENT: http::HeaderName = http::HeaderName::from_static("traceparent");

impl TraceIdSource {
    /// The trace id of a request, if it has a usable one.
    pub(crate) fn trace_id(&self, head: &crate::RequestHead<'_>) -> Option<TraceId> {
        let id = match self {
            Self::Traceparent => sampled_trace_id(head.headers().get(&TRACEPARENT)?.as_bytes())?.to_owned(),
            Self::Custom(extract) => extract(head)?,
        };
        let chars = id.chars().count();
        (chars > 0 && chars <= MAX_TRACE_ID_CHARS).then(|| TraceId(Arc::new(id)))
    }
}

/// The trace id of a W3C `traceparent` (`version-traceid-parentid-flags`), when the header is
/// well formed and the trace is sampled: an exemplar is only useful if the trace was kept.
pub(crate) fn sampled_trace_id(traceparent: &[u8]) -> Option<&str> {
    let traceparent = std::str::from_utf8(traceparent).ok()?.trim();
    let mut fields = traceparent.split('-');
    let (version, trace_id, parent_id, flags) =
        (fields.next()?, fields.next()?, fields.next()?, fields.next()?);
    let lower_hex = |field: &str, len: usize| {
        field.len() == len
            && field
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let well_formed = lower_hex(version, 2)
        && version != "ff"
        // Version 00 has exactly four fields; later versions may append more.
        && (version != "00" || fields.next().is_none())
        && lower_hex(trace_id, 32)
        && trace_id.bytes().any(|b| b != b'0')
        && lower_hex(parent_id, 16)
        && parent_id.bytes().any(|b| b != b'0')
        && lower_hex(flags, 2);
    let sampled = u8::from_str_radix(flags, 16).is_ok_and(|flags| flags & 1 == 1);
    (well_formed && sampled).then_some(trace_id)
}

/// The exemplar label set: `{trace_id="…"}`. Shared, as one request's id goes to several
/// metrics. A thin pointer (`Arc<String>`, not `Arc<str>`): it sits in every request's tracker.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct TraceId(Arc<String>);

impl EncodeLabelSet for TraceId {
    fn encode(&self, encoder: &mut LabelSetEncoder<'_>) -> fmt::Result {
        encode_label(encoder, TRACE_ID, &self.0.as_str())
    }
}

/// A latency histogram, keeping the last exemplar of each classic bucket when exemplars are on.
/// Without exemplars or native buckets it is our lock-free [`AtomicHistogram`].
#[derive(Clone, Debug)]
pub(crate) enum LatencyHistogram {
    Classic(AtomicHistogram),
    Plain(Histogram),
    WithExemplars(HistogramWithExemplars<TraceId>),
}

impl LatencyHistogram {
    #[inline]
    pub(crate) fn observe_with_exemplar(&self, seconds: f64, trace_id: Option<&TraceId>) {
        match self {
            Self::Classic(histogram) => histogram.observe(seconds),
            _ => self.observe_opt_in(seconds, trace_id),
        }
    }

    /// [`Self::observe_with_exemplar`] for native histograms and exemplars: out of line, as
    /// they are opt-in.
    #[cold]
    fn observe_opt_in(&self, seconds: f64, trace_id: Option<&TraceId>) {
        match self {
            Self::Classic(histogram) => histogram.observe(seconds),
            Self::Plain(histogram) => histogram.observe(seconds),
            Self::WithExemplars(histogram) => {
                histogram.observe(seconds, trace_id.cloned(), trace_id.map(|_| SystemTime::now()))
            }
        }
    }
}

impl TypedMetric for LatencyHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for LatencyHistogram {
    fn encode(&self, encoder: MetricEncoder<'_>) -> fmt::Result {
        match self {
            Self::Classic(histogram) => histogram.encode(encoder),
            Self::Plain(histogram) => histogram.encode(encoder),
            Self::WithExemplars(histogram) => histogram.encode(encoder),
        }
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// Builds the latency histograms: classic, native, and with exemplars, as configured.
///
/// prometheus-client 0.26 has no native histogram with exemplars, so with native histograms
/// on, exemplars go to the request counter only.
#[derive(Clone, Debug)]
pub(crate) struct LatencyHistograms {
    pub(crate) buckets: Arc<[f64]>,
    pub(crate) native: Option<NativeHistograms>,
    pub(crate) exemplars: bool,
}

impl LatencyHistograms {
    /// The histogram without labels, observed by every request: classic ones are striped per
    /// thread (see [`crate::primitives::stripes`]).
    pub(crate) fn new_striped_metric(&self) -> LatencyHistogram {
        match (&self.native, self.exemplars) {
            (None, false) => {
                LatencyHistogram::Classic(AtomicHistogram::new_striped(Arc::clone(&self.buckets)))
            }
            _ => self.new_metric(),
        }
    }
}

impl MetricConstructor<LatencyHistogram> for LatencyHistograms {
    fn new_metric(&self) -> LatencyHistogram {
        match (&self.native, self.exemplars) {
            (Some(native), _) => LatencyHistogram::Plain(native.histogram(&self.buckets)),
            (None, true) => {
                LatencyHistogram::WithExemplars(HistogramWithExemplars::new(self.buckets.iter().copied()))
            }
            (None, false) => LatencyHistogram::Classic(AtomicHistogram::new(Arc::clone(&self.buckets))),
        }
    }
}

/// A request counter that keeps the exemplar of the last traced request when exemplars are on.
#[derive(Clone, Debug)]
pub(crate) enum RequestCounter {
    Plain(Counter),
    WithExemplar(CounterWithExemplar<TraceId>),
}

impl RequestCounter {
    #[inline]
    pub(crate) fn inc_with_exemplar(&self, trace_id: Option<&TraceId>) {
        match self {
            Self::Plain(counter) => {
                counter.inc();
            }
            Self::WithExemplar(_) => self.inc_with_exemplar_slot(trace_id),
        }
    }

    /// [`Self::inc_with_exemplar`] when exemplars are on: out of line, as they are opt-in.
    #[cold]
    fn inc_with_exemplar_slot(&self, trace_id: Option<&TraceId>) {
        match (self, trace_id) {
            (Self::Plain(counter), _) => {
                counter.inc();
            }
            (Self::WithExemplar(counter), Some(trace_id)) => {
                counter.inc_by(1, Some(trace_id.clone()), Some(SystemTime::now()));
            }
            // `inc_by` without a label set would erase the last exemplar; the atomic keeps it.
            (Self::WithExemplar(counter), None) => {
                Atomic::<u64>::inc(&*counter.inner());
            }
        }
    }
}

impl TypedMetric for RequestCounter {
    const TYPE: MetricType = MetricType::Counter;
}

impl EncodeMetric for RequestCounter {
    fn encode(&self, encoder: MetricEncoder<'_>) -> fmt::Result {
        match self {
            Self::Plain(counter) => counter.encode(encoder),
            Self::WithExemplar(counter) => counter.encode(encoder),
        }
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// Builds request counters, with an exemplar slot when exemplars are on.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RequestCounters {
    pub(crate) exemplars: bool,
}

impl MetricConstructor<RequestCounter> for RequestCounters {
    fn new_metric(&self) -> RequestCounter {
        if self.exemplars {
            RequestCounter::WithExemplar(CounterWithExemplar::default())
        } else {
            RequestCounter::Plain(Counter::default())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampled_traceparents_give_their_trace_id() {
        assert_eq!(
            sampled_trace_id(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(
            sampled_trace_id(b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03-future"),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
    }

    #[test]
    fn unsampled_or_malformed_traceparents_give_nothing() {
        for header in [
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "",
            "garbage",
        ] {
            assert_eq!(sampled_trace_id(header.as_bytes()), None, "{header}");
        }
        assert_eq!(sampled_trace_id(b"\xff\xfe"), None);
    }
}
