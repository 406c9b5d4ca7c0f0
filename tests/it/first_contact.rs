//! What a new user meets in the first hour: every builder input is checked by `build()` and a
//! bad one is an error naming the option and the input; every name the exposition can hold is
//! refused by `register`; an axum app that names no Cargo feature gets route templates; the
//! separate listener fails in `main` on a busy port.

use crate::support;

use std::collections::BTreeSet;
use std::convert::Infallible;

use http::{Request, Response};
use http_body_util::BodyExt;
use support::exposition::parse_text;
use tower::ServiceExt;
use tower_prometheus::prometheus_client::metrics::counter::Counter;
use tower_prometheus::prometheus_client::metrics::gauge::Gauge;
use tower_prometheus::{ConfigError, Format, Metrics, MetricsBuilder, RegistrationError};

fn refused(builder: MetricsBuilder) -> ConfigError {
    match builder.build() {
        Ok(_) => panic!("build() accepted a configuration it must refuse"),
        Err(error) => error,
    }
}

fn assert_refused(builder: MetricsBuilder, option: &str, input: &str) {
    let error = refused(builder);
    assert_eq!((error.option(), error.input()), (option, input), "{error}");
    let message = error.to_string();
    assert!(message.contains(option) && message.contains(input), "{message}");
}

#[test]
fn an_invalid_namespace_is_refused_not_rewritten() {
    // An empty namespace is documented as none, as in django-prometheus.
    let unprefixed = Metrics::builder().namespace("").build().unwrap();
    let text = unprefixed.render(Format::PrometheusText).unwrap();
    assert!(
        text.contains("\nhttp_requests_before_middlewares_total 0\n"),
        "{text}"
    );
    for namespace in ["my-app", "9lives", "__internal", "with space", "dot.ted"] {
        assert_refused(Metrics::builder().namespace(namespace), "namespace", namespace);
    }
    for namespace in ["django", "shop_v2", "_private", "team:app"] {
        let metrics = Metrics::builder().namespace(namespace).build().unwrap();
        let text = metrics.render(Format::PrometheusText).unwrap();
        assert!(
            text.contains(&format!("{namespace}_http_ajax_requests_total 0")),
            "{namespace}"
        );
    }
}

/// Metrics after traffic that makes every family appear: HTTP families, an inner error, gRPC,
/// the overflow counter and (after a scrape) the scrape self-metrics.
fn busy_metrics(builder: MetricsBuilder) -> Metrics {
    let metrics = builder.build().unwrap();
    let app = tower::ServiceBuilder::new().layer(metrics.layer()).service_fn(
        |request: Request<String>| async move {
            if request.uri().path() == "/fail" {
                return Err(std::io::Error::other("failed on purpose"));
            }
            let mut response = Response::new(String::from("ok"));
            response
                .headers_mut()
                .insert("content-type", "text/plain; charset=utf-8".parse().unwrap());
            if request.headers().contains_key("content-type") {
                let headers = response.headers_mut();
                headers.insert("content-type", "application/grpc".parse().unwrap());
                headers.insert("grpc-status", "0".parse().unwrap());
            }
            Ok::<_, std::io::Error>(response)
        },
    );
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime.block_on(async {
        let requests = [
            ("/a", false),
            ("/b", false),
            ("/fail", false),
            ("/pkg.Svc/Get", true),
            ("/metrics", false),
        ];
        for (path, grpc) in requests {
            let method = if grpc {
                http::Method::POST
            } else {
                http::Method::GET
            };
            let mut request = Request::builder()
                .method(method)
                .uri(path)
                .body(String::new())
                .unwrap();
            if grpc {
                request
                    .headers_mut()
                    .insert("content-type", "application/grpc".parse().unwrap());
            }
            if let Ok(response) = app.clone().oneshot(request).await {
                response.into_body().collect().await.unwrap();
            }
        }
    });
    metrics
}

/// Every label name that a fully exercised exposition carries, read from the exposition itself.
fn label_names_in_a_busy_exposition() -> BTreeSet<String> {
    let metrics = busy_metrics(Metrics::builder().max_label_sets(1));
    let samples = parse_text(&metrics.render(Format::PrometheusText).unwrap());
    samples
        .into_iter()
        .flat_map(|sample| sample.labels.into_keys())
        .collect()
}

#[test]
fn every_label_name_of_the_exposition_is_refused_as_a_constant_label() {
    let names = label_names_in_a_busy_exposition();
    for expected in [
        "view",
        "method",
        "status",
        "transport",
        "charset",
        "type",
        "label",
        "format",
        "le",
        "grpc_code",
    ] {
        assert!(
            names.contains(expected),
            "traffic did not produce `{expected}`: {names:?}"
        );
    }
    for name in
        names
            .iter()
            .map(String::as_str)
            .chain(["quantile", "encoding", "grpc_service", "grpc_method"])
    {
        assert_refused(Metrics::builder().const_label(name, "x"), "const_label", name);
    }
}

#[test]
fn constant_label_names_prometheus_rejects_are_refused() {
    for name in ["", "my-label", "9lives", "__name__", "__meta", "a:b", "naïve"] {
        assert_refused(Metrics::builder().const_label(name, "x"), "const_label", name);
    }
    assert_refused(
        Metrics::builder()
            .const_label("region", "eu")
            .const_label("region", "us"),
        "const_label",
        "region",
    );
    // Any value is fine: it is escaped.
    let metrics = Metrics::builder()
        .const_label("service", "a \"b\"\n")
        .build()
        .unwrap();
    parse_text(&metrics.render(Format::PrometheusText).unwrap());
}

#[test]
fn paths_that_can_never_match_a_request_are_refused() {
    for path in ["metrics", "", "/metrics?x=1", "/a#b", "/with space"] {
        assert_refused(Metrics::builder().metrics_path(path), "metrics_path", path);
        assert_refused(Metrics::builder().exclude_path(path), "exclude_path", path);
        assert_refused(
            Metrics::builder().exclude_path_prefix(path),
            "exclude_path_prefix",
            path,
        );
    }
    // Matched exactly, a trailing `/` would leave the usual path answering 404.
    for path in ["/metrics/", "/-/metrics//"] {
        let error = refused(Metrics::builder().metrics_path(path));
        assert_eq!((error.option(), error.input()), ("metrics_path", path));
        assert!(error.to_string().contains("trailing `/`"), "{error}");
    }
    // Excluded paths and prefixes may end in `/`, and `/` alone is a path.
    Metrics::builder()
        .metrics_path("/")
        .exclude_path("/health/")
        .exclude_path_prefix("/static/")
        .build()
        .unwrap();
    let metrics = Metrics::builder()
        .metrics_path("/-/metrics")
        .exclude_path("/healthz")
        .build()
        .unwrap();
    assert_eq!(metrics.metrics_path(), Some("/-/metrics"));
}

#[test]
fn bucket_lists_that_are_empty_not_finite_or_unsorted_are_refused() {
    let bad: [Vec<f64>; 5] = [
        vec![],
        vec![0.1, f64::NAN],
        vec![0.1, f64::INFINITY],
        vec![1.0, 0.5],
        vec![0.5, 0.5],
    ];
    for buckets in bad {
        let input = format!("{buckets:?}");
        assert_refused(
            Metrics::builder().latency_buckets(buckets.clone()),
            "latency_buckets",
            &input,
        );
        assert_refused(Metrics::builder().size_buckets(buckets), "size_buckets", &input);
    }
    assert!(Metrics::builder()
        .latency_buckets([0.5])
        .size_buckets([0.0, 10.0])
        .build()
        .is_ok());
}

#[test]
fn native_histogram_settings_prometheus_cannot_use_are_refused_not_clamped() {
    use tower_prometheus::NativeHistograms;
    let native = NativeHistograms::classic_and_native;
    let refused = [
        (native().with_schema(9), "with_schema(9)"),
        (native().with_schema(-5), "with_schema(-5)"),
        (native().with_bucket_factor(1.0), "with_bucket_factor(1)"),
        (native().with_bucket_factor(0.5), "with_bucket_factor(0.5)"),
        (native().with_bucket_factor(f64::NAN), "with_bucket_factor(NaN)"),
    ];
    for (native, input) in refused {
        assert_refused(
            Metrics::builder().native_histograms(native),
            "native_histograms",
            input,
        );
    }
    // The last resolution setting wins.
    assert!(Metrics::builder()
        .native_histograms(native().with_schema(12).with_schema(8))
        .build()
        .is_ok());
    assert!(Metrics::builder()
        .native_histograms(native().with_bucket_factor(1e300))
        .build()
        .is_ok());
}

#[test]
fn bearer_tokens_no_scraper_could_send_are_refused_and_never_shown() {
    for token in ["", " padded", "padded ", "tab\there", "line\nbreak", "naïve"] {
        let error = refused(Metrics::builder().metrics_bearer_token(token));
        assert_eq!(error.option(), "metrics_bearer_token");
        if !token.is_empty() {
            assert!(
                !error.to_string().contains(token),
                "the error shows the token: {error}"
            );
        }
    }
}

#[test]
fn the_defaults_are_valid() {
    let built = MetricsBuilder::new().build().expect("the defaults are valid");
    // `Metrics::new()` is the same configuration, and cannot fail.
    let new = Metrics::new();
    for metrics in [&built, &new] {
        assert_eq!(metrics.metrics_path(), Some("/metrics"));
    }
    let families = |metrics: &Metrics| {
        let text = metrics.render(Format::PrometheusText).unwrap();
        text.lines()
            .filter(|line| line.starts_with("# TYPE "))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(families(&built), families(&new));
}

/// Every exposed family name and each sample name it writes, from a full exposition.
fn exposed_names(metrics: &Metrics) -> BTreeSet<String> {
    let text = metrics.render(Format::OpenMetrics).unwrap();
    let mut names = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let family = rest.split(' ').next().unwrap();
            names.insert(family.to_owned());
            for suffix in ["_total", "_bucket", "_count", "_sum", "_created"] {
                names.insert(format!("{family}{suffix}"));
            }
        } else if !line.starts_with('#') {
            names.insert(line.split(['{', ' ']).next().unwrap().to_owned());
        }
    }
    names
}

#[test]
fn every_name_the_exposition_holds_is_reserved() {
    let metrics = busy_metrics(Metrics::builder().max_label_sets(1));
    let names = exposed_names(&metrics);
    for expected in [
        "http_requests_before_middlewares",
        "grpc_server_handled",
        "http_metrics_scrapes",
        "http_metrics_label_overflow",
        "http_requests_latency_including_middlewares_seconds_bucket",
    ] {
        assert!(names.contains(expected), "{expected} not in {names:?}");
    }
    #[cfg(all(feature = "process", target_os = "linux"))]
    assert!(names.contains("process_cpu_seconds_total"));
    for name in &names {
        let counter = metrics.register(name.as_str(), "mine", Counter::<u64>::default());
        let gauge = metrics.register(name.as_str(), "mine", Gauge::<i64>::default());
        for result in [counter, gauge] {
            assert_eq!(result, Err(RegistrationError::Reserved(name.clone())), "{name}");
        }
    }
    let text = metrics.render(Format::PrometheusText).unwrap();
    assert_eq!(
        text.matches("# TYPE process_cpu_seconds_total").count(),
        usize::from(cfg!(all(feature = "process", target_os = "linux")))
    );
}

#[test]
fn process_names_are_free_when_process_metrics_are_off_or_namespaced_apart() {
    let off = Metrics::builder().process_metrics(false).build().unwrap();
    off.register("process_cpu_seconds", "mine", Counter::<u64>::default())
        .unwrap();
    let namespaced = Metrics::builder().namespace("shop").build().unwrap();
    namespaced
        .register("process_cpu_seconds", "mine", Counter::<u64>::default())
        .unwrap();
    // The namespace applies to ours too: `shop_` + our name is taken, our bare name is not.
    assert!(namespaced
        .register("http_ajax_requests", "mine", Counter::<u64>::default())
        .is_err());
    let process = Metrics::builder().namespace("process").build().unwrap();
    if cfg!(feature = "process") {
        assert!(process
            .register("threads", "mine", Gauge::<i64>::default())
            .is_err());
    }
}

#[test]
fn names_prometheus_reserves_are_refused() {
    let metrics = Metrics::new();
    for name in ["__secret", "2fast", "with space", ""] {
        assert_eq!(
            metrics.register(name, "mine", Counter::<u64>::default()),
            Err(RegistrationError::InvalidName(name.to_owned()))
        );
    }
}

#[test]
fn axum_is_a_default_feature_so_an_axum_app_gets_route_templates_without_naming_one() {
    let manifest: toml_lite::Manifest = toml_lite::read(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"));
    assert!(
        manifest.default_features.iter().any(|feature| feature == "axum"),
        "{manifest:?}"
    );
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn an_axum_router_records_its_route_template() {
    use axum::routing::get;
    let metrics = Metrics::new();
    let app: axum::Router = axum::Router::new()
        .route("/users/{id}", get(|| async { "user" }))
        .layer(metrics.layer());
    let response = app
        .oneshot(Request::get("/users/7").body(axum::body::Body::empty()).unwrap())
        .await
        .unwrap();
    response.into_body().collect().await.unwrap();
    let text = metrics.render(Format::PrometheusText).unwrap();
    assert!(text.contains("view=\"/users/{id}\""), "{text}");
    assert!(!text.contains("<unnamed view>"), "{text}");
}

#[cfg(feature = "server")]
#[tokio::test]
async fn the_separate_listener_reports_a_busy_port_before_serving() {
    let metrics = Metrics::new();
    let first = metrics.server().bind("127.0.0.1:0").await.unwrap();
    let address = first.local_addr().unwrap();
    let error = metrics.server().bind(address).await.unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::AddrInUse);
    assert!(error.to_string().contains(&address.to_string()), "{error}");
    let error = metrics.serve(address).await.unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::AddrInUse);
    let error = metrics
        .server()
        .path("metrics")
        .bind("127.0.0.1:0")
        .await
        .unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    assert!(error.to_string().contains("metrics"), "{error}");
    let refused = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<ConfigError>());
    assert_eq!(
        refused.map(|refused| (refused.option(), refused.input())),
        Some(("server().path", "metrics")),
        "{error}"
    );
    let error = metrics
        .server()
        .path("/metrics/")
        .bind("127.0.0.1:0")
        .await
        .unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    assert!(error.to_string().contains("trailing `/`"), "{error}");
}

/// A custom metric registered on a second instance never shows on the first one's `/metrics`:
/// the docs say to create one `Metrics` and clone it; clones share everything.
#[tokio::test]
async fn clones_share_registrations_and_separate_instances_do_not() {
    let layered = Metrics::new();
    let clone = layered.clone();
    clone
        .register("orders", "Orders", Counter::<u64>::default())
        .unwrap();
    let other = Metrics::new();
    other
        .register("refunds", "Refunds", Counter::<u64>::default())
        .unwrap();
    let service = tower::ServiceBuilder::new()
        .layer(layered.layer())
        .service_fn(|_: Request<String>| async { Ok::<_, Infallible>(Response::new(String::new())) });
    let response = service
        .oneshot(Request::get("/metrics").body(String::new()).unwrap())
        .await
        .unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(text.contains("orders_total 0"));
    assert!(!text.contains("refunds"));
}

/// Reads `[features] default` of Cargo.toml, enough for the check above.
mod toml_lite {
    #[derive(Debug)]
    pub(crate) struct Manifest {
        pub(crate) default_features: Vec<String>,
    }

    pub(crate) fn read(path: &str) -> Manifest {
        let text = std::fs::read_to_string(path).unwrap();
        let mut in_features = false;
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('[') {
                in_features = line == "[features]";
            } else if in_features && line.starts_with("default") {
                let list = line.split_once('=').unwrap().1.trim();
                let default_features = list
                    .trim_matches(['[', ']'])
                    .split(',')
                    .map(|item| item.trim().trim_matches('"').to_owned())
                    .filter(|item| !item.is_empty())
                    .collect();
                return Manifest { default_features };
            }
        }
        panic!("no default features in {path}");
    }
}

#[test]
fn a_label_set_cap_of_zero_is_refused_not_turned_into_overflow_for_everything() {
    assert_refused(Metrics::builder().max_label_sets(0), "max_label_sets", "0");
    assert!(Metrics::builder().max_label_sets(1).build().is_ok());
}

fn no_tenant<'a>(_: &tower_prometheus::RequestHead<'a>) -> Option<&'a str> {
    None
}

#[test]
fn a_request_label_bound_beyond_the_id_space_is_refused() {
    // Value ids are `u32`s with two reserved: 4 294 967 293 is the largest bound that fits.
    let largest = u32::MAX as usize - 2;
    for refused in [largest + 1, usize::MAX] {
        let input = format!("tenant (max_values {refused})");
        assert_refused(
            Metrics::builder().request_label("tenant", no_tenant, refused),
            "request_label",
            &input,
        );
    }
    for accepted in [1, 1000, largest] {
        assert!(
            Metrics::builder()
                .request_label("tenant", no_tenant, accepted)
                .build()
                .is_ok(),
            "max_values {accepted}"
        );
    }
}

#[cfg(feature = "metrics")]
#[test]
fn facade_bucket_choices_that_never_match_or_repeat_are_refused() {
    use tower_prometheus::MetricsRecorder;
    type Choose = fn(MetricsRecorder, &str, [f64; 1]) -> Result<MetricsRecorder, ConfigError>;
    let by_name: Choose = |recorder, key, buckets| recorder.buckets_for_name(key, buckets);
    let by_prefix: Choose = |recorder, key, buckets| recorder.buckets_for_prefix(key, buckets);
    let recorder = Metrics::new().metrics_recorder();
    for (choose, option, key) in [
        (by_name, "metrics_recorder.buckets_for_name", "jobs"),
        (by_prefix, "metrics_recorder.buckets_for_prefix", "db_"),
    ] {
        let error = choose(recorder.clone(), "", [1.0]).unwrap_err();
        assert_eq!((error.option(), error.input()), (option, ""));
        let once = choose(recorder.clone(), key, [1.0]).expect("a first list");
        let error = choose(once, key, [2.0]).unwrap_err();
        assert_eq!((error.option(), error.input()), (option, key));
    }
}
