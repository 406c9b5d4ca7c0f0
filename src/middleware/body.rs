//! [`ResponseBody`]: counts the response body's bytes and records its end or its drop.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::unwind::record_panic;
use super::RequestTracker;
use crate::exposition::ExpositionBody;

pin_project! {
    /// The response body of [`MetricsService`](super::MetricsService): the inner service's
    /// body, or the exposition on the metrics path.
    ///
    /// Its bytes are counted as they stream; the response body-size histogram is observed when
    /// the body ends, and dropping it before the end counts the request as cancelled.
    ///
    /// ```
    /// use http::{Request, Response};
    /// use http_body_util::BodyExt;
    /// use tower::{Layer, ServiceExt};
    /// use tower_prometheus::{Format, Metrics, ResponseBody};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let metrics = Metrics::new();
    /// let service = metrics.layer().layer(tower::service_fn(|_: Request<()>| async {
    ///     Ok::<_, std::convert::Infallible>(Response::new(String::from("hello")))
    /// }));
    /// let response: Response<ResponseBody<String>> =
    ///     service.oneshot(Request::get("/").body(()).unwrap()).await.unwrap();
    /// assert_eq!(response.into_body().collect().await.unwrap().to_bytes(), "hello");
    ///
    /// // The body ended: its 5 bytes are observed.
    /// let text = metrics.render(Format::PrometheusText).unwrap();
    /// assert!(text.contains("http_responses_body_total_bytes_sum 5.0"));
    /// # }
    /// ```
    #[derive(Debug)]
    pub struct ResponseBody<B> {
        #[pin]
        kind: Kind<B>,
        tracker: Option<RequestTracker>,
    }
}

pin_project! {
    #[project = KindProj]
    #[derive(Debug)]
    enum Kind<B> {
        Inner { #[pin] body: B },
        // Boxed (a scrape may allocate): inline, it would widen every response's body.
        Exposition { body: Box<ExpositionBody> },
    }
}

impl<B> ResponseBody<B> {
    /// The inner service's body; `tracker`, if any, finishes the request's accounting when
    /// the body ends or is dropped.
    pub(crate) fn inner(body: B, tracker: Option<RequestTracker>) -> Self {
        Self {
            kind: Kind::Inner { body },
            tracker,
        }
    }

    /// The exposition's body, tracked like [`Self::inner`].
    pub(crate) fn exposition(body: ExpositionBody, tracker: Option<RequestTracker>) -> Self {
        Self {
            kind: Kind::Exposition { body: Box::new(body) },
            tracker,
        }
    }
}

/// An empty, untracked body, for middleware that answers on its own beneath the layer (such as
/// tower-http's `TimeoutLayer`, which needs `Default` to build its timeout response).
///
/// ```
/// use http_body::Body;
///
/// let body: tower_prometheus::ResponseBody<String> = Default::default();
/// assert!(body.is_end_stream());
/// ```
impl<B: Default> Default for ResponseBody<B> {
    fn default() -> Self {
        Self::inner(B::default(), None)
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body,
    B::Data: From<bytes::Bytes>,
    B::Error: 'static,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let tracker = this.tracker;
        match this.kind.project() {
            KindProj::Inner { mut body } => {
                // Once everything is recorded (a body of known size, after its last byte, with no
                // gRPC status still to read from its trailers) there is nothing left to count or
                // to record a panic for: the inner body answers directly, without the panic
                // guard or a copy of its answer.
                if !tracker.as_ref().is_some_and(RequestTracker::reads_frames) {
                    return body.poll_frame(cx);
                }
                // The inner body's answer is read in place and returned as it is: taking it out
                // of `Poll` and putting it back would copy the frame twice per poll.
                let poll = record_panic(tracker, || body.as_mut().poll_frame(cx));
                if let (Poll::Ready(frame), Some(tracker)) = (&poll, tracker.as_mut()) {
                    record_frame::<B::Data, B::Error>(tracker, frame);
                    // Asked only while the end is still unknown: a body of known size has
                    // already ended with its last byte.
                    if tracker.awaits_body_end() && (frame.is_none() || body.is_end_stream()) {
                        tracker.on_body_end();
                    }
                }
                poll
            }
            KindProj::Exposition { body } => {
                let frame = body.take().map(|data| Ok(Frame::data(B::Data::from(data))));
                if let Some(tracker) = tracker.as_mut() {
                    record_frame::<B::Data, B::Error>(tracker, &frame);
                    tracker.on_body_end();
                }
                Poll::Ready(frame)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Exposition { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Exposition { body } => body.size_hint(),
        }
    }
}

/// Counts a frame's bytes, reads its trailers, or records its error.
fn record_frame<D: Buf, E: 'static>(tracker: &mut RequestTracker, frame: &Option<Result<Frame<D>, E>>) {
    match frame {
        Some(Ok(frame)) => {
            if let Some(data) = frame.data_ref() {
                tracker.on_body_data(data.remaining());
            } else if let Some(trailers) = frame.trailers_ref() {
                tracker.on_trailers(trailers);
            }
        }
        Some(Err(error)) => tracker.on_body_error(error),
        None => {}
    }
}
