//! Answering a request for the exposition: method check, negotiation, rendering,
//! compression, and the scrape self-metrics.

use std::time::Instant;

use http::header::{ACCEPT, ALLOW, CONTENT_TYPE, VARY, WWW_AUTHENTICATE};
#[cfg(feature = "gzip")]
use http::header::{ACCEPT_ENCODING, CONTENT_ENCODING};
use http::{HeaderValue, Method, Response, StatusCode};

use super::encode::encode_parts;
use super::negotiate::negotiate_among;
use super::self_metrics::Scrape;
use super::{ExpositionBody, Format};
use crate::metrics::Shared;

/// The response varies with both negotiated headers.
#[cfg(feature = "gzip")]
const VARY_ON: &str = "Accept, Accept-Encoding";
#[cfg(not(feature = "gzip"))]
const VARY_ON: &str = "Accept";

/// The full answer to a request on the metrics path.
pub(crate) fn respond(
    shared: &Shared,
    method: &Method,
    headers: &http::HeaderMap,
) -> Response<ExpositionBody> {
    // Authentication comes first so that nothing, not even the allowed methods, is revealed.
    if let Some(token) = &shared.exposition_config().metrics_bearer_token {
        if !token.authorizes(headers) {
            let mut response = plain(StatusCode::UNAUTHORIZED, "unauthorized\n".to_owned());
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static(super::auth::CHALLENGE));
            if method == Method::HEAD {
                *response.body_mut() = ExpositionBody::empty();
            }
            return response;
        }
    }
    if method != Method::GET && method != Method::HEAD {
        let mut response = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed: use GET or HEAD\n".to_owned(),
        );
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let format = negotiate_among(headers.get(ACCEPT), offered_formats(shared));
    let started = Instant::now();
    let rendered = encode_parts(shared, format);
    let encode_time = started.elapsed();
    #[cfg_attr(not(feature = "gzip"), allow(unused_mut))]
    let mut gzip = false;
    let mut response = match rendered {
        Ok(bytes) => {
            #[cfg(feature = "gzip")]
            let bytes = match super::compress::accepts_gzip(headers.get(ACCEPT_ENCODING))
                .then(|| super::compress::gzip(&bytes))
                .flatten()
            {
                Some(compressed) => {
                    gzip = true;
                    compressed
                }
                None => bytes,
            };
            let mut response = Response::new(ExpositionBody::new(bytes));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
            #[cfg(feature = "gzip")]
            if gzip {
                response
                    .headers_mut()
                    .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            response
        }
        Err(error) => plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "tower-prometheus: {error} in the {format} exposition; nothing was served rather \
                 than a truncated exposition (see MetricsBuilder::encode_error_policy)\n"
            ),
        ),
    };
    response
        .headers_mut()
        .insert(VARY, HeaderValue::from_static(VARY_ON));
    if method == Method::HEAD {
        *response.body_mut() = ExpositionBody::empty();
    }
    shared.scrape_metrics().record(&Scrape {
        format,
        status: response.status().as_u16(),
        encode_time,
        gzip,
        bytes: http_body::Body::size_hint(response.body()).exact().unwrap_or(0) as usize,
    });
    response
}

/// OpenMetrics text cannot carry a histogram without classic buckets (prometheus-client
/// refuses to encode one), so it is not offered when the latency histograms are native-only.
fn offered_formats(shared: &Shared) -> &'static [Format] {
    const WITHOUT_OPENMETRICS: &[Format] = &[
        #[cfg(feature = "protobuf")]
        Format::Protobuf,
        Format::PrometheusText,
    ];
    match &shared.recording_config().native_histograms {
        Some(native) if !native.keeps_classic_buckets() => WITHOUT_OPENMETRICS,
        _ => Format::ALL,
    }
}

fn plain(status: StatusCode, message: String) -> Response<ExpositionBody> {
    let mut response = Response::new(ExpositionBody::new(message));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
