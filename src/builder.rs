//! [`MetricsBuilder`]: every option of [`Metrics`], with django-prometheus's defaults. It checks
//! every option, then hands the recording side and the exposition side each their own config.

use std::fmt;
use std::sync::Arc;

use http::HeaderName;

use crate::config_error::ConfigError;
use crate::exposition::auth::BearerToken;
use crate::exposition::EncodeErrorPolicy;
use crate::metrics::Config;
use crate::registry::config::ViewResolver;
use crate::registry::error_types::ErrorClassifier;
use crate::registry::exemplars::TraceIdSource;
use crate::registry::labels::MAX_REQUEST_LABELS;
use crate::registry::names::{label_name_problem, metric_name_problem, RESERVED_LABEL_NAMES};
use crate::registry::request_labels::{RequestLabelRule, MAX_MAX_VALUES};
use crate::{Metrics, NativeHistograms, RequestHead, ViewName};

/// Configures and builds a [`Metrics`]. Every option is optional; [`build`](Self::build)
/// checks them all and names the first one it refuses.
///
/// Build one `Metrics` per service and clone it wherever it is needed (the layer, custom
/// registrations, a separate listener): clones share everything, while two separately built
/// instances share nothing, so a metric registered on one never shows on the other's
/// `/metrics`.
///
/// ```
/// use tower_prometheus::Metrics;
///
/// let metrics = Metrics::builder()
///     .namespace("django")
///     .metrics_path("/internal/metrics")
///     .exclude_path("/healthz")
///     .group_status_codes(true)
///     .const_label("service", "billing")
///     .build()?;
/// let text = metrics.render(tower_prometheus::Format::PrometheusText).unwrap();
/// assert!(text.contains("django_http_requests_before_middlewares_total{service=\"billing\"} 0"));
/// # Ok::<(), tower_prometheus::ConfigError>(())
/// ```
#[must_use = "a builder does nothing until `build` is called"]
#[derive(Clone)]
pub struct MetricsBuilder {
    config: Config,
    bearer_token: Option<String>,
}

impl fmt::Debug for MetricsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsBuilder")
            .field("config", &self.config)
            .field("bearer_token", &self.bearer_token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Default for MetricsBuilder {
    fn default() -> Self {
        Self {
            config: Config {
                process_metrics: true,
                ..Config::default()
            },
            bearer_token: None,
        }
    }
}

impl MetricsBuilder {
    /// A builder with the defaults: no namespace, django's buckets, `/metrics`, no exclusions.
    ///
    /// ```
    /// let metrics = tower_prometheus::MetricsBuilder::new().build().unwrap();
    /// assert!(metrics.render(tower_prometheus::Format::OpenMetrics).unwrap().ends_with("# EOF\n"));
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Prefixes every metric name with `namespace_`; `"django"` gives django-prometheus's names.
    /// An empty namespace means none. [`build`](Self::build) refuses a namespace that is not a
    /// valid metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`, not starting with `__`): it is never
    /// rewritten behind your back.
    ///
    /// ```
    /// let refused = tower_prometheus::Metrics::builder().namespace("my-app").build();
    /// assert_eq!(refused.unwrap_err().option(), "namespace");
    ///
    /// let metrics = tower_prometheus::Metrics::builder().namespace("django").build().unwrap();
    /// let text = metrics.render(tower_prometheus::Format::PrometheusText).unwrap();
    /// assert!(text.contains("django_http_requests_before_middlewares_total 0"));
    /// ```
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        let namespace = namespace.into();
        self.config.namespace = (!namespace.is_empty()).then_some(namespace);
        self
    }

    /// Upper bounds, in seconds, of the latency histograms' buckets (`+Inf` is implied).
    /// [`build`](Self::build) refuses an empty list, a bound that is not finite, and bounds
    /// that are not strictly increasing.
    ///
    /// ```
    /// let metrics = tower_prometheus::Metrics::builder().latency_buckets([0.005, 0.5, 5.0]).build().unwrap();
    /// let text = metrics.render(tower_prometheus::Format::PrometheusText).unwrap();
    /// assert!(text.contains("http_requests_latency_including_middlewares_seconds_bucket{le=\"0.005\"} 0"));
    /// ```
    pub fn latency_buckets(mut self, buckets: impl IntoIterator<Item = f64>) -> Self {
        self.config.recording.latency_buckets = buckets.into_iter().collect();
        self.config.latency_buckets_set = true;
        self
    }

    /// The names and labels of the HTTP metrics: django-prometheus's families (the default), or
    /// the stable OpenTelemetry HTTP server conventions' ones instead
    /// (`http_server_request_duration_seconds`, `http_server_active_requests`,
    /// `http_server_request_body_size_bytes`, `http_server_response_body_size_bytes`; see the
    /// [OpenTelemetry guide](crate::guide::opentelemetry)). Under
    /// [`Naming::OpenTelemetry`](crate::Naming::OpenTelemetry) the duration histogram has the
    /// conventions' buckets unless [`latency_buckets`](Self::latency_buckets) is set, and
    /// [`build`](Self::build) refuses a constant label named as one of the profile's labels and
    /// the options that shape django-prometheus's families only (`native_histograms`,
    /// `exemplars_from*`, `latency_buckets_for_view`, `response_duration_histogram`,
    /// `group_status_codes`).
    ///
    /// ```
    /// use tower_prometheus::{Format, Metrics, Naming};
    ///
    /// let metrics = Metrics::builder().naming(Naming::OpenTelemetry).build().unwrap();
    /// let text = metrics.render(Format::PrometheusText).unwrap();
    /// assert!(!text.contains("http_requests_before_middlewares_total"));
    /// ```
    pub fn naming(mut self, naming: crate::Naming) -> Self {
        self.config.naming = naming;
        self
    }

    /// Upper bounds, in seconds, of the latency buckets of one view, for
    /// `http_requests_latency_seconds_by_view_method` (and
    /// [`http_responses_duration_seconds_by_view_method`](Self::response_duration_histogram)
    /// when on): an upload or report route whose requests take minutes gets buckets that
    /// tell them apart, while every other view keeps [`latency_buckets`](Self::latency_buckets).
    /// `view` is the view label exactly as exposed (a route template such as `/users/{id}`).
    /// Works for classic and [native](Self::native_histograms) histograms; the unlabelled
    /// `http_requests_latency_including_middlewares_seconds` keeps the default buckets.
    ///
    /// [`build`](Self::build) checks the bounds as it checks `latency_buckets`, and refuses an
    /// empty view and a view given twice. A rule whose view no request ever gets does nothing:
    /// [`Metrics::unmatched_bucket_views`] lists those.
    ///
    /// ```
    /// use http::{Request, Response};
    /// use tower::{ServiceBuilder, ServiceExt};
    /// use tower_prometheus::{Format, Metrics, ViewName};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let metrics = Metrics::builder()
    ///     .latency_buckets_for_view("/upload", [1.0, 30.0, 300.0])
    ///     .build()
    ///     .unwrap();
    /// let app = ServiceBuilder::new().layer(metrics.layer()).service_fn(|request: Request<String>| async move {
    ///     let mut response = Response::new(String::new());
    ///     response.extensions_mut().insert(ViewName::new(request.uri().path().to_owned()));
    ///     Ok::<_, std::convert::Infallible>(response)
    /// });
    /// for path in ["/upload", "/orders"] {
    ///     app.clone().oneshot(Request::post(path).body(String::new()).unwrap()).await.unwrap();
    /// }
    /// let text = metrics.render(Format::PrometheusText).unwrap();
    /// assert!(text.contains(r#"http_requests_latency_seconds_by_view_method_bucket{view="/upload",method="POST",le="300"} 1"#));
    /// assert!(text.contains(r#"http_requests_latency_seconds_by_view_method_bucket{view="/orders",method="POST",le="0.01"} 1"#));
    /// assert!(!text.contains(r#"view="/upload",method="POST",le="0.01""#));
    ///
    /// let refused = Metrics::builder().latency_buckets_for_view("/upload", [10.0, 1.0]).build();
    /// assert_eq!(refused.unwrap_err().option(), "latency_buckets_for_view");
    /// # }
    /// ```
    pub fn latency_buckets_for_view(
        mut self,
        view: impl Into<String>,
        buckets: impl IntoIterator<Item = f64>,
    ) -> Self {
        self.config
            .recording
            .view_latency_buckets
            .push((view.into(), buckets.into_iter().collect()));
        self
    }

    /// Upper bounds, in bytes, of the request and response body-size histograms' buckets,
    /// checked as [`latency_buckets`](Self::latency_buckets) are.
    ///
    /// ```
    /// let metrics = tower_prometheus::Metrics::builder().size_buckets([100.0, 10_000.0]).build().unwrap();
    /// let text = metrics.render(tower_prometheus::Format::PrometheusText).unwrap();
    /// assert!(text.contains("http_requests_body_total_bytes_bucket{le=\"10000\"} 0"));
    /// ```
    pub fn size_buckets(mut self, buckets: impl IntoIterator<Item = f64>) -> Self {
        self.config.recording.size_buckets = buckets.into_iter().collect();
        self
    }

    /// The path the layer answers with the exposition (default `/metrics`). It must start
    /// with `/` and be a valid URI path without query: [`build`](Self::build) refuses
    /// anything the layer could never match. The path is matched exactly, so a trailing `/`
    /// (`/metrics/`) is refused too: `/metrics` would get 404.
    ///
    /// The layer compares this path with the path it sees. On an axum router nested with
    /// `Router::nest("/api", …)`, the layer of the nested router sees the path without
    /// `/api`; with `route_layer` it sees only the routes that matched, never `/metrics`.
    /// Put the layer on the outermost router with `.layer(…)`.
    ///
    /// Every request to this path is answered by the layer (`GET` and `HEAD` with the
    /// exposition, other methods with `405`) and never reaches the inner service, so a route of
    /// your own at the same path is shadowed: give the exposition another path, or
    /// [`disable_metrics_path`](Self::disable_metrics_path).
    ///
    /// ```
    /// use http_body_util::BodyExt;
    /// use tower::{ServiceBuilder, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let metrics = tower_prometheus::Metrics::builder().metrics_path("/-/metrics").build().unwrap();
    /// assert_eq!(metrics.metrics_path(), Some("/-/metrics"));
    ///
    /// let app = ServiceBuilder::new().layer(metrics.layer()).service_fn(|_: http::Request<()>| async {
    ///     Ok::<_, std::convert::Infallible>(http::Response::new(String::from("the application")))
    /// });
    /// let call = |method: http::Method, path: &str| {
    ///     app.clone().oneshot(http::Request::builder().method(method).uri(path).body(()).unwrap())
    /// };
    /// let scrape = call(http::Method::GET, "/-/metrics").await.unwrap();
    /// assert_eq!(scrape.headers()["content-type"], "text/plain; version=0.0.4; charset=utf-8");
    /// // The application's own `POST /-/metrics`, if it had one, is never reached.
    /// assert_eq!(call(http::Method::POST, "/-/metrics").await.unwrap().status(), 405);
    /// // `/metrics` is the application's now.
    /// let body = call(http::Method::GET, "/metrics").await.unwrap().into_body();
    /// assert_eq!(body.collect().await.unwrap().to_bytes(), "the application");
    /// # }
    /// ```
    pub fn metrics_path(mut self, path: impl Into<String>) -> Self {
        self.config.exposition.metrics_path = Some(path.into());
        self
    }

    /// Stops the layer from answering any path with the exposition; serve it yourself with
    /// [`Metrics::exposition_service`] or [`Metrics::render`].
    ///
    /// ```
    /// let metrics = tower_prometheus::Metrics::builder().disable_metrics_path().build().unwrap();
    /// assert_eq!(metrics.metrics_path(), None);
    /// ```
    pub fn disable_metrics_path(mut self) -> Self {
        self.config.exposition.metrics_path = None;
        self
    }

    /// A path (exact match) whose requests are not measured. The metrics path is measured
    /// unless it is excluded too. Like the metrics path it must start with `/`.
    ///
    /// ```
    /// use http::{Request, Response};
    /// use tower::{ServiceBuilder, ServiceExt};
    /// use tower_prometheus::{Format, Metrics};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let metrics = Metrics::builder()
    ///     .exclude_path("/healthz")
    ///     .exclude_path("/metrics")
    ///     .build().unwrap();
    /// let app = ServiceBuilder::new().layer(metrics.layer()).service_fn(|_: Request<String>| async {
    ///     Ok::<_, std::convert::Infallible>(Response::new(String::new()))
    /// });
    /// for path in ["/healthz", "/metrics", "/orders"] {
    ///     app.clone().oneshot(Request::get(path).body(String::new()).unwrap()).await.unwrap();
    /// }
    /// let text = metrics.render(Format::PrometheusText).unwrap();
    /// assert!(text.contains("\nhttp_requests_before_middlewares_total 1\n"), "only /orders: {text}");
    /// # }
    /// ```
    pub fn exclude_path(mut self, path: impl Into<String>) -> Self {
        self.config.recording.exclusions.add_path(path.into());
        self
    }

    /// A path prefix whose requests are not measured: `"/assets/"` excludes `/assets/app.js`
    /// and `/assets/img/logo.png`, not `/assets` itself (add it with
    /// [`exclude_path`](Self::exclude_path) if it should be). The prefix is compared with the
    /// request path byte for byte; like a path it must start with `/`.
    ///
    /// An excluded request touches no family, not even the in-flight gauge: its only cost is
    /// the check.
    ///
    /// ```
    /// use http::{Request, Response};
    /// use tower::{ServiceBuilder, ServiceExt};
    /// use tower_prometheus::{Format, Metrics};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let metrics = Metrics::builder().exclude_path_prefix("/assets/").build().unwrap();
    /// let app = ServiceBuilder::new().layer(metrics.layer()).service_fn(|_: Request<String>| async {
    ///     Ok::<_, std::convert::Infallible>(Response::new(String::new()))
    /// });
    /// for path in ["/assets/app.js", "/assets/img/logo.png", "/orders"] {
    ///     app.clone().oneshot(Request::get(path).body(String::new()).unwrap()).await.unwrap();
    /// }
    /// let text = metrics.render(Format::PrometheusText).unwrap();
    /// assert!(text.contains("\nhttp_requests_before_middlewares_total 1\n"), "only /orders: {text}");
    ///
    /// let refused = Metrics::builder().exclude_path_prefix("assets/").build().unwrap_err();
    /// assert_eq!((refused.option(), refused.input()), ("exclude_path_prefix", "assets/"));
    /// # }
    /// ```
    pub fn exclude_path_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.config.recording.exclusions.add_prefix(prefix.into());
        self
    }

    /// A method whose requests are not measured, such as `OPTIONS` for CORS preflights.
    ///
    /// ```
    /// use http::{Method, Request, Response};
    /// use tower::{ServiceBuilder, ServiceExt};
    /// use tower_prometheus::{Format, Metrics};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let metrics = Metrics::builder().exclude_method(Method::OPTIONS).build().unwrap();
    /// let app = ServiceBuilder::new().layer(metrics.layer()).service_fn(|_: Request<String>| async {
    ///     Ok::<_, std::convert::Infallible>(Response::new(String::new()))
    /// });
    /// for method in [Method::OPTIONS, Method::GET] {
    ///     let request = Request::builder().method(method).uri("/orders").body(String::new()).unwrap();
    ///     app.clone().oneshot(request).await.unwrap();
    /// }
    /// let text = metrics.render(Format::PrometheusText).unwrap();
    /// assert!(text.contains("http_requests_total_by_method_total{method=\"GET\"} 1"), "{text}");
    /// assert!(!text.contains("OPTIONS"), "{text}");
    /// # }
    /// ```
    pub fn exclude_method(mut self, method: http::Method) -> Self {
        self.config.recording.exclusions.add_method(method);
        self
    }

    /// Leaves unmeasured every request for which `exclude` returns `true`, decided from its
    /// [`RequestHead`] when it arrives (say, a health check told apart by a header). The
    /// closure runs only when no exact path, prefix or method rule excluded the request
    /// already, and before any family is touched.
    ///
    /// ```
    /// use http::{Request, Response};
    /// use tower::{ServiceBuilder, ServiceExt};
    /// use tower_prometheus::{Format, Metrics, RequestHead};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let metrics = Metrics::builder()
    ///     .exclude(|head: &RequestHead<'_>| head.headers().contains_key("x-synthetic-probe"))
    ///     .build()
    ///     .unwrap();
    /// let app = ServiceBuilder::new().layer(metrics.layer()).service_fn(|_: Request<String>| async {
    ///     Ok::<_, std::convert::Infallible>(Response::new(String::new()))
    /// });
    /// let probe = Request::get("/").header("x-synthetic-probe", "1").body(String::new()).unwrap();
    /// app.clone().oneshot(probe).await.unwrap();
    /// app.oneshot(Request::get("/").body(String::new()).unwrap()).await.unwrap();
    /// let text = metrics.render(Format::PrometheusText).unwrap();
    /// assert!(text.contains("\nhttp_requests_before_middlewares_total 1\n"), "{text}");
    /// # }
    /// ```
    pub fn exclude<F>(mut self, exclude: F) -> Self
    where
        F: Fn(&RequestHead<'_>) -> bool + Send + Sync + 'static,
    {
        self.config.recording.exclusions.add_predicate(Arc::new(exclude));
        self
    }

    /// Labels responses by status class (`2xx` … `5xx`) instead of the exact code.
    ///
    /// ```
    /// use http::{Request, Response, StatusCode};
    /// use tower::{ServiceBuilder, ServiceExt};
    /// use tower_prometheus::{Format, Metrics};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let metrics = Metrics::builder().group_status_codes(true).build().unwrap();
    /// let app = ServiceBuilder::new().layer(metrics.layer()).service_fn(|_: Request<String>| async {
    ///     let mut response = Response::new(String::new());
    ///     *response.status_mut() = StatusCode::NOT_FOUND;
    ///     Ok::<_, std::convert::Infallible>(response)
    /// });
    /// app.oneshot(Request::get("/missing").body(String::new()).unwrap()).await.unwrap();
    /// let text = metrics.render(Format::PrometheusText).unwrap();
    /// assert!(text.contains("http_responses_total_by_status_total{status=\"4xx\"} 1"), "{text}");
    /// assert!(!text.contains("status=\"404\""), "{text}");
    /// # }
    /// ```
    pub fn group_status_codes(mut self, group: bool) -> Self {
        self.config.recording.group_status_codes = group;
        self
    }

    /// Adds `http_responses_duration_seconds_by_view_method`, a histogram by view and method
    /// of the whole response's duration: from the request's arrival to the end of its
    /// response body, or to the body's drop (the request is then also counted in
    /// `http_requests_cancelled_total`). It uses the latency buckets. Off by default: the
    /// django latency histograms stop at the response head, which says nothing of a slow
    /// download or a long stream. A request that never got a response head (an inner `Err`,
    /// a panic, a dropped future) has no response to time and is not observed.
    ///
    /// ```
    /// use http::{Request, Response};
    /// use http_body_util::BodyExt;
    /// use tower::{ServiceBuilder, ServiceExt};
    /// use tower_prometheus::{Format, Metrics};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let metrics = Metrics::builder().response_duration_histogram(true).build().unwrap();
    /// let app = ServiceBuilder::new().layer(metrics.layer()).service_fn(|_: Request<String>| async {
    ///     Ok::<_, std::convert::Infallible>(Response::new(String::from("hello")))
    /// });
    /// let response = app.oneshot(Request::get("/").body(String::new()).unwrap()).await.unwrap();
    /// response.into_body().collect().await.unwrap();
    /// let text = metrics.render(Format::PrometheusText).unwrap();
    /// let count = r#"http_responses_duration_seconds_by_view_method_count{view="<unnamed view>",method="GET"} 1"#;
    /// assert!(text.contains(count), "{text}");
    ///
    /// // Off (the default), the family is not exposed at all.
    /// let off = Metrics::new().render(Format::PrometheusText).unwrap();
    /// assert!(!off.contains("http_responses_duration_seconds"));
    /// # }
    /// ```
    pub fn response_duration_histogram(mut self, enabled: bool) -> Self {
        self.config.recording.response_duration_histogram = enabled;
        self
    }

    /// Names the view of a request from its [`RequestHead`], for services that neither insert a
    /// [`ViewName`] into their responses nor run behind axum's router. Return `None` to fall
    /// back to `<unnamed view>`. Return route templates, never raw paths: the label-set cap
    /// folds anything beyond it into `<overflow>`.
    ///
    /// The closure runs when the request arrives, and only when neither the metrics path nor
    /// axum's `MatchedPath` names the view; a [`ViewName`] in the response still wins over
    /// its answer.
    ///
    /// ```
    /// use tower::ServiceExt;
    /// use tower_prometheus::{Format, Metrics, RequestHead, ViewName};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let metrics = Metrics::builder()
    ///     .view_resolver(|request: &RequestHead<'_>| {
    ///         request.uri().path().starts_with("/users/").then(|| ViewName::new("/users/{id}"))
    ///     })
    ///     .build().unwrap();
    /// let inner = tower::service_fn(|_request: http::Request<()>| async {
    ///     Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
    /// });
    /// let service = tower_prometheus::MetricsService::new(inner, metrics.clone());
    /// service.oneshot(http::Request::get("/users/7").body(()).unwrap()).await.unwrap();
    /// let text = metrics.render(Format::PrometheusText).unwrap();
    /// assert!(text.contains(r#"view="/users/{id}",method="GET""#));
    /// # }
    /// ```
    pub fn view_resolver<F>(mut self, resolver: F) -> Self
    where
        F: Fn(&RequestHead<'_>) -> Option<ViewName> + Send + Sync + 'static,
    {
        self.config.recording.view_resolver = Some(ViewResolver(Arc::new(resolver)));
        self
    }

    /// Names errors in `http_exceptions_total_by_type_total{type}`: the closure gets each
    /// error of the inner service (or of its response body) that can be seen as
    /// `dyn Error` (a boxed error such as tower's `BoxError`, or a `std::io::Error`) and
    /// returns its `type` label, or `None` to keep the default name (the error's type where
    /// it is known, else the leading name of its `Debug` output; see the
    /// [labels guide](crate::guide::labels#error-types)). Its names follow the same rules as
    /// every label a request can influence: at most 256 bytes, and as many distinct ones as
    /// the label-set cap; beyond either they count as `<overflow>`. Return a few fixed names.
    ///
    /// ```
    /// use std::error::Error;
    /// use tower::{ServiceBuilder, ServiceExt};
    /// use tower_prometheus::{Format, Metrics};
    ///
    /// type BoxError = Box<dyn Error + Send + Sync>;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let metrics = Metrics::builder()
    ///     .error_type(|error: &(dyn Error + 'static)| {
    ///         error.downcast_ref::<std::io::Error>().map(|io| match io.kind() {
    ///             std::io::ErrorKind::TimedOut => "io_timeout".into(),
    ///             _ => "io".into(),
    ///         })
    ///     })
    ///     .build()
    ///     .unwrap();
    /// let app = ServiceBuilder::new().layer(metrics.layer()).service_fn(|_: http::Request<()>| async {
    ///     let error: BoxError = Box::new(std::io::Error::from(std::io::ErrorKind::TimedOut));
    ///     Err::<http::Response<String>, _>(error)
    /// });
    /// assert!(app.oneshot(http::Request::get("/").body(()).unwrap()).await.is_err());
    /// let text = metrics.render(Format::PrometheusText).unwrap();
    /// assert!(text.contains(r#"http_exceptions_total_by_type_total{type="io_timeout"} 1"#));
    /// # }
    /// ```
    pub fn error_type<F>(mut self, classify: F) -> Self
    where
        F: Fn(&(dyn std::error::Error + 'static)) -> Option<std::borrow::Cow<'static, str>>
            + Send
            + Sync
            + 'static,
    {
        self.config.recording.error_type = Some(ErrorClassifier(Arc::new(classify)));
        self
    }

    /// Adds a label taken from each request, such as a tenant, an API version or a team, to
    /// the families labelled by view and method: `…_requests_total_by_view_transport_method`,
    /// `…_responses_total_by_status_view_method`, `…_requests_latency_seconds_by_view_method`,
    /// `…_requests_in_flight` (gauge) and `…_requests_cancelled_total` (and the opt-in
    /// whole-response duration histogram, which shares their labels). The label comes after
    /// the family's own labels, in the order declared.
    ///
    /// `value` reads the request's [`RequestHead`] when it arrives and returns a value
    /// borrowed from it (no allocation per request). A request for which it returns `None` or
    /// an empty value gets the empty value `name=""`, which Prometheus treats as "label
    /// absent" (`{tenant=""}` selects those requests). The first `max_values` distinct values
    /// get their own series; later ones (and values longer than 256 bytes, or spelled
    /// `<overflow>`) are recorded as `<overflow>`, and every such request is counted once in
    /// `http_metrics_label_overflow_total{label="<name>"}`, like every other fold. The
    /// combinations of a view, a method and the request labels' values also count against
    /// [`max_label_sets`](Self::max_label_sets); beyond it a combination records `<overflow>`
    /// for every request label, counted the same way.
    ///
    /// Up to four request labels may be declared. [`build`](Self::build) refuses a name
    /// Prometheus rejects, a name the families already use (see
    /// [`const_label`](Self::const_label)) or a constant label also uses, a name declared
    /// twice, a fifth label, a `max_values` of 0, and request labels under
    /// [`Naming::OpenTelemetry`](crate::Naming::OpenTelemetry), which does not expose these
    /// families.
    ///
    /// ```
    /// use http::{Request, Response};
    /// use tower::{ServiceBuilder, ServiceExt};
    /// use tower_prometheus::{Format, Metrics};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let metrics = Metrics::builder()
    ///     .request_label("tenant", |head| head.headers().get("x-tenant")?.to_str().ok(), 100)
    ///     .build()
    ///     .unwrap();
    /// let app = ServiceBuilder::new().layer(metrics.layer()).service_fn(|_: Request<String>| async {
    ///     Ok::<_, std::convert::Infallible>(Response::new(String::from("hello")))
    /// });
    /// let request = Request::get("/").header("x-tenant", "acme").body(String::new()).unwrap();
    /// app.clone().oneshot(request).await.unwrap();
    /// app.oneshot(Request::get("/").body(String::new()).unwrap()).await.unwrap();
    ///
    /// let text = metrics.render(Format::PrometheusText).unwrap();
    /// assert!(text.contains(
    ///     r#"http_responses_total_by_status_view_method_total{status="200",view="<unnamed view>",method="GET",tenant="acme"} 1"#
    /// ), "{text}");
    /// assert!(text.contains(
    ///     r#"http_responses_total_by_status_view_method_total{status="200",view="<unnamed view>",method="GET",tenant=""} 1"#
    /// ), "{text}");
    /// # }
    /// ```
    pub fn request_label<F>(mut self, name: impl Into<String>, value: F, max_values: usize) -> Self
    where
        F: for<'a> Fn(&RequestHead<'a>) -> Option<&'a str> + Send + Sync + 'static,
    {
        self.config.recording.request_labels.push(RequestLabelRule::new(
            name.into(),
            Arc::new(value),
            max_values,
        ));
        self
    }

    /// Trusts a forwarded-proto header (such as `X-Forwarded-Proto`) for the `transport`
    /// label. Off by default: clients can send any header, so only name one your proxy sets.
    ///
    /// ```
    /// use http::{HeaderName, Request, Response};
    /// use tower::{ServiceBuilder, ServiceExt};
    /// use tower_prometheus::{Format, Metrics};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let metrics = Metrics::builder()
    ///     .trusted_forwarded_proto_header(HeaderName::from_static("x-forwarded-proto"))
    ///     .build().unwrap();
    /// let app = ServiceBuilder::new().layer(metrics.layer()).service_fn(|_: Request<String>| async {
    ///     Ok::<_, std::convert::Infallible>(Response::new(String::new()))
    /// });
    /// // What the proxy in front of the service sets for a TLS client.
    /// let request = Request::get("/").header("x-forwarded-proto", "https").body(String::new()).unwrap();
    /// app.oneshot(request).await.unwrap();
    /// let text = metrics.render(Format::PrometheusText).unwrap();
    /// assert!(text.contains("http_requests_total_by_transport_total{transport=\"https\"} 1"), "{text}");
    /// # }
    /// ```
    pub fn trusted_forwarded_proto_header(mut self, header: HeaderName) -> Self {
        self.config.recording.forwarded_proto_header = Some(header);
        self
    }

    /// Adds a label with a fixed value to every metric of the registry, custom ones included.
    ///
    /// [`build`](Self::build) refuses a name Prometheus rejects (`[a-zA-Z_][a-zA-Z0-9_]*`,
    /// not starting with `__`), a name given twice, and a name one of the families already
    /// uses (`view`, `method`, `status`, `transport`, `charset`, `type`, `label`, `format`,
    /// `encoding`, `grpc_service`, `grpc_method`, `grpc_code`, `source`, `reason`, `le`, `quantile`): a label
    /// twice in one series makes Prometheus drop the whole scrape.
    ///
    /// ```
    /// let metrics = tower_prometheus::Metrics::builder().const_label("region", "eu-1").build().unwrap();
    /// let text = metrics.render(tower_prometheus::Format::PrometheusText).unwrap();
    /// assert!(text.contains("http_ajax_requests_total{region=\"eu-1\"} 0"));
    /// ```
    pub fn const_label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.const_labels.push((name.into(), value.into()));
        self
    }

    /// Caps the distinct label sets of each family (default [`DEFAULT_MAX_LABEL_SETS`](crate::defaults::MAX_LABEL_SETS));
    /// beyond it, new `view`, `charset` and `type` values are recorded as `<overflow>` and
    /// `http_metrics_label_overflow_total` counts each folded observation. [`build`](Self::build)
    /// refuses a cap of 0, which would record every view as `<overflow>`.
    ///
    /// ```
    /// use http::{Request, Response};
    /// use tower::{ServiceBuilder, ServiceExt};
    /// use tower_prometheus::{Format, Metrics, ViewName};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let metrics = Metrics::builder().max_label_sets(2).build().unwrap();
    /// // A handler that names views after raw paths: unbounded values.
    /// let app = ServiceBuilder::new().layer(metrics.layer()).service_fn(|request: Request<String>| async move {
    ///     let mut response = Response::new(String::new());
    ///     response.extensions_mut().insert(ViewName::new(request.uri().path().to_owned()));
    ///     Ok::<_, std::convert::Infallible>(response)
    /// });
    /// for path in ["/orders/1", "/orders/2", "/orders/3"] {
    ///     app.clone().oneshot(Request::get(path).body(String::new()).unwrap()).await.unwrap();
    /// }
    /// // The two (view, method) pairs: `<unnamed view>` (each request's until its handler names
    /// // the view) and the first path; the later paths fold.
    /// let text = metrics.render(Format::PrometheusText).unwrap();
    /// assert!(text.contains("view=\"/orders/1\""), "{text}");
    /// assert!(!text.contains("view=\"/orders/2\""), "{text}");
    /// assert!(text.contains("view=\"<overflow>\""), "{text}");
    /// assert!(text.contains("http_metrics_label_overflow_total{label=\"view\"}"), "{text}");
    /// # }
    /// ```
    pub fn max_label_sets(mut self, max: usize) -> Self {
        self.config.recording.max_label_sets = max;
        self
    }

    /// Makes the latency histograms native (exponential buckets), beside the classic buckets
    /// or instead of them; see [`NativeHistograms`]. Native buckets are served in the
    /// Prometheus protobuf format (feature `protobuf`), which Prometheus asks for when started
    /// with `--enable-feature=native-histograms`.
    ///
    /// ```
    /// use tower_prometheus::{Metrics, NativeHistograms};
    ///
    /// let metrics = Metrics::builder()
    ///     .native_histograms(NativeHistograms::classic_and_native().with_schema(3))
    ///     .build().unwrap();
    /// // Text scrapers still get the classic buckets.
    /// let text = metrics.render(tower_prometheus::Format::PrometheusText).unwrap();
    /// assert!(text.contains("http_requests_latency_including_middlewares_seconds_bucket{le=\"0.01\"} 0"));
    /// ```
    pub fn native_histograms(mut self, native: NativeHistograms) -> Self {
        self.config.recording.native_histograms = Some(native);
        self
    }

    /// Attaches the trace id of a request's sampled W3C `traceparent` header as an exemplar
    /// (`{trace_id="…"}`) to its latency observations and to
    /// `http_requests_total_by_view_transport_method_total`. Exemplars are exposed in
    /// OpenMetrics and protobuf, never in Prometheus text 0.0.4; Prometheus stores them when
    /// started with `--enable-feature=exemplar-storage`. With native histograms on, only the
    /// counter carries them (prometheus-client has no native histogram with exemplars).
    ///
    /// ```
    /// use http::{Request, Response};
    /// use tower::{ServiceBuilder, ServiceExt};
    /// use tower_prometheus::{Format, Metrics};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let metrics = Metrics::builder().exemplars_from_traceparent().build().unwrap();
    /// let app = ServiceBuilder::new().layer(metrics.layer()).service_fn(|_: Request<String>| async {
    ///     Ok::<_, std::convert::Infallible>(Response::new(String::new()))
    /// });
    /// let sampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    /// let request = Request::get("/").header("traceparent", sampled).body(String::new()).unwrap();
    /// app.oneshot(request).await.unwrap();
    /// let exemplar = "# {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\"}";
    /// assert!(metrics.render(Format::OpenMetrics).unwrap().contains(exemplar));
    /// assert!(!metrics.render(Format::PrometheusText).unwrap().contains(exemplar));
    /// # }
    /// ```
    pub fn exemplars_from_traceparent(mut self) -> Self {
        self.config.recording.trace_id_source = Some(TraceIdSource::Traceparent);
        self
    }

    /// Attaches exemplars as [`exemplars_from_traceparent`](Self::exemplars_from_traceparent)
    /// does, with the trace id your closure reads from the [`RequestHead`] (say, from your
    /// tracing context in its extensions, or another header). `None`, an empty id, or one
    /// longer than the 120 characters OpenMetrics leaves for it, records no exemplar.
    ///
    /// ```
    /// let metrics = tower_prometheus::Metrics::builder()
    ///     .exemplars_from(|request: &tower_prometheus::RequestHead<'_>| {
    ///         let id = request.headers().get("x-trace-id")?.to_str().ok()?;
    ///         Some(id.to_owned())
    ///     })
    ///     .build();
    /// assert!(metrics.is_ok());
    /// ```
    pub fn exemplars_from<F>(mut self, trace_id: F) -> Self
    where
        F: Fn(&RequestHead<'_>) -> Option<String> + Send + Sync + 'static,
    {
        self.config.recording.trace_id_source = Some(TraceIdSource::Custom(Arc::new(trace_id)));
        self
    }

    /// What a scrape answers when one of your metrics or collectors fails to encode: `500`
    /// (the default) or everything else; see [`EncodeErrorPolicy`] and its example.
    ///
    /// ```
    /// use tower_prometheus::{EncodeErrorPolicy, Metrics};
    ///
    /// let metrics = Metrics::builder()
    ///     .encode_error_policy(EncodeErrorPolicy::ServeWhatEncodes)
    ///     .build()
    ///     .unwrap();
    /// # let _ = metrics;
    /// ```
    pub fn encode_error_policy(mut self, policy: EncodeErrorPolicy) -> Self {
        self.config.exposition.encode_error_policy = policy;
        self
    }

    /// Registers the standard `process_*` metrics (on by default, with the `process` feature,
    /// on Linux). They keep their standard names: the namespace is not prepended. See
    /// [`crate::process`].
    ///
    /// ```
    /// use tower_prometheus::{Format, Metrics};
    ///
    /// let without = Metrics::builder().process_metrics(false).build().unwrap();
    /// assert!(!without.render(Format::PrometheusText).unwrap().contains("process_"));
    /// ```
    pub fn process_metrics(mut self, enabled: bool) -> Self {
        self.config.process_metrics = enabled;
        self
    }

    /// Requires `Authorization: Bearer <token>` on the metrics path; other requests there get
    /// `401 Unauthorized` with `WWW-Authenticate: Bearer realm="metrics"`. Off by default: the
    /// exposition is public. The token is compared in constant time and never shown by
    /// `Debug`. [`build`](Self::build) refuses an empty token, one with characters a header
    /// cannot carry (only visible ASCII and inner spaces) and one with spaces at either end,
    /// which no scraper's header could match. Applies to the layer's metrics path,
    /// [`Metrics::exposition_service`] and the separate listener (feature `server`).
    ///
    /// ```
    /// use tower::ServiceExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let metrics = tower_prometheus::Metrics::builder().metrics_bearer_token("s3cret").build().unwrap();
    /// let anonymous = http::Request::get("/metrics").body(()).unwrap();
    /// let response = metrics.exposition_service().oneshot(anonymous).await.unwrap();
    /// assert_eq!(response.status(), 401);
    /// assert_eq!(response.headers()["www-authenticate"], "Bearer realm=\"metrics\"");
    ///
    /// let scraper = http::Request::get("/metrics")
    ///     .header("authorization", "Bearer s3cret")
    ///     .body(())
    ///     .unwrap();
    /// let response = metrics.exposition_service().oneshot(scraper).await.unwrap();
    /// assert_eq!(response.status(), 200);
    /// # }
    /// ```
    pub fn metrics_bearer_token(mut self, token: impl Into<String>) -> Self {
        self.bearer_token = Some(token.into());
        self
    }

    /// Checks every option, then builds the registry and registers every HTTP family.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first option whose value Prometheus would reject or the
    /// layer could never use: see each option for its rule.
    ///
    /// ```
    /// let metrics = tower_prometheus::Metrics::builder().namespace("shop").build()?;
    /// assert_eq!(metrics.metrics_path(), Some("/metrics"));
    ///
    /// let refused = tower_prometheus::Metrics::builder().latency_buckets([]).build();
    /// assert_eq!(refused.unwrap_err().option(), "latency_buckets");
    /// # Ok::<(), tower_prometheus::ConfigError>(())
    /// ```
    pub fn build(mut self) -> Result<Metrics, ConfigError> {
        if let Some(namespace) = &self.config.namespace {
            if let Some(problem) = metric_name_problem(namespace) {
                return Err(ConfigError::new("namespace", namespace.as_str(), problem));
            }
        }
        check_buckets("latency_buckets", &self.config.recording.latency_buckets)?;
        if self.config.naming == crate::Naming::OpenTelemetry {
            check_otel_options(&self.config.recording)?;
        }
        check_buckets("size_buckets", &self.config.recording.size_buckets)?;
        if let Some((input, problem)) = self
            .config
            .recording
            .native_histograms
            .and_then(|native| native.problem())
        {
            return Err(ConfigError::new("native_histograms", input, problem));
        }
        check_view_buckets(&self.config.recording.view_latency_buckets)?;
        if self.config.recording.max_label_sets == 0 {
            return Err(ConfigError::new(
                "max_label_sets",
                "0",
                "0 would record every view and label value as `<overflow>`; allow at least 1 label set",
            ));
        }
        if let Some(path) = &self.config.exposition.metrics_path {
            crate::exposition::config::check_exposition_path("metrics_path", path)?;
        }
        for path in self.config.recording.exclusions.paths() {
            check_path("exclude_path", path)?;
        }
        for prefix in self.config.recording.exclusions.prefixes() {
            check_path("exclude_path_prefix", prefix)?;
        }
        for (index, (name, _)) in self.config.const_labels.iter().enumerate() {
            check_label_name("const_label", name)?;
            if self.config.naming == crate::Naming::OpenTelemetry
                && crate::registry::otel::OTEL_LABEL_NAMES.contains(&name.as_str())
            {
                return Err(ConfigError::new(
                    "const_label",
                    name.as_str(),
                    "the OpenTelemetry naming profile already uses this label name, and a label twice \
                     in one series makes Prometheus drop the scrape; choose another name",
                ));
            }
            if self.config.const_labels[..index]
                .iter()
                .any(|(earlier, _)| earlier == name)
            {
                return Err(ConfigError::new(
                    "const_label",
                    name.as_str(),
                    "this constant label is given twice; keep one",
                ));
            }
        }
        check_request_labels(&self.config)?;
        if let Some(token) = self.bearer_token.take() {
            check_bearer_token(&token)?;
            self.config.exposition.metrics_bearer_token = Some(BearerToken::new(token));
        }
        Ok(Metrics::from_config(self.config))
    }
}

pub(crate) fn check_buckets(option: &'static str, buckets: &[f64]) -> Result<(), ConfigError> {
    match bucket_problem(buckets) {
        Some(problem) => Err(ConfigError::new(option, format!("{buckets:?}"), problem)),
        None => Ok(()),
    }
}

fn check_view_buckets(rules: &[(String, Vec<f64>)]) -> Result<(), ConfigError> {
    const OPTION: &str = "latency_buckets_for_view";
    for (index, (view, buckets)) in rules.iter().enumerate() {
        let problem = if view.is_empty() {
            Some("name the view as it is exposed in the `view` label, such as `/upload`")
        } else if rules[..index].iter().any(|(earlier, _)| earlier == view) {
            Some("this view's buckets are given twice; keep one list")
        } else {
            bucket_problem(buckets)
        };
        if let Some(problem) = problem {
            return Err(ConfigError::new(OPTION, format!("{view:?} {buckets:?}"), problem));
        }
    }
    Ok(())
}

fn bucket_problem(buckets: &[f64]) -> Option<&'static str> {
    if buckets.is_empty() {
        Some("give at least one bucket bound (`+Inf` is always added)")
    } else if buckets.iter().any(|bound| !bound.is_finite()) {
        Some("every bound must be a finite number (`+Inf` is always added; NaN is not a bound)")
    } else if buckets.windows(2).any(|pair| pair[0] >= pair[1]) {
        Some("bounds must be strictly increasing: sort them and remove repeated ones")
    } else {
        None
    }
}

/// A path the layer compares with `Uri::path()`: only a valid absolute path can ever match.
pub(crate) fn check_path(option: &'static str, path: &str) -> Result<(), ConfigError> {
    let problem = if !path.starts_with('/') {
        Some("a path must start with `/` (request paths always do), for example `/metrics`")
    } else if path.contains(['?', '#']) {
        Some("give the path alone: queries and fragments are not part of a request's path")
    } else if path.parse::<http::uri::PathAndQuery>().is_err() {
        Some("this is not a valid URI path: percent-encode the characters a URI cannot hold")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(ConfigError::new(option, path, problem)),
        None => Ok(()),
    }
}

/// The options that only shape django-prometheus's families: under the OpenTelemetry profile
/// they would silently do nothing, so they are refused.
fn check_otel_options(recording: &crate::registry::config::RecordingConfig) -> Result<(), ConfigError> {
    let django_only = [
        ("native_histograms", recording.native_histograms.is_some()),
        ("exemplars_from", recording.trace_id_source.is_some()),
        (
            "latency_buckets_for_view",
            !recording.view_latency_buckets.is_empty(),
        ),
        (
            "response_duration_histogram",
            recording.response_duration_histogram,
        ),
        ("group_status_codes", recording.group_status_codes),
        ("request_label", !recording.request_labels.is_empty()),
    ];
    match django_only.iter().find(|(_, set)| *set) {
        Some(&(option, _)) => Err(ConfigError::new(
            option,
            "set",
            "this option shapes django-prometheus's families only, which `Naming::OpenTelemetry` \
             does not expose; leave it out, or keep `Naming::Django`",
        )),
        None => Ok(()),
    }
}

fn check_request_labels(config: &Config) -> Result<(), ConfigError> {
    const OPTION: &str = "request_label";
    let rules = &config.recording.request_labels;
    for (index, rule) in rules.iter().enumerate() {
        let name = rule.name.as_str();
        check_label_name(OPTION, name)?;
        let problem = if index >= MAX_REQUEST_LABELS {
            Some("at most four request labels can be declared; every label multiplies the series of five families")
        } else if rules[..index].iter().any(|earlier| earlier.name == name) {
            Some("this request label is declared twice; keep one")
        } else if config.const_labels.iter().any(|(constant, _)| constant == name) {
            Some("a constant label already has this name, and a label twice in one series makes Prometheus drop the scrape; choose another name")
        } else if rule.max_values == 0 {
            Some("`max_values` is 0, which would record every value as `<overflow>`; allow at least 1 value")
        } else if rule.max_values > MAX_MAX_VALUES {
            Some("`max_values` is above 4 294 967 293, the most a label can number; give a bound that fits memory")
        } else {
            None
        };
        if let Some(problem) = problem {
            let input = format!("{name} (max_values {})", rule.max_values);
            return Err(ConfigError::new(OPTION, input, problem));
        }
    }
    Ok(())
}

/// A label name of the user's (`const_label`, `request_label`): valid, and not one the
/// families already use.
fn check_label_name(option: &'static str, name: &str) -> Result<(), ConfigError> {
    if let Some(problem) = label_name_problem(name) {
        return Err(ConfigError::new(option, name, problem));
    }
    if RESERVED_LABEL_NAMES.contains(&name) {
        return Err(ConfigError::new(
            option,
            name,
            "the HTTP families already use this label name, and a label twice in one series makes \
             Prometheus drop the scrape; choose another name (such as `service` or `app_view`)",
        ));
    }
    Ok(())
}

fn check_bearer_token(token: &str) -> Result<(), ConfigError> {
    let problem = if token.is_empty() {
        Some("an empty token would lock every scraper out; give a secret, or leave the option out")
    } else if !token.bytes().all(|byte| byte.is_ascii_graphic() || byte == b' ') {
        Some("a bearer token must be visible ASCII (spaces inside it allowed), as an `Authorization` header carries it")
    } else if token.trim() != token {
        Some("a scraper's token never starts or ends with a space: remove them")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(ConfigError::new("metrics_bearer_token", "<redacted>", problem)),
        None => Ok(()),
    }
}
