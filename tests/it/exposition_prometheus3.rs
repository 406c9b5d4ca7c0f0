//! Prometheus 3 scrapes the exposition as it is, without `fallback_scrape_protocol`: every
//! `Accept` header Prometheus 3.x sends (its defaults and reordered `scrape_protocols`) gets a
//! format we serve and a `Content-Type` that Prometheus 3's parser selection accepts.
//!
//! The header strings are copied from Prometheus' source (tags of github.com/prometheus/prometheus):
//! - v3.14.0 `scrape/scrape_test.go:4426` `TestAcceptHeader` holds the four headers built by
//!   `acceptHeader` (`scrape/scrape.go:705-721`): the protocols of `ScrapeProtocolsHeaders`
//!   (`config/config.go:581-587`) in the order of `DefaultScrapeProtocols` (`:591`) or
//!   `DefaultProtoFirstScrapeProtocols` (`:602`), `;escaping=<scheme>` on the 1.0.0 text
//!   formats only, and q-weights falling from `0.(len(ScrapeProtocolsHeaders)+1)` = `0.6`,
//!   then `*/*`.
//! - v3.0.0's `acceptHeader` (`scrape/scrape.go:765-780`) appended `;escaping=allow-utf-8` to
//!   every protocol under the default UTF-8 name validation, and its `PrometheusText1.0.0`
//!   header (`config/config.go:519`) already carried one, so 3.0 sends it twice.
//! - Reordered `scrape_protocols` follow the same `acceptHeader` rule (3.14.0), written out.
//!
//! Prometheus 3 picks its parser by media type alone: `textparse.New`
//! (v3.14.0 `model/textparse/interface.go:166-201`, v3.0.0 `:128-144`) calls `extractMediaType`
//! (`:93-123`, the accepted types at `:115`; v3.0.0 `:88-118`, `:110`), which parses the
//! `Content-Type` with Go's `mime.ParseMediaType` and accepts exactly `application/openmetrics-text`,
//! `application/vnd.google.protobuf` and `text/plain`, whatever their `version`. Any other,
//! blank or unparsable `Content-Type` is an error without `fallback_scrape_protocol`. So a
//! `text/plain;version=1.0.0` request answered with `text/plain; version=0.0.4` text is parsed
//! by the same `PromParser` that 1.0.0 text would get.

use http::{Request, Response};
use http_body_util::BodyExt;
use tower::ServiceExt;
use tower_prometheus::{ExpositionBody, Format};

use crate::exposition_formats::with_traffic;
use crate::support;

/// The format the best q-weight of a header names, given which formats this build serves.
#[derive(Clone, Copy, Debug)]
enum Wanted {
    OpenMetrics,
    Text,
    /// Protobuf with the `protobuf` feature, else the next protocol in the header.
    ProtobufElse(
        #[cfg_attr(feature = "protobuf", expect(dead_code, reason = "read without the feature"))] Format,
    ),
}

impl Wanted {
    fn format(self) -> Format {
        match self {
            Self::OpenMetrics => Format::OpenMetrics,
            Self::Text => Format::PrometheusText,
            #[cfg(feature = "protobuf")]
            Self::ProtobufElse(_) => Format::Protobuf,
            #[cfg(not(feature = "protobuf"))]
            Self::ProtobufElse(otherwise) => otherwise,
        }
    }
}

/// `(what Prometheus 3 is configured with, the Accept header it sends, what we must answer)`.
const PROMETHEUS_3_ACCEPT: &[(&str, &str, Wanted)] = &[
    // v3.14.0 scrape/scrape_test.go:4426 TestAcceptHeader, the four expected headers.
    (
        "3.14 default scrape_protocols, escaping=underscores",
        "application/openmetrics-text;version=1.0.0;escaping=underscores;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=underscores;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
        Wanted::OpenMetrics,
    ),
    (
        "3.14 proto-first scrape_protocols (scrape_native_histograms), escaping=dots",
        "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,application/openmetrics-text;version=1.0.0;escaping=dots;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=dots;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1",
        Wanted::ProtobufElse(Format::OpenMetrics),
    ),
    (
        "3.14 default scrape_protocols, escaping=allow-utf-8 (the default)",
        "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
        Wanted::OpenMetrics,
    ),
    (
        "3.14 proto-first scrape_protocols, escaping=allow-utf-8",
        "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1",
        Wanted::ProtobufElse(Format::OpenMetrics),
    ),
    // v3.0.0 scrape/scrape.go:765-780 with config/config.go:516-522 (headers), 526 and 537
    // (the two default orders).
    (
        "3.0 default scrape_protocols, utf8 validation (the default)",
        "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;escaping=allow-utf-8;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;escaping=allow-utf-8;q=0.3,*/*;q=0.2",
        Wanted::OpenMetrics,
    ),
    (
        "3.0 proto-first scrape_protocols (native-histograms feature), utf8 validation",
        "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;escaping=allow-utf-8;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;escaping=allow-utf-8;q=0.2,*/*;q=0.1",
        Wanted::ProtobufElse(Format::OpenMetrics),
    ),
    (
        "3.0 default scrape_protocols, legacy validation",
        "application/openmetrics-text;version=1.0.0;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
        Wanted::OpenMetrics,
    ),
    // Reordered scrape_protocols, built by the 3.14 rule.
    (
        "scrape_protocols: [PrometheusText1.0.0, PrometheusText0.0.4]",
        "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.6,text/plain;version=0.0.4;q=0.5,*/*;q=0.4",
        Wanted::Text,
    ),
    (
        "scrape_protocols: [PrometheusText1.0.0]",
        "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.6,*/*;q=0.5",
        Wanted::Text,
    ),
    (
        "scrape_protocols: [PrometheusText0.0.4]",
        "text/plain;version=0.0.4;q=0.6,*/*;q=0.5",
        Wanted::Text,
    ),
    (
        "scrape_protocols: [OpenMetricsText0.0.1]",
        "application/openmetrics-text;version=0.0.1;q=0.6,*/*;q=0.5",
        Wanted::OpenMetrics,
    ),
    (
        "scrape_protocols: [PrometheusProto]",
        "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,*/*;q=0.5",
        Wanted::ProtobufElse(Format::PrometheusText),
    ),
    (
        "scrape_protocols: [PrometheusText1.0.0, OpenMetricsText1.0.0, PrometheusProto]",
        "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.4,*/*;q=0.3",
        Wanted::Text,
    ),
    (
        "scrape_protocols: [OpenMetricsText1.0.0, PrometheusProto, PrometheusText1.0.0], escaping=underscores",
        "application/openmetrics-text;version=1.0.0;escaping=underscores;q=0.6,application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.5,text/plain;version=1.0.0;escaping=underscores;q=0.4,*/*;q=0.3",
        Wanted::OpenMetrics,
    ),
];

/// Go's `mime.ParseMediaType` as far as a well-formed header needs: a `type/subtype` of tokens,
/// then `; name=value` parameters (token or quoted-string values), no name twice. Returns the
/// lower-cased media type and parameters, or why Go would refuse it.
fn go_parse_media_type(content_type: &str) -> Result<(String, Vec<(String, String)>), String> {
    fn is_token(text: &str) -> bool {
        !text.is_empty()
            && text
                .bytes()
                .all(|byte| byte.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&byte))
    }
    let mut parts = content_type.split(';');
    let media_type = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    let (kind, subtype) = media_type
        .split_once('/')
        .ok_or_else(|| format!("no '/' in {media_type:?}"))?;
    if !is_token(kind) || !is_token(subtype) {
        return Err(format!("media type {media_type:?} is not two tokens"));
    }
    let mut parameters: Vec<(String, String)> = Vec::new();
    for parameter in parts {
        let (name, value) = parameter
            .trim()
            .split_once('=')
            .ok_or_else(|| format!("parameter {parameter:?} has no '='"))?;
        let name = name.to_ascii_lowercase();
        let value = match value.strip_prefix('"').and_then(|rest| rest.strip_suffix('"')) {
            Some(quoted) => quoted.to_owned(),
            None if is_token(value) => value.to_owned(),
            None => return Err(format!("parameter value {value:?} is neither token nor quoted")),
        };
        if !is_token(&name) || parameters.iter().any(|(seen, _)| *seen == name) {
            return Err(format!("parameter name {name:?} is not a token or repeats"));
        }
        parameters.push((name, value));
    }
    Ok((media_type, parameters))
}

/// The versions Prometheus 3 has a scrape protocol for (v3.14.0 `config/config.go:581-587`),
/// by media type. The parser does not read them; a version outside this list would still
/// be parsed, but would be one no Prometheus 3 asks for.
fn prometheus_3_versions(media_type: &str) -> &'static [&'static str] {
    match media_type {
        "text/plain" => &["0.0.4", "1.0.0"],
        "application/openmetrics-text" => &["0.0.1", "1.0.0"],
        _ => &[],
    }
}

#[tokio::test]
async fn every_prometheus_3_accept_header_gets_a_content_type_prometheus_3_parses() {
    let metrics = with_traffic().await;
    for (setup, accept, wanted) in PROMETHEUS_3_ACCEPT {
        let request = Request::get("/metrics")
            .header("accept", *accept)
            .body(())
            .unwrap();
        let response: Response<ExpositionBody> = metrics.exposition_service().oneshot(request).await.unwrap();
        assert_eq!(response.status(), 200, "{setup}");
        let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
        let body = response.into_body().collect().await.unwrap().to_bytes();

        let expected = wanted.format();
        assert_eq!(content_type, expected.content_type(), "{setup}: Accept {accept}");
        // extractMediaType: parsable by mime.ParseMediaType, and one of its three media types.
        let (media_type, parameters) =
            go_parse_media_type(&content_type).unwrap_or_else(|why| panic!("{setup}: {why}"));
        assert!(
            [
                "application/openmetrics-text",
                "application/vnd.google.protobuf",
                "text/plain"
            ]
            .contains(&media_type.as_str()),
            "{setup}: Prometheus 3 refuses the media type {media_type}"
        );
        let version = parameters
            .iter()
            .find(|(name, _)| name == "version")
            .map(|(_, v)| v.as_str());
        if let Some(version) = version {
            assert!(
                prometheus_3_versions(&media_type).contains(&version),
                "{setup}: {media_type} version {version} is not one Prometheus 3 asks for"
            );
        }
        if media_type == "application/vnd.google.protobuf" {
            let parameter = |wanted: &str| {
                parameters
                    .iter()
                    .find(|(name, _)| name == wanted)
                    .map(|(_, v)| v.as_str())
            };
            assert_eq!(
                parameter("proto"),
                Some("io.prometheus.client.MetricFamily"),
                "{setup}"
            );
            assert_eq!(parameter("encoding"), Some("delimited"), "{setup}");
            assert!(!body.is_empty(), "{setup}");
        } else {
            // The body is the format the Content-Type names, with the traffic in it.
            let text = std::str::from_utf8(&body).unwrap();
            let samples = support::exposition::parse(text, expected)
                .unwrap_or_else(|why| panic!("{setup}: the body does not parse as {expected:?}: {why}"));
            assert_eq!(
                support::exposition::total(
                    &samples,
                    "http_requests_total_by_method_total",
                    &[("method", "GET")]
                ),
                3.0,
                "{setup}"
            );
        }
    }
}

/// The Go parser port must refuse what Go refuses, or the test above proves nothing.
#[test]
fn the_media_type_check_refuses_what_go_refuses() {
    assert!(go_parse_media_type("text/plain; version=0.0.4; charset=utf-8").is_ok());
    assert!(go_parse_media_type("text/plain; version=0.0.4; version=1.0.0").is_err());
    assert!(go_parse_media_type("text plain").is_err());
    assert!(go_parse_media_type("text/plain; version").is_err());
    assert!(go_parse_media_type("text/plain; version=0.0.4 charset=utf-8").is_err());
    assert_eq!(prometheus_3_versions("text/plain"), ["0.0.4", "1.0.0"]);
    assert!(prometheus_3_versions("application/json").is_empty());
}
