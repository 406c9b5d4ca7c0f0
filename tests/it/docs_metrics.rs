//! The README documents exactly the metric families a `Metrics` exposes: once traffic has
//! given every family a sample, the `# TYPE` names of the exposition are the names of the
//! README's metric tables and of its process-metrics list.

use crate::support;

use std::collections::BTreeSet;
use std::convert::Infallible;

use bytes::Bytes;
use futures_util::FutureExt;
use http::{Request, Response};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use support::exposition::body_text;
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_prometheus::{EncodeErrorPolicy, Format, Metrics, ViewName};

const README: &str = include_str!("../../README.md");

/// The first column of every README table headed `| exposed name |`, and the `process_…` names
/// of the "Process metrics" section.
fn documented_families() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut in_table = false;
    for line in README.lines() {
        if line.starts_with("| exposed name |") {
            in_table = true;
        } else if !line.starts_with('|') {
            in_table = false;
        } else if in_table {
            if let Some(name) = line.strip_prefix("| `").and_then(|rest| rest.split_once('`')) {
                names.insert(name.0.to_owned());
            }
        }
    }
    let process = &README[README
        .find("### Process metrics")
        .expect("a Process metrics section")..];
    let process = &process[..process[1..].find("\n#").map_or(process.len(), |end| end + 1)];
    if cfg!(all(feature = "process", target_os = "linux")) {
        names.extend(
            process
                .split('`')
                .filter(|word| word.starts_with("process_") && !word.contains(' '))
                .map(str::to_owned),
        );
    }
    names
}

/// A registered collector that always fails, so that `http_metrics_encode_errors_total` has a
/// sample.
#[derive(Debug)]
struct AlwaysFails;

impl Collector for AlwaysFails {
    fn encode(&self, _encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        Err(std::fmt::Error)
    }
}

type OneChunk = StreamBody<futures_util::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>>>;

/// Answers by path: `/error` fails, `/pkg.Service/Method` is a gRPC call that succeeds, any
/// other path names itself as the view. Bodies have no exact size (streaming).
async fn handler(request: Request<String>) -> Result<Response<OneChunk>, std::io::Error> {
    let path = request.uri().path().to_owned();
    if path == "/error" {
        return Err(std::io::Error::other("failed on purpose"));
    }
    let chunk = vec![Ok(Frame::data(Bytes::from_static(b"body")))];
    let mut response = Response::new(StreamBody::new(futures_util::stream::iter(chunk)));
    if path.starts_with("/pkg.") {
        let headers = response.headers_mut();
        headers.insert("content-type", "application/grpc".parse().unwrap());
        headers.insert("grpc-status", "0".parse().unwrap());
    } else {
        response.extensions_mut().insert(ViewName::new(path));
    }
    Ok(response)
}

/// The `# TYPE` names of the exposition after traffic that gives every family a sample.
async fn exposed_families() -> BTreeSet<String> {
    let metrics = Metrics::builder()
        // One label set per family: the second view folds into <overflow>.
        .max_label_sets(1)
        .encode_error_policy(EncodeErrorPolicy::ServeWhatEncodes)
        .build()
        .unwrap();
    metrics.register_collector(Box::new(AlwaysFails));
    let mut app = ServiceBuilder::new().layer(metrics.layer()).service_fn(handler);
    let requests = [
        Request::post("/a")
            .header("x-requested-with", "XMLHttpRequest")
            .header("content-length", "2")
            .body("hi".to_owned()),
        Request::get("/b").body(String::new()),
        Request::get("/error").body(String::new()),
        Request::post("/pkg.Service/Method")
            .header("content-type", "application/grpc")
            .body(String::new()),
    ];
    for request in requests {
        if let Ok(response) = app.ready().await.unwrap().call(request.unwrap()).await {
            response.into_body().collect().await.unwrap();
        }
    }
    // A future dropped before it was polled: a cancelled request.
    drop(
        app.ready()
            .await
            .unwrap()
            .call(Request::get("/c").body(String::new()).unwrap()),
    );
    // A scrape, for the self-metrics.
    let scrape = metrics
        .exposition_service()
        .oneshot(Request::get("/metrics").body(()).unwrap())
        .now_or_never()
        .expect("the exposition service answers at once")
        .unwrap();
    assert_eq!(scrape.status(), 200, "{}", body_text(scrape.into_body()).await);

    let text = metrics.render(Format::PrometheusText).unwrap();
    text.lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|line| line.split(' ').next())
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn the_readme_names_every_exposed_family_and_no_other() {
    let exposed = exposed_families().await;
    let documented = documented_families();
    let undocumented: Vec<_> = exposed.difference(&documented).collect();
    let not_exposed: Vec<_> = documented.difference(&exposed).collect();
    assert!(
        undocumented.is_empty() && not_exposed.is_empty(),
        "exposed but not in the README: {undocumented:?}\nin the README but not exposed: {not_exposed:?}"
    );
}
