//! `RequestHead`: what the view resolver and the exemplar closure see of a request, when the
//! resolver is asked at all, and that the request reaches the inner service as it was sent.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use http::{Method, Request, Response, Version};
use http_body_util::BodyExt;
use tower::{Layer, ServiceExt};
use tower_prometheus::{Format, Metrics, RequestHead, ViewName};

/// A request extension, to show that the closures see the request's extensions.
#[derive(Clone, Debug, PartialEq)]
struct Tenant(&'static str);

/// What a closure read of the head it was given.
#[derive(Debug, PartialEq)]
struct Seen {
    method: Method,
    uri: String,
    version: Version,
    header: Option<String>,
    tenant: Option<Tenant>,
}

impl Seen {
    fn of(head: &RequestHead<'_>) -> Self {
        Self {
            method: head.method().clone(),
            uri: head.uri().to_string(),
            version: head.version(),
            header: head
                .headers()
                .get("x-trace-id")
                .map(|value| value.to_str().unwrap().to_owned()),
            tenant: head.extensions().get::<Tenant>().cloned(),
        }
    }
}

/// A PUT over HTTP/2 with a query, a header and an extension: every part of the head set.
fn detailed_request() -> Request<String> {
    let mut request = Request::put("/items/9?color=red")
        .version(Version::HTTP_2)
        .header("x-trace-id", "trace-abc")
        .body(String::from("payload"))
        .unwrap();
    request.extensions_mut().insert(Tenant("acme"));
    request
}

fn expected_seen() -> Seen {
    Seen {
        method: Method::PUT,
        uri: String::from("/items/9?color=red"),
        version: Version::HTTP_2,
        header: Some(String::from("trace-abc")),
        tenant: Some(Tenant("acme")),
    }
}

/// Answers `ok`, naming the view `/named` in the response when the path is `/named`.
async fn answer(request: Request<String>) -> Result<Response<String>, Infallible> {
    let mut response = Response::new(String::from("ok"));
    if request.uri().path() == "/named" {
        response.extensions_mut().insert(ViewName::new("/named"));
    }
    Ok(response)
}

async fn call(metrics: &Metrics, request: Request<String>) {
    let service = metrics.layer().layer(tower::service_fn(answer));
    let response = service.oneshot(request).await.unwrap();
    response.into_body().collect().await.unwrap();
}

fn requests_of_view(metrics: &Metrics, view: &str, method: &str) -> bool {
    let text = metrics.render(Format::PrometheusText).unwrap();
    text.contains(&format!(
        "http_requests_total_by_view_transport_method_total{{view=\"{view}\",transport=\"http\",method=\"{method}\"}} 1\n"
    ))
}

/// A resolver that counts its calls and names every view `/resolved`.
fn counting_resolver(calls: &Arc<AtomicUsize>) -> Metrics {
    let calls = Arc::clone(calls);
    Metrics::builder()
        .process_metrics(false)
        .view_resolver(move |_request: &RequestHead<'_>| {
            calls.fetch_add(1, Ordering::SeqCst);
            Some(ViewName::new("/resolved"))
        })
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_resolver_sees_the_whole_head_of_the_real_request() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let metrics = Metrics::builder()
        .process_metrics(false)
        .view_resolver({
            let seen = Arc::clone(&seen);
            move |request: &RequestHead<'_>| {
                seen.lock().unwrap().push(Seen::of(request));
                Some(ViewName::new("/items/{id}"))
            }
        })
        .build()
        .unwrap();
    call(&metrics, detailed_request()).await;
    assert_eq!(*seen.lock().unwrap(), [expected_seen()]);
    assert!(requests_of_view(&metrics, "/items/{id}", "PUT"));
}

#[tokio::test]
async fn the_metrics_path_names_its_view_without_the_resolver() {
    let calls = Arc::new(AtomicUsize::new(0));
    let metrics = counting_resolver(&calls);
    call(&metrics, Request::get("/metrics").body(String::new()).unwrap()).await;
    assert_eq!(calls.load(Ordering::SeqCst), 0, "the metrics path names the view");
    assert!(requests_of_view(&metrics, "/metrics", "GET"));

    call(&metrics, Request::get("/other").body(String::new()).unwrap()).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1, "nothing else names /other");
    assert!(requests_of_view(&metrics, "/resolved", "GET"));
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn a_matched_path_names_the_view_without_the_resolver() {
    use axum::routing::get;

    let calls = Arc::new(AtomicUsize::new(0));
    let metrics = counting_resolver(&calls);
    let app = axum::Router::new()
        .route("/users/{id}", get(|| async { "user" }))
        .layer(metrics.layer());
    let response = app
        .oneshot(Request::get("/users/7").body(axum::body::Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.into_body().collect().await.unwrap().to_bytes(), "user");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "axum's MatchedPath names the view"
    );
    assert!(requests_of_view(&metrics, "/users/{id}", "GET"));
    assert!(!requests_of_view(&metrics, "/resolved", "GET"));
}

#[tokio::test]
async fn a_view_name_in_the_response_wins_over_the_resolver() {
    let calls = Arc::new(AtomicUsize::new(0));
    let metrics = counting_resolver(&calls);
    call(&metrics, Request::get("/named").body(String::new()).unwrap()).await;
    // Asked when the request arrived (the in-flight gauge needs a view then), overruled by
    // the response.
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(requests_of_view(&metrics, "/named", "GET"));
    assert!(!requests_of_view(&metrics, "/resolved", "GET"));
    let text = metrics.render(Format::PrometheusText).unwrap();
    assert!(text.contains("http_requests_in_flight{view=\"/resolved\",method=\"GET\"} 0\n"));
}

#[tokio::test]
async fn the_exemplar_closure_sees_the_whole_head_too() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let metrics = Metrics::builder()
        .process_metrics(false)
        .exemplars_from({
            let seen = Arc::clone(&seen);
            move |request: &RequestHead<'_>| {
                let head = Seen::of(request);
                let id = format!("{}-{}", head.header.as_deref()?, head.tenant.as_ref()?.0);
                seen.lock().unwrap().push(head);
                Some(id)
            }
        })
        .build()
        .unwrap();
    call(&metrics, detailed_request()).await;
    assert_eq!(*seen.lock().unwrap(), [expected_seen()]);
    let openmetrics = metrics.render(Format::OpenMetrics).unwrap();
    assert!(
        openmetrics.contains(r#"# {trace_id="trace-abc-acme"} 1"#),
        "{openmetrics}"
    );
}

/// Checks, inside the inner service, that the request is the one [`detailed_request`] built
/// with a second header value and a shared extension added.
async fn unchanged(request: Request<String>, shared: Arc<Tenant>) -> Result<Response<String>, Infallible> {
    assert_eq!(request.method(), Method::PUT);
    assert_eq!(request.uri(), "/items/9?color=red");
    assert_eq!(request.version(), Version::HTTP_2);
    let values: Vec<_> = request.headers().get_all("x-trace-id").iter().collect();
    assert_eq!(values, ["trace-abc", "second"]);
    assert_eq!(request.headers().len(), 2);
    assert_eq!(request.extensions().get::<Tenant>(), Some(&Tenant("acme")));
    let arrived = request.extensions().get::<Arc<Tenant>>().unwrap();
    assert!(Arc::ptr_eq(arrived, &shared), "the same extension, not a copy");
    assert_eq!(request.body(), "payload");
    Ok(Response::new(String::from("checked")))
}

#[tokio::test]
async fn the_inner_service_gets_the_request_unchanged() {
    let with_closures = Metrics::builder()
        .process_metrics(false)
        .view_resolver(|request: &RequestHead<'_>| Some(ViewName::new(request.uri().path().to_owned())))
        .exemplars_from(|request: &RequestHead<'_>| {
            Some(request.headers().get("x-trace-id")?.to_str().ok()?.to_owned())
        })
        .build()
        .unwrap();
    let plain = Metrics::builder().process_metrics(false).build().unwrap();
    for metrics in [with_closures, plain] {
        let shared = Arc::new(Tenant("shared"));
        let mut request = detailed_request();
        request
            .headers_mut()
            .append("x-trace-id", "second".parse().unwrap());
        request.extensions_mut().insert(Arc::clone(&shared));
        let inner = tower::service_fn(move |request| unchanged(request, Arc::clone(&shared)));
        let response = metrics.layer().layer(inner).oneshot(request).await.unwrap();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "checked");
        assert!(metrics
            .render(Format::PrometheusText)
            .unwrap()
            .contains("http_responses_total_by_status_total{status=\"200\"} 1\n"));
    }
}
