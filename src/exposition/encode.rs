//! Rendering a registry in a [`Format`], part by part, under the [`EncodeErrorPolicy`].

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use prometheus_client::registry::Registry;

use super::text::{self, Dialect};
use super::{EncodeErrorPolicy, Format};
use crate::metrics::Shared;
use crate::Metrics;

/// A metric or collector failed while the exposition was rendered, or a binary format was
/// asked of a text-only method.
///
/// prometheus-client reports no more than that a part failed; with
/// [`EncodeErrorPolicy::RespondWithError`] its partial output is discarded so a scraper never
/// receives a truncated exposition.
///
/// ```
/// let error = tower_prometheus::EncodeError::default();
/// assert_eq!(error.to_string(), "a metric or collector failed to encode");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EncodeError(Kind);

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Kind {
    #[default]
    Failed,
    #[cfg_attr(not(feature = "protobuf"), allow(dead_code))]
    Binary,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Kind::Failed => "a metric or collector failed to encode",
            Kind::Binary => "`Format::Protobuf` is binary: render it with `Metrics::render_bytes`",
        })
    }
}

impl std::error::Error for EncodeError {}

impl From<fmt::Error> for EncodeError {
    fn from(_: fmt::Error) -> Self {
        Self(Kind::Failed)
    }
}

/// Renders our families and then every custom part in `format`. Under
/// [`EncodeErrorPolicy::RespondWithError`] the first failing part fails the whole rendering;
/// otherwise failing parts are left out, without any of their partial output. Every failing
/// part is counted in `http_metrics_encode_errors_total`.
pub(crate) fn encode_parts(shared: &Shared, format: Format) -> Result<Vec<u8>, EncodeError> {
    encode_parts_with(shared, format, TextPath::Fast)
}

/// Whether our part is rendered by the text fast path (`src/exposition/text.rs`)
/// or, as every other part, by prometheus-client.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TextPath {
    Fast,
    #[cfg(test)]
    PrometheusClient,
}

fn encode_parts_with(shared: &Shared, format: Format, text_path: TextPath) -> Result<Vec<u8>, EncodeError> {
    let policy = shared.exposition_config().encode_error_policy;
    let (ours, custom) = shared.parts();
    let parts = std::iter::once(&*ours).chain(custom.iter());
    let on_failure = || {
        shared.scrape_metrics().encode_errors(format, 1);
        match policy {
            EncodeErrorPolicy::RespondWithError => Err(EncodeError(Kind::Failed)),
            EncodeErrorPolicy::ServeWhatEncodes => Ok(()),
        }
    };
    let bytes = match format {
        Format::PrometheusText | Format::OpenMetrics => {
            let mut text = String::with_capacity(16 * 1024);
            for (index, part) in parts.enumerate() {
                let mark = text.len();
                let encoded = if index == 0 && text_path == TextPath::Fast {
                    encode_ours_text(&mut text, shared, part, format)
                } else {
                    encode_text(&mut text, part, format)
                };
                if encoded.is_err() {
                    // Whatever the failing part wrote before failing is dropped.
                    text.truncate(mark);
                    on_failure()?;
                } else if index > 0 {
                    shared.leave_out_duplicates(index - 1, &mut text, mark);
                    crate::interop::drop_nan_samples(shared, &mut text, mark);
                    if format == Format::OpenMetrics {
                        text::drop_negative_samples(&mut text, mark);
                    }
                }
            }
            if format == Format::OpenMetrics {
                prometheus_client::encoding::text::encode_eof(&mut text)?;
            }
            text.into_bytes()
        }
        #[cfg(feature = "protobuf")]
        Format::Protobuf => {
            let mut bytes = Vec::with_capacity(8 * 1024);
            for (index, part) in parts.enumerate() {
                // Length-delimited messages concatenate into one valid stream.
                let encode = || prometheus_client::encoding::prometheus_protobuf::encode_to_vec(part);
                match catch_unwind(AssertUnwindSafe(encode)) {
                    Ok(Ok(encoded)) if index > 0 => {
                        bytes.extend_from_slice(&shared.leave_out_duplicate_messages(index - 1, encoded));
                    }
                    Ok(Ok(encoded)) => bytes.extend_from_slice(&encoded),
                    Ok(Err(_)) | Err(_) => on_failure()?,
                }
            }
            bytes
        }
    };
    Ok(bytes)
}

/// Encodes our part (`ours`, the registry holding the HTTP families first) in a text format,
/// byte for byte as prometheus-client would, through the fast path when it applies.
fn encode_ours_text(output: &mut String, shared: &Shared, ours: &Registry, format: Format) -> fmt::Result {
    let dialect = if format == Format::OpenMetrics {
        Dialect::OpenMetrics
    } else {
        Dialect::Prometheus
    };
    // The fast path renders django-prometheus's table only; the OpenTelemetry profile's
    // families are few and encoded by prometheus-client.
    if shared.otel().is_some() {
        return encode_text(output, ours, format);
    }
    let mark = output.len();
    let families = &shared.recorder().families;
    match text::render_http_families(families, shared.prefix(), shared.const_labels(), dialect, output) {
        Ok(()) => encode_text(output, &shared.part_after_http_families(), format),
        Err(text::Unsupported) => {
            output.truncate(mark);
            encode_text(output, ours, format)
        }
    }
}

/// Encodes one part as text. A custom metric or collector that panics fails its part like an
/// encoding error instead of unwinding through the service.
fn encode_text(output: &mut String, part: &Registry, format: Format) -> fmt::Result {
    let encode = || {
        if format == Format::OpenMetrics {
            prometheus_client::encoding::text::encode_registry(output, part)
        } else {
            prometheus_client::encoding::prometheus_text::encode(output, part)
        }
    };
    catch_unwind(AssertUnwindSafe(encode)).unwrap_or(Err(fmt::Error))
}

impl Metrics {
    /// Renders every metric of this registry, ours and yours, in a text format, under the
    /// builder's [`EncodeErrorPolicy`]. Binary formats return an [`EncodeError`]: use
    /// [`Metrics::render_bytes`] for them.
    ///
    /// ```
    /// use tower_prometheus::{Format, Metrics};
    ///
    /// let metrics = Metrics::new();
    /// let text = metrics.render(Format::PrometheusText).unwrap();
    /// assert!(text.contains("# TYPE http_requests_before_middlewares_total counter"));
    /// let openmetrics = metrics.render(Format::OpenMetrics).unwrap();
    /// assert!(openmetrics.ends_with("# EOF\n"));
    /// # #[cfg(feature = "protobuf")] {
    /// // The binary format is refused here, with the method to use instead.
    /// let error = metrics.render(Format::Protobuf).unwrap_err();
    /// assert_eq!(error.to_string(), "`Format::Protobuf` is binary: render it with `Metrics::render_bytes`");
    /// assert!(!metrics.render_bytes(Format::Protobuf).unwrap().is_empty());
    /// # }
    /// ```
    pub fn render(&self, format: Format) -> Result<String, EncodeError> {
        #[cfg(feature = "protobuf")]
        if format == Format::Protobuf {
            return Err(EncodeError(Kind::Binary));
        }
        let bytes = encode_parts(&self.shared, format)?;
        // The text encoders only ever write `str`s.
        String::from_utf8(bytes).map_err(|_| EncodeError(Kind::Failed))
    }

    /// Renders every metric of this registry in any format, as the bytes a scrape would get
    /// before compression.
    ///
    /// ```
    /// use tower_prometheus::{Format, Metrics};
    ///
    /// let metrics = Metrics::new();
    /// let text = metrics.render_bytes(Format::PrometheusText).unwrap();
    /// assert!(text.starts_with(b"# HELP "));
    /// # #[cfg(feature = "protobuf")]
    /// # {
    /// // A binary format, which `render` refuses: length-delimited `MetricFamily` messages.
    /// assert!(metrics.render(Format::Protobuf).is_err());
    /// let protobuf = metrics.render_bytes(Format::Protobuf).unwrap();
    /// let name = b"http_requests_before_middlewares_total";
    /// assert!(protobuf.windows(name.len()).any(|window| window == name));
    /// assert!(!protobuf.starts_with(b"#"));
    /// # }
    /// ```
    pub fn render_bytes(&self, format: Format) -> Result<Vec<u8>, EncodeError> {
        encode_parts(&self.shared, format)
    }

    /// Renders in `format` through prometheus-client's encoders only, bypassing the fast path
    /// that [`Metrics::render`] uses for the HTTP families: the reference the fast path is
    /// compared with, byte for byte, in `fast_text_tests.rs`.
    #[cfg(test)]
    pub(crate) fn render_with_prometheus_client(&self, format: Format) -> Result<String, EncodeError> {
        let bytes = encode_parts_with(&self.shared, format, TextPath::PrometheusClient)?;
        String::from_utf8(bytes).map_err(|_| EncodeError(Kind::Failed))
    }

    /// The HTTP families as the fast path writes them in `dialect`, or `None` where it does
    /// not apply and [`Metrics::render`] falls back to prometheus-client: a comparison of the
    /// two encoders proves something only where this is `Some`.
    #[cfg(test)]
    pub(crate) fn fast_path_text(&self, dialect: Dialect) -> Option<String> {
        let shared = &self.shared;
        let mut text = String::new();
        text::render_http_families(
            &shared.recorder().families,
            shared.prefix(),
            shared.const_labels(),
            dialect,
            &mut text,
        )
        .ok()?;
        Some(text)
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use http::{Request, Response, StatusCode};
    use prometheus_client::metrics::counter::Counter;
    use tower::{service_fn, ServiceBuilder, ServiceExt};

    use super::*;
    use crate::ViewName;

    /// A Django-profile registry with everything the fast path writes (namespace, constant
    /// labels that need escaping, custom buckets, views that need escaping, several methods and
    /// statuses, a custom part after ours) and traffic in every family.
    fn metrics_after_traffic() -> Metrics {
        let metrics = Metrics::builder()
            .namespace("shop")
            .const_label("env", "pr\"od\\\nuction ☃")
            .latency_buckets([0.00001, 0.001, 0.25, 2.5, 1e6])
            .process_metrics(false)
            .build()
            .unwrap();
        let orders = Counter::<u64>::default();
        metrics
            .register("orders_placed", "Orders placed", orders.clone())
            .unwrap();
        orders.inc_by(3);
        let app = ServiceBuilder::new().layer(metrics.layer()).service(service_fn(
            |request: Request<String>| async move {
                let status = if request.method() == http::Method::POST {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::OK
                };
                let mut response = Response::new(request.uri().path().repeat(40));
                *response.status_mut() = status;
                let view = format!("{}/quo\"te\\new\nline é", request.uri().path());
                response.extensions_mut().insert(ViewName::new(view));
                Ok::<_, Infallible>(response)
            },
        ));
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            for (method, path) in [("GET", "/a"), ("GET", "/a"), ("POST", "/b"), ("DELETE", "/c")] {
                let request = Request::builder()
                    .method(method)
                    .uri(path)
                    .body("body".repeat(9))
                    .unwrap();
                app.clone().oneshot(request).await.unwrap();
            }
        });
        metrics
    }

    #[test]
    fn the_fast_text_encoder_writes_prometheus_clients_bytes() {
        let metrics = metrics_after_traffic();
        let shared = &metrics.shared;
        for (format, dialect) in [
            (Format::PrometheusText, Dialect::Prometheus),
            (Format::OpenMetrics, Dialect::OpenMetrics),
        ] {
            // This registry is one the fast path renders (no fallback to prometheus-client).
            let fast_part = metrics
                .fast_path_text(dialect)
                .unwrap_or_else(|| panic!("{format:?}: the fast path applies"));
            assert!(
                fast_part.contains(r#"shop_http_responses_total_by_status_view_method_total{env="pr\"od\\\nuction ☃",status="500",view="/b/quo\"te\\new\nline é",method="POST"} 1"#),
                "{fast_part}"
            );

            let fast = String::from_utf8(encode_parts_with(shared, format, TextPath::Fast).unwrap()).unwrap();
            let reference =
                String::from_utf8(encode_parts_with(shared, format, TextPath::PrometheusClient).unwrap())
                    .unwrap();
            assert!(
                fast.contains(fast_part.as_str()),
                "{format:?}: render writes the fast path's text"
            );
            assert!(fast.contains("shop_orders_placed_total"), "{fast}");
            if let Some(line) = fast.lines().zip(reference.lines()).position(|(a, b)| a != b) {
                panic!(
                    "{format:?}: line {line} differs:\n  fast:              {:?}\n  prometheus-client: {:?}",
                    fast.lines().nth(line),
                    reference.lines().nth(line)
                );
            }
            assert_eq!(fast, reference, "{format:?}");
        }
    }
}
