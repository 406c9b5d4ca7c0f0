//! The optional bearer-token check in front of the exposition.
//!
//! By default the exposition is public. With
//! [`MetricsBuilder::metrics_bearer_token`](crate::MetricsBuilder::metrics_bearer_token) every
//! answer on the metrics path (the layer's, [`ExpositionService`](super::ExpositionService)'s
//! and the separate listener's) first requires `Authorization: Bearer <token>`; anything else
//! gets `401 Unauthorized` with `WWW-Authenticate: Bearer realm="metrics"`.

use std::fmt;

use http::header::AUTHORIZATION;
use http::HeaderMap;
use subtle::ConstantTimeEq;

/// The `WWW-Authenticate` challenge sent with every `401`.
pub(crate) const CHALLENGE: &str = "Bearer realm=\"metrics\"";

/// A secret a scraper must present; its `Debug` output never shows it.
#[derive(Clone)]
pub(crate) struct BearerToken(Box<[u8]>);

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

impl BearerToken {
    pub(crate) fn new(token: impl Into<String>) -> Self {
        Self(token.into().into_bytes().into_boxed_slice())
    }

    /// Whether the request's `Authorization` header carries this token.
    ///
    /// An empty configured token authorizes nothing: a misconfiguration fails closed.
    pub(crate) fn authorizes(&self, headers: &HeaderMap) -> bool {
        let Some(presented) = headers
            .get(AUTHORIZATION)
            .and_then(|value| bearer_credentials(value.as_bytes()))
        else {
            return false;
        };
        !self.0.is_empty() & constant_time_eq(presented, &self.0)
    }
}

/// The credentials of a `Bearer` authorization (scheme matched case-insensitively, RFC 9110).
fn bearer_credentials(header: &[u8]) -> Option<&[u8]> {
    const SCHEME: &[u8] = b"bearer";
    if header.len() <= SCHEME.len() || !header[..SCHEME.len()].eq_ignore_ascii_case(SCHEME) {
        return None;
    }
    let rest = &header[SCHEME.len()..];
    if rest[0] != b' ' {
        return None;
    }
    Some(rest.trim_ascii())
}

/// Compares two byte strings in time that depends only on their lengths, never on where they
/// first differ, so response timing does not reveal how much of a guessed token was right.
/// `subtle` keeps the comparison from being turned back into an early exit, which an
/// optimizer is free to do with hand-written code.
fn constant_time_eq(presented: &[u8], expected: &[u8]) -> bool {
    bool::from(presented.ct_eq(expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, http::HeaderValue::from_bytes(value).unwrap());
        headers
    }

    #[test]
    fn only_the_exact_token_is_accepted() {
        let token = BearerToken::new("s3cret");
        assert!(token.authorizes(&headers(b"Bearer s3cret")));
        assert!(token.authorizes(&headers(b"bearer   s3cret ")));
        assert!(!token.authorizes(&headers(b"Bearer s3cre")));
        assert!(!token.authorizes(&headers(b"Bearer s3cret2")));
        assert!(!token.authorizes(&headers(b"Bearer s3crex")));
        assert!(!token.authorizes(&headers(b"Basic s3cret")));
        assert!(!token.authorizes(&headers(b"Bearers3cret")));
        assert!(!token.authorizes(&headers(b"Bearer \xff")));
        assert!(!token.authorizes(&HeaderMap::new()));
    }

    #[test]
    fn an_empty_token_authorizes_nothing() {
        let token = BearerToken::new("");
        assert!(!token.authorizes(&headers(b"Bearer ")));
        assert!(!token.authorizes(&headers(b"Bearer x")));
    }

    #[test]
    fn comparison_covers_lengths_and_every_byte() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abcabc", b"abc"));
        assert!(!constant_time_eq(b"ab", b"abc"));
        assert!(!constant_time_eq(b"", b"abc"));
        assert!(!constant_time_eq(b"xbc", b"abc"));
        assert!(!constant_time_eq(b"abx", b"abc"));
    }

    #[test]
    fn debug_output_hides_the_token() {
        assert!(!format!("{:?}", BearerToken::new("s3cret")).contains("s3cret"));
    }
}
