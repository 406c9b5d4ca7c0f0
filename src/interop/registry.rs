//! Another prometheus-client [`Registry`] (a library's own) exposed beside ours.

use std::sync::Arc;

use parking_lot::Mutex;
use prometheus_client::registry::Registry;

use super::{DroppedSamples, Interop, Reason, Source};
use crate::metrics::{names_clash, Shared};
use crate::{Metrics, RegistrationError};

impl Metrics {
    /// Exposes another **prometheus-client** registry (a library's own; a rust-prometheus one
    /// goes through `register_rust_prometheus_registry`, feature `prometheus`) after ours, in every
    /// format, as it is: its names, prefix and labels unchanged (our namespace and constant
    /// labels are not added). The names its metrics expose are claimed as
    /// [`register`](Self::register) claims one, all or none: a name that clashes with ours or
    /// with another source's refuses the whole registry. A name it first exposes later (a
    /// labelled `Family` is empty, and exposes nothing, until its first series; a collector
    /// may emit new names) is claimed on the scrape that first sees it; a family whose name
    /// clashes then is left out of the exposition and its samples counted in
    /// `http_metrics_dropped_samples_total{source="prometheus_client",reason="name_clash"}`,
    /// so no name is ever exposed twice.
    /// A help text that [`register`](Self::register) would refuse refuses the registry
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
        let claimed = self.claim_registry_names(&registry)?;
        let guard = PartGuard::new(claimed, Interop::dropped(self, Source::PrometheusClient));
        self.shared.push_guarded_part(registry, guard);
        Ok(())
    }

    /// Claims the names `registry` exposes now, all or none, and returns them.
    pub(crate) fn claim_registry_names(&self, registry: &Registry) -> Result<Vec<String>, RegistrationError> {
        let mut text = String::new();
        // A metric failing to encode (or panicking) now fails its part at scrape time, under
        // the encode error policy; the names declared before it are still claimed.
        let encode = || prometheus_client::encoding::text::encode_registry(&mut text, registry);
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(encode));
        let names = exposed_names(&text);
        self.claim_exposed_names(&names)?;
        Ok(names)
    }
}

/// The names one custom part was let to expose, and the check of its families on each
/// scrape: a registry's empty family encodes nothing when the registry is registered, and a
/// collector may emit new names later, so a name first seen on a scrape is claimed then, and
/// a family whose name clashes (with ours, another source's, or one earlier in the same part)
/// is left out and its samples counted in
/// `http_metrics_dropped_samples_total{source="prometheus_client",reason="name_clash"}`.
#[derive(Debug)]
pub(crate) struct PartGuard {
    claimed: Mutex<Vec<String>>,
    dropped: Arc<DroppedSamples>,
}

impl PartGuard {
    pub(crate) fn new(claimed: Vec<String>, dropped: Arc<DroppedSamples>) -> Self {
        Self {
            claimed: Mutex::new(claimed),
            dropped,
        }
    }

    /// Whether a family exposed as `name` may be exposed by this part in this scrape, where
    /// the part already exposed `kept`.
    fn admits(&self, shared: &Shared, name: &str, kept: &[String]) -> bool {
        if kept.iter().any(|taken| names_clash(name, taken)) {
            return false;
        }
        let mut claimed = self.claimed.lock();
        if claimed.iter().any(|own| own == name) {
            return true;
        }
        if shared.claim_exposed_names(&[name.to_owned()]).is_err() {
            return false;
        }
        claimed.push(name.to_owned());
        true
    }

    /// Leaves the families this part may not expose out of `output[mark..]`, the part's
    /// encoding in a text format.
    pub(crate) fn filter_text(&self, shared: &Shared, output: &mut String, mark: usize) {
        let part = &output[mark..];
        let mut kept_names = Vec::new();
        // The families left out, as ranges of `part`: usually none, and the text stays as
        // encoded, without a copy.
        let mut left_out = Vec::new();
        let mut dropped = 0;
        let mut start = 0;
        for family in families(part) {
            let range = start..start + family.len();
            start = range.end;
            let Some(name) = family_name(family) else {
                continue;
            };
            if self.admits(shared, &name, &kept_names) {
                kept_names.push(name);
            } else {
                dropped += family
                    .lines()
                    .filter(|line| !line.starts_with('#') && !line.is_empty())
                    .count() as u64;
                left_out.push(range);
            }
        }
        if left_out.is_empty() {
            return;
        }
        let mut kept = String::with_capacity(part.len());
        let mut from = 0;
        for range in left_out {
            kept.push_str(&part[from..range.start]);
            from = range.end;
        }
        kept.push_str(&part[from..]);
        output.truncate(mark);
        output.push_str(&kept);
        self.dropped
            .add(Source::PrometheusClient, Reason::NameClash, dropped);
    }

    /// [`Self::filter_text`] for the part's length-delimited Prometheus protobuf messages.
    #[cfg(feature = "protobuf")]
    pub(crate) fn filter_protobuf(&self, shared: &Shared, encoded: Vec<u8>) -> Vec<u8> {
        let Some(messages) = protobuf::families(&encoded) else {
            return encoded;
        };
        let mut kept_names = Vec::new();
        let mut kept = Vec::new();
        let mut dropped = None;
        for family in messages {
            let name = family.exposed_name();
            if self.admits(shared, &name, &kept_names) {
                kept.push(family.bytes);
                kept_names.push(name);
            } else {
                *dropped.get_or_insert(0) += family.metrics;
            }
        }
        match dropped {
            // Usually nothing is left out, and the messages stay as encoded, without a copy.
            None => encoded,
            Some(dropped) => {
                self.dropped
                    .add(Source::PrometheusClient, Reason::NameClash, dropped);
                kept.concat()
            }
        }
    }
}

/// The families of a text exposition, each from its `# HELP` line to the next one (the
/// encoders write `# HELP` first for every family).
fn families(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let next = rest
            .match_indices("\n# HELP ")
            .next()
            .map_or(rest.len(), |(index, _)| index + 1);
        let (family, tail) = rest.split_at(next);
        rest = tail;
        Some(family)
    })
}

/// The name a text family is exposed under (as [`exposed_names`] names it), from its `# TYPE`
/// line.
fn family_name(family: &str) -> Option<String> {
    let declaration = family.lines().find_map(|line| line.strip_prefix("# TYPE "))?;
    let (name, kind) = declaration.split_once(' ')?;
    Some(exposed_name(name, kind))
}

/// A family's exposed name: counters with `_total`, infos with `_info` (the OpenMetrics text
/// declares them without; the Prometheus text declares counters with it).
fn exposed_name(name: &str, kind: &str) -> String {
    match kind {
        "counter" if !name.ends_with("_total") => format!("{name}_total"),
        "info" if !name.ends_with("_info") => format!("{name}_info"),
        _ => name.to_owned(),
    }
}

/// The family names an OpenMetrics exposition declares, as their samples are named in the
/// Prometheus text format (counters with `_total`, infos with `_info`).
fn exposed_names(openmetrics: &str) -> Vec<String> {
    openmetrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|declaration| declaration.split_once(' '))
        .map(|(name, kind)| exposed_name(name, kind))
        .collect()
}

/// Just enough of the protobuf wire format to split a part's length-delimited
/// `MetricFamily` messages and read each one's name, type and number of metrics, without a
/// protobuf library.
#[cfg(feature = "protobuf")]
mod protobuf {
    pub(super) struct Family<'a> {
        pub(super) bytes: &'a [u8],
        name: &'a str,
        counter: bool,
        pub(super) metrics: u64,
    }

    impl Family<'_> {
        pub(super) fn exposed_name(&self) -> String {
            super::exposed_name(self.name, if self.counter { "counter" } else { "" })
        }
    }

    fn varint(bytes: &mut &[u8]) -> Option<u64> {
        let mut value = 0_u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = bytes.split_first()?;
            *bytes = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    fn take<'a>(bytes: &mut &'a [u8], len: u64) -> Option<&'a [u8]> {
        let len = usize::try_from(len).ok()?;
        if bytes.len() < len {
            return None;
        }
        let (taken, rest) = bytes.split_at(len);
        *bytes = rest;
        Some(taken)
    }

    /// Every message of `encoded`; `None` if it is not a well-formed stream.
    pub(super) fn families(encoded: &[u8]) -> Option<Vec<Family<'_>>> {
        let mut rest = encoded;
        let mut families = Vec::new();
        while !rest.is_empty() {
            let start = encoded.len() - rest.len();
            let len = varint(&mut rest)?;
            let mut message = take(&mut rest, len)?;
            let end = encoded.len() - rest.len();
            let mut family = Family {
                bytes: &encoded[start..end],
                name: "",
                // `type` is optional, and COUNTER (0) its default.
                counter: true,
                metrics: 0,
            };
            while !message.is_empty() {
                let key = varint(&mut message)?;
                match (key >> 3, key & 7) {
                    (1, 2) => {
                        let len = varint(&mut message)?;
                        family.name = std::str::from_utf8(take(&mut message, len)?).ok()?;
                    }
                    (3, 0) => family.counter = varint(&mut message)? == 0,
                    (4, 2) => {
                        let len = varint(&mut message)?;
                        take(&mut message, len)?;
                        family.metrics += 1;
                    }
                    (_, 0) => {
                        varint(&mut message)?;
                    }
                    (_, 2) => {
                        let len = varint(&mut message)?;
                        take(&mut message, len)?;
                    }
                    (_, 1) => {
                        take(&mut message, 8)?;
                    }
                    (_, 5) => {
                        take(&mut message, 4)?;
                    }
                    _ => return None,
                }
            }
            families.push(family);
        }
        Some(families)
    }
}
