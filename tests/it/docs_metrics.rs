//! The metrics guide (`src/docs/metrics.md`) documents exactly the metric families a `Metrics`
//! exposes: once traffic has given every family a sample, the `# TYPE` names of the exposition
//! are the names of the guide's metric tables and of its process-metrics list. The README's
//! metric table is the guide's HTTP table, row for row.

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

const GUIDE: &str = include_str!("../../src/docs/metrics.md");
const README: &str = include_str!("../../README.md");

/// The rows of every table headed `| exposed name |` in `text`, one `Vec` per table.
fn tables(text: &str) -> Vec<Vec<&str>> {
    let mut tables = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in text.lines() {
        if line.starts_with("| exposed name |") {
            current = Some(Vec::new());
        } else if !line.starts_with('|') {
            tables.extend(current.take());
        } else if let Some(rows) = &mut current {
            if !line.starts_with("|---") {
                rows.push(line);
            }
        }
    }
    tables.extend(current);
    tables
}

/// The metric name in the first column of a table row.
fn name_of(row: &str) -> Option<&str> {
    row.strip_prefix("| `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(name, _)| name)
}

/// The first column of every metric table of the guide, and the `process_…` names in the prose
/// of its "Process metrics" section.
fn documented_families() -> BTreeSet<String> {
    let mut names: BTreeSet<String> = tables(GUIDE)
        .iter()
        .flatten()
        .filter_map(|row| name_of(row))
        .map(str::to_owned)
        .collect();
    let process = &GUIDE[GUIDE
        .find("\n# Process metrics\n")
        .expect("a Process metrics section")..];
    // The prose of the section: up to its first code block.
    let process = &process[..process.find("```").expect("the section has an example")];
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
        .response_duration_histogram(true)
        .encode_error_policy(EncodeErrorPolicy::ServeWhatEncodes)
        .build()
        .unwrap();
    metrics.register_collector(Box::new(AlwaysFails)).unwrap();
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
async fn the_metrics_guide_names_every_exposed_family_and_no_other() {
    let exposed = exposed_families().await;
    let documented = documented_families();
    let undocumented: Vec<_> = exposed.difference(&documented).collect();
    let not_exposed: Vec<_> = documented.difference(&exposed).collect();
    assert!(
        undocumented.is_empty() && not_exposed.is_empty(),
        "exposed but not in the metrics guide: {undocumented:?}\nin the guide but not exposed: {not_exposed:?}"
    );
}

#[test]
fn the_readme_table_is_the_guides_http_table() {
    let readme = tables(README);
    let guide = tables(GUIDE);
    assert_eq!(readme.len(), 1, "the README has one metric table");
    assert!(
        guide[0].len() > 20 && guide[0].iter().all(|row| name_of(row).is_some()),
        "the guide's first table lists the HTTP families"
    );
    assert_eq!(
        readme[0], guide[0],
        "the README's table differs from the metrics guide's"
    );
}
