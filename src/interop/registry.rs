//! Another prometheus-client [`Registry`] (a library's own) exposed beside ours.

use prometheus_client::registry::Registry;

use crate::{Metrics, RegistrationError};

impl Metrics {
    /// Exposes another **prometheus-client** registry (a library's own; a rust-prometheus one
    /// goes through `register_rust_prometheus_registry`, feature `prometheus`) after ours, in every
    /// format, as it is: its names, prefix and labels unchanged (our namespace and constant
    /// labels are not added). The names its metrics expose are claimed as
    /// [`register`](Self::register) claims one, all or none: a name that clashes with ours or
    /// with another source's refuses the whole registry. Names its collectors emit are, as
    /// with [`register_collector`](Self::register_collector), not checked. A help text that
    /// [`register`](Self::register) would refuse refuses the registry
    /// ([`RegistrationError::InvalidHelp`], naming the family as exposed).
    ///
    /// ```
    /// use prometheus_client::metrics::counter::Counter;
    /// use prometheus_client::registry::Registry;
    /// use tower_prometheus::{Format, Metrics, RegistrationError};
    ///
    /// let mut library = Registry::with_prefix("pool");
    /// let opened: Counter = Counter::default();
    /// library.register("connections_opened", "Connections opened", opened.clone());
    /// opened.inc();
    ///
    /// let metrics = Metrics::new();
    /// metrics.register_prometheus_client_registry(library).unwrap();
    /// let text = metrics.render(Format::PrometheusText).unwrap();
    /// assert!(text.contains("pool_connections_opened_total 1"));
    ///
    /// let mut clash = Registry::default();
    /// clash.register("http_requests_total_by_method", "mine", Counter::<u64>::default());
    /// let refused = metrics.register_prometheus_client_registry(clash).unwrap_err();
    /// assert!(matches!(refused, RegistrationError::Reserved(_)));
    /// ```
    pub fn register_prometheus_client_registry(&self, registry: Registry) -> Result<(), RegistrationError> {
        if let Some(refused) = super::help_refusal(&registry) {
            return Err(refused);
        }
        let mut text = String::new();
        // A metric failing to encode (or panicking) now fails its part at scrape time, under
        // the encode error policy; the names declared before it are still claimed.
        let encode = || prometheus_client::encoding::text::encode_registry(&mut text, &registry);
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(encode));
        let names = exposed_names(&text);
        self.claim_exposed_names(&names)?;
        self.shared.push_part(registry);
        super::Interop::dropped(self, super::Source::PrometheusClient);
        Ok(())
    }
}

/// The family names an OpenMetrics exposition declares, as their samples are named in the
/// Prometheus text format (counters with `_total`, infos with `_info`).
fn exposed_names(openmetrics: &str) -> Vec<String> {
    openmetrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|declaration| declaration.split_once(' '))
        .map(|(name, kind)| match kind {
            "counter" => format!("{name}_total"),
            "info" => format!("{name}_info"),
            _ => name.to_owned(),
        })
        .collect()
}
