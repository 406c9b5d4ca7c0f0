//! Cached metric handles per label set, and the cap on distinct label sets.
//!
//! prometheus-client's families take a lock and hash the whole label set on every lookup.
//! The recorder looks a request's `(view, method)` up once and keeps the cloned (`Arc`-backed)
//! handles of every view-labelled family, so a warm request touches no family lock and
//! allocates nothing. Every cache is bounded by the label-set cap: once full, new values fold
//! into [`OVERFLOW`] and `http_metrics_label_overflow_total` counts the folded observations.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::RwLock;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;

use super::exemplars::{LatencyHistogram, RequestCounter, TraceId};
use super::families::HttpFamilies;
use super::labels::{
    short_type_name, CharsetLabels, LabelValue, MethodLabel, MethodLabels, OverflowLabels, StatusLabel,
    StatusLabels, StatusViewMethodLabels, Transport, TransportLabels, TypeLabels, ViewLabels,
    ViewMethodLabels, ViewTransportMethodLabels, NO_CHARSET, OVERFLOW,
};

type MethodSlots = [OnceLock<Arc<ViewHandles>>; MethodLabel::COUNT];

/// The families plus the handle caches that make recording cheap.
#[derive(Debug)]
pub(crate) struct Recorder {
    pub(crate) families: HttpFamilies,
    max_label_sets: usize,
    by_method: [OnceLock<Counter>; MethodLabel::COUNT],
    by_transport: [OnceLock<Counter>; Transport::COUNT],
    by_status: Box<[OnceLock<Counter>]>,
    views: RwLock<HashMap<Box<str>, Arc<MethodSlots>>>,
    view_method_pairs: AtomicUsize,
    overflow_view: MethodSlots,
    status_view_method_series: AtomicUsize,
    view_transport_method_series: AtomicUsize,
    charsets: RwLock<HashMap<Box<str>, Counter>>,
    error_types: RwLock<HashMap<&'static str, Counter>>,
    overflow_folds: [OnceLock<Counter>; FoldedLabel::COUNT],
}

/// Which of our labels an overflow fold replaced.
#[derive(Clone, Copy, Debug)]
enum FoldedLabel {
    View,
    Charset,
    Type,
}

impl FoldedLabel {
    const COUNT: usize = 3;

    fn as_str(self) -> &'static str {
        match self {
            Self::View => "view",
            Self::Charset => "charset",
            Self::Type => "type",
        }
    }
}

/// The handles of every family labelled by `(view, method)`, for one such pair.
#[derive(Debug)]
pub(crate) struct ViewHandles {
    labels: ViewMethodLabels,
    folded: bool,
    latency: OnceLock<LatencyHistogram>,
    in_flight: OnceLock<Gauge>,
    by_transport: [OnceLock<RequestCounter>; Transport::COUNT],
    cancelled: OnceLock<Counter>,
    exceptions: OnceLock<Counter>,
    statuses: RwLock<Vec<(StatusLabel, Counter)>>,
}

impl Recorder {
    pub(crate) fn new(families: HttpFamilies, max_label_sets: usize) -> Self {
        Self {
            families,
            max_label_sets,
            by_method: Default::default(),
            by_transport: Default::default(),
            by_status: (0..StatusLabel::COUNT).map(|_| OnceLock::new()).collect(),
            views: RwLock::default(),
            view_method_pairs: AtomicUsize::new(0),
            overflow_view: Default::default(),
            status_view_method_series: AtomicUsize::new(0),
            view_transport_method_series: AtomicUsize::new(0),
            charsets: RwLock::default(),
            error_types: RwLock::default(),
            overflow_folds: Default::default(),
        }
    }

    pub(crate) fn requests_by_method(&self, method: MethodLabel) -> &Counter {
        self.by_method[method.index()].get_or_init(|| {
            self.families
                .requests_by_method
                .get_or_create_owned(&MethodLabels { method })
        })
    }

    pub(crate) fn requests_by_transport(&self, transport: Transport) -> &Counter {
        self.by_transport[transport.index()].get_or_init(|| {
            self.families
                .requests_by_transport
                .get_or_create_owned(&TransportLabels { transport })
        })
    }

    pub(crate) fn responses_by_status(&self, status: StatusLabel) -> &Counter {
        self.by_status[status.index()].get_or_init(|| {
            self.families
                .responses_by_status
                .get_or_create_owned(&StatusLabels { status })
        })
    }

    /// The handles for `(view, method)`; the overflow handles once the cap is reached.
    pub(crate) fn view(&self, view: &str, method: MethodLabel) -> Arc<ViewHandles> {
        if let Some(slots) = self.views.read().get(view) {
            if let Some(handles) = slots[method.index()].get() {
                return Arc::clone(handles);
            }
        }
        self.new_view(view, method)
    }

    #[cold]
    fn new_view(&self, view: &str, method: MethodLabel) -> Arc<ViewHandles> {
        let slots = {
            let mut views = self.views.write();
            match views.get(view) {
                Some(slots) => Some(Arc::clone(slots)),
                None if self.view_method_pairs.load(Ordering::Relaxed) < self.max_label_sets => {
                    let slots: Arc<MethodSlots> = Arc::default();
                    views.insert(view.into(), Arc::clone(&slots));
                    Some(slots)
                }
                None => None,
            }
        };
        let admitted = slots.as_ref().and_then(|slots| {
            let slot = &slots[method.index()];
            if let Some(handles) = slot.get() {
                return Some(Arc::clone(handles));
            }
            // Reserve the pair before creating it so concurrent creators cannot overshoot.
            if self.view_method_pairs.fetch_add(1, Ordering::Relaxed) >= self.max_label_sets {
                self.view_method_pairs.fetch_sub(1, Ordering::Relaxed);
                return None;
            }
            let mut created = false;
            let handles = slot.get_or_init(|| {
                created = true;
                Arc::new(ViewHandles::new(LabelValue::new(view), method, false))
            });
            if !created {
                self.view_method_pairs.fetch_sub(1, Ordering::Relaxed);
            }
            Some(Arc::clone(handles))
        });
        // The fold is counted by `note_use`, which every caller runs on the returned handles.
        admitted.unwrap_or_else(|| self.overflow_view_handles(method))
    }

    fn overflow_view_handles(&self, method: MethodLabel) -> Arc<ViewHandles> {
        Arc::clone(
            self.overflow_view[method.index()]
                .get_or_init(|| Arc::new(ViewHandles::new(LabelValue::new(OVERFLOW), method, true))),
        )
    }

    fn fold(&self, label: FoldedLabel) {
        self.overflow_folds[label as usize]
            .get_or_init(|| {
                self.families.label_overflow.get_or_create_owned(&OverflowLabels {
                    label: label.as_str(),
                })
            })
            .inc();
    }

    /// Counts one use of `handles`, which is folded when it is the overflow entry.
    pub(crate) fn note_use(&self, handles: &ViewHandles) {
        if handles.folded {
            self.fold(FoldedLabel::View);
        }
    }

    pub(crate) fn requests_by_view_transport_method(
        &self,
        handles: &ViewHandles,
        transport: Transport,
        trace_id: Option<&TraceId>,
    ) {
        let counter = handles.by_transport[transport.index()].get_or_init(|| {
            if !handles.folded && !Self::admit(&self.view_transport_method_series, self.max_label_sets) {
                self.fold(FoldedLabel::View);
                return self
                    .overflow_view_handles(handles.labels.method)
                    .by_transport_counter(self, transport);
            }
            self.families
                .requests_by_view_transport_method
                .get_or_create_owned(&ViewTransportMethodLabels {
                    view: handles.labels.view.clone(),
                    transport,
                    method: handles.labels.method,
                })
        });
        counter.inc_with_exemplar(trace_id);
    }

    pub(crate) fn responses_by_status_view_method(&self, handles: &ViewHandles, status: StatusLabel) {
        if let Some((_, counter)) = handles.statuses.read().iter().find(|(known, _)| *known == status) {
            counter.inc();
            return;
        }
        let counter = if handles.folded || Self::admit(&self.status_view_method_series, self.max_label_sets) {
            handles.status_counter(&self.families, status)
        } else {
            self.fold(FoldedLabel::View);
            self.overflow_view_handles(handles.labels.method)
                .status_counter(&self.families, status)
        };
        counter.inc();
    }

    /// Observes a latency; the series is created on first use so that a view seen only in
    /// flight (the request-time view of a response that named another one) stays out of it.
    pub(crate) fn latency(&self, handles: &ViewHandles, seconds: f64, trace_id: Option<&TraceId>) {
        handles
            .latency
            .get_or_init(|| {
                self.families
                    .latency_by_view_method
                    .get_or_create_owned(&handles.labels)
            })
            .observe_with_exemplar(seconds, trace_id);
    }

    /// The in-flight gauge of `handles`, created on first use like the latency series.
    pub(crate) fn in_flight<'h>(&self, handles: &'h ViewHandles) -> &'h Gauge {
        handles
            .in_flight
            .get_or_init(|| self.families.in_flight.get_or_create_owned(&handles.labels))
    }

    pub(crate) fn cancelled(&self, handles: &ViewHandles) {
        handles
            .cancelled
            .get_or_init(|| self.families.cancelled.get_or_create_owned(&handles.labels))
            .inc();
    }

    pub(crate) fn exceptions_by_view(&self, handles: &ViewHandles) {
        handles
            .exceptions
            .get_or_init(|| {
                self.families.exceptions_by_view.get_or_create_owned(&ViewLabels {
                    view: handles.labels.view.clone(),
                })
            })
            .inc();
    }

    /// Counts a response by charset; `None` stands for a response without one.
    pub(crate) fn responses_by_charset(&self, charset: Option<&str>) {
        let charset = charset.unwrap_or(NO_CHARSET);
        if let Some(counter) = self.charsets.read().get(charset) {
            counter.inc();
            return;
        }
        let mut charsets = self.charsets.write();
        let key = if charsets.contains_key(charset) || charsets.len() < self.max_label_sets {
            charset
        } else {
            self.fold(FoldedLabel::Charset);
            OVERFLOW
        };
        charsets
            .entry(key.into())
            .or_insert_with(|| {
                self.families
                    .responses_by_charset
                    .get_or_create_owned(&CharsetLabels {
                        charset: LabelValue::new(key),
                    })
            })
            .inc();
    }

    /// Counts an error by the Rust type name of the error (or [`super::labels::PANIC_TYPE`]).
    pub(crate) fn exceptions_by_type(&self, type_name: &'static str) {
        if let Some(counter) = self.error_types.read().get(type_name) {
            counter.inc();
            return;
        }
        let mut error_types = self.error_types.write();
        let full_name = if error_types.contains_key(type_name) || error_types.len() < self.max_label_sets {
            type_name
        } else {
            self.fold(FoldedLabel::Type);
            OVERFLOW
        };
        error_types
            .entry(full_name)
            .or_insert_with(|| {
                let kind = if full_name == OVERFLOW || full_name == super::labels::PANIC_TYPE {
                    LabelValue::new(full_name)
                } else {
                    LabelValue::new(&short_type_name(full_name))
                };
                self.families
                    .exceptions_by_type
                    .get_or_create_owned(&TypeLabels { kind })
            })
            .inc();
    }

    fn admit(series: &AtomicUsize, cap: usize) -> bool {
        if series.fetch_add(1, Ordering::Relaxed) < cap {
            true
        } else {
            series.fetch_sub(1, Ordering::Relaxed);
            false
        }
    }
}

impl ViewHandles {
    fn new(view: LabelValue, method: MethodLabel, folded: bool) -> Self {
        let labels = ViewMethodLabels { view, method };
        Self {
            latency: OnceLock::new(),
            in_flight: OnceLock::new(),
            labels,
            folded,
            by_transport: Default::default(),
            cancelled: OnceLock::new(),
            exceptions: OnceLock::new(),
            statuses: RwLock::default(),
        }
    }

    /// The view label these handles record under.
    pub(crate) fn view(&self) -> &str {
        self.labels.view.as_str()
    }

    fn by_transport_counter(&self, recorder: &Recorder, transport: Transport) -> RequestCounter {
        self.by_transport[transport.index()]
            .get_or_init(|| {
                recorder
                    .families
                    .requests_by_view_transport_method
                    .get_or_create_owned(&ViewTransportMethodLabels {
                        view: self.labels.view.clone(),
                        transport,
                        method: self.labels.method,
                    })
            })
            .clone()
    }

    fn status_counter(&self, families: &HttpFamilies, status: StatusLabel) -> Counter {
        let mut statuses = self.statuses.write();
        if let Some((_, counter)) = statuses.iter().find(|(known, _)| *known == status) {
            return counter.clone();
        }
        let counter = families
            .responses_by_status_view_method
            .get_or_create_owned(&StatusViewMethodLabels {
                status,
                view: self.labels.view.clone(),
                method: self.labels.method,
            });
        statuses.push((status, counter.clone()));
        counter
    }
}
