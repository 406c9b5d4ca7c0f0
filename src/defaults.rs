//! The default values of the builder's options.
//!
//! For code that starts from them: adding a bucket to django's latency buckets, say.
//!
//! ```
//! use tower_prometheus::{defaults, Metrics};
//!
//! // django's latency buckets with two sub-millisecond bounds in front.
//! let buckets = [0.0001, 0.001].into_iter().chain(defaults::LATENCY_BUCKETS.iter().copied());
//! let metrics = Metrics::builder().latency_buckets(buckets).build().unwrap();
//! assert_eq!(metrics.metrics_path(), Some(defaults::METRICS_PATH));
//! ```

pub use crate::exposition::config::DEFAULT_METRICS_PATH as METRICS_PATH;
pub use crate::registry::config::{
    DEFAULT_LATENCY_BUCKETS as LATENCY_BUCKETS, DEFAULT_MAX_LABEL_SETS as MAX_LABEL_SETS,
    DEFAULT_SIZE_BUCKETS as SIZE_BUCKETS,
};
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub use crate::server::{
    DEFAULT_IDLE_TIMEOUT as SERVER_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS as SERVER_MAX_CONNECTIONS,
    DEFAULT_WRITE_TIMEOUT as SERVER_WRITE_TIMEOUT,
};
