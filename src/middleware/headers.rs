//! Header lookups for the few headers the tracker reads on every request.

use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_LENGTH};

/// Maps with at most this many values are scanned in order instead of looked up by hash.
///
/// `HeaderMap::get` hashes the name and probes (about 100 instructions per lookup); comparing
/// a standard name is one integer comparison and a custom one a length check first, so
/// scanning the names of the handful of headers most requests and responses carry costs less,
/// while larger maps keep the hashed lookup.
const SCAN_LIMIT: usize = 8;

/// The header that marks a request as AJAX (counted in `http_ajax_requests_total`).
pub(super) const X_REQUESTED_WITH: HeaderName = HeaderName::from_static("x-requested-with");

/// The first value of `name`, as [`HeaderMap::get`] returns it.
#[inline]
pub(super) fn first_value<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Option<&'h HeaderValue> {
    if headers.is_empty() {
        return None;
    }
    if headers.len() > SCAN_LIMIT || has_repeated_name(headers) {
        return headers.get(name);
    }
    headers
        .iter()
        .find_map(|(candidate, value)| (candidate == name).then_some(value))
}

/// Whether a name has more than one value. Without one, [`HeaderMap::iter`] yields each name
/// once with its only value (it yields a name once per value), which is the value
/// [`HeaderMap::get`] returns; with one, the iteration order says nothing about which value
/// comes first.
#[inline]
fn has_repeated_name(headers: &HeaderMap) -> bool {
    headers.len() != headers.keys_len()
}

/// The request headers every request is counted by, read in one pass over the map.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct RequestHeaders<'h> {
    /// The first `X-Requested-With`.
    pub(super) requested_with: Option<&'h HeaderValue>,
    /// The first `Content-Length`.
    pub(super) content_length: Option<&'h HeaderValue>,
}

impl<'h> RequestHeaders<'h> {
    /// Reads `headers`: a request without any costs one comparison, and a map of up to
    /// twice [`SCAN_LIMIT`] values is scanned once for both names rather than hashed twice.
    #[inline]
    pub(super) fn of(headers: &'h HeaderMap) -> Self {
        if headers.is_empty() {
            return Self::default();
        }
        Self::scan(headers)
    }

    fn scan(headers: &'h HeaderMap) -> Self {
        if headers.len() > 2 * SCAN_LIMIT || has_repeated_name(headers) {
            return Self {
                requested_with: headers.get(X_REQUESTED_WITH),
                content_length: headers.get(CONTENT_LENGTH),
            };
        }
        // The constants are bound once: compared directly, each key would build and drop a
        // temporary name. Most requests carry neither name: the names alone are walked (a
        // slice), and the values only when one is there.
        let (content_length_name, requested_with_name) = (CONTENT_LENGTH, X_REQUESTED_WITH);
        let present = headers
            .keys()
            .any(|name| *name == content_length_name || *name == requested_with_name);
        let mut found = Self::default();
        if !present {
            return found;
        }
        // Each name comes once, with its only value.
        for (name, value) in headers {
            if *name == content_length_name {
                found.content_length = Some(value);
            } else if *name == requested_with_name {
                found.requested_with = Some(value);
            }
        }
        found
    }

    /// Whether the request says it was sent by a script (`X-Requested-With: XMLHttpRequest`).
    #[inline]
    pub(super) fn is_ajax(&self) -> bool {
        self.requested_with
            .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"XMLHttpRequest"))
    }

    /// The announced size of the request body, when `Content-Length` is a number.
    #[inline]
    pub(super) fn content_length(&self) -> Option<u64> {
        self.content_length
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{CONTENT_LENGTH, CONTENT_TYPE};

    #[test]
    fn finds_what_get_finds_in_small_and_large_maps() {
        let names = [
            CONTENT_TYPE,
            CONTENT_LENGTH,
            HeaderName::from_static("x-requested-with"),
            HeaderName::from_static("x-other"),
        ];
        for size in 0..2 * SCAN_LIMIT {
            let mut headers = HeaderMap::new();
            for i in 0..size {
                let name = &names[i % names.len()];
                headers.append(name.clone(), HeaderValue::from(i));
            }
            for name in names.iter().chain([&http::header::ACCEPT]) {
                assert_eq!(
                    first_value(&headers, name),
                    headers.get(name),
                    "{size} values, {name}"
                );
            }
        }
    }

    #[test]
    fn request_headers_are_the_first_values_get_finds_in_maps_of_every_size() {
        let names = [
            CONTENT_LENGTH,
            X_REQUESTED_WITH,
            CONTENT_TYPE,
            HeaderName::from_static("x-requested-by"),
        ];
        for size in 0..5 * SCAN_LIMIT {
            let mut headers = HeaderMap::new();
            for i in 0..size {
                headers.append(names[i % names.len()].clone(), HeaderValue::from(i));
            }
            let found = RequestHeaders::of(&headers);
            assert_eq!(found.content_length, headers.get(CONTENT_LENGTH), "{size} values");
            assert_eq!(
                found.requested_with,
                headers.get(X_REQUESTED_WITH),
                "{size} values"
            );
        }
    }

    #[test]
    fn request_headers_read_the_ajax_mark_and_the_length() {
        let mut headers = HeaderMap::new();
        headers.insert("x-requested-by", HeaderValue::from_static("XMLHttpRequest"));
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("12"));
        assert!(!RequestHeaders::of(&headers).is_ajax());
        assert_eq!(RequestHeaders::of(&headers).content_length(), Some(12));
        headers.insert(X_REQUESTED_WITH, HeaderValue::from_static("xmlhttprequest"));
        headers.append(CONTENT_LENGTH, HeaderValue::from_static("13"));
        assert!(RequestHeaders::of(&headers).is_ajax());
        assert_eq!(RequestHeaders::of(&headers).content_length(), Some(12));
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("-1"));
        assert_eq!(RequestHeaders::of(&headers).content_length(), None);
        assert_eq!(RequestHeaders::of(&HeaderMap::new()), RequestHeaders::default());
    }

    #[test]
    fn custom_names_compare_by_content() {
        let mut headers = HeaderMap::new();
        headers.insert("x-requested-by", HeaderValue::from_static("no"));
        headers.insert("x-requested-with", HeaderValue::from_static("XMLHttpRequest"));
        let name = HeaderName::from_static("x-requested-with");
        assert_eq!(first_value(&headers, &name).unwrap(), "XMLHttpRequest");
    }
}
