//! Serving the exposition on a separate listener (feature `server`), so the application's
//! public port need not expose `/metrics` at all.
//!
//! This is the equivalent of django-prometheus's `PROMETHEUS_METRICS_EXPORT_PORT` /
//! `PROMETHEUS_METRICS_EXPORT_ADDRESS`: the application keeps its layer (and usually calls
//! [`MetricsBuilder::disable_metrics_path`](crate::MetricsBuilder::disable_metrics_path)), and
//! a small HTTP/1.1 server built on hyper 1 and tokio answers the metrics path on another
//! address, typically one only the Prometheus server can reach. Every other path gets `404`.
//! The bearer token of
//! [`MetricsBuilder::metrics_bearer_token`](crate::MetricsBuilder::metrics_bearer_token),
//! when set, is required here too. Requests to this listener are not measured.
//!
//! ```no_run
//! # #[tokio::main]
//! # async fn main() -> std::io::Result<()> {
//! let metrics = tower_prometheus::Metrics::builder().disable_metrics_path().build();
//! // … `.layer(metrics.layer())` on the public application …
//! tokio::spawn({
//!     let metrics = metrics.clone();
//!     async move { metrics.serve("127.0.0.1:9100").await }
//! });
//! # Ok(())
//! # }
//! ```

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::time::Duration;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::watch;

use crate::exposition::respond::respond;
use crate::registry::DEFAULT_METRICS_PATH;
use crate::{ExpositionBody, Metrics};

/// How long a client may take to send its request head before the connection is closed, so
/// that idle or deliberately slow clients cannot hold connections open forever.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long to wait before accepting again after `accept` failed (for example when the
/// process ran out of file descriptors), instead of spinning.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(50);

/// A stand-alone HTTP server for the exposition of one [`Metrics`]. Get one from
/// [`Metrics::server`]; [`Metrics::serve`] is the one-line form.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let metrics = tower_prometheus::Metrics::new();
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// // Shuts down at once here; a real program would wait for a signal.
/// metrics.server().path("/-/metrics").serve_with_shutdown(listener, async {}).await
/// # }
/// ```
#[derive(Clone, Debug)]
#[must_use = "a server does nothing until `serve` or `serve_with_shutdown` is awaited"]
pub struct MetricsServer {
    metrics: Metrics,
    path: String,
}

impl Metrics {
    /// Serves the exposition at `/metrics` on `address` until the task is dropped; returns
    /// only if binding fails.
    ///
    /// ```no_run
    /// # #[tokio::main]
    /// # async fn main() -> std::io::Result<()> {
    /// tower_prometheus::Metrics::new().serve("127.0.0.1:9100").await
    /// # }
    /// ```
    pub async fn serve(&self, address: impl ToSocketAddrs) -> io::Result<()> {
        let listener = TcpListener::bind(address).await?;
        self.server().serve(listener).await
    }

    /// A [`MetricsServer`] to configure before serving.
    ///
    /// ```
    /// let server = tower_prometheus::Metrics::new().server().path("/internal/metrics");
    /// # let _ = server;
    /// ```
    pub fn server(&self) -> MetricsServer {
        MetricsServer {
            metrics: self.clone(),
            path: DEFAULT_METRICS_PATH.to_owned(),
        }
    }
}

impl MetricsServer {
    /// The path that answers with the exposition (default `/metrics`), independent of the
    /// layer's metrics path.
    ///
    /// ```
    /// let server = tower_prometheus::Metrics::new().server().path("/-/metrics");
    /// # let _ = server;
    /// ```
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// Serves on `listener` until the task is dropped.
    ///
    /// ```no_run
    /// # #[tokio::main]
    /// # async fn main() -> std::io::Result<()> {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:9100").await?;
    /// tower_prometheus::Metrics::new().server().serve(listener).await
    /// # }
    /// ```
    pub async fn serve(self, listener: TcpListener) -> io::Result<()> {
        self.serve_with_shutdown(listener, std::future::pending()).await
    }

    /// Serves on `listener` until `signal` completes, then stops accepting, lets open
    /// connections finish their current request, and returns.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    /// let server = tokio::spawn(
    ///     tower_prometheus::Metrics::new()
    ///         .server()
    ///         .serve_with_shutdown(listener, async { stopped.await.ok(); }),
    /// );
    /// stop.send(()).unwrap();
    /// server.await.unwrap()?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn serve_with_shutdown(
        self,
        listener: TcpListener,
        signal: impl Future<Output = ()>,
    ) -> io::Result<()> {
        let (shutdown, shutting_down) = watch::channel(false);
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT);
        let mut signal = std::pin::pin!(signal);
        loop {
            let stream = tokio::select! {
                () = &mut signal => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _peer)) => stream,
                    Err(_) => {
                        tokio::time::sleep(ACCEPT_RETRY_DELAY).await;
                        continue;
                    }
                },
            };
            let metrics = self.metrics.clone();
            let path = self.path.clone();
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                std::future::ready(Ok::<_, Infallible>(answer(&metrics, &path, &request)))
            });
            let connection = http.serve_connection(TokioIo::new(stream), service);
            let mut shutting_down = shutting_down.clone();
            tokio::spawn(async move {
                let mut connection = std::pin::pin!(connection);
                tokio::select! {
                    _ = connection.as_mut() => return,
                    _ = shutting_down.wait_for(|stop| *stop) => {}
                }
                connection.as_mut().graceful_shutdown();
                // A failed connection concerns only its client; there is nobody to tell.
                let _ = connection.await;
            });
        }
        // Connections still open finish their current request, then close.
        let _ = shutdown.send(true);
        Ok(())
    }
}

fn answer(metrics: &Metrics, path: &str, request: &Request<Incoming>) -> Response<ExpositionBody> {
    if request.uri().path() == path {
        return respond(&metrics.shared, request.method(), request.headers());
    }
    let mut response = Response::new(ExpositionBody::new("not found\n"));
    *response.status_mut() = StatusCode::NOT_FOUND;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
