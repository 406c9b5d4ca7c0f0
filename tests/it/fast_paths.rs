//! The warm-path shortcuts (first charset, first content type, first status of a view in
//! lock-free slots; one shared handle when the response keeps the request's view) record
//! exactly what the general path records, including under the label-set cap; the TSC clock
//! (quanta) still yields latencies in seconds.

use crate::support;

use std::convert::Infallible;

use futures_util::FutureExt;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use support::exposition::{parse_text, scrape, value};
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_prometheus::{Format, Metrics, ViewName};

/// What the inner service answers: status, `Content-Type`, response view.
type Answer = (StatusCode, Option<&'static str>, Option<&'static str>);

fn send(metrics: &Metrics, answers: &[Answer]) {
    let mut service = ServiceBuilder::new()
        .layer(metrics.layer())
        .service_fn(|request: Request<Answer>| {
            let (status, content_type, view) = *request.body();
            let mut response = Response::new(String::from("body"));
            *response.status_mut() = status;
            if let Some(content_type) = content_type {
                response
                    .headers_mut()
                    .insert("content-type", content_type.parse().unwrap());
            }
            if let Some(view) = view {
                response.extensions_mut().insert(ViewName::new(view));
            }
            std::future::ready(Ok::<_, Infallible>(response))
        });
    for answer in answers {
        service.ready().now_or_never().unwrap().unwrap();
        let request = Request::get("/page").body(*answer).unwrap();
        let response = service.call(request).now_or_never().unwrap().unwrap();
        response.into_body().collect().now_or_never().unwrap().unwrap();
    }
}

#[test]
fn charsets_are_case_insensitive_and_capped() {
    let metrics = Metrics::builder().max_label_sets(3).build().unwrap();
    let utf8 = (StatusCode::OK, Some("text/plain; charset=utf-8"), None);
    let upper = (StatusCode::OK, Some("text/html; Charset=\"UTF-8\""), None);
    let latin = (StatusCode::OK, Some("text/plain; charset=ISO-8859-1"), None);
    let none = (StatusCode::OK, Some("application/json"), None);
    let koi = (StatusCode::OK, Some("text/plain; charset=koi8-r"), None);
    send(&metrics, &[utf8, utf8, upper, latin, none, upper, koi, koi, utf8]);
    let text = metrics.render(Format::PrometheusText).unwrap();
    let samples = parse_text(&text);
    let charset = |charset: &str| {
        value(
            &samples,
            "http_responses_total_by_charset_total",
            &[("charset", charset)],
        )
    };
    assert_eq!(charset("utf-8"), Some(5.0), "{text}");
    assert_eq!(charset("iso-8859-1"), Some(1.0), "{text}");
    assert_eq!(charset("<no charset>"), Some(1.0), "{text}");
    // The cap of 3 label sets is reached: koi8-r folds into <overflow>, twice.
    assert_eq!(charset("koi8-r"), None, "{text}");
    assert_eq!(charset("<overflow>"), Some(2.0), "{text}");
    assert_eq!(
        value(
            &samples,
            "http_metrics_label_overflow_total",
            &[("label", "charset")]
        ),
        Some(2.0),
        "{text}"
    );
}

#[test]
fn statuses_of_a_view_are_counted_apart() {
    let metrics = Metrics::new();
    let ok = (StatusCode::OK, None, Some("/items"));
    let missing = (StatusCode::NOT_FOUND, None, Some("/items"));
    let other = (StatusCode::OK, None, Some("/other"));
    send(&metrics, &[ok, missing, ok, missing, missing, other]);
    let text = metrics.render(Format::PrometheusText).unwrap();
    let samples = parse_text(&text);
    let count = |status: &str, view: &str| {
        value(
            &samples,
            "http_responses_total_by_status_view_method_total",
            &[("status", status), ("view", view), ("method", "GET")],
        )
    };
    assert_eq!(count("200", "/items"), Some(2.0), "{text}");
    assert_eq!(count("404", "/items"), Some(3.0), "{text}");
    assert_eq!(count("200", "/other"), Some(1.0), "{text}");
    assert_eq!(count("404", "/other"), None, "{text}");
}

#[test]
fn in_flight_returns_to_zero_on_the_request_view_when_the_response_renames_it() {
    let metrics = Metrics::new();
    send(
        &metrics,
        &[
            (StatusCode::OK, None, Some("/renamed")),
            (StatusCode::OK, None, None),
        ],
    );
    let text = metrics.render(Format::PrometheusText).unwrap();
    let samples = parse_text(&text);
    let requests = |view: &str| {
        value(
            &samples,
            "http_requests_total_by_view_transport_method_total",
            &[("view", view), ("transport", "http"), ("method", "GET")],
        )
    };
    assert_eq!(
        value(
            &samples,
            "http_requests_in_flight",
            &[("view", "<unnamed view>"), ("method", "GET")]
        ),
        Some(0.0),
        "{text}"
    );
    assert_eq!(requests("/renamed"), Some(1.0), "{text}");
    assert_eq!(requests("<unnamed view>"), Some(1.0), "{text}");
}

#[test]
fn latency_is_recorded_in_seconds() {
    let metrics = Metrics::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        let service =
            ServiceBuilder::new()
                .layer(metrics.layer())
                .service_fn(|_request: Request<String>| async {
                    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
                    let mut response = Response::new(String::from("slow"));
                    response.extensions_mut().insert(ViewName::new("/slow"));
                    Ok::<_, Infallible>(response)
                });
        let response = service.oneshot(Request::new(String::new())).await.unwrap();
        response.into_body().collect().await.unwrap();
    });
    let seconds = value(
        &scrape(&metrics, Format::PrometheusText),
        "http_requests_latency_seconds_by_view_method_sum",
        &[("view", "/slow"), ("method", "GET")],
    )
    .expect("latency recorded");
    assert!((0.03..5.0).contains(&seconds), "{seconds} s for a 30 ms handler");
}
