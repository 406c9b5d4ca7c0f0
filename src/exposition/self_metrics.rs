//! The scrape self-metrics: how `/metrics` itself behaves, like Go's `promhttp_*` metrics.

use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, LabelSetEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use super::Format;
use crate::registry::families::{FamilySpec, Kind};
use crate::registry::labels::encode_label;

/// Encode times from 100 µs to 10 s: a healthy exposition takes milliseconds, 100k lines
/// about 30 ms on a small VM.
const ENCODE_SECONDS_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Response sizes from 256 B to 64 MiB, by powers of 4.
const RESPONSE_BYTES_BUCKETS: &[f64] = &[
    256.0,
    1024.0,
    4096.0,
    16_384.0,
    65_536.0,
    262_144.0,
    1_048_576.0,
    4_194_304.0,
    16_777_216.0,
    67_108_864.0,
];

/// The scrape self-metrics of one [`crate::Metrics`].
#[derive(Debug)]
pub(crate) struct ScrapeMetrics {
    scrapes: Family<ScrapeLabels, Counter>,
    encode_duration: Family<FormatLabels, Histogram, fn() -> Histogram>,
    response_bytes: Family<ResponseLabels, Histogram, fn() -> Histogram>,
    encode_errors: Family<FormatLabels, Counter>,
}

/// One answered scrape, as recorded.
pub(crate) struct Scrape {
    pub(crate) format: Format,
    pub(crate) status: u16,
    pub(crate) gzip: bool,
    pub(crate) bytes: usize,
}

impl ScrapeMetrics {
    pub(crate) fn new() -> Self {
        Self {
            scrapes: Family::default(),
            encode_duration: Family::new_with_constructor(|| {
                Histogram::new(ENCODE_SECONDS_BUCKETS.iter().copied())
            }),
            response_bytes: Family::new_with_constructor(|| {
                Histogram::new(RESPONSE_BYTES_BUCKETS.iter().copied())
            }),
            encode_errors: Family::default(),
        }
    }

    /// The rows of the scrape self-metrics, in registration order.
    pub(crate) const FAMILIES: &[FamilySpec; 4] = &[
        FamilySpec {
            name: "http_metrics_scrapes",
            help: "Scrapes of the exposition answered, by format and HTTP status",
            unit: None,
            kind: Kind::Counter,
        },
        FamilySpec {
            name: "http_metrics_encode_duration",
            help: "Time spent rendering the exposition, before compression",
            unit: Some(Unit::Seconds),
            kind: Kind::Histogram,
        },
        FamilySpec {
            name: "http_metrics_response",
            help: "Size of the exposition bodies written, after compression",
            unit: Some(Unit::Bytes),
            kind: Kind::Histogram,
        },
        FamilySpec {
            name: "http_metrics_encode_errors",
            help: "Registry parts (the HTTP families, or one registered metric or collector) that failed to encode",
            unit: None,
            kind: Kind::Counter,
        },
    ];

    pub(crate) fn register(&self, registry: &mut Registry) {
        let [scrapes, duration, response, errors] = Self::FAMILIES;
        registry.register(scrapes.name, scrapes.help, self.scrapes.clone());
        registry.register_with_unit(
            duration.name,
            duration.help,
            Unit::Seconds,
            self.encode_duration.clone(),
        );
        registry.register_with_unit(
            response.name,
            response.help,
            Unit::Bytes,
            self.response_bytes.clone(),
        );
        registry.register(errors.name, errors.help, self.encode_errors.clone());
    }

    pub(crate) fn record(&self, scrape: &Scrape) {
        let format = scrape.format.name();
        self.scrapes
            .get_or_create(&ScrapeLabels {
                format,
                status: scrape.status,
            })
            .inc();
        self.response_bytes
            .get_or_create(&ResponseLabels {
                format,
                encoding: if scrape.gzip { "gzip" } else { "identity" },
            })
            .observe(scrape.bytes as f64);
    }

    /// One rendering, however many scrapes share it: `http_metrics_encode_duration_seconds_count`
    /// counts renderings, `http_metrics_scrapes_total` answers.
    pub(crate) fn record_render(&self, format: Format, encode_time: Duration) {
        self.encode_duration
            .get_or_create(&FormatLabels {
                format: format.name(),
            })
            .observe(encode_time.as_secs_f64());
    }

    pub(crate) fn encode_errors(&self, format: Format, parts: u64) {
        self.encode_errors
            .get_or_create(&FormatLabels {
                format: format.name(),
            })
            .inc_by(parts);
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct ScrapeLabels {
    format: &'static str,
    status: u16,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct FormatLabels {
    format: &'static str,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct ResponseLabels {
    format: &'static str,
    encoding: &'static str,
}

impl EncodeLabelSet for ScrapeLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder<'_>) -> std::fmt::Result {
        encode_label(encoder, "format", &self.format)?;
        encode_label(encoder, "status", &self.status)
    }
}

impl EncodeLabelSet for FormatLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder<'_>) -> std::fmt::Result {
        encode_label(encoder, "format", &self.format)
    }
}

impl EncodeLabelSet for ResponseLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder<'_>) -> std::fmt::Result {
        encode_label(encoder, "format", &self.format)?;
        encode_label(encoder, "encoding", &self.encoding)
    }
}
