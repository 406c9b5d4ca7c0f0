//! A strict parser of both text formats (Prometheus text 0.0.4 and OpenMetrics 1.0.0) and
//! lookups of sample values: every test that reads an exposition back reads it through here,
//! so a malformed exposition fails every such test.

use std::collections::BTreeMap;

use http_body_util::BodyExt;
use tower_prometheus::{Format, Metrics};

/// One sample line of an exposition.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Sample {
    /// The sample name (`..._bucket`, `..._total` included).
    pub(crate) name: String,
    /// The labels, unescaped.
    pub(crate) labels: BTreeMap<String, String>,
    /// The value.
    pub(crate) value: f64,
}

/// Parses an exposition strictly (both text formats): every line must be a `# HELP`,
/// `# TYPE`, `# UNIT` or `# EOF` comment or a well-formed sample, label values may only use
/// the escapes `\\`, `\"` and `\n`, and an OpenMetrics exposition must end with `# EOF`.
pub(crate) fn parse(text: &str, format: Format) -> Result<Vec<Sample>, String> {
    if !text.ends_with('\n') {
        return Err("exposition does not end with a newline".into());
    }
    let mut samples = Vec::new();
    let mut eof = false;
    for (number, line) in text.lines().enumerate() {
        let context = |problem: &str| format!("line {}: {problem}: {:?}", number + 1, truncate(line));
        if eof {
            return Err(context("content after # EOF"));
        }
        if let Some(comment) = line.strip_prefix('#') {
            match comment {
                " EOF" if format == Format::OpenMetrics => eof = true,
                _ if comment.starts_with(" HELP ")
                    || comment.starts_with(" TYPE ")
                    || comment.starts_with(" UNIT ") => {}
                _ => return Err(context("unexpected comment")),
            }
            continue;
        }
        samples.push(parse_sample(line).map_err(|problem| context(&problem))?);
    }
    if format == Format::OpenMetrics && !eof {
        return Err("OpenMetrics exposition without # EOF".into());
    }
    Ok(samples)
}

fn truncate(line: &str) -> String {
    line.chars().take(120).collect()
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("sample without value")?;
    let name = &line[..name_end];
    let valid_name = name
        .chars()
        .enumerate()
        .all(|(i, c)| c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit()));
    if name.is_empty() || !valid_name {
        return Err(format!("invalid metric name {name:?}"));
    }
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(after_brace) = rest.strip_prefix('{') {
        rest = after_brace;
        loop {
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let equals = rest.find('=').ok_or("label without '='")?;
            let key = &rest[..equals];
            let valid_key = key
                .chars()
                .enumerate()
                .all(|(i, c)| c.is_ascii_alphabetic() || c == '_' || (i > 0 && c.is_ascii_digit()));
            if key.is_empty() || !valid_key {
                return Err(format!("invalid label name {key:?}"));
            }
            rest = rest[equals + 1..]
                .strip_prefix('"')
                .ok_or("label value without quote")?;
            let mut value = String::new();
            let mut chars = rest.char_indices();
            let end = loop {
                let (index, c) = chars.next().ok_or("unterminated label value")?;
                match c {
                    '"' => break index,
                    '\\' => match chars.next().ok_or("dangling backslash")?.1 {
                        '\\' => value.push('\\'),
                        '"' => value.push('"'),
                        'n' => value.push('\n'),
                        other => return Err(format!("invalid escape \\{other}")),
                    },
                    '\n' => return Err("raw newline in label value".into()),
                    c => value.push(c),
                }
            };
            if labels.insert(key.to_owned(), value).is_some() {
                return Err(format!("duplicate label {key:?}"));
            }
            rest = &rest[end + 1..];
            if let Some(after) = rest.strip_prefix(',') {
                rest = after;
            } else if !rest.starts_with('}') {
                return Err("expected ',' or '}' after a label".into());
            }
        }
    }
    let value = rest.strip_prefix(' ').ok_or("no space before the value")?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        other => other.parse().map_err(|_| format!("invalid value {other:?}"))?,
    };
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// Parses a Prometheus text 0.0.4 exposition strictly; panics with the problem and the text
/// when it is malformed.
pub(crate) fn parse_text(text: &str) -> Vec<Sample> {
    parse(text, Format::PrometheusText)
        .unwrap_or_else(|problem| panic!("malformed exposition: {problem}\n{text}"))
}

/// Renders `metrics` in `format` and parses it strictly; panics on a malformed exposition.
pub(crate) fn scrape(metrics: &Metrics, format: Format) -> Vec<Sample> {
    let text = metrics.render(format).expect("render");
    parse(&text, format).unwrap_or_else(|problem| panic!("malformed exposition: {problem}\n{text}"))
}

/// Whether `sample` is named `name` and carries every pair of `labels`.
fn matches(sample: &Sample, name: &str, labels: &[(&str, &str)]) -> bool {
    sample.name == name
        && labels
            .iter()
            .all(|(key, value)| sample.labels.get(*key).map(String::as_str) == Some(*value))
}

/// The value of the one series `name` whose label set is exactly `labels`; `None` when there
/// is none. Panics when several series match (the lookup would be ambiguous).
pub(crate) fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let matching: Vec<&Sample> = samples
        .iter()
        .filter(|sample| sample.labels.len() == labels.len() && matches(sample, name, labels))
        .collect();
    assert!(
        matching.len() <= 1,
        "several samples match {name} {labels:?}: {matching:?}"
    );
    matching.first().map(|sample| sample.value)
}

/// Like [`value`], but 0 when the series does not exist (yet).
pub(crate) fn value_or_zero(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    value(samples, name, labels).unwrap_or(0.0)
}

/// The sum of the values of every series `name` whose labels include all of `labels` (other
/// labels may vary); 0 when there is none.
pub(crate) fn total(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|sample| matches(sample, name, labels))
        .map(|sample| sample.value)
        .sum()
}

/// One expectation: the series `name` with `labels` holds `value`.
pub(crate) type Expected<'a> = (&'a str, &'a [(&'a str, &'a str)], f64);

/// Asserts every expectation against [`value_or_zero`], reporting all mismatches at once.
pub(crate) fn assert_values(samples: &[Sample], expected: &[Expected<'_>]) {
    assert_all(samples, expected, value_or_zero);
}

/// Asserts every expectation against [`total`] (the labels given are a subset of each
/// series' labels), reporting all mismatches at once.
pub(crate) fn assert_totals(samples: &[Sample], expected: &[Expected<'_>]) {
    assert_all(samples, expected, total);
}

/// How a series is read: [`value_or_zero`] or [`total`].
type ReadSeries = fn(&[Sample], &str, &[(&str, &str)]) -> f64;

fn assert_all(samples: &[Sample], expected: &[Expected<'_>], read: ReadSeries) {
    let mismatches: Vec<String> = expected
        .iter()
        .filter_map(|&(name, labels, value)| {
            let actual = read(samples, name, labels);
            (actual != value).then(|| format!("{name}{labels:?}: expected {value}, got {actual}"))
        })
        .collect();
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// The number of series (sample lines) named `name`.
pub(crate) fn series(samples: &[Sample], name: &str) -> usize {
    samples.iter().filter(|sample| sample.name == name).count()
}

/// Reads a whole response body into a string.
pub(crate) async fn body_text<B>(body: B) -> String
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let bytes = body.collect().await.expect("body").to_bytes();
    String::from_utf8(bytes.to_vec()).expect("UTF-8 body")
}

/// The metric families of a protobuf exposition, decoded.
#[cfg(feature = "protobuf")]
pub(crate) fn protobuf_families(
    metrics: &Metrics,
) -> Vec<prometheus_client::encoding::prometheus_protobuf::prometheus_data_model::MetricFamily> {
    use prometheus_client::encoding::prometheus_protobuf::prometheus_data_model::MetricFamily;
    use prost::Message;

    let bytes = metrics.render_bytes(Format::Protobuf).expect("render protobuf");
    let mut rest = bytes.as_slice();
    let mut families = Vec::new();
    while !rest.is_empty() {
        families.push(MetricFamily::decode_length_delimited(&mut rest).expect("a delimited MetricFamily"));
    }
    families
}

/// The family `name` of decoded protobuf `families`; panics naming it when it is absent.
#[cfg(feature = "protobuf")]
pub(crate) fn protobuf_family<'f>(
    families: &'f [prometheus_client::encoding::prometheus_protobuf::prometheus_data_model::MetricFamily],
    name: &str,
) -> &'f prometheus_client::encoding::prometheus_protobuf::prometheus_data_model::MetricFamily {
    families
        .iter()
        .find(|family| family.name == name)
        .unwrap_or_else(|| panic!("no family {name}"))
}
