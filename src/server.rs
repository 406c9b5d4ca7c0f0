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
//! Bind first, in `main`, so that a busy port or a wrong address stops the program with an
//! error instead of leaving it running without an exposition; then serve in a task:
//!
//! ```
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let metrics = tower_prometheus::Metrics::builder().disable_metrics_path().build()?;
//! // … `.layer(metrics.layer())` on the public application …
//! let listener = metrics.server().bind("127.0.0.1:0").await?; // port 9100, say, in production
//! println!("metrics on http://{}/metrics", listener.local_addr()?);
//! tokio::spawn(listener.serve());
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::Semaphore;
use tokio::time::Sleep;

use crate::exposition::config::DEFAULT_METRICS_PATH;
use crate::exposition::respond::respond;
use crate::exposition::ExpositionFuture;
use crate::{ExpositionBody, Metrics};

/// The default of [`MetricsServer::max_connections`]: a Prometheus pair and some tools need a
/// handful; 64 leave room while keeping the descriptors and memory of this listener small
/// beside the application's.
///
/// ```
/// assert_eq!(tower_prometheus::defaults::SERVER_MAX_CONNECTIONS, 64);
/// ```
pub const DEFAULT_MAX_CONNECTIONS: usize = 64;

/// The default of [`MetricsServer::idle_timeout`], hyper's own default for reading a request
/// head: longer than usual scrape intervals, so that Prometheus keeps its connection alive.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(tower_prometheus::defaults::SERVER_IDLE_TIMEOUT, Duration::from_secs(30));
/// ```
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The default of [`MetricsServer::write_timeout`], Prometheus's default scrape timeout: a
/// scraper that accepts no byte for that long has given up on the answer anyway.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(tower_prometheus::defaults::SERVER_WRITE_TIMEOUT, Duration::from_secs(10));
/// ```
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long to wait before accepting again after `accept` failed (for example when the
/// process ran out of file descriptors), instead of spinning.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(50);

/// A stand-alone HTTP server for the exposition of one [`Metrics`]. Get one from
/// [`Metrics::server`], then [`bind`](Self::bind) it; [`Metrics::serve`] is the one-line form.
///
/// It holds at most [`max_connections`](Self::max_connections) connections at once and closes
/// any beyond at once; it closes a connection that sends no complete request head for
/// [`idle_timeout`](Self::idle_timeout) (a new one or a kept-alive one between requests), and
/// one whose client accepts no byte of an answer for [`write_timeout`](Self::write_timeout).
/// Idle or slow clients can therefore take neither the process's file descriptors nor its
/// memory.
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
    max_connections: usize,
    idle_timeout: Duration,
    write_timeout: Duration,
}

impl Metrics {
    /// Serves the exposition at `/metrics` on `address` until the task is dropped; returns
    /// only if binding fails. To see that failure before the application starts, bind with
    /// [`MetricsServer::bind`] in `main` and spawn [`BoundMetricsServer::serve`] instead.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let metrics = tower_prometheus::Metrics::new();
    /// // In a program: `tokio::spawn(async move { metrics.serve("0.0.0.0:9100").await })`.
    /// let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let error = metrics.serve(taken.local_addr()?).await.unwrap_err();
    /// assert_eq!(error.kind(), std::io::ErrorKind::AddrInUse);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn serve(&self, address: impl ToSocketAddrs + fmt::Debug) -> io::Result<()> {
        self.server().bind(address).await?.serve().await
    }

    /// A [`MetricsServer`] to configure before serving (see its example, and
    /// [`MetricsServer::path`]'s): it serves `/metrics` by default, whatever the layer's
    /// [`metrics_path`](crate::MetricsBuilder::metrics_path).
    ///
    /// ```
    /// use tokio::io::{AsyncReadExt, AsyncWriteExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // The layer answers no path; the listener answers `/metrics`.
    /// let metrics = tower_prometheus::Metrics::builder().disable_metrics_path().build()?;
    /// let bound = metrics.server().bind("127.0.0.1:0").await?; // say `0.0.0.0:9100` in production
    /// let address = bound.local_addr()?;
    /// tokio::spawn(bound.serve());
    ///
    /// let mut stream = tokio::net::TcpStream::connect(address).await?;
    /// stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n").await?;
    /// let mut answer = String::new();
    /// stream.read_to_string(&mut answer).await?;
    /// assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    /// # Ok(())
    /// # }
    /// ```
    pub fn server(&self) -> MetricsServer {
        MetricsServer {
            metrics: self.clone(),
            path: DEFAULT_METRICS_PATH.to_owned(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
        }
    }
}

impl MetricsServer {
    /// The path that answers with the exposition (default `/metrics`), independent of the
    /// layer's metrics path. It is checked as
    /// [`metrics_path`](crate::MetricsBuilder::metrics_path) is (a leading `/`, no query or
    /// fragment, no trailing `/`): [`bind`](Self::bind) and the `serve` methods refuse anything
    /// else with [`io::ErrorKind::InvalidInput`], the message naming `server().path` and the
    /// path.
    ///
    /// ```
    /// use tokio::io::{AsyncReadExt, AsyncWriteExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let metrics = tower_prometheus::Metrics::new();
    /// let bound = metrics.server().path("/-/metrics").bind("127.0.0.1:0").await?;
    /// let address = bound.local_addr()?;
    /// tokio::spawn(bound.serve());
    /// for (path, status) in [("/-/metrics", "200"), ("/metrics", "404")] {
    ///     let mut stream = tokio::net::TcpStream::connect(address).await?;
    ///     let request = format!("GET {path} HTTP/1.1\r\nHost: metrics\r\nConnection: close\r\n\r\n");
    ///     stream.write_all(request.as_bytes()).await?;
    ///     let mut response = String::new();
    ///     stream.read_to_string(&mut response).await?;
    ///     assert!(response.starts_with(&format!("HTTP/1.1 {status} ")), "{path}: {response}");
    /// }
    ///
    /// let refused = metrics.server().path("metrics").bind("127.0.0.1:0").await.unwrap_err();
    /// assert_eq!(refused.kind(), std::io::ErrorKind::InvalidInput);
    /// let refused = metrics.server().path("/metrics/").bind("127.0.0.1:0").await.unwrap_err();
    /// assert_eq!(refused.kind(), std::io::ErrorKind::InvalidInput);
    /// assert!(refused.to_string().starts_with("`server().path` refused `/metrics/`: "), "{refused}");
    /// # Ok(())
    /// # }
    /// ```
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// The most connections held at once (default [`SERVER_MAX_CONNECTIONS`](crate::defaults::SERVER_MAX_CONNECTIONS)); a connection
    /// beyond is accepted and closed at once, so that the descriptors this listener holds stay
    /// bounded whatever clients do. 0 is refused by [`bind`](Self::bind).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let server = tower_prometheus::Metrics::new()
    ///     .server()
    ///     .max_connections(16)
    ///     .idle_timeout(Duration::from_secs(5))
    ///     .write_timeout(Duration::from_secs(5));
    /// # let _ = server;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let metrics = tower_prometheus::Metrics::new();
    /// let refused = metrics.server().max_connections(0).bind("127.0.0.1:0").await.unwrap_err();
    /// assert_eq!(refused.kind(), std::io::ErrorKind::InvalidInput);
    /// assert!(refused.to_string().starts_with("`server().max_connections` refused 0"), "{refused}");
    /// let refused = metrics.server().idle_timeout(Duration::ZERO).bind("127.0.0.1:0").await.unwrap_err();
    /// assert!(refused.to_string().starts_with("`server().idle_timeout` refused 0ns"), "{refused}");
    /// # }
    /// ```
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max;
        self
    }

    /// How long a connection may go without sending a complete request head before it is
    /// closed (default [`SERVER_IDLE_TIMEOUT`](crate::defaults::SERVER_IDLE_TIMEOUT)): a new connection that sends nothing or too
    /// slowly, and a kept-alive one between two requests. Zero is refused by
    /// [`bind`](Self::bind).
    ///
    /// See [`max_connections`](Self::max_connections) for an example.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// How long writing an answer may wait for the client to accept more bytes before the
    /// connection is closed (default [`SERVER_WRITE_TIMEOUT`](crate::defaults::SERVER_WRITE_TIMEOUT)): a reader that stops reading
    /// cannot hold the exposition in memory for longer. A slow reader that keeps reading is
    /// not cut. Zero is refused by [`bind`](Self::bind).
    ///
    /// See [`max_connections`](Self::max_connections) for an example.
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// Binds `address` now and returns the bound server, so that a busy port is an error
    /// where you can report it, before anything is served.
    ///
    /// # Errors
    ///
    /// The bind error, with the address in its message; or [`io::ErrorKind::InvalidInput`]
    /// for a [`path`](Self::path) it refuses, or a zero [`max_connections`](Self::max_connections),
    /// [`idle_timeout`](Self::idle_timeout) or [`write_timeout`](Self::write_timeout), the
    /// message naming the option.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let metrics = tower_prometheus::Metrics::new();
    /// let first = metrics.server().bind("127.0.0.1:0").await?;
    /// let busy = metrics.server().bind(first.local_addr()?).await.unwrap_err();
    /// assert_eq!(busy.kind(), std::io::ErrorKind::AddrInUse);
    /// assert!(busy.to_string().contains(&first.local_addr()?.to_string()), "{busy}");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn bind(self, address: impl ToSocketAddrs + fmt::Debug) -> io::Result<BoundMetricsServer> {
        self.check_settings()?;
        let shown = format!("{address:?}");
        let listener = TcpListener::bind(address).await.map_err(|error| {
            io::Error::new(
                error.kind(),
                format!(
                    "the metrics server cannot listen on {}: {error}",
                    shown.trim_matches('"')
                ),
            )
        })?;
        Ok(BoundMetricsServer {
            server: self,
            listener,
        })
    }

    fn check_settings(&self) -> io::Result<()> {
        let refuse = |message: String| Err(io::Error::new(io::ErrorKind::InvalidInput, message));
        if self.max_connections == 0 {
            return refuse(
                "`server().max_connections` refused 0: no connection could be served; allow at least 1"
                    .to_owned(),
            );
        }
        for (option, timeout) in [
            ("idle_timeout", self.idle_timeout),
            ("write_timeout", self.write_timeout),
        ] {
            if timeout.is_zero() {
                return refuse(format!(
                    "`server().{option}` refused {timeout:?}: every connection would be closed at once; give a positive duration"
                ));
            }
        }
        crate::exposition::config::check_exposition_path("server().path", &self.path)
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))
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

    /// Serves on `listener` until `signal` completes, then stops accepting (the listener is
    /// closed), lets open connections finish their current request, closes them, and returns
    /// once every one is closed. A connection whose client stops reading is closed after
    /// [`write_timeout`](Self::write_timeout), so the wait is bounded.
    ///
    /// `signal` completes with `()`: to stop on Ctrl-C, pass
    /// `async { tokio::signal::ctrl_c().await.ok(); }` (tokio's `signal` feature), since
    /// `ctrl_c()` itself completes with an `io::Result`.
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
        self.check_settings()?;
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(self.idle_timeout);
        let slots = Arc::new(Semaphore::new(self.max_connections));
        let graceful = GracefulShutdown::new();
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
            // Beyond the cap the connection is closed at once (dropped): its client learns
            // at once, and this listener never holds more descriptors than the cap.
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                continue;
            };
            let metrics = self.metrics.clone();
            let path = self.path.clone();
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                answer(&metrics, &path, &request)
            });
            let io = WriteTimeout::new(TokioIo::new(stream), self.write_timeout);
            let connection = graceful.watch(http.serve_connection(io, service));
            tokio::spawn(async move {
                // A failed connection concerns only its client; there is nobody to tell.
                let _ = connection.await;
                drop(slot);
            });
        }
        drop(listener);
        graceful.shutdown().await;
        Ok(())
    }
}

/// A [`MetricsServer`] whose address is bound: serving it can no longer fail to start.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let bound = tower_prometheus::Metrics::new().server().bind("127.0.0.1:0").await?;
/// // The port is held from here on, before anything is served.
/// assert!(std::net::TcpListener::bind(bound.local_addr()?).is_err());
/// tokio::spawn(bound.serve());
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
#[must_use = "a bound server answers nothing until `serve` or `serve_with_shutdown` is awaited"]
pub struct BoundMetricsServer {
    server: MetricsServer,
    listener: TcpListener,
}

impl BoundMetricsServer {
    /// The address the server listens on (the port the system chose for port 0).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let bound = tower_prometheus::Metrics::new().server().bind("127.0.0.1:0").await?;
    /// assert_ne!(bound.local_addr()?.port(), 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until the task is dropped; see [`MetricsServer::serve`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let bound = tower_prometheus::Metrics::new().server().bind("127.0.0.1:0").await?;
    /// let address = bound.local_addr()?;
    /// let task = tokio::spawn(bound.serve());
    /// task.abort();
    /// assert!(task.await.unwrap_err().is_cancelled());
    /// // The listener went with the task.
    /// assert!(tokio::net::TcpStream::connect(address).await.is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn serve(self) -> io::Result<()> {
        self.server.serve(self.listener).await
    }

    /// Serves until `signal` completes; see [`MetricsServer::serve_with_shutdown`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let bound = tower_prometheus::Metrics::new().server().bind("127.0.0.1:0").await?;
    /// bound.serve_with_shutdown(async {}).await
    /// # }
    /// ```
    pub async fn serve_with_shutdown(self, signal: impl Future<Output = ()>) -> io::Result<()> {
        self.server.serve_with_shutdown(self.listener, signal).await
    }
}

fn answer(metrics: &Metrics, path: &str, request: &Request<Incoming>) -> ExpositionFuture {
    if request.uri().path() == path {
        return respond(&metrics.shared, request.method(), request.headers());
    }
    let mut response = Response::new(ExpositionBody::new("not found\n"));
    *response.status_mut() = StatusCode::NOT_FOUND;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    ExpositionFuture::ready(response)
}

/// A connection whose writes fail with [`io::ErrorKind::TimedOut`] once the client has
/// accepted no byte for `timeout`: hyper has no write timeout of its own.
struct WriteTimeout {
    io: TokioIo<TcpStream>,
    timeout: Duration,
    /// Armed while a write waits for the client; reused from one wait to the next.
    stalled: Option<Pin<Box<Sleep>>>,
    armed: bool,
}

impl WriteTimeout {
    fn new(io: TokioIo<TcpStream>, timeout: Duration) -> Self {
        Self {
            io,
            timeout,
            stalled: None,
            armed: false,
        }
    }

    /// Polls one write operation with the timeout around it.
    fn poll_timed<T>(
        &mut self,
        cx: &mut Context<'_>,
        write: impl FnOnce(Pin<&mut TokioIo<TcpStream>>, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if let Poll::Ready(result) = write(Pin::new(&mut self.io), cx) {
            self.armed = false;
            return Poll::Ready(result);
        }
        let deadline = tokio::time::Instant::now() + self.timeout;
        let stalled = match &mut self.stalled {
            Some(stalled) if self.armed => stalled,
            Some(stalled) => {
                stalled.as_mut().reset(deadline);
                stalled
            }
            None => self.stalled.insert(Box::pin(tokio::time::sleep_until(deadline))),
        };
        self.armed = true;
        match stalled.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client accepted no byte of the answer within the write timeout",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl hyper::rt::Read for WriteTimeout {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for WriteTimeout {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.get_mut().poll_timed(cx, |io, cx| io.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .poll_timed(cx, |io, cx| io.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        hyper::rt::Write::is_write_vectored(&self.io)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_timed(cx, |io, cx| io.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_timed(cx, |io, cx| io.poll_shutdown(cx))
    }
}
