//! rust-prometheus ships no summary metric of its own: the `MetricFamily` a custom collector
//! of an application would produce, for the interop tests.

/// A summary family `name` with one series: `labels`, one `(quantile, value)`, `count`, `sum`.
pub(crate) fn summary_family(
    name: &str,
    help: &str,
    labels: &[(&str, &str)],
    (quantile, value): (f64, f64),
    count: u64,
    sum: f64,
) -> prometheus::proto::MetricFamily {
    let mut point = prometheus::proto::Quantile::default();
    point.set_quantile(quantile);
    point.set_value(value);
    let mut summary = prometheus::proto::Summary::default();
    summary.set_sample_count(count);
    summary.set_sample_sum(sum);
    summary.set_quantile(vec![point]);
    let pairs = labels
        .iter()
        .map(|(name, value)| {
            let mut pair = prometheus::proto::LabelPair::default();
            pair.set_name((*name).to_owned());
            pair.set_value((*value).to_owned());
            pair
        })
        .collect();
    let mut metric = prometheus::proto::Metric::from_label(pairs);
    metric.set_summary(summary);
    let mut family = prometheus::proto::MetricFamily::default();
    family.set_name(name.to_owned());
    family.set_help(help.to_owned());
    family.set_field_type(prometheus::proto::MetricType::SUMMARY);
    family.set_metric(vec![metric]);
    family
}
