//! [`MetricsService`]: the middleware's `Service`.

use std::task::{Context, Poll};

use http::{Request, Response};
use http_body::Body;
use tower_service::Service;

use super::view::RequestView;
use super::{RequestTracker, ResponseBody, ResponseFuture};
use crate::exposition::respond::respond;
use crate::registry::exemplars::{TraceId, TraceIdSource};
use crate::{Metrics, RequestHead};

/// Measures each request of `S` and answers the metrics path. Built by
/// [`MetricsLayer`](super::MetricsLayer); see the [crate documentation](crate) for an example.
///
/// ```
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let metrics = tower_prometheus::Metrics::new();
/// let inner = tower::service_fn(|_request: http::Request<String>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(String::from("hello")))
/// });
/// let service = tower_prometheus::MetricsService::new(inner, metrics.clone());
/// let response = service.oneshot(http::Request::new(String::new())).await.unwrap();
/// assert_eq!(response.status(), 200);
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct MetricsService<S> {
    inner: S,
    metrics: Metrics,
}

impl<S> MetricsService<S> {
    /// Wraps `inner`, recording into `metrics`.
    ///
    /// ```
    /// let service = tower_prometheus::MetricsService::new((), tower_prometheus::Metrics::new());
    /// # let _ = service;
    /// ```
    #[must_use]
    pub fn new(inner: S, metrics: Metrics) -> Self {
        Self { inner, metrics }
    }

    /// The wrapped service.
    ///
    /// ```
    /// let service = tower_prometheus::MetricsService::new(7, tower_prometheus::Metrics::new());
    /// assert_eq!(*service.get_ref(), 7);
    /// ```
    #[must_use]
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    ///
    /// ```
    /// let mut service = tower_prometheus::MetricsService::new(7, tower_prometheus::Metrics::new());
    /// *service.get_mut() += 1;
    /// assert_eq!(service.into_inner(), 8);
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    ///
    /// ```
    /// let service = tower_prometheus::MetricsService::new("inner", tower_prometheus::Metrics::new());
    /// assert_eq!(service.into_inner(), "inner");
    /// ```
    #[must_use]
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for MetricsService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: 'static,
    ResBody: Body,
    ResBody::Data: From<bytes::Bytes>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let shared = &self.metrics.shared;
        let config = shared.recording_config();
        let path = request.uri().path();
        let is_metrics_path = is_metrics_path(shared.exposition_config().metrics_path.as_deref(), path);
        // The exclusion rules, the view resolver and the trace-id source read the request in
        // place, through a borrowed head: the request goes on to the inner service untouched.
        let head = RequestHead::new(&request);
        let tracker = (!config.exclusions.excludes(&head)).then(|| {
            let view = RequestView::of(config, &head, is_metrics_path);
            let trace_id = config
                .trace_id_source
                .as_ref()
                .and_then(|source| trace_id(source, &head));
            RequestTracker::start(shared, &head, view, trace_id)
        });
        if is_metrics_path {
            let response = respond(shared, request.method(), request.headers());
            return ResponseFuture::exposition(response, tracker);
        }
        ResponseFuture::inner(self.inner.call(request), tracker)
    }
}

/// Whether `path` is the metrics path. Nearly every request is not a scrape: a length or a
/// last byte that differs settles it before the bytes are compared (a call to `memcmp` for
/// two paths of one length).
#[inline]
fn is_metrics_path(metrics_path: Option<&str>, path: &str) -> bool {
    metrics_path.is_some_and(|metrics_path| {
        let (metrics_path, path) = (metrics_path.as_bytes(), path.as_bytes());
        metrics_path.len() == path.len() && metrics_path.last() == path.last() && metrics_path == path
    })
}

/// The trace id of a request, for its exemplars: kept out of line, as exemplars are opt-in.
#[cold]
fn trace_id(source: &TraceIdSource, request: &RequestHead<'_>) -> Option<TraceId> {
    source.trace_id(request)
}

#[cfg(test)]
mod tests {
    use super::is_metrics_path;

    #[test]
    fn only_the_metrics_path_itself_is_the_metrics_path() {
        let metrics = Some("/metrics");
        assert!(is_metrics_path(metrics, "/metrics"));
        for other in [
            "/users/7",
            "/metricz",
            "/mutrics",
            "/metrics/",
            "/metric",
            "",
            "/",
        ] {
            assert!(!is_metrics_path(metrics, other), "{other}");
        }
        assert!(!is_metrics_path(None, "/metrics"));
        assert!(is_metrics_path(Some(""), ""));
    }
}
