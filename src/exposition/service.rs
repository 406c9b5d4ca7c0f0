//! [`ExpositionService`]: the exposition as a tower service, for mounting on any route.

use std::convert::Infallible;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::respond::respond;
use super::{ExpositionBody, ExpositionFuture};
use crate::Metrics;

/// A [`Service`] that answers every request with the exposition of one [`Metrics`]
/// (`GET`/`HEAD`, content-negotiated; `405` for other methods). It records nothing itself.
///
/// Use it to serve `/metrics` on a route of your choosing, another port, or another framework.
///
/// ```
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let metrics = tower_prometheus::Metrics::new();
/// let response = metrics
///     .exposition_service()
///     .oneshot(http::Request::new(()))
///     .await
///     .unwrap();
/// assert_eq!(response.status(), 200);
/// assert_eq!(response.headers()["content-type"], "text/plain; version=0.0.4; charset=utf-8");
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct ExpositionService {
    metrics: Metrics,
}

impl Metrics {
    /// The exposition as a stand-alone [`ExpositionService`], to mount on a route of your
    /// choosing (an axum `route_service`, see
    /// [formats](crate::guide::formats#without-the-layer)). It answers `GET` and `HEAD`; any
    /// other method gets `405` with `Allow: GET, HEAD`.
    ///
    /// ```
    /// use tower::ServiceExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let service = tower_prometheus::Metrics::new().exposition_service();
    /// let response = service.oneshot(http::Request::post("/metrics").body(()).unwrap()).await.unwrap();
    /// assert_eq!(response.status(), 405);
    /// assert_eq!(response.headers()["allow"], "GET, HEAD");
    /// # }
    /// ```
    #[must_use]
    pub fn exposition_service(&self) -> ExpositionService {
        ExpositionService {
            metrics: self.clone(),
        }
    }
}

impl<B> Service<Request<B>> for ExpositionService {
    type Response = Response<ExpositionBody>;
    type Error = Infallible;
    type Future = ExpositionFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        respond(&self.metrics.shared, request.method(), request.headers())
    }
}
