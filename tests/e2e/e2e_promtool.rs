//! End-to-end: `promtool check metrics` accepts the example server's Prometheus text 0.0.4
//! exposition, with no error and no lint warning, once every family has samples.

use crate::harness::e2e_tests;
use crate::support;

use support::example_server::{send_every_route, ExampleServer};
use support::tools::{PROMTOOL, program, promtool_check_metrics};

e2e_tests! {
    promtool_check_metrics_accepts_the_text_exposition_after_traffic_on_every_route needs [PROMTOOL],
}

fn promtool_check_metrics_accepts_the_text_exposition_after_traffic_on_every_route() {
    let promtool = program("promtool");
    let server = ExampleServer::start(&[]);
    send_every_route(&server);
    // A first scrape completes one /metrics request, so the metrics path has samples too.
    server.metrics_text();
    let exposition = server.metrics_text();
    assert!(
        exposition.contains("http_requests_total_by_view_transport_method_total{"),
        "the exposition has samples:\n{exposition}"
    );

    if let Err(report) = promtool_check_metrics(&promtool, &exposition) {
        panic!("{report}\n--- exposition ---\n{exposition}");
    }
}
