//! [`MetricsService`]: the middleware's `Service`.

use std::task::{Context, Poll};

use http::{Request, Response};
use http_body::Body;
use tower_service::Service;

use super::{RequestHead, RequestTracker, ResponseBody, ResponseFuture};
use crate::exposition::respond::respond;
use crate::registry::labels::UNNAMED_VIEW;
use crate::Metrics;

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
    pub fn new(inner: S, metrics: Metrics) -> Self {
        Self { inner, metrics }
    }

    /// The wrapped service.
    ///
    /// ```
    /// let service = tower_prometheus::MetricsService::new(7, tower_prometheus::Metrics::new());
    /// assert_eq!(*service.get_ref(), 7);
    /// ```
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
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for MetricsService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Body,
    ResBody::Data: From<bytes::Bytes>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let shared = &self.metrics.shared;
        let config = shared.recording_config();
        let path = request.uri().path();
        let is_metrics_path = shared.exposition_config().metrics_path.as_deref() == Some(path);
        let excluded = config.excluded_paths.iter().any(|excluded| excluded == path);
        let named = if is_metrics_path {
            Some(path)
        } else {
            request_view(request.extensions())
        };
        // The resolver and the trace-id source read `Parts`: only then is the request taken
        // apart (and put back together), which copies its head twice.
        let needs_parts = !excluded
            && ((named.is_none() && config.view_resolver.is_some()) || config.trace_id_source.is_some());
        if needs_parts {
            return self.call_with_parts(request, is_metrics_path);
        }
        let tracker = (!excluded).then(|| {
            RequestTracker::start(
                shared,
                RequestHead::of(&request),
                named.unwrap_or(UNNAMED_VIEW),
                None,
            )
        });
        if is_metrics_path {
            let response = respond(shared, request.method(), request.headers());
            return ResponseFuture::exposition(response, tracker);
        }
        ResponseFuture::inner(self.inner.call(request), tracker)
    }
}

impl<S> MetricsService<S> {
    /// [`Service::call`] for a request the view resolver or the trace-id source must read.
    #[cold]
    fn call_with_parts<ReqBody, ResBody>(
        &mut self,
        request: Request<ReqBody>,
        is_metrics_path: bool,
    ) -> ResponseFuture<S::Future, S::Error>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    {
        let shared = &self.metrics.shared;
        let config = shared.recording_config();
        let (parts, body) = request.into_parts();
        let view = if is_metrics_path {
            parts.uri.path()
        } else {
            request_view(&parts.extensions).unwrap_or(UNNAMED_VIEW)
        };
        let resolved;
        let view = match (view == UNNAMED_VIEW, &config.view_resolver) {
            (true, Some(resolver)) if !is_metrics_path => {
                resolved = (resolver.0)(&parts);
                resolved.as_ref().map_or(UNNAMED_VIEW, |view| view.as_str())
            }
            _ => view,
        };
        let trace_id = config
            .trace_id_source
            .as_ref()
            .and_then(|source| source.trace_id(&parts));
        let tracker = RequestTracker::start(shared, RequestHead::of_parts(&parts), view, trace_id);
        if is_metrics_path {
            let response = respond(shared, &parts.method, &parts.headers);
            return ResponseFuture::exposition(response, Some(tracker));
        }
        let future = self.inner.call(Request::from_parts(parts, body));
        ResponseFuture::inner(future, Some(tracker))
    }
}

/// The view the request itself names (axum's `MatchedPath`), before any resolver.
#[cfg_attr(not(feature = "axum"), allow(unused_variables))]
fn request_view(extensions: &http::Extensions) -> Option<&str> {
    #[cfg(feature = "axum")]
    if let Some(matched) = extensions.get::<axum::extract::MatchedPath>() {
        return Some(matched.as_str());
    }
    None
}
