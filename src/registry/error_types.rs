//! The `type` label of `http_exceptions_total_by_type_total`: which name an error gets.
//!
//! An error of a concrete type is named by that type (its Rust name without module paths,
//! `std::io::Error` → `Error`). A boxed error (`Box<dyn Error + …>`, tower's `BoxError`, the
//! error of most tower stacks, tonic and hyper; the error inside an `axum::Error`) hides its type, which std cannot name at run
//! time; it is named by what can be known of it: `std::io::Error` when it is one, otherwise
//! the leading name of its `Debug` output (a derived `Debug` starts with the struct's name or
//! the enum variant's: tower's `Elapsed`, `Overloaded`; hyper's `hyper::Error`). A boxed error
//! whose `Debug` starts with no name (a boxed `String` prints its quoted text) keeps the boxed
//! type's name. A classifier given to
//! [`MetricsBuilder::error_type`](crate::MetricsBuilder::error_type) is asked first.
//!
//! Every name follows the one label rule ([`super::labels::MAX_LABEL_VALUE_BYTES`]); it is
//! written into a buffer on the stack, so that naming a known error allocates nothing.

use std::any::Any;
use std::borrow::Cow;
use std::error::Error;
use std::fmt::{self, Write as _};
use std::sync::Arc;

use super::labels::{write_short_type_name, MAX_LABEL_VALUE_BYTES};

type Classify = dyn Fn(&(dyn Error + 'static)) -> Option<Cow<'static, str>> + Send + Sync;

/// The builder's error classifier.
#[derive(Clone)]
pub(crate) struct ErrorClassifier(pub(crate) Arc<Classify>);

impl fmt::Debug for ErrorClassifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ErrorClassifier")
    }
}

/// A label value being written, at most [`MAX_LABEL_VALUE_BYTES`] long: what does not fit
/// marks it as too long (it then records as `<overflow>`).
pub(crate) struct LabelBuffer {
    bytes: [u8; MAX_LABEL_VALUE_BYTES],
    len: usize,
    too_long: bool,
}

impl LabelBuffer {
    pub(crate) fn new() -> Self {
        Self {
            bytes: [0; MAX_LABEL_VALUE_BYTES],
            len: 0,
            too_long: false,
        }
    }

    /// The value, `None` when it broke the byte bound.
    pub(crate) fn value(&self) -> Option<&str> {
        if self.too_long {
            return None;
        }
        // Only whole `str`s are copied in, so the bytes are UTF-8.
        std::str::from_utf8(&self.bytes[..self.len]).ok()
    }

    fn clear(&mut self) {
        self.len = 0;
        self.too_long = false;
    }
}

impl fmt::Write for LabelBuffer {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let end = self.len + text.len();
        match self.bytes.get_mut(self.len..end) {
            Some(room) => {
                room.copy_from_slice(text.as_bytes());
                self.len = end;
                Ok(())
            }
            None => {
                self.too_long = true;
                Err(fmt::Error)
            }
        }
    }
}

/// Passes on the leading name of what is written (letters, digits, `_` and `::`) and stops
/// the formatting at the first other character.
struct LeadingName<'b>(&'b mut LabelBuffer);

impl fmt::Write for LeadingName<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let end = text
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(text.len());
        self.0.write_str(&text[..end])?;
        if end < text.len() {
            // The name ended: nothing more of the `Debug` output is formatted.
            return Err(fmt::Error);
        }
        Ok(())
    }
}

/// The error an `E` holds, seen as `dyn Error`, and whether its own type is hidden (boxed).
fn as_error<E: Any>(error: &E) -> Option<(&(dyn Error + 'static), bool)> {
    let any: &dyn Any = error;
    if let Some(boxed) = any.downcast_ref::<Box<dyn Error + Send + Sync>>() {
        return Some((&**boxed, true));
    }
    if let Some(boxed) = any.downcast_ref::<Box<dyn Error + Send>>() {
        return Some((&**boxed, true));
    }
    if let Some(boxed) = any.downcast_ref::<Box<dyn Error>>() {
        return Some((&**boxed, true));
    }
    if let Some(io) = any.downcast_ref::<std::io::Error>() {
        return Some((io, false));
    }
    // axum's error (its bodies' error type) is a box around another error: that one is named.
    #[cfg(feature = "axum")]
    if let Some(axum) = any.downcast_ref::<axum::Error>() {
        return axum.source().map(|inner| (inner, true));
    }
    None
}

/// Writes the `type` label of `error` (of static type `E`) into `out`, as the [module](self)
/// says.
pub(crate) fn error_type_of<E: Any>(error: &E, classifier: Option<&ErrorClassifier>, out: &mut LabelBuffer) {
    let seen = as_error(error);
    if let (Some(classifier), Some((error, _))) = (classifier, seen) {
        if let Some(name) = (classifier.0)(error) {
            let _ = out.write_str(&name);
            return;
        }
    }
    if let Some((error, true)) = seen {
        if error.is::<std::io::Error>() {
            let _ = write_short_type_name(std::any::type_name::<std::io::Error>(), out);
            return;
        }
        let _ = write!(LeadingName(out), "{error:?}");
        if out.value().is_some_and(|name| !name.is_empty()) || out.too_long {
            return;
        }
        out.clear();
    }
    let _ = write_short_type_name(std::any::type_name::<E>(), out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name_of<E: Any>(error: &E, classifier: Option<&ErrorClassifier>) -> Option<String> {
        let mut out = LabelBuffer::new();
        error_type_of(error, classifier, &mut out);
        out.value().map(str::to_owned)
    }

    #[derive(Debug)]
    struct Elapsed(());

    impl fmt::Display for Elapsed {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("timed out")
        }
    }

    impl Error for Elapsed {}

    type BoxError = Box<dyn Error + Send + Sync>;

    #[test]
    fn boxed_errors_are_named_by_their_debug_output_or_known_type() {
        let elapsed: BoxError = Box::new(Elapsed(()));
        assert_eq!(name_of(&elapsed, None).as_deref(), Some("Elapsed"));
        let io: BoxError = Box::new(std::io::Error::other("disk"));
        assert_eq!(name_of(&io, None).as_deref(), Some("Error"));
        let text: BoxError = "a message".into();
        assert_eq!(
            name_of(&text, None).as_deref(),
            Some("Box<dyn Error + Send + Sync>"),
            "no name to recover"
        );
        assert_eq!(name_of(&Elapsed(()), None).as_deref(), Some("Elapsed"));
    }

    #[cfg(feature = "axum")]
    #[test]
    fn the_error_inside_an_axum_error_is_named() {
        assert_eq!(
            name_of(&axum::Error::new(Elapsed(())), None).as_deref(),
            Some("Elapsed")
        );
    }

    #[test]
    fn a_debug_name_beyond_the_bound_breaks_the_rule() {
        #[derive(Debug)]
        struct Long;
        impl fmt::Display for Long {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&"n".repeat(MAX_LABEL_VALUE_BYTES + 1))
            }
        }
        impl Error for Long {}
        let classifier = ErrorClassifier(Arc::new(|error| Some(error.to_string().into())));
        let long: BoxError = Box::new(Long);
        assert_eq!(name_of(&long, Some(&classifier)), None);
    }
}
