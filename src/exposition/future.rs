//! [`ExpositionFuture`]: an answer of the exposition, ready at once or once the rendering it
//! waits for is done.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Response;

use super::respond::PendingScrape;
use super::ExpositionBody;

/// The response future of [`ExpositionService`](super::ExpositionService).
///
/// A scrape that arrives while the same exposition (format and encoding) is being rendered
/// waits for that rendering and shares its bytes instead of rendering its own; a large
/// exposition is rendered on a thread of its own, so waiting never blocks the executor.
///
/// ```
/// use tower::{Service, ServiceExt};
/// use tower_prometheus::ExpositionFuture;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut service = tower_prometheus::Metrics::new().exposition_service();
/// let ready = ServiceExt::<http::Request<()>>::ready(&mut service).await.unwrap();
/// let future: ExpositionFuture = ready.call(http::Request::new(()));
/// assert_eq!(future.await.unwrap().status(), 200);
/// # }
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct ExpositionFuture {
    state: State,
}

enum State {
    Ready(Option<Response<ExpositionBody>>),
    Waiting(PendingScrape),
}

impl ExpositionFuture {
    pub(crate) fn ready(response: Response<ExpositionBody>) -> Self {
        Self {
            state: State::Ready(Some(response)),
        }
    }

    pub(crate) fn waiting(scrape: PendingScrape) -> Self {
        Self {
            state: State::Waiting(scrape),
        }
    }
}

impl Future for ExpositionFuture {
    type Output = Result<Response<ExpositionBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let response = match &mut this.state {
            State::Ready(response) => response.take().expect("ExpositionFuture polled after completion"),
            State::Waiting(scrape) => {
                let response = std::task::ready!(scrape.poll_response(cx));
                this.state = State::Ready(None);
                response
            }
        };
        Poll::Ready(Ok(response))
    }
}

impl fmt::Debug for ExpositionFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Ready(Some(_)) => "ready",
            State::Ready(None) => "done",
            State::Waiting(_) => "waiting for a rendering",
        };
        f.debug_struct("ExpositionFuture").field("state", &state).finish()
    }
}
