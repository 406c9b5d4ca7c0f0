//! [`NativeHistograms`]: the option that makes the latency histograms native.

use prometheus_client::metrics::histogram::{Histogram, NativeHistogramConfig};

/// Makes the two latency histograms Prometheus native histograms: exponential buckets whose
/// resolution is set by a schema, so quantiles are precise at any latency without choosing
/// bucket bounds. Pass it to
/// [`MetricsBuilder::native_histograms`](crate::MetricsBuilder::native_histograms).
///
/// Native buckets only travel in the Prometheus protobuf format (feature `protobuf`), which
/// Prometheus asks for when started with `--enable-feature=native-histograms`.
/// [`classic_and_native`](Self::classic_and_native) also keeps the configured classic buckets
/// for text scrapers; [`native_only`](Self::native_only) drops them, and then text scrapes
/// see only `_count`, `_sum` and the `+Inf` bucket, and OpenMetrics is not offered.
///
/// ```
/// use tower_prometheus::{Format, Metrics, NativeHistograms};
///
/// let both = Metrics::builder()
///     .native_histograms(NativeHistograms::classic_and_native().with_bucket_factor(1.1).with_max_buckets(160))
///     .build().unwrap();
/// let native_only = Metrics::builder().native_histograms(NativeHistograms::native_only()).build().unwrap();
///
/// let bucket = "http_requests_latency_including_middlewares_seconds_bucket";
/// let text = both.render(Format::PrometheusText).unwrap();
/// assert!(text.contains(&format!("{bucket}{{le=\"0.01\"}} 0")));
/// assert!(both.render(Format::OpenMetrics).is_ok());
///
/// let text = native_only.render(Format::PrometheusText).unwrap();
/// assert!(!text.contains(&format!("{bucket}{{le=\"0.01\"}}")));
/// assert!(text.contains(&format!("{bucket}{{le=\"+Inf\"}} 0")));
/// assert!(native_only.render(Format::OpenMetrics).is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NativeHistograms {
    keep_classic: bool,
    schema: i8,
    max_buckets: usize,
    /// A value outside the valid range, kept so that `build()` refuses it by name.
    refused: Option<Refused>,
}

/// A setting [`MetricsBuilder::build`](crate::MetricsBuilder::build) refuses.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Refused {
    Schema(i8),
    Factor(f64),
}

/// Prometheus's valid schemas: a bucket grows by `2^(2^-schema)`.
const SCHEMAS: std::ops::RangeInclusive<i8> = -4..=8;

impl NativeHistograms {
    /// Native buckets beside the classic ones: text scrapers still get classic buckets.
    /// Schema 3 (buckets grow by 9 %), at most 160 buckets per series.
    ///
    /// ```
    /// let native = tower_prometheus::NativeHistograms::classic_and_native();
    /// assert_eq!(native.schema(), 3);
    /// ```
    #[must_use]
    pub fn classic_and_native() -> Self {
        Self {
            keep_classic: true,
            schema: 3,
            max_buckets: 160,
            refused: None,
        }
    }

    /// Native buckets only, the lightest option when every scraper speaks protobuf.
    ///
    /// ```
    /// let native = tower_prometheus::NativeHistograms::native_only();
    /// assert_eq!(native.max_buckets(), 160);
    /// ```
    #[must_use]
    pub fn native_only() -> Self {
        Self {
            keep_classic: false,
            ..Self::classic_and_native()
        }
    }

    /// Sets the resolution as a schema from -4 (each bucket 65 536 times the previous) to 8
    /// (0.27 %), the range Prometheus accepts; [`build`](crate::MetricsBuilder::build) refuses
    /// any other value, naming it.
    ///
    /// ```
    /// use tower_prometheus::{Metrics, NativeHistograms};
    ///
    /// assert_eq!(NativeHistograms::native_only().with_schema(5).schema(), 5);
    /// let refused = Metrics::builder().native_histograms(NativeHistograms::native_only().with_schema(12)).build();
    /// let error = refused.unwrap_err();
    /// assert_eq!((error.option(), error.input()), ("native_histograms", "with_schema(12)"));
    /// ```
    #[must_use]
    pub fn with_schema(mut self, schema: i8) -> Self {
        // The last resolution setting wins, its refusal with it.
        self.refused = (!SCHEMAS.contains(&schema)).then_some(Refused::Schema(schema));
        self.schema = schema.clamp(*SCHEMAS.start(), *SCHEMAS.end());
        self
    }

    /// Sets the resolution as the largest growth factor between neighbouring buckets you
    /// accept (1.1 = at most 10 %); the finest schema whose factor is not above it is used.
    /// [`build`](crate::MetricsBuilder::build) refuses a factor not above 1 or NaN: no bucket
    /// can grow by that.
    ///
    /// ```
    /// use tower_prometheus::{Metrics, NativeHistograms};
    ///
    /// let native = NativeHistograms::classic_and_native().with_bucket_factor(1.1);
    /// assert_eq!(native.schema(), 3);
    /// assert_eq!(native.with_bucket_factor(2.0).schema(), 0);
    /// let refused = Metrics::builder().native_histograms(native.with_bucket_factor(0.5)).build();
    /// assert_eq!(refused.unwrap_err().input(), "with_bucket_factor(0.5)");
    /// ```
    #[must_use]
    pub fn with_bucket_factor(mut self, factor: f64) -> Self {
        self.refused = (factor.is_nan() || factor <= 1.0).then_some(Refused::Factor(factor));
        self.schema = SCHEMAS
            .rev()
            .map(|schema| (schema, 2f64.powi(-i32::from(schema)).exp2()))
            .take_while(|(_, growth)| *growth <= factor || (factor.is_infinite() && factor > 0.0))
            .last()
            .map_or(*SCHEMAS.end(), |(schema, _)| schema);
        self
    }

    /// Caps the buckets of one series (default 160; 0 = no cap). Beyond it prometheus-client
    /// halves the resolution, as Prometheus's own clients do.
    ///
    /// ```
    /// let native = tower_prometheus::NativeHistograms::classic_and_native().with_max_buckets(80);
    /// assert_eq!(native.max_buckets(), 80);
    /// ```
    #[must_use]
    pub fn with_max_buckets(mut self, max: usize) -> Self {
        self.max_buckets = max;
        self
    }

    /// The schema in use: set by [`with_schema`](Self::with_schema), or the one
    /// [`with_bucket_factor`](Self::with_bucket_factor) chose.
    ///
    /// ```
    /// use tower_prometheus::NativeHistograms;
    ///
    /// assert_eq!(NativeHistograms::native_only().with_schema(-2).schema(), -2);
    /// assert_eq!(NativeHistograms::native_only().with_bucket_factor(2.0).schema(), 0);
    /// ```
    #[must_use]
    pub fn schema(&self) -> i8 {
        self.schema
    }

    /// The growth factor between neighbouring buckets of the schema in use, `2^(2^-schema)`:
    /// at most the factor given to [`with_bucket_factor`](Self::with_bucket_factor).
    ///
    /// ```
    /// use tower_prometheus::NativeHistograms;
    ///
    /// let native = NativeHistograms::native_only().with_bucket_factor(1.1);
    /// assert_eq!(native.schema(), 3);
    /// assert!((native.bucket_factor() - 1.0905).abs() < 1e-4, "2^(1/8), about 9 %");
    /// assert_eq!(NativeHistograms::native_only().with_schema(0).bucket_factor(), 2.0);
    /// ```
    #[must_use]
    pub fn bucket_factor(&self) -> f64 {
        2f64.powi(-i32::from(self.schema)).exp2()
    }

    /// The bucket cap in use.
    ///
    /// ```
    /// use tower_prometheus::NativeHistograms;
    ///
    /// assert_eq!(NativeHistograms::native_only().max_buckets(), 160);
    /// assert_eq!(NativeHistograms::native_only().with_max_buckets(0).max_buckets(), 0);
    /// ```
    #[must_use]
    pub fn max_buckets(&self) -> usize {
        self.max_buckets
    }

    /// Whether classic buckets are kept beside the native ones.
    ///
    /// ```
    /// use tower_prometheus::NativeHistograms;
    ///
    /// assert!(NativeHistograms::classic_and_native().keeps_classic_buckets());
    /// assert!(!NativeHistograms::native_only().keeps_classic_buckets());
    /// ```
    #[must_use]
    pub fn keeps_classic_buckets(&self) -> bool {
        self.keep_classic
    }

    /// The refused setting, as given, and why: `build()` turns it into a `ConfigError`.
    pub(crate) fn problem(&self) -> Option<(String, &'static str)> {
        match self.refused? {
            Refused::Schema(schema) => Some((
                format!("with_schema({schema})"),
                "Prometheus accepts schemas from -4 to 8; 8 is the finest resolution",
            )),
            Refused::Factor(factor) => Some((
                format!("with_bucket_factor({factor})"),
                "a growth factor must be a number above 1, such as 1.1 for buckets at most 10 % apart",
            )),
        }
    }

    /// A latency histogram in this configuration, `classic_buckets` being the configured ones.
    pub(crate) fn histogram(&self, classic_buckets: &[f64]) -> Histogram {
        let config = NativeHistogramConfig::with_schema(self.schema).max_buckets(self.max_buckets);
        if self.keep_classic {
            Histogram::new_classic_and_native(classic_buckets.iter().copied(), config)
        } else {
            Histogram::new_native(config)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_factor_picks_the_finest_schema_not_coarser_than_asked() {
        let schema = |factor| {
            NativeHistograms::native_only()
                .with_bucket_factor(factor)
                .schema()
        };
        assert_eq!(schema(1.1), 3);
        assert_eq!(schema(2.0), 0);
        assert_eq!(schema(1.0), 8);
        assert_eq!(schema(-5.0), 8);
        assert_eq!(schema(f64::NAN), 8);
        assert_eq!(schema(f64::INFINITY), -4);
        assert_eq!(schema(1e300), -4);
    }

    #[test]
    fn settings_out_of_range_are_kept_for_build_to_refuse() {
        let native = NativeHistograms::native_only;
        assert_eq!(native().with_schema(8).problem(), None);
        assert_eq!(native().with_schema(-4).problem(), None);
        assert_eq!(native().with_bucket_factor(1e300).problem(), None);
        for refused in [
            native().with_schema(9),
            native().with_schema(-5),
            native().with_bucket_factor(1.0),
            native().with_bucket_factor(-5.0),
            native().with_bucket_factor(f64::NAN),
        ] {
            assert!(refused.problem().is_some(), "{refused:?}");
        }
    }
}
