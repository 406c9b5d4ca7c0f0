//! Any tower service: `cargo run --example readme-tower` prints the exposition.
use std::convert::Infallible;

use http::{Request, Response};
use tower::{ServiceBuilder, ServiceExt};
use tower_prometheus::{Format, Metrics, ViewName};

#[tokio::main]
async fn main() {
    let metrics = Metrics::new();
    // Any `Service<http::Request<_>, Response = http::Response<B>>` with an `http_body::Body`.
    let service =
        ServiceBuilder::new()
            .layer(metrics.layer())
            .service_fn(|request: Request<String>| async move {
                let mut response = Response::new(format!("you sent {} bytes", request.body().len()));
                response.extensions_mut().insert(ViewName::new("/echo"));
                Ok::<_, Infallible>(response)
            });

    let request = Request::post("/echo").body("ping".to_owned()).unwrap();
    let response = service.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);

    // The exposition, from the layer on the metrics path or directly from `render`.
    let text = metrics.render(Format::PrometheusText).unwrap();
    assert!(text.contains(r#"view="/echo",method="POST""#));
    println!("{text}");
}
