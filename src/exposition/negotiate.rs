//! Content negotiation: which [`Format`] an `Accept` header asks for.

use http::HeaderValue;

use super::Format;

/// Picks the format an `Accept` header prefers, honouring q-values.
///
/// Each format gets the highest quality among the ranges that name it:
/// `application/vnd.google.protobuf` (with `proto=io.prometheus.client.MetricFamily` and
/// `encoding=delimited`, when the `protobuf` feature is on), `application/openmetrics-text`,
/// and `text/plain`, `text/*` or `*/*` for Prometheus text. The best positive quality wins;
/// ties go to protobuf, then OpenMetrics, then text. Everything else, including a missing,
/// empty or malformed header, gets Prometheus text 0.0.4. Never fails.
///
/// ```
/// use http::HeaderValue;
/// use tower_prometheus::{negotiate, Format};
///
/// let prometheus = HeaderValue::from_static(
///     "application/openmetrics-text;version=1.0.0;q=0.8,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
/// );
/// assert_eq!(negotiate(Some(&prometheus)), Format::OpenMetrics);
/// assert_eq!(negotiate(Some(&HeaderValue::from_static("text/plain"))), Format::PrometheusText);
/// assert_eq!(negotiate(None), Format::PrometheusText);
/// ```
#[must_use]
pub fn negotiate(accept: Option<&HeaderValue>) -> Format {
    negotiate_among(accept, Format::ALL)
}

/// [`negotiate`] restricted to the formats in `offered`; Prometheus text is always possible.
pub(crate) fn negotiate_among(accept: Option<&HeaderValue>, offered: &[Format]) -> Format {
    let Some(accept) = accept else {
        return Format::PrometheusText;
    };
    // Non-ASCII bytes cannot belong to a media type we know; drop them rather than the header.
    let accept = String::from_utf8_lossy(accept.as_bytes());
    let mut qualities = [0.0_f32; 3];
    for range in weighted_elements(&accept) {
        if let Some(format) = named_format(range.name, &range.parameters) {
            let slot = &mut qualities[slot_of(format)];
            *slot = slot.max(range.quality);
        }
    }
    let mut best = Format::PrometheusText;
    let mut best_quality = 0.0_f32;
    for &format in offered {
        let quality = qualities[slot_of(format)];
        if quality > best_quality {
            best = format;
            best_quality = quality;
        }
    }
    best
}

/// The format a media range names, if any.
#[cfg_attr(not(feature = "protobuf"), allow(unused_variables))]
fn named_format(media_type: &str, parameters: &[(&str, &str)]) -> Option<Format> {
    if media_type.eq_ignore_ascii_case("application/openmetrics-text") {
        return Some(Format::OpenMetrics);
    }
    if media_type.eq_ignore_ascii_case("text/plain")
        || media_type.eq_ignore_ascii_case("text/*")
        || media_type == "*/*"
    {
        return Some(Format::PrometheusText);
    }
    #[cfg(feature = "protobuf")]
    if is_delimited_metric_family(media_type, parameters) {
        return Some(Format::Protobuf);
    }
    None
}

/// Protobuf is only ours when it asks for `MetricFamily` messages, length-delimited; a
/// missing parameter is taken to mean ours.
#[cfg(feature = "protobuf")]
fn is_delimited_metric_family(media_type: &str, parameters: &[(&str, &str)]) -> bool {
    let parameter = |wanted: &str| {
        parameters
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(wanted))
            .map(|(_, value)| *value)
    };
    media_type.eq_ignore_ascii_case("application/vnd.google.protobuf")
        && parameter("proto").is_none_or(|proto| proto == "io.prometheus.client.MetricFamily")
        && parameter("encoding").is_none_or(|encoding| encoding.eq_ignore_ascii_case("delimited"))
}

fn slot_of(format: Format) -> usize {
    match format {
        Format::PrometheusText => 0,
        Format::OpenMetrics => 1,
        #[cfg(feature = "protobuf")]
        Format::Protobuf => 2,
    }
}

/// One element of a comma-separated header list with q-values (`Accept`, `Accept-Encoding`).
pub(crate) struct Weighted<'h> {
    /// The media range or content coding, trimmed.
    pub(crate) name: &'h str,
    /// Its parameters (`q` included), names and values trimmed, values unquoted.
    pub(crate) parameters: Vec<(&'h str, &'h str)>,
    /// Its `q`, or 1 when it has none.
    pub(crate) quality: f32,
}

/// The elements of a header list with q-values. An element whose `q` is malformed is skipped,
/// as if the client had not sent it.
pub(crate) fn weighted_elements(header: &str) -> impl Iterator<Item = Weighted<'_>> {
    header.split(',').filter_map(|element| {
        let mut parts = element.split(';');
        let name = parts.next().unwrap_or_default().trim();
        let parameters: Vec<(&str, &str)> = parts
            .filter_map(|parameter| parameter.split_once('='))
            .map(|(name, value)| (name.trim(), value.trim().trim_matches('"')))
            .collect();
        let quality = parameters
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("q"))
            .map_or(Some(1.0), |(_, value)| parse_quality(value))?;
        Some(Weighted {
            name,
            parameters,
            quality,
        })
    })
}

/// RFC 9110 `qvalue`: 0 to 1 with at most three decimals; anything else is ignored.
fn parse_quality(value: &str) -> Option<f32> {
    if value.is_empty() || value.len() > 5 || !value.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let quality: f32 = value.parse().ok()?;
    (0.0..=1.0).contains(&quality).then_some(quality)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(accept: &str) -> Format {
        negotiate(Some(&HeaderValue::from_str(accept).unwrap()))
    }

    #[test]
    fn q_values_decide() {
        assert_eq!(pick("application/openmetrics-text"), Format::OpenMetrics);
        assert_eq!(
            pick("application/openmetrics-text;q=0.4, text/plain;q=0.5"),
            Format::PrometheusText
        );
        assert_eq!(pick("application/openmetrics-text;q=0"), Format::PrometheusText);
        assert_eq!(
            pick("Application/OpenMetrics-Text; version=0.0.1"),
            Format::OpenMetrics
        );
        assert_eq!(pick("application/json"), Format::PrometheusText);
    }

    #[test]
    fn malformed_headers_fall_back_to_text() {
        assert_eq!(pick(""), Format::PrometheusText);
        assert_eq!(pick(";;;,,,=q"), Format::PrometheusText);
        assert_eq!(pick("application/openmetrics-text;q=abc"), Format::PrometheusText);
        assert_eq!(pick("application/openmetrics-text;q=2"), Format::PrometheusText);
        assert_eq!(
            negotiate(Some(&HeaderValue::from_bytes(b"\xff\xfe").unwrap())),
            Format::PrometheusText
        );
    }

    #[test]
    fn formats_not_offered_are_never_chosen() {
        let accept = HeaderValue::from_static("application/openmetrics-text, text/plain;q=0.1");
        assert_eq!(
            negotiate_among(Some(&accept), &[Format::PrometheusText]),
            Format::PrometheusText
        );
    }

    #[cfg(feature = "protobuf")]
    #[test]
    fn protobuf_needs_the_metric_family_and_delimited_encoding() {
        assert_eq!(
            pick(
                "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"
            ),
            Format::Protobuf
        );
        assert_eq!(pick("application/vnd.google.protobuf"), Format::Protobuf);
        assert_eq!(
            pick("application/vnd.google.protobuf;proto=other.Message;encoding=delimited"),
            Format::PrometheusText
        );
        assert_eq!(
            pick("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text"),
            Format::PrometheusText
        );
        assert_eq!(
            pick("application/vnd.google.protobuf;q=0.3,application/openmetrics-text;q=0.5"),
            Format::OpenMetrics
        );
    }
}
