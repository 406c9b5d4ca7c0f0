//! Shared helpers of the `reliability_*` tests: a strict exposition parser, sample lookups and
//! the skip-or-fail rule for external tools.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;

use tower_prometheus::{Format, Metrics};

/// One sample line of an exposition.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Parses an exposition strictly (both text formats): every line must be a `# HELP`,
/// `# TYPE`, `# UNIT` or `# EOF` comment or a well-formed sample, label values may only use
/// the escapes `\\`, `\"` and `\n`, and an OpenMetrics exposition must end with `# EOF`.
pub fn parse(text: &str, format: Format) -> Result<Vec<Sample>, String> {
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
            if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
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

/// Renders `metrics` in `format` and parses it strictly; panics on a malformed exposition.
pub fn scrape(metrics: &Metrics, format: Format) -> Vec<Sample> {
    let text = metrics.render(format).expect("render");
    parse(&text, format).unwrap_or_else(|problem| panic!("malformed exposition: {problem}"))
}

/// The value of the sample `name` whose labels include all of `labels`, summed over every
/// matching series; 0 when there is none.
pub fn total(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|sample| sample.name == name)
        .filter(|sample| {
            labels
                .iter()
                .all(|(key, value)| sample.labels.get(*key).map(String::as_str) == Some(*value))
        })
        .map(|sample| sample.value)
        .sum()
}

/// The number of series (sample lines) of `name`.
pub fn series(samples: &[Sample], name: &str) -> usize {
    samples.iter().filter(|sample| sample.name == name).count()
}

/// Keeps the panics the tests provoke on purpose (their message says "on purpose") out of
/// the output; every other panic is reported by the default hook as usual.
pub fn quiet_intentional_panics() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                .unwrap_or_default();
            if !message.contains("on purpose") {
                default(info);
            }
        }));
    });
}

/// Whether an end-to-end test must fail instead of skipping when a tool is missing.
pub fn e2e_required() -> bool {
    std::env::var("TOWER_PROMETHEUS_REQUIRE_E2E").is_ok_and(|value| value == "1")
}

/// Whether `program --version` (or `args`) runs; prints `SKIP` and returns false when it does
/// not, or panics when end-to-end tests are required.
pub fn tool_available(program: &str, args: &[&str]) -> bool {
    let found = std::process::Command::new(program)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !found {
        assert!(
            !e2e_required(),
            "{program} not found but TOWER_PROMETHEUS_REQUIRE_E2E=1"
        );
        println!("SKIP: {program} not found");
    }
    found
}

#[test]
fn the_parser_rejects_malformed_lines() {
    for bad in [
        "m{v=\"a\"b\"} 1\n",
        "m{v=\"a\\x\"} 1\n",
        "m{v=\"a} 1\n",
        "m{v=\"a\",v=\"b\"} 1\n",
        "m 1 2 x\n",
        "2m 1\n",
        "# random comment\n",
        "m 1",
    ] {
        assert!(parse(bad, Format::PrometheusText).is_err(), "accepted {bad:?}");
    }
    assert!(parse("m 1\n", Format::OpenMetrics).is_err());
    let samples = parse("m{a=\"x\\\\\\\"\\n\",b=\"\"} 2.5\n# EOF\n", Format::OpenMetrics).unwrap();
    assert_eq!(samples[0].labels["a"], "x\\\"\n");
    assert_eq!(samples[0].value, 2.5);
}
