//! What the golden test compares: the exposition with what depends on the run made
//! independent of it, and a line diff for when it differs.

use std::fmt::Write as _;

#[cfg(feature = "protobuf")]
use crate::{Format, Metrics};

/// The exposition with each family's series sorted by their labels, each series' lines kept
/// together and in their order. A family lists its series in the order of a hash map seeded
/// per process, so that order is no part of what a scraper can rely on.
pub(super) fn in_label_order(text: &str) -> String {
    let mut ordered = String::with_capacity(text.len());
    let mut samples: Vec<&str> = Vec::new();
    for line in text.split_inclusive('\n') {
        if line.starts_with('#') {
            samples.sort_by_cached_key(|sample| series_labels(sample));
            ordered.extend(samples.drain(..));
            ordered.push_str(line);
        } else {
            samples.push(line);
        }
    }
    samples.sort_by_cached_key(|sample| series_labels(sample));
    ordered.extend(samples);
    ordered
}

/// The label pairs of a sample line but `le`, which tells a histogram's buckets apart: the
/// lines of one series share them.
fn series_labels(line: &str) -> String {
    let Some(open) = line.find('{') else {
        return String::new();
    };
    let mut pairs = Vec::new();
    let mut rest = &line[open + 1..];
    while !rest.starts_with('}') {
        let (name, quoted) = rest.split_once("=\"").expect("a label pair");
        // The value runs to the first quote that is not escaped.
        let bytes = quoted.as_bytes();
        let mut end = 0;
        while bytes[end] != b'"' {
            end += if bytes[end] == b'\\' { 2 } else { 1 };
        }
        if name != "le" {
            pairs.push(&rest[..name.len() + 2 + end + 1]);
        }
        rest = quoted[end + 1..].trim_start_matches(',');
    }
    pairs.join(",")
}

/// The encode duration's sum and finite buckets, the only values timed by the wall clock,
/// as `<elapsed>`.
pub(super) fn elapsed_text(text: &str) -> String {
    let mut normalised = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let timed = line.contains("http_metrics_encode_duration_seconds_sum")
            || (line.contains("http_metrics_encode_duration_seconds_bucket")
                && !line.contains("le=\"+Inf\""));
        match line.rsplit_once(' ') {
            Some((series, _)) if timed && !line.starts_with('#') => {
                let _ = writeln!(normalised, "{series} <elapsed>");
            }
            _ => normalised.push_str(line),
        }
    }
    normalised
}

/// The protobuf exposition decoded, as prost prints it. The decoded messages encode back to
/// the very bytes, so comparing them compares the bytes but for the order of a family's
/// series, sorted by their labels as in [`in_label_order`]. The encode duration's sum reads
/// `NaN` and its finite buckets `0` (`<elapsed>` in the text formats), and the start
/// timestamps of native histograms `0`.
#[cfg(feature = "protobuf")]
pub(super) fn protobuf(metrics: &Metrics) -> String {
    use prometheus_client::encoding::prometheus_protobuf::prometheus_data_model::MetricFamily;
    use prost::Message;

    let bytes = metrics
        .render_bytes(Format::Protobuf)
        .expect("the exposition renders");
    let mut rest = bytes.as_slice();
    let mut families = Vec::new();
    while !rest.is_empty() {
        families.push(MetricFamily::decode_length_delimited(&mut rest).expect("a delimited MetricFamily"));
    }
    let encoded_again: Vec<u8> = families
        .iter()
        .flat_map(Message::encode_length_delimited_to_vec)
        .collect();
    assert!(
        encoded_again == bytes,
        "the decoded form holds every byte of the exposition"
    );
    for family in &mut families {
        // In label order, as the text formats are compared.
        family.metric.sort_by_cached_key(|metric| {
            metric
                .label
                .iter()
                .map(|pair| (pair.name.clone(), pair.value.clone()))
                .collect::<Vec<_>>()
        });
        for histogram in family
            .metric
            .iter_mut()
            .filter_map(|metric| metric.histogram.as_mut())
        {
            // A native histogram's series tells when it was created, by the system clock.
            if let Some(start) = &mut histogram.start_timestamp {
                (start.seconds, start.nanos) = (0, 0);
            }
        }
        if family.name.ends_with("http_metrics_encode_duration_seconds") {
            for histogram in family
                .metric
                .iter_mut()
                .filter_map(|metric| metric.histogram.as_mut())
            {
                histogram.sample_sum = f64::NAN;
                for bucket in &mut histogram.bucket {
                    if bucket.upper_bound.is_finite() {
                        bucket.cumulative_count = 0;
                    }
                }
            }
        }
    }
    format!("{families:#?}\n")
}
/// A line diff (longest common subsequence) of the lines that differ, numbered as in the
/// golden file (`-`, and unchanged lines) or in the new exposition (`+`), with three lines of
/// context.
pub(super) fn diff(expected: &str, actual: &str) -> String {
    let old: Vec<&str> = expected.lines().collect();
    let new: Vec<&str> = actual.lines().collect();
    // common[i][j]: the length of the longest common subsequence of old[i..] and new[j..].
    let mut common = vec![vec![0_usize; new.len() + 1]; old.len() + 1];
    for i in (0..old.len()).rev() {
        for j in (0..new.len()).rev() {
            common[i][j] = if old[i] == new[j] {
                common[i + 1][j + 1] + 1
            } else {
                common[i + 1][j].max(common[i][j + 1])
            };
        }
    }
    let mut edits = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        if i < old.len() && j < new.len() && old[i] == new[j] {
            edits.push((' ', i, old[i]));
            i += 1;
            j += 1;
        } else if i < old.len() && (j == new.len() || common[i + 1][j] >= common[i][j + 1]) {
            edits.push(('-', i, old[i]));
            i += 1;
        } else {
            edits.push(('+', j, new[j]));
            j += 1;
        }
    }
    let changed: Vec<usize> = (0..edits.len()).filter(|&at| edits[at].0 != ' ').collect();
    let mut out = String::new();
    let mut last_shown = None;
    for (at, &(kind, line, text)) in edits.iter().enumerate() {
        let near = changed.iter().any(|&change| change.abs_diff(at) <= 3);
        if !near {
            continue;
        }
        if last_shown.is_some_and(|last| last + 1 != at) {
            out.push_str("   …\n");
        }
        let _ = writeln!(out, "{kind}{:>5} {text}", line + 1);
        last_shown = Some(at);
    }
    out
}

#[test]
fn the_diff_shows_the_changed_lines_with_context() {
    let expected = "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl\n";
    let actual = "a\nc\nd\ne\nf\ng\nh\ni\nj\nK\nl\n";
    let shown = [
        "     1 a", "-    2 b", "     3 c", "     4 d", "     5 e", "   …", "     8 h", "     9 i",
        "    10 j", "-   11 k", "+   10 K", "    12 l",
    ];
    assert_eq!(
        diff(expected, actual),
        shown.map(|line| format!("{line}\n")).concat()
    );
    assert_eq!(diff(expected, expected), "");
}
