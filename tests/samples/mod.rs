//! Reads samples back from a Prometheus text 0.0.4 exposition, for assertions.

#![allow(dead_code)]

use http_body_util::BodyExt;

/// One sample line: metric name, labels in order, value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    pub(crate) name: String,
    pub(crate) labels: Vec<(String, String)>,
    pub(crate) value: f64,
}

/// Parses every sample line (comments skipped); panics on a malformed line, which is a bug.
pub(crate) fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| parse_line(line).unwrap_or_else(|| panic!("malformed sample line: {line:?}")))
        .collect()
}

fn parse_line(line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' '])?;
    let name = line[..name_end].to_owned();
    let mut labels = Vec::new();
    let mut rest = &line[name_end..];
    if let Some(after_brace) = rest.strip_prefix('{') {
        let mut chars = after_brace.char_indices().peekable();
        loop {
            let (start, first) = chars.next()?;
            if first == '}' {
                rest = &after_brace[start + 1..];
                break;
            }
            if first == ',' {
                continue;
            }
            let equals = after_brace[start..].find('=')? + start;
            let key = after_brace[start..equals].to_owned();
            while chars.peek()?.0 <= equals + 1 {
                chars.next();
            }
            let mut value = String::new();
            loop {
                let (_, c) = chars.next()?;
                match c {
                    '\\' => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    '"' => break,
                    other => value.push(other),
                }
            }
            labels.push((key, value));
        }
    }
    let value = rest.trim().split(' ').next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        other => other.parse().ok()?,
    };
    Some(Sample { name, labels, value })
}

/// The value of the sample `name` whose labels include every pair of `labels` and no other
/// label outside `le`; `None` when absent.
pub(crate) fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let matching: Vec<Sample> = parse(text)
        .into_iter()
        .filter(|sample| {
            sample.name == name
                && sample.labels.len() == labels.len()
                && labels
                    .iter()
                    .all(|(key, value)| sample.labels.iter().any(|(k, v)| k == key && v == value))
        })
        .collect();
    assert!(
        matching.len() <= 1,
        "several samples match {name} {labels:?}: {matching:?}"
    );
    matching.first().map(|sample| sample.value)
}

/// Like [`value`], but 0 when the series does not exist yet.
pub(crate) fn value_or_zero(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    value(text, name, labels).unwrap_or(0.0)
}

/// The number of series (sample lines) of a family whose names start with `name`.
pub(crate) fn series_count(text: &str, name: &str) -> usize {
    parse(text).iter().filter(|sample| sample.name == name).count()
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
