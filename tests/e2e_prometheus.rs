//! End-to-end: a real Prometheus server scrapes example-server processes.

mod support;

use support::{scrape_config, send_every_route, ExampleServer, PrometheusServer};

#[test]
fn prometheus_scrapes_the_example_server() {
    let server = ExampleServer::start(&[]);
    let config = scrape_config("example", &[server.addr()], &[]);
    let Some(prometheus) = PrometheusServer::start(&config, &[]) else {
        return;
    };
    send_every_route(&server);
    prometheus.wait_for_scrapes(1, 2);
    prometheus.wait_for_value(
        r#"sum(http_requests_total_by_view_transport_method_total{view="/users/{id}"})"#,
        3.0,
    );
}
