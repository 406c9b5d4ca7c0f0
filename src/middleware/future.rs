//! [`ResponseFuture`]: records the response head, the inner service's error, or its panic.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::Response;
use http_body::Body;
use pin_project_lite::pin_project;

use super::unwind::record_panic;
use super::{RequestTracker, ResponseBody};
use crate::exposition::ExpositionFuture;

pin_project! {
    /// The response future of [`MetricsService`](super::MetricsService).
    ///
    /// Dropping it before it completes counts the request as cancelled.
    ///
    /// ```
    /// use http::{Request, Response};
    /// use tower::{Layer, Service, ServiceExt};
    /// use tower_prometheus::{Format, Metrics, ResponseFuture};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let metrics = Metrics::new();
    /// let mut service = metrics.layer().layer(tower::service_fn(|_: Request<()>| async {
    ///     Ok::<_, std::convert::Infallible>(Response::new(String::from("never sent")))
    /// }));
    /// let future: ResponseFuture<_> =
    ///     service.ready().await.unwrap().call(Request::get("/").body(()).unwrap());
    /// drop(future);
    ///
    /// let text = metrics.render(Format::PrometheusText).unwrap();
    /// assert!(text.contains("http_requests_cancelled_total{view=\"<unnamed view>\",method=\"GET\"} 1"));
    /// # }
    /// ```
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
        tracker: Option<RequestTracker>,
    }
}

pin_project! {
    #[project = KindProj]
    #[derive(Debug)]
    enum Kind<F> {
        Inner { #[pin] future: F },
        // Boxed: a scrape may allocate, while the inline future would make every request's
        // future larger by its size.
        Exposition { response: Box<ExpositionFuture> },
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn inner(future: F, tracker: Option<RequestTracker>) -> Self {
        Self {
            kind: Kind::Inner { future },
            tracker,
        }
    }

    pub(crate) fn exposition(response: ExpositionFuture, tracker: Option<RequestTracker>) -> Self {
        Self {
            kind: Kind::Exposition {
                response: Box::new(response),
            },
            tracker,
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body,
    B::Data: From<bytes::Bytes>,
    E: 'static,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = match this.kind.project() {
            KindProj::Inner { future } => {
                let result = ready!(record_panic(this.tracker, || future.poll(cx)));
                match result {
                    Ok(response) => {
                        on_response(this.tracker, &response);
                        return Poll::Ready(Ok(with_tracker(response, this.tracker)));
                    }
                    Err(error) => {
                        if let Some(mut tracker) = this.tracker.take() {
                            tracker.on_error(&error);
                        }
                        return Poll::Ready(Err(error));
                    }
                }
            }
            KindProj::Exposition { response } => {
                let Ok(response) = ready!(Pin::new(&mut **response).poll(cx));
                on_response(this.tracker, &response);
                let tracker = this.tracker.take();
                response.map(|body| ResponseBody::exposition(body, tracker))
            }
        };
        Poll::Ready(Ok(response))
    }
}

/// The response with the tracker moved into its body, written straight into the caller's
/// return slot: out of line, because inlined into `poll` the response head was assembled in a
/// temporary of `poll`'s frame and then copied out (a `memcpy` of 192 bytes per request).
#[inline(never)]
fn with_tracker<B>(response: Response<B>, tracker: &mut Option<RequestTracker>) -> Response<ResponseBody<B>> {
    let tracker = tracker.take();
    response.map(|body| ResponseBody::inner(body, tracker))
}

/// Records the response head, read in place (taking the response apart and putting it back
/// together would copy its head twice), with the tracker where it is: the caller then moves
/// it once, into the body, which is built once with it.
#[inline]
fn on_response<B: Body>(tracker: &mut Option<RequestTracker>, response: &Response<B>) {
    let Some(tracker) = tracker else {
        return;
    };
    let body = response.body();
    let size = body.size_hint().exact();
    // A body of known size has ended exactly when that size is 0: asking it again (a call
    // through every boxed layer of the body) tells nothing more.
    let ended = match size {
        Some(size) => size == 0,
        None => body.is_end_stream(),
    };
    tracker.on_response(
        response.status(),
        response.headers(),
        response.extensions(),
        size,
        ended,
    );
}
