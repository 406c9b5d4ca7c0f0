//! Answering a request for the exposition: method check, negotiation, rendering.

use http::header::{ACCEPT, ALLOW, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderValue, Method, Response, StatusCode};

use super::{negotiate, ExpositionBody};
use crate::registry::Shared;

/// The full answer to a request on the metrics path.
pub(crate) fn respond(
    shared: &Shared,
    method: &Method,
    headers: &http::HeaderMap,
) -> Response<ExpositionBody> {
    // Authentication comes first so that nothing, not even the allowed methods, is revealed.
    if let Some(token) = &shared.config.metrics_bearer_token {
        if !token.authorizes(headers) {
            let mut response = plain(StatusCode::UNAUTHORIZED, "unauthorized\n");
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
            "method not allowed: use GET or HEAD\n",
        );
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let format = negotiate(headers.get(ACCEPT));
    let rendered = super::encode::encode_registry(&shared.registry.read(), format);
    let mut response = match rendered {
        Ok(text) => {
            let mut response = Response::new(ExpositionBody::new(text));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
            response
        }
        Err(error) => plain(StatusCode::INTERNAL_SERVER_ERROR, &format!("{error}\n")),
    };
    if method == Method::HEAD {
        *response.body_mut() = ExpositionBody::empty();
    }
    response
}

fn plain(status: StatusCode, message: &str) -> Response<ExpositionBody> {
    let mut response = Response::new(ExpositionBody::new(message.to_owned()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
