//! tonic without `protoc`: a one-method gRPC service behind the layer, with the gRPC outcome
//! recorded in `grpc_server_handled_total{grpc_service, grpc_method, grpc_code}`.
//!
//! ```text
//! cargo run --example grpc --features grpc   # PORT=50051 by default, binds 127.0.0.1
//! ```
//!
//! It serves, calls itself once per outcome (found, not found, invalid argument), prints the
//! gRPC series of the exposition and keeps serving; `curl localhost:50051/metrics` shows all.
//!
//! The service is what `tonic-build` would generate from this schema, written out by hand so
//! that nothing but `rustc` is needed (no build script, no `protoc`):
//!
//! ```proto
//! syntax = "proto3";
//! package inventory;
//! service Inventory { rpc GetItem(ItemRequest) returns (Item); }
//! message ItemRequest { string sku = 1; }
//! message Item { string sku = 1; uint32 stock = 2; }
//! ```
//!
//! Two things to know when putting the layer in front of tonic:
//! - gRPC answers are HTTP 200 whatever happened; the layer reads `grpc-status` from the
//!   headers or the trailers, so the real outcome is in `grpc_code`.
//! - tonic's router is not visible from outside, so name views with a resolver: the gRPC path
//!   (`/inventory.Inventory/GetItem`) is already a template.
//! - Prometheus scrapes `/metrics` over HTTP/1.1, which tonic refuses unless the server is
//!   built with `accept_http1(true)`.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::uri::PathAndQuery;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpListener;
use tonic::server::NamedService;
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Status};
use tonic_prost::ProstCodec;
use tower_prometheus::{Format, Metrics, RequestHead, ViewName};

/// `inventory.ItemRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ItemRequest {
    /// The item asked for.
    #[prost(string, tag = "1")]
    pub(crate) sku: String,
}

/// `inventory.Item`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Item {
    /// The item.
    #[prost(string, tag = "1")]
    pub(crate) sku: String,
    /// Units in stock.
    #[prost(uint32, tag = "2")]
    pub(crate) stock: u32,
}

/// The one method's full path.
pub(crate) const GET_ITEM: &str = "/inventory.Inventory/GetItem";

/// The business logic: `apple` exists, an empty SKU is invalid, `broken` fails.
async fn get_item(request: tonic::Request<ItemRequest>) -> Result<tonic::Response<Item>, Status> {
    let sku = request.into_inner().sku;
    match sku.as_str() {
        "" => Err(Status::invalid_argument("sku is empty")),
        "broken" => Err(Status::internal("the stock database is unreachable")),
        "apple" => Ok(tonic::Response::new(Item { sku, stock: 12 })),
        _ => Err(Status::not_found(format!("no item {sku}"))),
    }
}

/// The server side of `inventory.Inventory`: routes by path, decodes with prost.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct InventoryServer;

impl NamedService for InventoryServer {
    const NAME: &'static str = "inventory.Inventory";
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<B> tower::Service<http::Request<B>> for InventoryServer
where
    B: http_body::Body + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if request.uri().path() != GET_ITEM {
            return Box::pin(async { Ok(Status::unimplemented("no such method").into_http()) });
        }
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(ProstCodec::<Item, ItemRequest>::default());
            Ok(grpc.unary(tower::service_fn(get_item), request).await)
        })
    }
}

/// The metrics: gRPC paths are route templates already, so they name the view.
pub(crate) fn metrics() -> Metrics {
    Metrics::builder()
        .view_resolver(|request: &RequestHead<'_>| {
            let is_grpc = request
                .headers()
                .get(http::header::CONTENT_TYPE)
                .is_some_and(|value| value.as_bytes().starts_with(b"application/grpc"));
            is_grpc.then(|| ViewName::new(request.uri().path().to_owned()))
        })
        .build()
        .unwrap()
}

/// Serves the service behind the layer on `listener` until the task is dropped.
pub(crate) async fn serve(listener: TcpListener, metrics: Metrics) -> Result<(), tonic::transport::Error> {
    tonic::transport::Server::builder()
        // Prometheus scrapes over HTTP/1.1; tonic accepts only HTTP/2 unless told otherwise.
        .accept_http1(true)
        .layer(metrics.layer())
        .add_service(InventoryServer)
        .serve_with_incoming(TcpIncoming::from(listener))
        .await
}

/// Calls `GetItem` on the server at `address` over HTTP/2 without TLS.
pub(crate) async fn call_get_item(address: SocketAddr, sku: &str) -> Result<Item, Status> {
    let http2 = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build::<_, tonic::body::Body>(HttpConnector::new());
    let origin = format!("http://{address}")
        .parse()
        .expect("a socket address is a valid origin");
    let mut client = tonic::client::Grpc::with_origin(http2, origin);
    client
        .ready()
        .await
        .map_err(|error| Status::unavailable(error.to_string()))?;
    let request = tonic::Request::new(ItemRequest { sku: sku.to_owned() });
    let codec = ProstCodec::<ItemRequest, Item>::default();
    let response = client
        .unary(request, PathAndQuery::from_static(GET_ITEM), codec)
        .await?;
    Ok(response.into_inner())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port = std::env::var("PORT")
        .ok()
        .and_then(|port| port.parse().ok())
        .unwrap_or(50051);
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    let address = listener.local_addr()?;
    let metrics = metrics();
    let server = tokio::spawn(serve(listener, metrics.clone()));

    for sku in ["apple", "pear", ""] {
        match call_get_item(address, sku).await {
            Ok(item) => println!("GetItem({sku:?}) = {} in stock", item.stock),
            Err(status) if status.code() == Code::Unavailable => return Err(status.into()),
            Err(status) => println!("GetItem({sku:?}) failed: {:?}", status.code()),
        }
    }
    let text = metrics.render(Format::PrometheusText)?;
    for line in text
        .lines()
        .filter(|line| line.starts_with("grpc_server_handled_total"))
    {
        println!("{line}");
    }
    println!("metrics: http://{address}/metrics");
    server.await??;
    Ok(())
}
