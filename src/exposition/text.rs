//! The text encoder of the HTTP families (both dialects), writing the same bytes as
//! prometheus-client's `prometheus_text::encode` (Prometheus text 0.0.4) or `text::encode`
//! (OpenMetrics 1.0, see [`Dialect`]) of the same registry, faster.
//!
//! prometheus-client encodes a series' labels again for every line of it: a histogram of 15
//! buckets has its constant and family labels escaped and written 17 times, through several
//! layers of `fmt::Write`. Here each series' label list (`const labels, family labels`) is
//! written once per scrape, the `le` values once per family, and every line is a few
//! `push_str`s. Families whose metrics carry exemplars or native buckets report
//! [`Unsupported`] and the caller falls back to prometheus-client for the whole part;
//! `fast_text_tests.rs` checks the bytes against prometheus-client's.

use std::borrow::Cow;
use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit;

use crate::registry::families::{FamilySpec, FamilyVisitor, HttpFamilies};
use crate::registry::labels::{LabelFields, LabelText};

/// A metric variant this renderer leaves to prometheus-client (exemplars, native histograms).
#[derive(Debug)]
pub(crate) struct Unsupported;

/// Which text format is written. The two differ in the family header, the `le` values, where
/// `le` sits in a bucket's label list, and the order of a histogram's lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// Prometheus text 0.0.4, as `prometheus_client::encoding::prometheus_text` writes it.
    Prometheus,
    /// OpenMetrics 1.0, as `prometheus_client::encoding::text` writes it (without `# EOF`).
    OpenMetrics,
}

/// Where the series are written, with the `le` texts of the histogram bounds seen so far.
pub(crate) struct TextWriter<'a> {
    out: &'a mut String,
    dialect: Dialect,
    /// Bounds are shared by every histogram of a family: formatted once per scrape.
    le_texts: Vec<(Arc<[f64]>, Vec<String>)>,
    /// The constant labels' list, which starts every series' list: OpenMetrics puts a bucket's
    /// `le` right after it, before the family's labels.
    const_labels: String,
    /// A histogram's bucket counts, read before OpenMetrics writes its `_sum` and `_count`.
    counts: Vec<u64>,
}

/// A metric (or a family of them) that renders its own sample lines.
pub(crate) trait TextMetric {
    /// Writes every sample line of this metric, named `name` (prefix, unit and `_total`
    /// included), with `labels` (a `key="value"` list without braces, possibly empty) first in
    /// every label list.
    fn write_text(&self, writer: &mut TextWriter<'_>, name: &str, labels: &str) -> Result<(), Unsupported>;

    /// A family without series is left out, header included, as prometheus-client does.
    fn is_empty_family(&self) -> bool {
        false
    }
}

/// A series' label list in `buffer`: the family's `labels` (constant labels), then the
/// series' own.
fn series_labels<'b>(buffer: &'b mut String, labels: &str, series: &impl LabelFields) -> &'b str {
    buffer.clear();
    buffer.push_str(labels);
    write_labels(series, buffer);
    buffer
}

/// Appends every label of `labels`, each preceded by `,` unless `out` is empty.
fn write_labels(labels: &impl LabelFields, out: &mut String) {
    labels.for_each_label(|key, value| push_label(out, key, value));
}

/// Appends one `key="value"` pair of a label list.
fn push_label(out: &mut String, key: &str, value: LabelText<'_>) {
    if !out.is_empty() {
        out.push(',');
    }
    out.push_str(key);
    out.push_str("=\"");
    match value {
        LabelText::Str(text) => push_escaped_label_value(out, text),
        LabelText::Code(code) => push_u64(out, u64::from(code)),
        LabelText::Class(class) => {
            push_u64(out, u64::from(class));
            out.push_str("xx");
        }
    }
    out.push('"');
}

/// Label values escape backslash, double quote and newline; nothing else.
fn push_escaped_label_value(out: &mut String, value: &str) {
    push_escaped(out, value, |byte| match byte {
        b'\\' => Some("\\\\"),
        b'"' => Some("\\\""),
        b'\n' => Some("\\n"),
        _ => None,
    });
}

/// `# HELP` texts escape backslash and newline only.
fn push_escaped_help(out: &mut String, help: &str) {
    push_escaped(out, help, |byte| match byte {
        b'\\' => Some("\\\\"),
        b'\n' => Some("\\n"),
        _ => None,
    });
}

/// The first character of `help` that some format cannot carry unchanged, with its byte
/// offset: a control character (a line feed or carriage return ends the `# HELP` line for
/// some parser, a NUL ends it for others), or a backslash, which prometheus-client escapes in
/// Prometheus text but writes as is in OpenMetrics, where it starts an escape sequence.
pub(crate) fn help_problem(help: &str) -> Option<(usize, char)> {
    help.char_indices()
        .find(|&(_, character)| character.is_control() || character == '\\')
}

/// `help` with what [`help_problem`] finds replaced: each control character by a space and
/// each backslash by a slash, so that every format writes it as one line that reads the same.
/// For the sources that cannot refuse a help text: the facade's descriptions, a gathered
/// rust-prometheus family.
#[cfg(any(feature = "metrics", feature = "prometheus"))]
pub(crate) fn clean_help(help: &str) -> Cow<'_, str> {
    if help_problem(help).is_none() {
        return Cow::Borrowed(help);
    }
    Cow::Owned(
        help.chars()
            .map(|character| match character {
                '\\' => '/',
                control if control.is_control() => ' ',
                other => other,
            })
            .collect(),
    )
}

/// Removes from `text[from..]` (one part's exposition, in either text format, as
/// prometheus-client wrote it) the NaN samples OpenMetrics forbids: a counter's value, and a
/// histogram's sum with that series' count (OpenMetrics has a count only beside a sum).
/// Returns how many series lost them.
pub(crate) fn drop_nan_counter_samples(text: &mut String, from: usize) -> u64 {
    let part = &text[from..];
    if !part.contains(" NaN") {
        return 0;
    }
    let mut kept = String::with_capacity(part.len());
    let mut dropped = 0;
    // The family declared last (name and type), and the label sets of its sums dropped.
    let (mut family, mut kind) = ("", "");
    let mut nan_sums: Vec<&str> = Vec::new();
    for line in part.split_inclusive('\n') {
        if let Some(declaration) = line.strip_prefix("# TYPE ") {
            let mut words = declaration.trim_end().split(' ');
            (family, kind) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
            nan_sums.clear();
        } else if let Some((name, labels, value)) = split_sample(line) {
            let suffix = name.strip_prefix(family);
            let drop = match kind {
                "counter" => value == "NaN",
                "histogram" if suffix == Some("_sum") && value == "NaN" => {
                    nan_sums.push(labels);
                    true
                }
                "histogram" => suffix == Some("_count") && nan_sums.contains(&labels),
                _ => false,
            };
            if drop {
                dropped += u64::from(suffix != Some("_count"));
                continue;
            }
        }
        kept.push_str(line);
    }
    text.truncate(from);
    text.push_str(&kept);
    dropped
}

/// Leaves out, from the OpenMetrics part `text[from..]`, what OpenMetrics forbids to be
/// negative and prometheus-client writes as it is: a counter's value (a `Counter<f64>` given a
/// negative increment), and the `_sum` and `_count` of each histogram whose sum is negative
/// (OpenMetrics allows a sum only for a histogram without negative observations; its buckets
/// stay). Strict parsers (Python's) reject the whole scrape for one. Prometheus text keeps
/// them.
pub(crate) fn drop_negative_samples(text: &mut String, from: usize) {
    let part = &text[from..];
    if !part.contains(" -") {
        return;
    }
    let mut kept = String::with_capacity(part.len());
    let (mut family, mut kind) = ("", "");
    let mut negative_sums: Vec<&str> = Vec::new();
    for line in part.split_inclusive('\n') {
        if let Some(declaration) = line.strip_prefix("# TYPE ") {
            let mut words = declaration.trim_end().split(' ');
            (family, kind) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
            negative_sums.clear();
        } else if let Some((name, labels, value)) = split_sample(line) {
            let suffix = name.strip_prefix(family);
            let negative = value.parse::<f64>().is_ok_and(|value| value < 0.0);
            let drop = match kind {
                "counter" => suffix == Some("_total") && negative,
                "histogram" if suffix == Some("_sum") && negative => {
                    negative_sums.push(labels);
                    true
                }
                "histogram" => suffix == Some("_count") && negative_sums.contains(&labels),
                _ => false,
            };
            if drop {
                continue;
            }
        }
        kept.push_str(line);
    }
    text.truncate(from);
    text.push_str(&kept);
}

/// A sample line's name, label set (braces included, empty without) and value; `None` for a
/// comment or a line that is not a sample.
fn split_sample(line: &str) -> Option<(&str, &str, &str)> {
    if line.starts_with('#') {
        return None;
    }
    let name_end = line.find(['{', ' '])?;
    let mut labels_end = name_end;
    if line[name_end..].starts_with('{') {
        // The closing brace outside a quoted value; a value escapes `"` and `\` with `\`.
        let (mut quoted, mut escaped) = (false, false);
        let close = line[name_end..].bytes().position(|byte| {
            let closes = !quoted && byte == b'}';
            match byte {
                _ if escaped => escaped = false,
                b'\\' if quoted => escaped = true,
                b'"' => quoted = !quoted,
                _ => {}
            }
            closes
        })?;
        labels_end = name_end + close + 1;
    }
    let value = line[labels_end..].strip_prefix(' ')?;
    let value = value.split([' ', '\n']).next()?;
    Some((&line[..name_end], &line[name_end..labels_end], value))
}

fn push_escaped(out: &mut String, text: &str, escape: impl Fn(u8) -> Option<&'static str>) {
    let mut start = 0;
    for (index, byte) in text.bytes().enumerate() {
        if let Some(escaped) = escape(byte) {
            // The escaped bytes are ASCII, so `index` is a character boundary.
            out.push_str(&text[start..index]);
            out.push_str(escaped);
            start = index + 1;
        }
    }
    out.push_str(&text[start..]);
}

fn push_u64(out: &mut String, value: u64) {
    out.push_str(itoa::Buffer::new().format(value));
}

/// A sample value as prometheus-client writes `f64`s: shortest round-trip digits (dtoa),
/// `NaN`, `+Inf`, `-Inf`.
fn push_f64(out: &mut String, value: f64) {
    if value.is_finite() {
        out.push_str(dtoa::Buffer::new().format_finite(value));
    } else {
        out.push_str(non_finite(value));
    }
}

fn non_finite(value: f64) -> &'static str {
    if value.is_nan() {
        "NaN"
    } else if value.is_sign_positive() {
        "+Inf"
    } else {
        "-Inf"
    }
}

/// An `le` value as prometheus-client writes it, following Go's `strconv.FormatFloat(v, 'g',
/// -1, 64)`: whole numbers below a million as integers, plain decimals in `[1e-4, 1e6)`,
/// otherwise the shortest mantissa with a signed exponent of at least two digits (`1e+06`).
fn le_text(bound: f64, dialect: Dialect) -> String {
    if dialect == Dialect::OpenMetrics {
        // prometheus-client's OpenMetrics encoder writes an `f64` label value with dtoa.
        return if bound == f64::INFINITY {
            "+Inf".to_owned()
        } else {
            dtoa::Buffer::new().format(bound).to_owned()
        };
    }
    if bound.fract() == 0.0 && bound.abs() < 1e6 {
        // Exact: the value is whole and far inside `i64`.
        #[allow(clippy::cast_possible_truncation)]
        return itoa::Buffer::new().format(bound as i64).to_owned();
    }
    if (1e-4..1e6).contains(&bound.abs()) {
        return bound.to_string();
    }
    if !bound.is_finite() {
        return non_finite(bound).to_owned();
    }
    let scientific = format!("{bound:e}");
    match scientific.split_once('e') {
        Some((mantissa, exponent)) => {
            let exponent: i32 = exponent.parse().unwrap_or_default();
            format!("{mantissa}e{exponent:+03}")
        }
        None => scientific,
    }
}

impl TextWriter<'_> {
    fn le_texts(&mut self, bounds: &Arc<[f64]>) -> usize {
        if let Some(index) = self
            .le_texts
            .iter()
            .position(|(seen, _)| Arc::ptr_eq(seen, bounds))
        {
            return index;
        }
        let texts = bounds
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .map(|bound| le_text(bound, self.dialect))
            .collect();
        self.le_texts.push((Arc::clone(bounds), texts));
        self.le_texts.len() - 1
    }
}

/// `name` or `name{labels}`.
fn push_name_and_labels(out: &mut String, name: &str, suffix: &str, labels: &str) {
    out.push_str(name);
    out.push_str(suffix);
    if !labels.is_empty() {
        out.push('{');
        out.push_str(labels);
        out.push('}');
    }
}

/// One counter sample line: `name{labels} value`.
fn write_counter(
    writer: &mut TextWriter<'_>,
    name: &str,
    labels: &str,
    value: u64,
) -> Result<(), Unsupported> {
    push_name_and_labels(writer.out, name, "", labels);
    writer.out.push(' ');
    push_u64(writer.out, value);
    writer.out.push('\n');
    Ok(())
}

impl TextMetric for Counter {
    fn write_text(&self, writer: &mut TextWriter<'_>, name: &str, labels: &str) -> Result<(), Unsupported> {
        write_counter(writer, name, labels, self.get())
    }
}

impl TextMetric for crate::primitives::stripes::StripedCounter {
    fn write_text(&self, writer: &mut TextWriter<'_>, name: &str, labels: &str) -> Result<(), Unsupported> {
        write_counter(writer, name, labels, self.get())
    }
}

impl TextMetric for crate::primitives::stripes::MaybeStripedCounter {
    fn write_text(&self, writer: &mut TextWriter<'_>, name: &str, labels: &str) -> Result<(), Unsupported> {
        write_counter(writer, name, labels, self.get())
    }
}

impl<C: crate::registry::derived::GroupedCounts> TextMetric for crate::registry::derived::Total<C> {
    fn write_text(&self, writer: &mut TextWriter<'_>, name: &str, labels: &str) -> Result<(), Unsupported> {
        write_counter(writer, name, labels, self.get())
    }
}

impl<C> TextMetric for crate::registry::derived::Totals<C>
where
    C: crate::registry::derived::GroupedCounts,
    C::Labels: LabelFields,
{
    fn write_text(&self, writer: &mut TextWriter<'_>, name: &str, labels: &str) -> Result<(), Unsupported> {
        let mut buffer = String::with_capacity(labels.len() + 16);
        for (group, total) in self.totals() {
            write_counter(writer, name, series_labels(&mut buffer, labels, &group), total)?;
        }
        Ok(())
    }

    fn is_empty_family(&self) -> bool {
        self.has_no_series()
    }
}

impl TextMetric for crate::registry::derived::OverallLatency {
    fn write_text(&self, writer: &mut TextWriter<'_>, name: &str, labels: &str) -> Result<(), Unsupported> {
        match self {
            Self::Total(total) => total.total().write_text(writer, name, labels),
            Self::Recorded(histogram) => histogram.write_text(writer, name, labels),
        }
    }
}

impl TextMetric for Gauge {
    fn write_text(&self, writer: &mut TextWriter<'_>, name: &str, labels: &str) -> Result<(), Unsupported> {
        push_name_and_labels(writer.out, name, "", labels);
        writer.out.push(' ');
        writer.out.push_str(itoa::Buffer::new().format(self.get()));
        writer.out.push('\n');
        Ok(())
    }
}

impl TextMetric for crate::primitives::atomic_histogram::AtomicHistogram {
    fn write_text(&self, writer: &mut TextWriter<'_>, name: &str, labels: &str) -> Result<(), Unsupported> {
        if writer.dialect == Dialect::OpenMetrics {
            write_openmetrics_histogram(self, writer, name, labels);
            return Ok(());
        }
        let texts = writer.le_texts(self.bounds());
        let (le_texts, out) = (&writer.le_texts[texts].1, &mut *writer.out);
        let mut cumulative = 0;
        let sum = self.read(|bucket, count| {
            cumulative += count;
            out.push_str(name);
            out.push_str("_bucket{");
            out.push_str(labels);
            if !labels.is_empty() {
                out.push(',');
            }
            out.push_str("le=\"");
            out.push_str(&le_texts[bucket]);
            out.push_str("\"} ");
            push_u64(out, cumulative);
            out.push('\n');
        });
        push_name_and_labels(out, name, "_sum", labels);
        out.push(' ');
        push_f64(out, sum);
        out.push('\n');
        push_name_and_labels(out, name, "_count", labels);
        out.push(' ');
        push_u64(out, cumulative);
        out.push('\n');
        Ok(())
    }
}

/// An OpenMetrics histogram: `_sum`, `_count`, then the cumulative buckets with `le` between
/// the constant labels and the family's, as prometheus-client writes them.
fn write_openmetrics_histogram(
    histogram: &crate::primitives::atomic_histogram::AtomicHistogram,
    writer: &mut TextWriter<'_>,
    name: &str,
    labels: &str,
) {
    let mut counts = std::mem::take(&mut writer.counts);
    counts.clear();
    let sum = histogram.read(|_, count| counts.push(count));
    let texts = writer.le_texts(histogram.bounds());
    let (le_texts, out) = (&writer.le_texts[texts].1, &mut *writer.out);
    push_name_and_labels(out, name, "_sum", labels);
    out.push(' ');
    out.push_str(dtoa::Buffer::new().format(sum));
    out.push('\n');
    push_name_and_labels(out, name, "_count", labels);
    out.push(' ');
    push_u64(out, counts.iter().sum());
    out.push('\n');
    let const_labels = writer.const_labels.as_str();
    let family_labels = labels
        .strip_prefix(const_labels)
        .map(|rest| rest.strip_prefix(',').unwrap_or(rest))
        .unwrap_or(labels);
    let mut cumulative = 0;
    for (count, le) in counts.iter().zip(le_texts) {
        cumulative += count;
        out.push_str(name);
        out.push_str("_bucket{");
        if !const_labels.is_empty() {
            out.push_str(const_labels);
            out.push(',');
        }
        out.push_str("le=\"");
        out.push_str(le);
        out.push('"');
        if !family_labels.is_empty() {
            out.push(',');
            out.push_str(family_labels);
        }
        out.push_str("} ");
        push_u64(out, cumulative);
        out.push('\n');
    }
    writer.counts = counts;
}

impl TextMetric for crate::registry::exemplars::LatencyHistogram {
    fn write_text(&self, writer: &mut TextWriter<'_>, name: &str, labels: &str) -> Result<(), Unsupported> {
        match self {
            Self::Classic(histogram) => histogram.write_text(writer, name, labels),
            Self::Plain(_) | Self::WithExemplars(_) => Err(Unsupported),
        }
    }
}

impl TextMetric for crate::registry::exemplars::RequestCounter {
    fn write_text(&self, writer: &mut TextWriter<'_>, name: &str, labels: &str) -> Result<(), Unsupported> {
        match self {
            Self::Plain(counter) => counter.write_text(writer, name, labels),
            Self::WithExemplar(_) => Err(Unsupported),
        }
    }
}

impl<S, M, C> TextMetric for crate::primitives::snapshot_family::SnapshotFamily<S, M, C>
where
    S: Clone + LabelFields,
    M: Clone + TextMetric,
{
    fn write_text(&self, writer: &mut TextWriter<'_>, name: &str, labels: &str) -> Result<(), Unsupported> {
        let mut buffer = String::with_capacity(labels.len() + 64);
        for (series, metric) in self.snapshot() {
            metric.write_text(writer, name, series_labels(&mut buffer, labels, &series))?;
        }
        Ok(())
    }

    fn is_empty_family(&self) -> bool {
        self.has_no_series()
    }
}

/// Renders the HTTP families, in registration order, as prometheus-client would with the
/// registry's `prefix` and constant `labels`.
pub(crate) fn render_http_families(
    families: &HttpFamilies,
    prefix: Option<&str>,
    const_labels: &[(Cow<'static, str>, Cow<'static, str>)],
    dialect: Dialect,
    out: &mut String,
) -> Result<(), Unsupported> {
    let mut labels = String::new();
    for (key, value) in const_labels {
        if !labels.is_empty() {
            labels.push(',');
        }
        // prometheus-client writes constant label names as given (ours are sanitized).
        labels.push_str(key);
        labels.push_str("=\"");
        push_escaped_label_value(&mut labels, value);
        labels.push('"');
    }
    let mut render = Render {
        writer: TextWriter {
            out,
            dialect,
            le_texts: Vec::new(),
            const_labels: labels.clone(),
            counts: Vec::new(),
        },
        prefix,
        labels,
        name: String::new(),
        result: Ok(()),
    };
    families.visit(&mut render);
    render.result
}

struct Render<'a, 'o> {
    writer: TextWriter<'o>,
    prefix: Option<&'a str>,
    labels: String,
    name: String,
    result: Result<(), Unsupported>,
}

impl<M: TextMetric + prometheus_client::encoding::EncodeMetric> FamilyVisitor<M> for Render<'_, '_> {
    fn visit(&mut self, spec: &'static FamilySpec, metric: &M) {
        let (name, help, unit) = (spec.name, spec.help, spec.unit.as_ref());
        if self.result.is_err() || metric.is_empty_family() {
            return;
        }
        let metric_type = prometheus_client::encoding::EncodeMetric::metric_type(metric);
        self.name.clear();
        if let Some(prefix) = self.prefix {
            self.name.push_str(prefix);
            self.name.push('_');
        }
        self.name.push_str(name);
        if let Some(unit) = unit {
            self.name.push('_');
            self.name.push_str(unit.as_str());
        }
        if self.writer.dialect == Dialect::OpenMetrics {
            self.write_openmetrics_header(help, unit, &metric_type);
        }
        if metric_type == MetricType::Counter {
            self.name.push_str("_total");
        }
        if self.writer.dialect == Dialect::OpenMetrics {
            self.result = metric.write_text(&mut self.writer, &self.name, &self.labels);
            return;
        }
        let out = &mut *self.writer.out;
        out.push_str("# HELP ");
        out.push_str(&self.name);
        out.push(' ');
        push_escaped_help(out, help);
        // prometheus-client appends a period to every help text.
        out.push_str(".\n# TYPE ");
        out.push_str(&self.name);
        out.push_str(match metric_type {
            MetricType::Counter => " counter\n",
            MetricType::Gauge | MetricType::Info => " gauge\n",
            MetricType::Histogram => " histogram\n",
            MetricType::Unknown => " untyped\n",
        });
        self.result = metric.write_text(&mut self.writer, &self.name, &self.labels);
    }
}

impl Render<'_, '_> {
    /// `# HELP`, `# TYPE` and `# UNIT` under the family's name (without `_total`), the help as
    /// given (prometheus-client escapes nothing there) with the period it appends.
    fn write_openmetrics_header(&mut self, help: &str, unit: Option<&Unit>, metric_type: &MetricType) {
        let out = &mut *self.writer.out;
        for (line, value) in [("# HELP ", help), ("# TYPE ", metric_type.as_str())] {
            out.push_str(line);
            out.push_str(&self.name);
            out.push(' ');
            out.push_str(value);
            if line == "# HELP " {
                out.push('.');
            }
            out.push('\n');
        }
        if let Some(unit) = unit {
            out.push_str("# UNIT ");
            out.push_str(&self.name);
            out.push(' ');
            out.push_str(unit.as_str());
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn le_follows_gos_shortest_g_format() {
        let cases = [
            (0.0, "0"),
            (-0.0, "0"),
            (5.0, "5"),
            (-3.0, "-3"),
            (0.005, "0.005"),
            (2.5, "2.5"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1e6, "1e+06"),
            (1.5e6, "1.5e+06"),
            (123_456_789.0, "1.23456789e+08"),
            (1e100, "1e+100"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ];
        for (bound, text) in cases {
            assert_eq!(le_text(bound, Dialect::Prometheus), text, "{bound}");
        }
    }

    #[test]
    fn help_problems_are_control_characters_and_backslashes() {
        assert_eq!(help_problem("Jobs run, per \"queue\" (é)"), None);
        assert_eq!(help_problem("Jobs run\nper queue"), Some((8, '\n')));
        assert_eq!(help_problem("a\rb"), Some((1, '\r')));
        assert_eq!(help_problem("ab\0"), Some((2, '\0')));
        assert_eq!(help_problem("é\\d"), Some((2, '\\')));
        assert_eq!(help_problem("tab\there"), Some((3, '\t')));
        assert_eq!(help_problem("next line\u{85}"), Some((9, '\u{85}')));
    }

    #[cfg(any(feature = "metrics", feature = "prometheus"))]
    #[test]
    fn clean_help_leaves_good_help_borrowed_and_replaces_each_problem() {
        assert!(matches!(clean_help("Jobs run"), Cow::Borrowed("Jobs run")));
        assert_eq!(clean_help("a\nb\r\nc\0d\\e\u{7f}"), "a b  c d/e ");
        assert_eq!(help_problem(&clean_help("\\\n\u{0}")), None);
    }

    #[test]
    fn the_http_families_help_texts_need_no_cleaning() {
        let mut specs = Vec::new();
        crate::registry::families::FAMILIES
            .iter()
            .chain(crate::registry::otel::OTEL_FAMILIES)
            .chain([&crate::registry::grpc::GRPC_FAMILY])
            .chain(crate::exposition::self_metrics::ScrapeMetrics::FAMILIES)
            .chain(crate::interop::RESERVED_FAMILIES)
            .for_each(|spec| specs.push(spec));
        assert!(specs.len() > 20, "{} families", specs.len());
        for spec in specs {
            assert_eq!(help_problem(spec.help), None, "{}", spec.name);
        }
    }

    #[test]
    fn nan_counters_and_histogram_sums_are_dropped_with_their_counts_in_both_dialects() {
        let prometheus = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\"} NaN\n\
            a_total{x=\"2\"} 3\n# HELP h H.\n# TYPE h histogram\n\
            h_bucket{x=\"}\\\" NaN\",le=\"+Inf\"} 2\nh_sum{x=\"}\\\" NaN\"} NaN\n\
            h_count{x=\"}\\\" NaN\"} 2\nh_bucket{x=\"b\",le=\"+Inf\"} 1\n\
            h_sum{x=\"b\"} 0.5\nh_count{x=\"b\"} 1\n# TYPE g gauge\ng NaN\n";
        let expected = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"2\"} 3\n\
            # HELP h H.\n# TYPE h histogram\nh_bucket{x=\"}\\\" NaN\",le=\"+Inf\"} 2\n\
            h_bucket{x=\"b\",le=\"+Inf\"} 1\nh_sum{x=\"b\"} 0.5\nh_count{x=\"b\"} 1\n\
            # TYPE g gauge\ng NaN\n";
        let mut text = format!("ours 1\n{prometheus}");
        assert_eq!(drop_nan_counter_samples(&mut text, 7), 2);
        assert_eq!(text, format!("ours 1\n{expected}"));

        let mut openmetrics = "# HELP h H.\n# TYPE h histogram\nh_sum NaN\nh_count 1\n\
            h_bucket{le=\"+Inf\"} 1\n# TYPE c counter\nc_total NaN # {t=\"x\"} 1.0\n# EOF\n"
            .to_owned();
        assert_eq!(drop_nan_counter_samples(&mut openmetrics, 0), 2);
        assert_eq!(
            openmetrics,
            "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\n# TYPE c counter\n# EOF\n"
        );
        let mut clean = "# TYPE c counter\nc_total{x=\" NaN\"} 1\n".to_owned();
        assert_eq!(drop_nan_counter_samples(&mut clean, 0), 0);
        assert_eq!(clean, "# TYPE c counter\nc_total{x=\" NaN\"} 1\n");
    }

    #[test]
    fn negative_counters_and_histogram_sums_are_dropped_with_their_counts_and_nothing_else() {
        let mut openmetrics = "ours 1\n# TYPE h histogram\nh_bucket{x=\"a\",le=\"0.0\"} 1\n\
            h_sum{x=\"a\"} -2.5\nh_count{x=\"a\"} 1\nh_sum{x=\"b\"} -inf\nh_count{x=\"b\"} 1\n\
            h_sum{x=\" -1\"} 0.5\nh_count{x=\" -1\"} 1\n# TYPE g gauge\ng -1.0\n\
            # TYPE c counter\nc_total{x=\"a\"} 1\nc_total{x=\"b\"} -1.5\n# EOF\n"
            .to_owned();
        drop_negative_samples(&mut openmetrics, 7);
        assert_eq!(
            openmetrics,
            "ours 1\n# TYPE h histogram\nh_bucket{x=\"a\",le=\"0.0\"} 1\n\
            h_sum{x=\" -1\"} 0.5\nh_count{x=\" -1\"} 1\n# TYPE g gauge\ng -1.0\n\
            # TYPE c counter\nc_total{x=\"a\"} 1\n# EOF\n"
        );
    }

    #[test]
    fn label_values_escape_backslash_quote_and_newline_only() {
        let mut out = String::new();
        push_escaped_label_value(&mut out, "a\\b\"c\nd\té");
        assert_eq!(out, "a\\\\b\\\"c\\nd\té");
    }
}
