//! [`MetricsLayer`]: wraps a service with [`MetricsService`].

use tower_layer::Layer;

use super::MetricsService;
use crate::Metrics;

/// A tower [`Layer`] that measures every request of the wrapped service and answers the
/// metrics path with the exposition. Get one from [`Metrics::layer`].
///
/// ```
/// use tower::ServiceBuilder;
///
/// let metrics = tower_prometheus::Metrics::new();
/// let service = ServiceBuilder::new()
///     .layer(metrics.layer())
///     .service_fn(|_request: http::Request<String>| async {
///         Ok::<_, std::convert::Infallible>(http::Response::new(String::from("hello")))
///     });
/// # let _ = service;
/// ```
#[derive(Clone, Debug)]
pub struct MetricsLayer {
    metrics: Metrics,
}

impl Metrics {
    /// The layer that instruments a service with these metrics and serves the metrics path.
    ///
    /// ```
    /// let layer = tower_prometheus::Metrics::new().layer();
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn layer(&self) -> MetricsLayer {
        MetricsLayer {
            metrics: self.clone(),
        }
    }
}

impl MetricsLayer {
    /// The metrics this layer records into.
    ///
    /// ```
    /// let metrics = tower_prometheus::Metrics::new();
    /// assert_eq!(metrics.layer().metrics().metrics_path(), Some("/metrics"));
    /// ```
    #[must_use]
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

impl<S> Layer<S> for MetricsLayer {
    type Service = MetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MetricsService::new(inner, self.metrics.clone())
    }
}
