//! Item 4: whatever clients send, the number of series stays bounded; the label-set cap holds a
//! user resolver that returns unbounded values, and the overflow self-metric counts the folds.
//!
//! The bound for an example-like router (7 routes) without a resolver: the `view` label takes
//! at most 9 values (7 route templates, `/metrics`, `<unnamed view>`), `method` at most 10
//! (9 standard + `<invalid method>`) and `transport` at most 2, so a family labelled by
//! `(view, method)` has at most 90 series, `(view, transport, method)` at most 180, and
//! `(status, view, method)` at most 90 per status code the application itself returns. No
//! family can exceed the label-set cap (default 10 000, plus one `<overflow>` value).

use crate::support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::convert::Infallible;

use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response};
use http_body_util::BodyExt;
use support::exposition::{scrape, total, Sample};
use support::http::STANDARD_METHODS;
use tower::ServiceExt;
use tower_http::catch_panic::CatchPanicLayer;
use tower_prometheus::{Format, Metrics, ViewName};

/// A small deterministic xorshift generator: the test needs many varied inputs, not a crate.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn token(&mut self, alphabet: &[u8], max_len: usize) -> String {
        let len = 1 + self.below(max_len);
        (0..len)
            .map(|_| alphabet[self.below(alphabet.len())] as char)
            .collect()
    }
}

const PATH_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-._~%!$&'()*+,;=:@/";
const TOKEN_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ!#$%&'*+-.^_`|~0123456789";
const HEADER_CHARS: &[u8] =
    b" !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~\t";

/// The example server's routes, without its sleeps.
fn example_like_router(metrics: &Metrics) -> Router {
    Router::new()
        .route("/", get(|| async { "Hello\n" }))
        .route(
            "/users/{id}",
            get(|axum::extract::Path(id): axum::extract::Path<u64>| async move { format!("user {id}") }),
        )
        .route("/echo", post(|body: Bytes| async move { body }))
        .route("/slow", get(|| async { "slept 0 ms\n" }))
        .route(
            "/error",
            get(|| async { (http::StatusCode::INTERNAL_SERVER_ERROR, "something failed\n") }),
        )
        .route(
            "/stream",
            get(|| async {
                let chunks = futures_util::stream::iter(
                    (0..3).map(|i| Ok::<_, Infallible>(Bytes::from(format!("chunk {i}\n")))),
                );
                axum::body::Body::from_stream(chunks)
            }),
        )
        .route("/panic", get(|| async { panic!("on purpose") as &'static str }))
        .layer(metrics.layer())
        .layer(CatchPanicLayer::new())
}

fn random_request(random: &mut Random) -> Request<axum::body::Body> {
    const KNOWN: [&str; 9] = [
        "/", "/users/7", "/echo", "/slow", "/error", "/stream", "/panic", "/metrics", "/users/",
    ];
    let path = match random.below(4) {
        0 => KNOWN[random.below(KNOWN.len())].to_owned(),
        1 => format!("/users/{}", random.token(PATH_CHARS, 12)),
        2 => format!("/{}", random.token(PATH_CHARS, 40)),
        _ => format!(
            "{}?{}",
            KNOWN[random.below(KNOWN.len())],
            random.token(PATH_CHARS, 20)
        ),
    };
    let method = match random.below(3) {
        0 => Method::from_bytes(random.token(TOKEN_CHARS, 10).as_bytes()).unwrap(),
        _ => STANDARD_METHODS[random.below(STANDARD_METHODS.len())].clone(),
    };
    let mut builder = Request::builder().method(method);
    builder = builder.uri(
        path.parse::<http::Uri>()
            .unwrap_or_else(|_| http::Uri::from_static("/bad")),
    );
    for header in [
        "accept",
        "x-forwarded-proto",
        "accept-encoding",
        "x-requested-with",
    ] {
        if random.below(2) == 0 {
            let value = random.token(HEADER_CHARS, 60);
            if let Ok(value) = HeaderValue::from_str(&value) {
                builder = builder.header(header, value);
            }
        }
    }
    builder.body(axum::body::Body::empty()).unwrap()
}

/// Distinct series per exposed sample name (histogram buckets counted once, `le` ignored).
fn series_per_name(samples: &[Sample]) -> BTreeMap<String, usize> {
    let mut sets: BTreeMap<String, BTreeSet<Vec<(String, String)>>> = BTreeMap::new();
    for sample in samples {
        let labels = sample
            .labels
            .iter()
            .filter(|(key, _)| key.as_str() != "le")
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        let name = sample
            .name
            .trim_end_matches("_bucket")
            .trim_end_matches("_count")
            .trim_end_matches("_sum");
        sets.entry(name.to_owned()).or_default().insert(labels);
    }
    sets.into_iter().map(|(name, sets)| (name, sets.len())).collect()
}

fn distinct_values(samples: &[Sample], label: &str) -> BTreeSet<String> {
    samples
        .iter()
        .filter_map(|sample| sample.labels.get(label).cloned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_random_requests_create_bounded_series() {
    support::tools::quiet_intentional_panics();
    const REQUESTS: usize = 100_000;
    const ROUTES: usize = 7;
    const VIEWS: usize = ROUTES + 2; // plus `/metrics` and `<unnamed view>`
    const METHODS: usize = 10;
    const TRANSPORTS: usize = 2;

    let metrics = Metrics::new();
    let app = example_like_router(&metrics);
    let mut random = Random(0x9E37_79B9_7F4A_7C15);
    let mut statuses_returned = BTreeSet::new();
    let mut halfway = BTreeMap::new();
    for index in 0..REQUESTS {
        let response = app.clone().oneshot(random_request(&mut random)).await.unwrap();
        statuses_returned.insert(response.status().as_u16().to_string());
        response.into_body().collect().await.unwrap();
        if index == REQUESTS / 2 {
            halfway = series_per_name(&scrape(&metrics, Format::PrometheusText));
        }
    }
    let samples = scrape(&metrics, Format::PrometheusText);
    assert_eq!(
        total(&samples, "http_requests_before_middlewares_total", &[]),
        REQUESTS as f64
    );
    let series = series_per_name(&samples);
    let statuses = statuses_returned.len();

    let views = distinct_values(&samples, "view");
    assert!(views.len() <= VIEWS, "views: {views:?}");
    let methods = distinct_values(&samples, "method");
    assert!(methods.len() <= METHODS, "methods: {methods:?}");
    assert!(methods.contains("<invalid method>"));
    assert_eq!(
        distinct_values(&samples, "transport"),
        BTreeSet::from(["http".to_owned()])
    );
    assert!(distinct_values(&samples, "status").is_subset(&statuses_returned));

    let bound = |name: &str| -> usize {
        match name {
            "http_requests_latency_seconds_by_view_method"
            | "http_requests_in_flight"
            | "http_requests_cancelled_total" => VIEWS * METHODS,
            "http_requests_total_by_view_transport_method_total" => VIEWS * TRANSPORTS * METHODS,
            "http_responses_total_by_status_view_method_total" => VIEWS * METHODS * statuses,
            "http_requests_total_by_method_total" => METHODS,
            "http_requests_total_by_transport_total" => TRANSPORTS,
            "http_responses_total_by_status_total" => statuses,
            "http_exceptions_total_by_view_total" => VIEWS,
            // The handful of error types and charsets the application itself produces.
            "http_exceptions_total_by_type_total" | "http_responses_total_by_charset_total" => 5,
            "http_metrics_label_overflow_total" => 3,
            _ => 1,
        }
    };
    let mut report = String::new();
    for (name, count) in &series {
        assert!(
            *count <= bound(name),
            "{name}: {count} series > bound {}",
            bound(name)
        );
        report.push_str(&format!("  {name}: {count} (bound {})\n", bound(name)));
    }
    assert_eq!(
        series, halfway,
        "the second 50 000 requests created no new series"
    );
    let all: usize = series.values().sum();
    println!(
        "{REQUESTS} random requests, statuses returned {statuses_returned:?}: {all} series in {} families\n{report}",
        series.len()
    );
    assert_eq!(total(&samples, "http_metrics_label_overflow_total", &[]), 0.0);
    // Every request completed (HEAD answers included): none may count as cancelled.
    assert_eq!(total(&samples, "http_requests_cancelled_total", &[]), 0.0);
    assert_eq!(total(&samples, "http_requests_in_flight", &[]), 0.0);
}

async fn ok(_request: Request<axum::body::Body>) -> Result<Response<String>, Infallible> {
    Ok(Response::new(String::from("ok")))
}

#[tokio::test]
async fn the_cap_holds_a_resolver_returning_raw_paths() {
    const CAP: usize = 100;
    const REQUESTS: usize = 3_000;
    let metrics = Metrics::builder()
        .max_label_sets(CAP)
        .view_resolver(|request| Some(ViewName::new(request.uri().path().to_owned())))
        .build()
        .unwrap();
    let app = tower::ServiceBuilder::new().layer(metrics.layer()).service_fn(ok);
    for index in 0..REQUESTS {
        let request = Request::get(format!("/item/{index}"))
            .body(axum::body::Body::empty())
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        response.into_body().collect().await.unwrap();
    }
    let samples = scrape(&metrics, Format::PrometheusText);
    let series = series_per_name(&samples);
    for name in [
        "http_requests_latency_seconds_by_view_method",
        "http_requests_in_flight",
        "http_requests_total_by_view_transport_method_total",
        "http_responses_total_by_status_view_method_total",
    ] {
        // The cap, plus the one `<overflow>` value.
        assert!(series[name] <= CAP + 1, "{name}: {}", series[name]);
    }
    assert_eq!(series["http_requests_latency_seconds_by_view_method"], CAP + 1);
    // Every request beyond the cap is folded, and counted as folded exactly once.
    let folded = (REQUESTS - CAP) as f64;
    assert_eq!(
        total(
            &samples,
            "http_requests_latency_seconds_by_view_method_count",
            &[("view", "<overflow>")]
        ),
        folded
    );
    assert_eq!(
        total(
            &samples,
            "http_metrics_label_overflow_total",
            &[("label", "view")]
        ),
        folded
    );
    // Nothing is lost: the folded requests are still counted.
    assert_eq!(
        total(
            &samples,
            "http_requests_total_by_view_transport_method_total",
            &[]
        ),
        REQUESTS as f64
    );
    assert_eq!(total(&samples, "http_requests_in_flight", &[]), 0.0);
}

#[tokio::test]
async fn the_cap_holds_unbounded_values_from_every_source() {
    const CAP: usize = 50;
    let metrics = Metrics::builder().max_label_sets(CAP).build().unwrap();
    // Views from response extensions and charsets from Content-Type, all unique, with random
    // methods: every family stays within the cap.
    let app = tower::ServiceBuilder::new().layer(metrics.layer()).service_fn(
        |request: Request<axum::body::Body>| async move {
            let path = request.uri().path().to_owned();
            let mut response = Response::new(String::from("ok"));
            response.extensions_mut().insert(ViewName::new(path.clone()));
            let content_type = format!("text/plain; charset=x-{}", path.trim_start_matches('/'));
            response
                .headers_mut()
                .insert("content-type", content_type.parse().unwrap());
            Ok::<_, Infallible>(response)
        },
    );
    let mut random = Random(7);
    let methods = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::from_bytes(b"BREW").unwrap(),
    ];
    let mut per_method: HashMap<String, usize> = HashMap::new();
    for index in 0..1_000 {
        let method = methods[random.below(methods.len())].clone();
        *per_method.entry(method.to_string()).or_default() += 1;
        let request = Request::builder()
            .method(method)
            .uri(format!("/{index}"))
            .body(axum::body::Body::empty())
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        response.into_body().collect().await.unwrap();
    }
    let samples = scrape(&metrics, Format::OpenMetrics);
    for (name, count) in series_per_name(&samples) {
        // At most the cap plus an `<overflow>` value per other-label combination (4 methods,
        // 2 transports, the statuses).
        assert!(count <= CAP + 8, "{name}: {count}");
    }
    assert_eq!(
        support::exposition::series(&samples, "http_responses_total_by_charset_total"),
        CAP + 1
    );
    assert!(
        total(
            &samples,
            "http_metrics_label_overflow_total",
            &[("label", "charset")]
        ) > 0.0
    );
    assert!(
        total(
            &samples,
            "http_metrics_label_overflow_total",
            &[("label", "view")]
        ) > 0.0
    );
    assert_eq!(
        total(&samples, "http_requests_before_middlewares_total", &[]),
        1_000.0
    );
}

#[tokio::test]
async fn the_default_cap_folds_beyond_ten_thousand_label_sets() {
    assert_eq!(tower_prometheus::defaults::MAX_LABEL_SETS, 10_000);
    let metrics = Metrics::builder()
        .view_resolver(|request| Some(ViewName::new(request.uri().path().to_owned())))
        .build()
        .unwrap();
    let app = tower::ServiceBuilder::new().layer(metrics.layer()).service_fn(ok);
    for index in 0..10_050 {
        let request = Request::get(format!("/{index}"))
            .body(axum::body::Body::empty())
            .unwrap();
        app.clone()
            .oneshot(request)
            .await
            .unwrap()
            .into_body()
            .collect()
            .await
            .unwrap();
    }
    let samples = scrape(&metrics, Format::PrometheusText);
    assert_eq!(
        series_per_name(&samples)["http_requests_latency_seconds_by_view_method"],
        10_001
    );
    assert_eq!(
        total(
            &samples,
            "http_metrics_label_overflow_total",
            &[("label", "view")]
        ),
        50.0
    );
}

/// A view found through axum's `MatchedPath` is looked up by the address of the router's copy
/// of the route. Routers built and dropped one after another hand out route strings of one
/// length, which the allocator tends to place at one address: each request must still be
/// labelled by its own route, past the table of addresses (256 entries) too.
#[tokio::test(flavor = "current_thread")]
async fn routers_built_one_after_another_label_each_request_by_its_own_route() {
    let metrics = Metrics::new();
    let routes = 300;
    for route in 0..routes {
        let template = format!("/r{route:03}/{{id}}");
        let router = Router::new()
            .route(&template, get(|| async { "ok" }))
            .layer(metrics.layer());
        let response = router
            .oneshot(
                Request::get(format!("/r{route:03}/7"))
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.into_body().collect().await.unwrap();
    }
    let samples = scrape(&metrics, Format::PrometheusText);
    for route in 0..routes {
        let view = format!("/r{route:03}/{{id}}");
        assert_eq!(
            total(
                &samples,
                "http_requests_total_by_view_transport_method_total",
                &[("view", view.as_str())]
            ),
            1.0,
            "{view}"
        );
    }
    assert_eq!(
        total(
            &samples,
            "http_requests_total_by_view_transport_method_total",
            &[]
        ),
        f64::from(routes)
    );
}

/// Routes beyond the label-set cap fold into `<overflow>` on every request, not only the first:
/// a folded view is not remembered by its route's address.
#[tokio::test(flavor = "current_thread")]
async fn routes_beyond_the_cap_fold_on_every_request() {
    let metrics = Metrics::builder().max_label_sets(2).build().unwrap();
    let router = Router::new()
        .route("/a", get(|| async { "a" }))
        .route("/b", get(|| async { "b" }))
        .route("/c", get(|| async { "c" }))
        .route("/d", get(|| async { "d" }))
        .layer(metrics.layer());
    for _ in 0..3 {
        for path in ["/a", "/b", "/c", "/d"] {
            let response = router
                .clone()
                .oneshot(Request::get(path).body(axum::body::Body::empty()).unwrap())
                .await
                .unwrap();
            response.into_body().collect().await.unwrap();
        }
    }
    let samples = scrape(&metrics, Format::PrometheusText);
    let requests = |view: &str| {
        total(
            &samples,
            "http_requests_total_by_view_transport_method_total",
            &[("view", view)],
        )
    };
    assert_eq!(requests("/a"), 3.0);
    assert_eq!(requests("/b"), 3.0);
    assert_eq!(requests("/c"), 0.0);
    assert_eq!(requests("/d"), 0.0);
    assert_eq!(requests("<overflow>"), 6.0);
    assert_eq!(
        total(
            &samples,
            "http_metrics_label_overflow_total",
            &[("label", "view")]
        ),
        6.0
    );
}
