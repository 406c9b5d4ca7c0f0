//! Answering a request for the exposition: authentication, method check, negotiation, the
//! shared rendering, and the scrape self-metrics.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{ACCEPT, ALLOW, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER, VARY, WWW_AUTHENTICATE};
#[cfg(feature = "gzip")]
use http::header::{ACCEPT_ENCODING, CONTENT_ENCODING};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};

use super::coalesce::{Flight, Key, Rendered};
use super::future::ExpositionFuture;
use super::negotiate::negotiate_among;
use super::self_metrics::Scrape;
use super::{ExpositionBody, Format};
use crate::metrics::Shared;

/// The response varies with both negotiated headers.
#[cfg(feature = "gzip")]
const VARY_ON: &str = "Accept, Accept-Encoding";
#[cfg(not(feature = "gzip"))]
const VARY_ON: &str = "Accept";

/// The full answer to a request on the metrics path: at once for a refusal or a rendering
/// done inline, otherwise once the rendering this scrape joined is done.
pub(crate) fn respond(shared: &Arc<Shared>, method: &Method, headers: &HeaderMap) -> ExpositionFuture {
    let head = method == Method::HEAD;
    // Authentication comes first so that nothing, not even the allowed methods, is revealed.
    if let Some(token) = &shared.exposition_config().metrics_bearer_token {
        if !token.authorizes(headers) {
            let mut response = plain(StatusCode::UNAUTHORIZED, "unauthorized\n".to_owned());
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static(super::auth::CHALLENGE));
            return ExpositionFuture::ready(finish(response, head));
        }
    }
    if method != Method::GET && !head {
        let mut response = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed: use GET or HEAD\n".to_owned(),
        );
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return ExpositionFuture::ready(finish(response, head));
    }
    let format = negotiate_among(headers.get(ACCEPT), offered_formats(shared));
    #[cfg(feature = "gzip")]
    let gzip = super::compress::accepts_gzip(headers.get(ACCEPT_ENCODING));
    #[cfg(not(feature = "gzip"))]
    let gzip = false;
    let Some(flight) = shared.renders().join_or_start(shared, Key { format, gzip }) else {
        return ExpositionFuture::ready(busy(shared, format, head));
    };
    let scrape = PendingScrape {
        shared: shared.clone(),
        flight,
        format,
        head,
    };
    match scrape.flight.result() {
        Some(rendered) => ExpositionFuture::ready(scrape.answer(rendered)),
        None => ExpositionFuture::waiting(scrape),
    }
}

/// A scrape waiting for the rendering it shares with others.
pub(crate) struct PendingScrape {
    shared: Arc<Shared>,
    flight: Arc<Flight>,
    format: Format,
    head: bool,
}

impl PendingScrape {
    pub(crate) fn poll_response(&self, cx: &mut Context<'_>) -> Poll<Response<ExpositionBody>> {
        self.flight.poll_result(cx).map(|rendered| self.answer(rendered))
    }

    fn answer(&self, rendered: Rendered) -> Response<ExpositionBody> {
        let format = self.format;
        let response = match rendered.result {
            Ok(bytes) => {
                let mut response = Response::new(ExpositionBody::new(bytes));
                let headers = response.headers_mut();
                headers.insert(CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
                #[cfg(feature = "gzip")]
                if rendered.gzip {
                    headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
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
        let response = finish(response, self.head);
        self.shared.scrape_metrics().record(&Scrape {
            format,
            status: response.status().as_u16(),
            gzip: rendered.gzip,
            bytes: http_body::Body::size_hint(response.body()).exact().unwrap_or(0) as usize,
        });
        response
    }
}

/// The answer when slow readers still hold as many renderings of this format and encoding as
/// are allowed: another would be one more copy of the exposition in memory.
fn busy(shared: &Shared, format: Format, head: bool) -> Response<ExpositionBody> {
    let mut response = plain(
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "tower-prometheus: {} earlier {format} answers are still being read; retry when they are done\n",
            super::coalesce::MAX_HELD
        ),
    );
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    let response = finish(response, head);
    shared.scrape_metrics().record(&Scrape {
        format,
        status: response.status().as_u16(),
        gzip: false,
        bytes: http_body::Body::size_hint(response.body()).exact().unwrap_or(0) as usize,
    });
    response
}

/// What every answer on the metrics path gets: `Vary`, and for `HEAD` the headers of `GET`
/// (its `Content-Length` included) without the body.
fn finish(mut response: Response<ExpositionBody>, head: bool) -> Response<ExpositionBody> {
    response
        .headers_mut()
        .insert(VARY, HeaderValue::from_static(VARY_ON));
    if head {
        let length = http_body::Body::size_hint(response.body()).exact().unwrap_or(0);
        response
            .headers_mut()
            .insert(CONTENT_LENGTH, HeaderValue::from(length));
        *response.body_mut() = ExpositionBody::empty();
    }
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
