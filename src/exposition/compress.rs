//! gzip for the exposition: whether `Accept-Encoding` allows it, and the compression itself.

use http::HeaderValue;

use super::negotiate::weighted_elements;

/// Whether a client with this `Accept-Encoding` should get gzip, honouring q-values.
///
/// gzip (or `x-gzip`, or `*` when gzip is not named) must have a positive quality at least as
/// high as any the header gives `identity` (or `*` when identity is not named): identity is
/// always acceptable, but only preferred when rated. A missing, empty or malformed header
/// gets no compression.
pub(crate) fn accepts_gzip(accept_encoding: Option<&HeaderValue>) -> bool {
    let Some(accept_encoding) = accept_encoding else {
        return false;
    };
    let header = String::from_utf8_lossy(accept_encoding.as_bytes());
    let (mut gzip, mut identity, mut any) = (None::<f32>, None::<f32>, None::<f32>);
    for coding in weighted_elements(&header) {
        let (name, quality) = (coding.name, coding.quality);
        let slot = if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
            &mut gzip
        } else if name.eq_ignore_ascii_case("identity") {
            &mut identity
        } else if name == "*" {
            &mut any
        } else {
            continue;
        };
        *slot = Some(slot.map_or(quality, |known: f32| known.max(quality)));
    }
    let gzip = gzip.or(any).unwrap_or(0.0);
    let identity = identity.or(any).unwrap_or(0.0);
    gzip > 0.0 && gzip >= identity
}

/// gzip at the fastest level: an exposition still compresses about 20-fold, and a scrape
/// should cost the server as little CPU as possible (zlib-rs's level 1 of 100 000 series
/// costs about 1.1 × the encode; its level 6, 8.5–9 ×). `None` if the encoder fails.
#[cfg(feature = "gzip")]
pub(crate) fn gzip(data: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write;

    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 8 + 64),
        flate2::Compression::fast(),
    );
    encoder.write_all(data).ok()?;
    encoder.finish().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepts(header: &str) -> bool {
        accepts_gzip(Some(&HeaderValue::from_str(header).unwrap()))
    }

    #[test]
    fn q_values_decide() {
        assert!(accepts("gzip"));
        assert!(accepts("deflate, gzip;q=0.5"));
        assert!(accepts("GZIP"));
        assert!(accepts("x-gzip"));
        assert!(accepts("*"));
        assert!(accepts("identity;q=0.5, *"));
        assert!(!accepts("gzip;q=0"));
        assert!(!accepts("gzip;q=0.5, identity"));
        assert!(!accepts("*, gzip;q=0"));
        assert!(!accepts("br, deflate"));
        assert!(!accepts_gzip(None));
    }

    #[test]
    fn malformed_headers_get_identity() {
        assert!(!accepts(""));
        assert!(!accepts("gzip;q=abc"));
        assert!(!accepts("gzip;q=1.5"));
        assert!(!accepts(";;,,=q"));
        assert!(!accepts_gzip(Some(
            &HeaderValue::from_bytes(b"\xffgzip").unwrap()
        )));
    }

    #[cfg(feature = "gzip")]
    #[test]
    fn gzip_round_trips() {
        use std::io::Read;

        let text = "up 1\n".repeat(1000);
        let compressed = gzip(text.as_bytes()).unwrap();
        assert!(compressed.len() < text.len() / 10);
        let mut decoded = String::new();
        flate2::read::GzDecoder::new(compressed.as_slice())
            .read_to_string(&mut decoded)
            .unwrap();
        assert_eq!(decoded, text);
    }
}
