//! The shared exposition parser of the tests (`support/exposition.rs`) is strict, and its
//! lookups tell series apart: a test reading an exposition through it can fail.

use crate::support;

use support::exposition::{parse, parse_text, series, total, value, value_or_zero};
use tower_prometheus::Format;

#[test]
fn malformed_lines_are_rejected() {
    for bad in [
        "m{v=\"a\"b\"} 1\n",
        "m{v=\"a\\x\"} 1\n",
        "m{v=\"a} 1\n",
        "m{v=\"a\",v=\"b\"} 1\n",
        "m{v=\"a\" w=\"b\"} 1\n",
        "m{1v=\"a\"} 1\n",
        "m 1 2 x\n",
        "m  1\n",
        "m one\n",
        "2m 1\n",
        "# random comment\n",
        "m 1",
    ] {
        assert!(parse(bad, Format::PrometheusText).is_err(), "accepted {bad:?}");
    }
}

#[test]
fn openmetrics_must_end_with_eof_and_nothing_may_follow_it() {
    assert!(parse("m 1\n", Format::OpenMetrics).is_err());
    assert!(parse("# EOF\nm 1\n", Format::OpenMetrics).is_err());
    assert!(
        parse("m 1\n# EOF\n", Format::PrometheusText).is_err(),
        "# EOF is no comment of the Prometheus text format"
    );
    assert_eq!(parse("m 1\n# EOF\n", Format::OpenMetrics).unwrap().len(), 1);
}

#[test]
fn label_values_are_unescaped_and_special_values_read() {
    let samples = parse(
        "m{a=\"x\\\\\\\"\\n\",b=\"\"} 2.5\nm{a=\"y\"} +Inf\nm{a=\"z\"} NaN\n# EOF\n",
        Format::OpenMetrics,
    )
    .unwrap();
    assert_eq!(samples[0].labels["a"], "x\\\"\n");
    assert_eq!(samples[0].labels["b"], "");
    assert_eq!(samples[0].value, 2.5);
    assert_eq!(samples[1].value, f64::INFINITY);
    assert!(samples[2].value.is_nan());
}

#[test]
fn value_matches_the_exact_label_set_and_total_sums_a_subset() {
    let samples = parse_text(concat!(
        "# HELP requests Requests\n",
        "# TYPE requests counter\n",
        "requests_total{view=\"/\",method=\"GET\"} 2\n",
        "requests_total{view=\"/\",method=\"POST\"} 3\n",
        "requests_total{view=\"/a\",method=\"GET\"} 5\n",
        "up 1\n",
    ));
    let root_get = [("view", "/"), ("method", "GET")];
    assert_eq!(value(&samples, "requests_total", &root_get), Some(2.0));
    assert_eq!(
        value(&samples, "requests_total", &[("view", "/b"), ("method", "GET")]),
        None
    );
    assert_eq!(
        value(&samples, "requests_total", &[]),
        None,
        "a subset of the labels is no match for value"
    );
    assert_eq!(value(&samples, "up", &[]), Some(1.0));
    assert_eq!(value_or_zero(&samples, "down", &[]), 0.0);
    assert_eq!(total(&samples, "requests_total", &[("view", "/")]), 5.0);
    assert_eq!(total(&samples, "requests_total", &[]), 10.0);
    assert_eq!(total(&samples, "requests_total", &[("view", "/b")]), 0.0);
    assert_eq!(series(&samples, "requests_total"), 3);
}

#[test]
#[should_panic(expected = "several samples match")]
fn an_ambiguous_value_lookup_fails() {
    let samples = parse_text("m{a=\"x\"} 1\nm{a=\"x\"} 2\n");
    value(&samples, "m", &[("a", "x")]);
}

#[test]
#[should_panic(expected = "malformed exposition")]
fn parse_text_fails_on_a_malformed_exposition() {
    parse_text("m{a=\"x} 1\n");
}
