//! Item 5: hostile label values — quotes, backslashes, newlines, `{}`, `=`, `#`, control
//! characters, non-ASCII, 10 kB strings — from a user view resolver, from `ViewName` response
//! extensions and from response charsets. Property tests check that both exposition formats
//! stay valid and round-trip to the same values through our strict parser, the Python
//! reference client (both formats), `promtool check metrics` (text) and Prometheus's own
//! OpenMetrics parser (`promtool tsdb create-blocks-from openmetrics` + `promtool tsdb dump`).

use crate::harness::e2e_tests;
use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, ChildStdout, Command, Stdio};

use http::{Request, Response};
use http_body_util::BodyExt;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use support::exposition::{parse, Sample};
use support::tools::{program, python, run, run_with_input, ChildGuard, TempDir, PROMTOOL, PYTHON_PROMETHEUS_CLIENT};
use tower::ServiceExt;
use tower_prometheus::{Format, Metrics, ViewName};

e2e_tests! {
    hostile_label_values_round_trip_through_every_parser needs [PYTHON_PROMETHEUS_CLIENT, PROMTOOL],
    known_troublemakers_round_trip needs [PYTHON_PROMETHEUS_CLIENT, PROMTOOL],
}

/// Where a hostile value enters: the builder's resolver or a response extension.
#[derive(Clone, Debug)]
enum Source {
    Resolver,
    Extension,
}

/// What the request carries for the resolver and the inner service to use.
#[derive(Clone)]
struct Hostile {
    view: String,
    source_is_resolver: bool,
    charset: Option<String>,
}

#[derive(Clone, Debug)]
struct Case {
    views: Vec<(String, Source)>,
    charsets: Vec<String>,
}

/// Characters that break naive encoders and parsers, mixed with anything else.
fn hostile_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => prop::sample::select(vec![
            '"', '\\', '\n', '\r', '\t', '{', '}', '=', '#', ',', ' ', '\0', '\u{1}', '\u{1b}',
            '\u{7f}', '\u{85}', '\u{2028}', '\u{feff}', 'é', '☃', '𝄞', 'n', '_',
        ]),
        1 => any::<char>(),
    ]
}

fn hostile_string() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => prop::collection::vec(hostile_char(), 0..24).prop_map(|chars| chars.into_iter().collect()),
        // 10 kB, built from a hostile seed so that escaping runs over the whole length.
        1 => prop::collection::vec(hostile_char(), 1..8).prop_map(|seed| {
            let seed: String = seed.into_iter().collect();
            let mut long = String::with_capacity(10_240 + seed.len());
            while long.len() < 10_240 {
                long.push_str(&seed);
            }
            long
        }),
    ]
}

/// Charsets must survive `Content-Type` parsing: visible ASCII without `;`, `,` or spaces,
/// lower case, and not starting or ending with a quote (which the parser strips).
fn hostile_charset() -> impl Strategy<Value = String> {
    let alphabet: Vec<char> = "\"\\{}=#<>!$%&'()*+-./:?@[]^_`|~abcxyz0189".chars().collect();
    prop::collection::vec(prop::sample::select(alphabet), 0..16)
        .prop_map(|chars| format!("x{}x", chars.into_iter().collect::<String>()))
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(
            (
                hostile_string(),
                prop_oneof![Just(Source::Resolver), Just(Source::Extension)],
            ),
            1..6,
        ),
        prop::collection::vec(hostile_charset(), 0..4),
    )
        .prop_map(|(views, charsets)| Case { views, charsets })
}

/// Sends one request per hostile view (each with one of the charsets) and returns the metrics.
fn record(case: &Case) -> Metrics {
    let metrics = Metrics::builder()
        .view_resolver(|request: &tower_prometheus::RequestHead<'_>| {
            let hostile = request.extensions().get::<Hostile>()?;
            hostile
                .source_is_resolver
                .then(|| ViewName::new(hostile.view.clone()))
        })
        .build()
        .unwrap();
    let service = tower::ServiceBuilder::new().layer(metrics.layer()).service_fn(
        |request: Request<String>| async move {
            let hostile = request.extensions().get::<Hostile>().cloned().unwrap();
            let mut response = Response::new(String::from("ok"));
            if !hostile.source_is_resolver {
                response.extensions_mut().insert(ViewName::new(hostile.view));
            }
            if let Some(charset) = hostile.charset {
                let content_type = format!("text/plain; charset={charset}");
                response
                    .headers_mut()
                    .insert("content-type", content_type.parse().unwrap());
            }
            Ok::<_, Infallible>(response)
        },
    );
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime.block_on(async {
        for (index, (view, source)) in case.views.iter().enumerate() {
            let mut request = Request::get("/anything").body(String::new()).unwrap();
            request.extensions_mut().insert(Hostile {
                view: view.clone(),
                source_is_resolver: matches!(source, Source::Resolver),
                charset: case.charsets.get(index).cloned(),
            });
            let response = service.clone().oneshot(request).await.unwrap();
            response.into_body().collect().await.unwrap();
        }
    });
    metrics
}

/// The values of `label` over the samples of `name`, a missing label counting as "".
fn values(samples: &[Sample], name: &str, label: &str) -> BTreeSet<String> {
    samples
        .iter()
        .filter(|sample| sample.name == name)
        .map(|sample| sample.labels.get(label).cloned().unwrap_or_default())
        .collect()
}

const VIEW_FAMILY: &str = "http_requests_latency_seconds_by_view_method_count";
const CHARSET_FAMILY: &str = "http_responses_total_by_charset_total";

fn expected(case: &Case) -> (BTreeSet<String>, BTreeSet<String>) {
    // Latency series are created when a latency is observed, under the response's view: the
    // request-time `<unnamed view>` of extension-named responses only labels the in-flight gauge.
    // The byte bound: a view longer than 256 bytes records as `<overflow>`.
    let views: BTreeSet<String> = case
        .views
        .iter()
        .map(|(view, _)| match view.len() {
            0..=256 => view.clone(),
            _ => "<overflow>".to_owned(),
        })
        .collect();
    let mut charsets: BTreeSet<String> = case.charsets.iter().take(case.views.len()).cloned().collect();
    if case.charsets.len() < case.views.len() {
        charsets.insert("<no charset>".to_owned());
    }
    (views, charsets)
}

// ---- the Python reference parser, one process for all cases ----------------------------------

const PYTHON_PARSER: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families as parse_text
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
for line in sys.stdin:
    request = json.loads(line)
    answer = {}
    for key, parser in (("text", parse_text), ("openmetrics", parse_openmetrics)):
        try:
            answer[key] = [[s.name, s.labels, s.value] for f in parser(request[key]) for s in f.samples]
        except Exception as error:
            answer[key] = "error: %r" % (error,)
    print(json.dumps(answer), flush=True)
"#;

/// A running `python3` with the reference parser; killed when dropped.
struct PythonParser {
    input: ChildStdin,
    output: BufReader<ChildStdout>,
    _process: ChildGuard,
}

impl PythonParser {
    fn start() -> Self {
        let mut process = ChildGuard(
            Command::new(python())
                .args(["-c", PYTHON_PARSER])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("python3 starts"),
        );
        let input = process.0.stdin.take().unwrap();
        let output = BufReader::new(process.0.stdout.take().unwrap());
        Self {
            input,
            output,
            _process: process,
        }
    }

    /// Both expositions parsed by the Python client, as samples.
    fn parse(
        &mut self,
        text: &str,
        openmetrics: &str,
    ) -> (Result<Vec<Sample>, String>, Result<Vec<Sample>, String>) {
        let request = serde_json::json!({ "text": text, "openmetrics": openmetrics });
        writeln!(self.input, "{request}").unwrap();
        let mut line = String::new();
        self.output.read_line(&mut line).unwrap();
        let answer: serde_json::Value = serde_json::from_str(&line).expect("python answers JSON");
        let samples = |value: &serde_json::Value| -> Result<Vec<Sample>, String> {
            let list = value.as_array().ok_or_else(|| value.to_string())?;
            Ok(list
                .iter()
                .map(|sample| Sample {
                    name: sample[0].as_str().unwrap().to_owned(),
                    labels: serde_json::from_value(sample[1].clone()).unwrap(),
                    value: sample[2].as_f64().unwrap(),
                })
                .collect())
        };
        (samples(&answer["text"]), samples(&answer["openmetrics"]))
    }
}

// ---- Prometheus's OpenMetrics parser, through promtool's TSDB import -------------------------

/// What one case expects Prometheus to read back.
struct Expected {
    openmetrics: String,
    views: BTreeSet<String>,
    charsets: BTreeSet<String>,
}

const FIRST_TIMESTAMP: u64 = 1_700_000_000;

/// Imports the OpenMetrics expositions of many cases into one TSDB with promtool (case `i`
/// stamped with second `FIRST_TIMESTAMP + i`, since the importer needs timestamps) and dumps
/// it back: per case, the `view` and `charset` values Prometheus itself parsed.
#[allow(clippy::type_complexity)]
fn prometheus_round_trip(
    promtool: &Path,
    cases: &[Expected],
) -> Result<Vec<(BTreeSet<String>, BTreeSet<String>)>, String> {
    let directory = TempDir::new("tower-prometheus-hostile");
    let mut stamped = String::new();
    for (index, case) in cases.iter().enumerate() {
        for line in case.openmetrics.lines() {
            if line == "# EOF" {
                continue;
            }
            stamped.push_str(line);
            if !line.starts_with('#') {
                stamped.push_str(&format!(" {}", FIRST_TIMESTAMP + index as u64));
            }
            stamped.push('\n');
        }
    }
    stamped.push_str("# EOF\n");
    let input = directory.path().join("input.om");
    std::fs::write(&input, stamped).unwrap();
    let data = directory.path().join("data");
    let import = run(
        Command::new(promtool)
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(&input)
            .arg(&data),
        b"",
    );
    if !import.status.success() {
        return Err(format!(
            "import failed: {}",
            String::from_utf8_lossy(&import.stderr)
        ));
    }
    std::fs::create_dir_all(data.join("wal")).unwrap();
    let dump = run(Command::new(promtool).args(["tsdb", "dump"]).arg(&data), b"");
    if !dump.status.success() {
        return Err(format!("dump failed: {}", String::from_utf8_lossy(&dump.stderr)));
    }
    let mut found = vec![(BTreeSet::new(), BTreeSet::new()); cases.len()];
    for line in String::from_utf8(dump.stdout).unwrap().lines() {
        let labels = parse_go_labels(line)?;
        let millis: u64 = line
            .rsplit(' ')
            .next()
            .and_then(|timestamp| timestamp.parse().ok())
            .ok_or_else(|| format!("no timestamp: {line:.80}"))?;
        let index = (millis / 1000 - FIRST_TIMESTAMP) as usize;
        let label = |name: &str| labels.get(name).cloned().unwrap_or_default();
        match labels.get("__name__").map(String::as_str) {
            Some(VIEW_FAMILY) => {
                found[index].0.insert(label("view"));
            }
            Some(CHARSET_FAMILY) => {
                found[index].1.insert(label("charset"));
            }
            _ => {}
        }
    }
    Ok(found)
}

/// Parses `{a="x", b="y"} value timestamp` as printed by `promtool tsdb dump`: label values
/// are Go `strconv.Quote`d strings.
fn parse_go_labels(line: &str) -> Result<BTreeMap<String, String>, String> {
    let mut labels = BTreeMap::new();
    let mut rest = line
        .strip_prefix('{')
        .ok_or_else(|| format!("no labels: {line:.80}"))?;
    loop {
        let equals = rest.find("=\"").ok_or_else(|| format!("no '=': {rest:.80}"))?;
        let key = rest[..equals].trim_start_matches([',', ' ']).to_owned();
        let mut value = String::new();
        let mut chars = rest[equals + 2..].char_indices();
        let end = loop {
            let (index, c) = chars.next().ok_or("unterminated value")?;
            match c {
                '"' => break index,
                '\\' => {
                    let (_, escape) = chars.next().ok_or("dangling backslash")?;
                    let mut hex = |digits: usize| -> Result<char, String> {
                        let code: String = (0..digits).filter_map(|_| chars.next().map(|(_, c)| c)).collect();
                        u32::from_str_radix(&code, 16)
                            .ok()
                            .and_then(char::from_u32)
                            .ok_or_else(|| format!("bad escape {code}"))
                    };
                    value.push(match escape {
                        'a' => '\u{7}',
                        'b' => '\u{8}',
                        'f' => '\u{c}',
                        'n' => '\n',
                        'r' => '\r',
                        't' => '\t',
                        'v' => '\u{b}',
                        '\\' => '\\',
                        '"' => '"',
                        'x' => hex(2)?,
                        'u' => hex(4)?,
                        'U' => hex(8)?,
                        other => return Err(format!("unknown escape \\{other}")),
                    });
                }
                c => value.push(c),
            }
        };
        labels.insert(key, value);
        rest = &rest[equals + 2 + end + 1..];
        if rest.starts_with('}') {
            return Ok(labels);
        }
    }
}

// ---- the property ----------------------------------------------------------------------------

struct ReferenceTools {
    python: PythonParser,
    promtool: PathBuf,
    /// Cases waiting for the batched Prometheus round trip (one import for all of them).
    for_prometheus: Vec<Expected>,
}

impl ReferenceTools {
    fn start() -> Self {
        Self {
            python: PythonParser::start(),
            promtool: program("promtool"),
            for_prometheus: Vec::new(),
        }
    }

    /// Runs the batched Prometheus round trip; panics on the first case that differs.
    fn finish(&mut self) {
        if self.for_prometheus.is_empty() {
            return;
        }
        let parsed =
            prometheus_round_trip(&self.promtool, &self.for_prometheus).unwrap_or_else(|e| panic!("{e:.2000}"));
        for (index, (case, (views, charsets))) in self.for_prometheus.iter().zip(&parsed).enumerate() {
            let parser = format!("prometheus (promtool tsdb), OpenMetrics, case {index}");
            let checked = same_values(&parser, views, &case.views)
                .and_then(|()| same_values(&parser, charsets, &case.charsets));
            if let Err(failure) = checked {
                panic!("{}", failure.to_string().chars().take(4_000).collect::<String>());
            }
        }
    }
}

fn check(case: &Case, tools: &mut ReferenceTools) -> Result<(), TestCaseError> {
    let metrics = record(case);
    let (views, charsets) = expected(case);
    let text = metrics.render(Format::PrometheusText).unwrap();
    let openmetrics = metrics.render(Format::OpenMetrics).unwrap();

    let ours_text = parse(&text, Format::PrometheusText).map_err(TestCaseError::fail)?;
    let ours_openmetrics = parse(&openmetrics, Format::OpenMetrics).map_err(TestCaseError::fail)?;
    for (parser, samples) in [
        ("ours, text", &ours_text),
        ("ours, OpenMetrics", &ours_openmetrics),
    ] {
        same_values(parser, &values(samples, VIEW_FAMILY, "view"), &views)?;
        same_values(parser, &values(samples, CHARSET_FAMILY, "charset"), &charsets)?;
    }

    let (text_samples, openmetrics_samples) = tools.python.parse(&text, &openmetrics);
    let text_samples = text_samples.map_err(|e| TestCaseError::fail(format!("python text: {e}")))?;
    let openmetrics_samples =
        openmetrics_samples.map_err(|e| TestCaseError::fail(format!("python openmetrics: {e}")))?;
    // The Python client sees exactly the samples our parser sees, label values included.
    same_values(
        "python, text (all samples)",
        &sorted(&text_samples),
        &sorted(&ours_text),
    )?;
    let parser = "python, OpenMetrics";
    same_values(parser, &values(&openmetrics_samples, VIEW_FAMILY, "view"), &views)?;
    same_values(
        parser,
        &values(&openmetrics_samples, CHARSET_FAMILY, "charset"),
        &charsets,
    )?;
    prop_assert_eq!(openmetrics_samples.len(), ours_openmetrics.len());

    let result = run_with_input(&tools.promtool, &["check", "metrics"], text.as_bytes());
    prop_assert!(
        result.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
    tools.for_prometheus.push(Expected {
        openmetrics,
        views,
        charsets,
    });
    Ok(())
}

/// Fails with the values only one side has, shortened: 10 kB values make unreadable reports.
fn same_values(
    parser: &str,
    got: &BTreeSet<String>,
    expected: &BTreeSet<String>,
) -> Result<(), TestCaseError> {
    if got == expected {
        return Ok(());
    }
    let short = |values: Vec<&String>| -> Vec<String> {
        values
            .into_iter()
            .map(|value| {
                format!(
                    "{:?} ({} bytes)",
                    value.chars().take(40).collect::<String>(),
                    value.len()
                )
            })
            .collect()
    };
    Err(TestCaseError::fail(format!(
        "{parser}: unexpected {:?}, missing {:?}",
        short(got.difference(expected).collect()),
        short(expected.difference(got).collect()),
    )))
}

fn sorted(samples: &[Sample]) -> BTreeSet<String> {
    let mut keys: BTreeSet<String> = samples
        .iter()
        // Six significant digits: serde_json's default float parsing may differ from Python's
        // in the last bit of a latency sum.
        .map(|sample| format!("{} {:?} {:.6e}", sample.name, sample.labels, sample.value))
        .collect();
    keys.extend(std::iter::once(format!("{} samples", samples.len())));
    keys
}

fn hostile_label_values_round_trip_through_every_parser() {
    let tools = std::cell::RefCell::new(ReferenceTools::start());
    let mut runner = TestRunner::new(Config {
        cases: 48,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&case(), |case| check(&case, &mut tools.borrow_mut()));
    if let Err(failure) = result {
        let report = failure.to_string();
        panic!("{}", report.chars().take(4_000).collect::<String>());
    }
    tools.borrow_mut().finish();
}

fn known_troublemakers_round_trip() {
    let mut tools = ReferenceTools::start();
    let troublemakers = [
        "a\"b",
        "a\\b",
        "a\nb",
        "\\n",
        "{}",
        "x=\"y\"",
        "# EOF",
        "\n# EOF\n",
        "} 1\nfake 2",
        "\r\n",
        "\0",
        "\u{1b}[31m",
        "é☃𝄞",
        "\u{2028}",
        "",
        " ",
        "a # {b=\"c\"} 1",
    ];
    let case = Case {
        views: troublemakers
            .iter()
            .enumerate()
            .map(|(i, view)| {
                let source = if i % 2 == 0 {
                    Source::Resolver
                } else {
                    Source::Extension
                };
                (view.to_string(), source)
            })
            .chain(std::iter::once(("\"\\\n".repeat(3_500), Source::Extension)))
            .collect(),
        charsets: vec!["x\"y".into(), "x\\y".into(), "x{a=b}#x".into()],
    };
    if let Err(failure) = check(&case, &mut tools) {
        panic!("{}", failure.to_string().chars().take(4_000).collect::<String>());
    }
    tools.finish();
}
