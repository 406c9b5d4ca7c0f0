//! Item 8, first half: the opt-in bearer token on the metrics path — `401` with
//! `WWW-Authenticate` unless the exact token is presented, through the layer and the
//! stand-alone exposition service; the default stays public; the token never leaks.

use crate::support;

use std::convert::Infallible;

use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use support::exposition::{parse, scrape, total};
use tower::ServiceExt;
use tower_prometheus::{Format, Metrics};

const TOKEN: &str = "correct horse battery staple";

async fn inner(_request: Request<String>) -> Result<Response<String>, Infallible> {
    Ok(Response::new(String::from("app")))
}

async fn call(
    metrics: &Metrics,
    method: Method,
    path: &str,
    authorization: Option<&str>,
) -> (StatusCode, http::HeaderMap, String) {
    let app = tower::ServiceBuilder::new()
        .layer(metrics.layer())
        .service_fn(inner);
    let mut request = Request::builder().method(method).uri(path);
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    let response = app.oneshot(request.body(String::new()).unwrap()).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

#[tokio::test]
async fn without_a_token_the_exposition_is_public() {
    let metrics = Metrics::new();
    let (status, _, body) = call(&metrics, Method::GET, "/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    parse(&body, Format::PrometheusText).unwrap();
}

#[tokio::test]
async fn the_metrics_path_requires_the_exact_token() {
    let metrics = Metrics::builder().metrics_bearer_token(TOKEN).build().unwrap();
    let refused = [
        None,
        Some(""),
        Some("Bearer"),
        Some("Bearer "),
        Some("Basic Y29ycmVjdA=="),
        Some("Bearer correct horse battery stapl"),
        Some("Bearer correct horse battery staple!"),
        Some("Bearer CORRECT HORSE BATTERY STAPLE"),
        Some("Bearer xorrect horse battery staple"),
        Some("Token correct horse battery staple"),
        Some("correct horse battery staple"),
    ];
    for authorization in refused {
        let (status, headers, body) = call(&metrics, Method::GET, "/metrics", authorization).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{authorization:?}");
        assert_eq!(headers["www-authenticate"], "Bearer realm=\"metrics\"");
        assert!(!body.contains("http_requests"), "nothing of the exposition leaks");
    }
    // Other methods are refused before anything else is revealed.
    let (status, headers, _) = call(&metrics, Method::POST, "/metrics", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(headers.get("allow").is_none());
    let (status, _, body) = call(&metrics, Method::HEAD, "/metrics", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.is_empty(), "HEAD answers carry no body");

    for accepted in [
        "Bearer correct horse battery staple",
        "bearer correct horse battery staple",
        "BEARER   correct horse battery staple  ",
    ] {
        let (status, headers, body) = call(&metrics, Method::GET, "/metrics", Some(accepted)).await;
        assert_eq!(status, StatusCode::OK, "{accepted}");
        assert_eq!(headers["content-type"], Format::PrometheusText.content_type());
        parse(&body, Format::PrometheusText).unwrap();
    }
    let (status, _, _) = call(
        &metrics,
        Method::PUT,
        "/metrics",
        Some("Bearer correct horse battery staple"),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::METHOD_NOT_ALLOWED,
        "authorized, but a wrong method"
    );

    // Refused scrapes are measured like any request, so probing shows up in the metrics.
    let samples = scrape(&metrics, Format::PrometheusText);
    let refusals = total(
        &samples,
        "http_responses_total_by_status_view_method_total",
        &[("status", "401"), ("view", "/metrics")],
    );
    assert_eq!(refusals, 13.0, "11 refused GETs, one POST, one HEAD");
}

#[tokio::test]
async fn other_paths_do_not_need_the_token() {
    let metrics = Metrics::builder().metrics_bearer_token(TOKEN).build().unwrap();
    let (status, _, body) = call(&metrics, Method::GET, "/anything", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "app");
    let (status, _, body) = call(&metrics, Method::GET, "/metrics/", None).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "app"));
}

#[tokio::test]
async fn the_exposition_service_requires_the_token_too() {
    let metrics = Metrics::builder().metrics_bearer_token(TOKEN).build().unwrap();
    let service = metrics.exposition_service();
    let response = service.clone().oneshot(Request::new(())).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["www-authenticate"], "Bearer realm=\"metrics\"");
    let request = Request::get("/")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("accept", "application/openmetrics-text")
        .body(())
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    parse(std::str::from_utf8(&body).unwrap(), Format::OpenMetrics).unwrap();
}

#[test]
fn the_token_never_appears_in_debug_output() {
    let builder = Metrics::builder().metrics_bearer_token(TOKEN);
    assert!(!format!("{builder:?}").contains("horse"));
    let metrics = builder.build().unwrap();
    assert!(!format!("{metrics:?}").contains("horse"));
    assert!(!format!("{:?}", metrics.layer()).contains("horse"));
    assert!(!format!("{:?}", metrics.exposition_service()).contains("horse"));
    assert!(format!("{metrics:?}").contains("redacted"));
}

#[tokio::test]
async fn refusals_vary_like_every_answer_of_the_metrics_path() {
    let metrics = Metrics::builder().metrics_bearer_token(TOKEN).build().unwrap();
    let bearer = format!("Bearer {TOKEN}");
    let (status, served, _) = call(&metrics, Method::GET, "/metrics", Some(&bearer)).await;
    assert_eq!(status, StatusCode::OK);
    for method in [Method::GET, Method::HEAD] {
        let (status, headers, _) = call(&metrics, method.clone(), "/metrics", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method}");
        assert_eq!(headers.get("vary"), served.get("vary"), "{method}");
    }
    let (status, headers, _) = call(&metrics, Method::DELETE, "/metrics", Some(&bearer)).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers.get("vary"), served.get("vary"));
    assert!(served.contains_key("vary"));
}
