//! Item 6: no input panics. Fuzz-style property tests send arbitrary methods, URIs and headers
//! (non-UTF-8 header bytes, garbage `Accept`, `Accept-Encoding`, `Authorization`,
//! `Content-Length`, forwarded-proto values) through the layer, the stand-alone exposition
//! service and the negotiation; every request gets a valid answer from the inner service or
//! the exposition, and the exposition stays well-formed.

use crate::support;

use std::convert::Infallible;

use http::header::{HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::BodyExt;
use proptest::prelude::*;
use support::exposition::{parse, scrape, total};
use support::http::STANDARD_METHODS;
use tower::ServiceExt;
use tower_prometheus::{negotiate, Format, Metrics, ViewName};

const TOKEN: &str = "fuzz-token";

#[derive(Clone, Debug)]
struct FuzzRequest {
    method: Method,
    uri: Uri,
    headers: Vec<(HeaderName, HeaderValue)>,
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        3 => prop::sample::select(STANDARD_METHODS.to_vec()),
        1 => prop::collection::vec(any::<u8>(), 1..20)
            .prop_filter_map("not a method token", |bytes| Method::from_bytes(&bytes).ok()),
    ]
}

fn uri() -> impl Strategy<Value = Uri> {
    prop_oneof![
        2 => prop::sample::select(vec![
            "/metrics", "/metrics?x=1", "/metrics/", "//metrics", "/METRICS", "/metrics%2F",
            "http://host/metrics", "https://host:1/metrics?", "*", "/", "/excluded",
        ])
        .prop_map(|uri| uri.parse::<Uri>().unwrap()),
        3 => prop::collection::vec(any::<u8>(), 0..64).prop_filter_map("not a URI", |bytes| {
            let mut candidate = b"/".to_vec();
            candidate.extend(bytes);
            Uri::try_from(candidate).ok()
        }),
        1 => "[ -~]{0,40}".prop_filter_map("not a URI", |text| text.parse::<Uri>().ok()),
    ]
}

fn header_value() -> impl Strategy<Value = HeaderValue> {
    prop_oneof![
        // Arbitrary bytes, including obs-text (non-UTF-8) the http crate accepts.
        2 => prop::collection::vec(any::<u8>(), 0..80)
            .prop_filter_map("not a header value", |bytes| HeaderValue::from_bytes(&bytes).ok()),
        2 => prop::sample::select(vec![
            "application/openmetrics-text; version=1.0.0; q=0.9, text/plain;q=0.1",
            "application/openmetrics-text;q=",
            "application/openmetrics-text;q=1.0000001",
            "application/openmetrics-text;q=-1",
            "*/*;q=NaN, application/openmetrics-text;q=inf",
            ";;;,,,===",
            "gzip, deflate, br, zstd;q=0.5, *;q=0",
            "Bearer fuzz-token",
            "Bearer fuzz-token ",
            "bearer\tfuzz-token",
            "Bearer fuzz-tokenX",
            "18446744073709551616",
            "-1",
            "https, http",
            "XMLHttpRequest",
            "text/html; charset=\"\\\"\"",
        ])
        .prop_map(HeaderValue::from_static),
    ]
}

fn header_name() -> impl Strategy<Value = HeaderName> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "accept", "accept-encoding", "authorization", "x-forwarded-proto", "content-length",
            "x-requested-with", "content-type", "host", "x-view",
        ])
        .prop_map(HeaderName::from_static),
        1 => "[a-z0-9!#$%&'*+.^_`|~-]{1,20}".prop_filter_map("not a header name", |name| {
            HeaderName::from_bytes(name.as_bytes()).ok()
        }),
    ]
}

fn request() -> impl Strategy<Value = FuzzRequest> {
    (
        method(),
        uri(),
        prop::collection::vec((header_name(), header_value()), 0..8),
    )
        .prop_map(|(method, uri, headers)| FuzzRequest { method, uri, headers })
}

fn build(fuzz: &FuzzRequest) -> Request<String> {
    let mut request = Request::new(String::from("request body"));
    *request.method_mut() = fuzz.method.clone();
    *request.uri_mut() = fuzz.uri.clone();
    for (name, value) in &fuzz.headers {
        request.headers_mut().append(name.clone(), value.clone());
    }
    request
}

/// Every option on, including a resolver that copies a client header into the view label.
fn configured_metrics(hardened: bool) -> Metrics {
    let builder = Metrics::builder();
    if !hardened {
        return builder.build().unwrap();
    }
    builder
        .namespace("fuzz")
        .exclude_path("/excluded")
        .group_status_codes(true)
        .trusted_forwarded_proto_header(HeaderName::from_static("x-forwarded-proto"))
        .const_label("service", "fuzz \"\\\n")
        .max_label_sets(20)
        .metrics_bearer_token(TOKEN)
        .view_resolver(|request: &tower_prometheus::RequestHead<'_>| {
            let view = request.headers().get("x-view")?;
            Some(ViewName::new(
                String::from_utf8_lossy(view.as_bytes()).into_owned(),
            ))
        })
        .build()
        .unwrap()
}

/// Answers 200 for most requests, an error status or charset chosen by the path otherwise.
async fn inner(request: Request<String>) -> Result<Response<String>, Infallible> {
    let path = request.uri().path().to_owned();
    let mut response = Response::new(String::from("inner"));
    if path.len() % 3 == 0 {
        *response.status_mut() = StatusCode::from_u16(200 + (path.len() as u16 % 400)).unwrap();
    }
    if let Ok(content_type) = HeaderValue::from_str(&format!("text/plain; charset={path}")) {
        response.headers_mut().insert("content-type", content_type);
    }
    Ok(response)
}

/// The layer reads the first `Authorization` header (a request has at most one).
fn authorized(fuzz: &FuzzRequest) -> bool {
    let first = fuzz.headers.iter().find(|(name, _)| name == "authorization");
    first.is_some_and(|(_, value)| {
        let value = value.as_bytes();
        value.len() > 7
            && value[..6].eq_ignore_ascii_case(b"bearer")
            && value[6] == b' '
            && value[7..].trim_ascii() == TOKEN.as_bytes()
    })
}

fn check(fuzz: &FuzzRequest, hardened: bool) -> Result<(), TestCaseError> {
    let metrics = configured_metrics(hardened);
    let service = tower::ServiceBuilder::new()
        .layer(metrics.layer())
        .service_fn(inner);
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let (status, headers, body) = runtime.block_on(async {
        let response = service.oneshot(build(fuzz)).await.unwrap();
        let (parts, body) = response.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        (parts.status, parts.headers, body)
    });

    if fuzz.uri.path() == "/metrics" {
        if hardened && !authorized(fuzz) {
            prop_assert_eq!(status, StatusCode::UNAUTHORIZED);
            prop_assert_eq!(&headers["www-authenticate"], "Bearer realm=\"metrics\"");
        } else if fuzz.method == Method::GET || fuzz.method == Method::HEAD {
            prop_assert_eq!(status, StatusCode::OK);
            let accept = fuzz
                .headers
                .iter()
                .find(|(name, _)| name == "accept")
                .map(|(_, value)| value);
            let format = negotiate(accept);
            prop_assert_eq!(&headers["content-type"], format.content_type());
            if fuzz.method == Method::GET {
                let text = std::str::from_utf8(&body).map_err(|e| TestCaseError::fail(e.to_string()))?;
                parse(text, format).map_err(TestCaseError::fail)?;
            } else {
                prop_assert!(body.is_empty());
            }
        } else {
            prop_assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        }
    } else {
        prop_assert_eq!(&body[..], b"inner");
    }

    // Whatever came in, the registry renders well-formed in both formats, nothing is left in
    // flight and the request was counted exactly once (unless excluded).
    let samples = scrape(&metrics, Format::OpenMetrics);
    scrape(&metrics, Format::PrometheusText);
    let prefix = if hardened { "fuzz_" } else { "" };
    prop_assert_eq!(
        total(&samples, &format!("{prefix}http_requests_in_flight"), &[]),
        0.0
    );
    let counted = total(
        &samples,
        &format!("{prefix}http_requests_before_middlewares_total"),
        &[],
    );
    let excluded = hardened && fuzz.uri.path() == "/excluded";
    prop_assert_eq!(counted, if excluded { 0.0 } else { 1.0 });
    Ok(())
}

/// A media range a scraper may send, with the format it names (`None`: none of ours).
fn media_range() -> impl Strategy<Value = (&'static str, Option<Format>)> {
    #[cfg(feature = "protobuf")]
    const PROTOBUF: Option<Format> = Some(Format::Protobuf);
    #[cfg(not(feature = "protobuf"))]
    const PROTOBUF: Option<Format> = None;
    prop::sample::select(vec![
        ("application/openmetrics-text", Some(Format::OpenMetrics)),
        (
            "application/openmetrics-text;version=1.0.0",
            Some(Format::OpenMetrics),
        ),
        (
            "Application/OpenMetrics-Text; version=0.0.1",
            Some(Format::OpenMetrics),
        ),
        (
            "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8",
            Some(Format::OpenMetrics),
        ),
        ("text/plain;version=0.0.4", Some(Format::PrometheusText)),
        (
            "text/plain; version=1.0.0; escaping=underscores",
            Some(Format::PrometheusText),
        ),
        ("text/*", Some(Format::PrometheusText)),
        ("*/*", Some(Format::PrometheusText)),
        (
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
            PROTOBUF,
        ),
        ("application/vnd.google.protobuf", PROTOBUF),
        (
            "application/vnd.google.protobuf;proto=other.Message;encoding=delimited",
            None,
        ),
        ("application/vnd.google.protobuf;encoding=text", None),
        ("application/json", None),
        ("", None),
        ("=;;", None),
    ])
}

/// A `q` parameter and the quality it gives (`None`: malformed, the element is ignored).
fn quality() -> impl Strategy<Value = (&'static str, Option<f32>)> {
    prop::sample::select(vec![
        ("", Some(1.0)),
        (";q=1", Some(1.0)),
        ("; q=1.000", Some(1.0)),
        (";q=0.5", Some(0.5)),
        (";q=0.25", Some(0.25)),
        (";q=0.001", Some(0.001)),
        (";q=0", Some(0.0)),
        (";q=abc", None),
        (";q=2", None),
        (";q=-1", None),
        (";q=0.5000", None),
        (";q=", None),
    ])
}

/// Who wins a tie of qualities: the first.
const TIE_ORDER: &[Format] = &[
    #[cfg(feature = "protobuf")]
    Format::Protobuf,
    Format::OpenMetrics,
    Format::PrometheusText,
];

/// An `Accept` header: either a list of media ranges with q-values, with the format the
/// documented rule picks (the best positive quality; ties to protobuf, then OpenMetrics, then
/// text; text when nothing of ours is asked for), or random bytes (`None`).
fn accept_header() -> impl Strategy<Value = (Vec<u8>, Option<Format>)> {
    let listed = prop::collection::vec((media_range(), quality()), 0..6).prop_map(|elements| {
        let mut best = (Format::PrometheusText, 0.0_f32);
        let mut texts = Vec::new();
        for ((range, format), (q_text, quality)) in elements {
            texts.push(format!("{range}{q_text}"));
            let (Some(format), Some(quality)) = (format, quality) else {
                continue;
            };
            let rank = |format: Format| TIE_ORDER.iter().position(|&tied| tied == format);
            if quality > best.1 || (quality == best.1 && quality > 0.0 && rank(format) < rank(best.0)) {
                best = (format, quality);
            }
        }
        (texts.join(", ").into_bytes(), Some(best.0))
    });
    prop_oneof![
        2 => listed,
        1 => prop::collection::vec(any::<u8>(), 0..200).prop_map(|bytes| (bytes, None)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_request_through_the_default_layer_gets_a_valid_answer(fuzz in request()) {
        check(&fuzz, false)?;
    }

    #[test]
    fn any_request_through_a_fully_configured_layer_gets_a_valid_answer(fuzz in request()) {
        check(&fuzz, true)?;
    }

    #[test]
    fn negotiation_accepts_any_bytes((bytes, expected) in accept_header()) {
        if let Ok(value) = HeaderValue::from_bytes(&bytes) {
            let format = negotiate(Some(&value));
            let asked = String::from_utf8_lossy(&bytes).to_ascii_lowercase();
            match expected {
                Some(expected) => prop_assert_eq!(format, expected, "{:?}", asked),
                // Random bytes: whatever is chosen was named.
                None => {
                    if format == Format::OpenMetrics {
                        prop_assert!(asked.contains("application/openmetrics-text"), "{:?}", asked);
                    }
                    #[cfg(feature = "protobuf")]
                    if format == Format::Protobuf {
                        prop_assert!(asked.contains("application/vnd.google.protobuf"), "{:?}", asked);
                    }
                }
            }
        }
    }

    #[test]
    fn the_exposition_service_answers_any_request(fuzz in request()) {
        let metrics = Metrics::builder().metrics_bearer_token(TOKEN).build().unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let response = runtime.block_on(metrics.exposition_service().oneshot(build(&fuzz))).unwrap();
        let expected = if !authorized(&fuzz) {
            StatusCode::UNAUTHORIZED
        } else if fuzz.method == Method::GET || fuzz.method == Method::HEAD {
            StatusCode::OK
        } else {
            StatusCode::METHOD_NOT_ALLOWED
        };
        prop_assert_eq!(response.status(), expected);
    }
}
