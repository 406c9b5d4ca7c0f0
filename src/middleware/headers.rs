//! Header lookups for the few headers the tracker reads on every request.

use http::header::{HeaderMap, HeaderName, HeaderValue};

/// Maps with at most this many values are scanned in order instead of looked up by hash.
///
/// `HeaderMap::get` hashes the name and probes (about 100 instructions per lookup, and a
/// request reads three headers); comparing a standard name is one integer comparison and a
/// custom one a length check first, so scanning the handful of headers most requests and
/// responses carry costs less, while larger maps keep the hashed lookup.
const SCAN_LIMIT: usize = 8;

/// The first value of `name`, as [`HeaderMap::get`] returns it.
#[inline]
pub(super) fn first_value<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Option<&'h HeaderValue> {
    if headers.len() > SCAN_LIMIT {
        return headers.get(name);
    }
    // `iter` yields each name's values together, its first value first: the first match is
    // the value `get` returns.
    headers
        .iter()
        .find_map(|(candidate, value)| (candidate == name).then_some(value))
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
    fn custom_names_compare_by_content() {
        let mut headers = HeaderMap::new();
        headers.insert("x-requested-by", HeaderValue::from_static("no"));
        headers.insert("x-requested-with", HeaderValue::from_static("XMLHttpRequest"));
        let name = HeaderName::from_static("x-requested-with");
        assert_eq!(first_value(&headers, &name).unwrap(), "XMLHttpRequest");
    }
}
