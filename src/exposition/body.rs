//! [`ExpositionBody`]: a response body holding one rendered exposition.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

/// A body of one chunk, already in memory: the rendered exposition or an error message.
///
/// ```
/// use http_body::Body;
/// use tower_prometheus::ExpositionBody;
///
/// let body = ExpositionBody::new("up 1\n");
/// assert_eq!(body.size_hint().exact(), Some(5));
/// ```
#[derive(Debug, Default)]
pub struct ExpositionBody {
    data: Option<Bytes>,
}

impl ExpositionBody {
    /// A body holding `data`.
    ///
    /// ```
    /// use http_body::Body;
    /// use tower_prometheus::ExpositionBody;
    ///
    /// let body = ExpositionBody::new(bytes::Bytes::from_static(b"# EOF\n"));
    /// assert_eq!(body.size_hint().exact(), Some(6));
    /// // No data is an empty body, ended from the start.
    /// assert!(ExpositionBody::new("").is_end_stream());
    /// ```
    #[must_use]
    pub fn new(data: impl Into<Bytes>) -> Self {
        let data = data.into();
        Self {
            data: (!data.is_empty()).then_some(data),
        }
    }

    /// An empty body, as for `HEAD` and `405` answers.
    ///
    /// ```
    /// use http_body::Body;
    /// assert!(tower_prometheus::ExpositionBody::empty().is_end_stream());
    /// ```
    #[must_use]
    pub fn empty() -> Self {
        Self { data: None }
    }

    pub(crate) fn take(&mut self) -> Option<Bytes> {
        self.data.take()
    }
}

impl Body for ExpositionBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Ready(self.get_mut().take().map(|data| Ok(Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.data.as_ref().map_or(0, |data| data.len() as u64))
    }
}
