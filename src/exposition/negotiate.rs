//! Content negotiation: which [`Format`] an `Accept` header asks for.

use http::HeaderValue;

use super::Format;

/// Picks the format an `Accept` header prefers, honouring q-values.
///
/// OpenMetrics is chosen when `application/openmetrics-text` has a positive quality at least as
/// high as any `text/plain` (or `text/*`, `*/*`) range; everything else, including a missing,
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
pub fn negotiate(accept: Option<&HeaderValue>) -> Format {
    let Some(accept) = accept else {
        return Format::PrometheusText;
    };
    // Non-ASCII bytes cannot belong to a media type we know; drop them rather than the header.
    let accept = String::from_utf8_lossy(accept.as_bytes());
    let mut openmetrics = 0.0_f32;
    let mut text = 0.0_f32;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media_type = parts.next().unwrap_or_default().trim();
        let quality = parts
            .filter_map(|parameter| parameter.split_once('='))
            .find(|(name, _)| name.trim().eq_ignore_ascii_case("q"))
            .map_or(Some(1.0), |(_, value)| parse_quality(value.trim()));
        let Some(quality) = quality else { continue };
        if media_type.eq_ignore_ascii_case("application/openmetrics-text") {
            openmetrics = openmetrics.max(quality);
        } else if media_type.eq_ignore_ascii_case("text/plain")
            || media_type.eq_ignore_ascii_case("text/*")
            || media_type == "*/*"
        {
            text = text.max(quality);
        }
    }
    if openmetrics > 0.0 && openmetrics >= text {
        Format::OpenMetrics
    } else {
        Format::PrometheusText
    }
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
}
