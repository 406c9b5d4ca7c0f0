//! Cached metric handles per label set, and the cap on distinct label sets.
//!
//! prometheus-client's families take a lock and hash the whole label set on every lookup.
//! The recorder looks a request's `(view, method)` up once and keeps the cloned (`Arc`-backed)
//! handles of every view-labelled family, so a warm request touches no family lock and
//! allocates nothing. Every cache is bounded by the label-set cap: once full, new values fold
//! into [`OVERFLOW`] and `http_metrics_label_overflow_total` counts the folded observations.
//!
//! Every map of label values is a [`CappedMap`] (views, charsets, error types; gRPC calls in
//! [`super::grpc`]), so the cap and the overflow accounting are the same everywhere. The maps
//! use foldhash rather than std's SipHash: their keys are view names, charsets and
//! type names chosen by the application, never by clients, and bounded by the cap, so
//! HashDoS resistance buys nothing, while SipHash was the largest single cost of a warm
//! lookup. The most common values (the first charset seen, the first status of a view) sit in
//! lock-free `OnceLock` slots, and the first views in a lock-free index in front of the view
//! map, so the usual request takes no lock at all.

use std::borrow::Cow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use http::{HeaderMap, HeaderValue};
use parking_lot::RwLock;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;

use super::exemplars::{LatencyHistogram, LatencyHistograms, RequestCounter, TraceId};
use super::families::HttpFamilies;
use super::labels::{
    charset_of, fits_label_rule, CharsetLabels, LabelValue, MethodLabel, OverflowLabels, SeriesRequestLabels,
    StatusLabel, StatusViewMethodLabels, Transport, TypeLabels, ViewLabel, ViewLabels, ViewMethodLabels,
    ViewTransportMethodLabels, NO_CHARSET, OVERFLOW, UNNAMED_VIEW,
};
use super::request_labels::{RequestLabelRule, RequestLabels};
use super::view_buckets::ViewBuckets;
use crate::primitives::capped_map::{Admission, CappedMap};
use crate::primitives::lock_free_index::LockFreeIndex;
use crate::primitives::snapshot_family::SnapshotFamily;
use crate::primitives::stripes::{MaybeStripedCounter, StripedCounter};
use crate::primitives::view_arena::{ViewArena, ViewId};
use crate::RequestHead;

type MethodSlots = [OnceLock<ViewId>; MethodLabel::COUNT];

/// Slots of the lock-free view index.
const VIEW_INDEX_SLOTS: usize = 256;

/// Slots of the index of views by the address of the application's copy of their name.
const PINNED_VIEW_SLOTS: usize = 256;

/// Something that keeps the application's copy of a view's name where it is, for as long as
/// it is held (axum's `MatchedPath`, a shared pointer to its router's copy of the route).
pub(crate) type NameKeeper = Box<dyn std::any::Any + Send + Sync>;

/// How a request's view is looked up.
#[derive(Clone, Copy)]
pub(crate) enum ViewKey<'a> {
    /// [`UNNAMED_VIEW`], found without comparing its bytes.
    Unnamed,
    /// A name the application shares with every request of the view: found by its address.
    #[cfg_attr(
        not(feature = "axum"),
        allow(dead_code, reason = "axum's MatchedPath is the one such name")
    )]
    Shared(&'a dyn SharedViewName),
    /// Any other name, found by its bytes.
    Name(&'a str),
}

/// A view's name that the application shares with every request of the view, and that can
/// be kept where it is: the recorder then finds the view by the name's address.
pub(crate) trait SharedViewName {
    /// The name.
    fn name(&self) -> &str;
    /// What keeps the name's bytes at their address while it is held (built once per view).
    fn keeper(&self) -> NameKeeper;
}

/// A view's slots found by the address and length of the application's copy of its name,
/// with what keeps that copy alive: its address cannot be reused for another name while the
/// entry holds it.
#[derive(Debug)]
struct PinnedView {
    slots: Arc<MethodSlots>,
    _keeper: NameKeeper,
}

/// The longest charset compared without allocating (IANA names are at most 40 bytes).
const MAX_INLINE_CHARSET: usize = 64;

/// The families plus the handle caches that make recording cheap.
#[derive(Debug)]
pub(crate) struct Recorder {
    pub(crate) families: HttpFamilies,
    /// Read raw (the TSC where there is one) at a request's start and end, and scaled once:
    /// `quanta::Instant::now` looks a thread-local override up and scales on every reading.
    clock: quanta::Clock,
    max_label_sets: usize,
    views: CappedMap<LabelValue, Arc<MethodSlots>>,
    /// The first views, findable without taking `views`' lock.
    view_index: LockFreeIndex<LabelValue, Arc<MethodSlots>, VIEW_INDEX_SLOTS>,
    /// Views by the address and length of a name the application shares with every request of
    /// the view (axum's `MatchedPath`): a lookup compares two words instead of hashing and
    /// comparing the name's bytes.
    pinned_views: LockFreeIndex<(usize, usize), PinnedView, PINNED_VIEW_SLOTS>,
    /// Held while adding to `pinned_views`, so that an address is added once.
    pinning: parking_lot::Mutex<()>,
    /// Set once an address found no room in `pinned_views`: from then on an address not pinned
    /// is looked up by its name, without `pinning`'s lock, as a router that builds its
    /// `MatchedPath` per request (a `nest_service`d one) would otherwise take it every time.
    pinning_closed: std::sync::atomic::AtomicBool,
    /// The ids of [`UNNAMED_VIEW`] by method, once admitted: every request of a service with
    /// no `MatchedPath` and no resolver carries it, and comparing its 14 bytes costs less
    /// than hashing them for the index.
    unnamed_view: MethodSlots,
    view_method_pairs: AtomicUsize,
    overflow_view: MethodSlots,
    /// Every pair's handles, by the id the slots above hold.
    handles: ViewArena<ViewHandles>,
    status_view_method_series: AtomicUsize,
    view_transport_method_series: AtomicUsize,
    no_charset: OnceLock<MaybeStripedCounter>,
    first_charset: OnceLock<(Box<str>, MaybeStripedCounter)>,
    first_content_type: OnceLock<(HeaderValue, MaybeStripedCounter)>,
    charsets: CappedMap<Box<str>, MaybeStripedCounter>,
    /// The series of charsets the one label rule refuses (the cap's share the same series).
    overflow_charset: OnceLock<MaybeStripedCounter>,
    error_types: CappedMap<LabelValue, Counter>,
    overflow_error_type: OnceLock<Counter>,
    overflow_folds: [OnceLock<Counter>; FoldedLabel::COUNT],
    view_buckets: ViewBuckets,
    request_labels: Option<RequestLabels>,
}

/// Which of our labels an overflow fold replaced.
#[derive(Clone, Copy, Debug)]
pub(crate) enum FoldedLabel {
    View,
    Charset,
    Type,
    GrpcMethod,
    HttpRoute,
}

impl FoldedLabel {
    const COUNT: usize = 5;

    fn as_str(self) -> &'static str {
        match self {
            Self::View => "view",
            Self::Charset => "charset",
            Self::Type => "type",
            Self::GrpcMethod => "grpc_method",
            Self::HttpRoute => "http_route",
        }
    }
}

/// The handles of every family labelled by `(view, method)`, for one such pair.
#[derive(Debug)]
pub(crate) struct ViewHandles {
    labels: ViewMethodLabels,
    folded: bool,
    /// Whether these handles' series bypass the caps on series: true for the overflow
    /// entries, which must always find a series to record into.
    uncapped: bool,
    latency: OnceLock<LatencyHistogram>,
    response_duration: OnceLock<LatencyHistogram>,
    in_flight: OnceLock<Gauge>,
    by_transport: [OnceLock<RequestCounter>; Transport::COUNT],
    cancelled: OnceLock<Counter>,
    exceptions: OnceLock<Counter>,
    first_status: OnceLock<(StatusLabel, Counter)>,
    statuses: RwLock<Vec<(StatusLabel, Counter)>>,
}

impl Recorder {
    pub(crate) fn new(
        families: HttpFamilies,
        max_label_sets: usize,
        view_buckets: ViewBuckets,
        request_labels: &[RequestLabelRule],
    ) -> Self {
        Self {
            families,
            // Calibrates once per process (about half a millisecond): here rather than in some
            // request's latency.
            clock: quanta::Clock::new(),
            max_label_sets,
            views: CappedMap::new(max_label_sets),
            view_index: LockFreeIndex::new(),
            pinned_views: LockFreeIndex::new(),
            pinning: parking_lot::Mutex::new(()),
            pinning_closed: std::sync::atomic::AtomicBool::new(false),
            unnamed_view: Default::default(),
            view_method_pairs: AtomicUsize::new(0),
            overflow_view: Default::default(),
            handles: ViewArena::default(),
            status_view_method_series: AtomicUsize::new(0),
            view_transport_method_series: AtomicUsize::new(0),
            no_charset: OnceLock::new(),
            first_charset: OnceLock::new(),
            first_content_type: OnceLock::new(),
            charsets: CappedMap::new(max_label_sets),
            overflow_charset: OnceLock::new(),
            error_types: CappedMap::new(max_label_sets),
            overflow_error_type: OnceLock::new(),
            overflow_folds: Default::default(),
            view_buckets,
            request_labels: RequestLabels::new(request_labels, max_label_sets),
        }
    }

    /// The counter of the requests of `method` over `transport`, which the families by
    /// method, by transport and before middlewares total.
    #[inline]
    pub(crate) fn requests(&self, method: MethodLabel, transport: Transport) -> &StripedCounter {
        self.families.requests_by_method.grid().cell(method, transport)
    }

    /// The id of the handles for `(view, method)`; the overflow handles' once the cap is
    /// reached.
    pub(crate) fn view(&self, view: &str, method: MethodLabel) -> ViewId {
        if view == UNNAMED_VIEW {
            return self.unnamed_view(method);
        }
        self.indexed_or_new_view(view, method)
    }

    /// [`Self::view`] of [`UNNAMED_VIEW`].
    #[inline]
    fn unnamed_view(&self, method: MethodLabel) -> ViewId {
        let slot = &self.unnamed_view[method.index()];
        if let Some(id) = slot.get() {
            return *id;
        }
        let id = self.indexed_or_new_view(UNNAMED_VIEW, method);
        // Only an admitted id is kept: a pair refused (the cap reached, or lost to a
        // concurrent creator's reservation) is asked for again next time, as other views are.
        if !self.handles(id).folded {
            let _ = slot.set(id);
        }
        id
    }

    /// The id of the handles for `(view, method)`, found by the address of the application's
    /// copy of the view's name.
    #[inline]
    pub(crate) fn pinned_view(&self, shared: &dyn SharedViewName, method: MethodLabel) -> ViewId {
        let view = shared.name();
        let address = (view.as_ptr() as usize, view.len());
        if let Some(id) = self
            .pinned_views
            .get(&address)
            .and_then(|pinned| pinned.slots[method.index()].get())
        {
            return *id;
        }
        if self.pinning_closed.load(Ordering::Relaxed) {
            return self.view(view, method);
        }
        self.pin_view(shared, method, address)
    }

    /// [`Self::pinned_view`] the first time, or when the pair is not admitted (then asked
    /// again next time, as other views are).
    #[cold]
    fn pin_view(&self, shared: &dyn SharedViewName, method: MethodLabel, address: (usize, usize)) -> ViewId {
        let view = shared.name();
        let id = self.indexed_or_new_view(view, method);
        if self.handles(id).folded {
            return id;
        }
        let slots = match self.indexed_view(view) {
            Some(slots) => Some(Arc::clone(slots)),
            None => self.views.with(view, Arc::clone),
        };
        if let Some(slots) = slots {
            let _pinning = self.pinning.lock();
            if self.pinned_views.get(&address).is_none()
                && !self.pinned_views.insert(
                    address,
                    PinnedView {
                        slots,
                        _keeper: shared.keeper(),
                    },
                )
            {
                self.pinning_closed.store(true, Ordering::Relaxed);
            }
        }
        id
    }

    /// The id of the handles for a request's `(view, method)` and, when request labels are
    /// declared, the request's values of them.
    #[inline]
    pub(crate) fn request_view(
        &self,
        view: ViewKey<'_>,
        method: MethodLabel,
        request: &RequestHead<'_>,
    ) -> ViewId {
        let id = match view {
            ViewKey::Unnamed => self.unnamed_view(method),
            ViewKey::Shared(shared) => self.pinned_view(shared, method),
            ViewKey::Name(view) => self.view(view, method),
        };
        match &self.request_labels {
            None => id,
            Some(labels) => self.with_request_labels(labels, id, request),
        }
    }

    #[inline(never)]
    fn with_request_labels(&self, labels: &RequestLabels, view: ViewId, request: &RequestHead<'_>) -> ViewId {
        let values = labels.values(request, &self.families);
        labels.combination(
            view,
            values.ids,
            || values.label_values(labels),
            &self.families,
            |request_values, overflow| self.push_combination(view, request_values, overflow),
        )
    }

    /// The id of the handles for the response's view when it differs from the request's
    /// (`current`): the same request-label values, under the response's view.
    pub(crate) fn switched_view(&self, view: &str, method: MethodLabel, current: &ViewHandles) -> ViewId {
        self.with_values_of(self.view(view, method), current)
    }

    /// The handles of `view` (a `(view, method)` handles id) with the request-label values of
    /// `current`, if it has any.
    fn with_values_of(&self, view: ViewId, current: &ViewHandles) -> ViewId {
        match (&self.request_labels, current.labels.view.request_labels()) {
            (Some(labels), Some(values)) => labels.combination(
                view,
                values.ids,
                || values.values.to_vec(),
                &self.families,
                |request_values, overflow| self.push_combination(view, request_values, overflow),
            ),
            _ => view,
        }
    }

    /// New handles for `view`'s pair with request-label values; `overflow` for the pair's
    /// combination that the cap refused, which (like the overflow view) is never capped again.
    fn push_combination(&self, view: ViewId, request_values: SeriesRequestLabels, overflow: bool) -> ViewId {
        let base = self.handles(view);
        let label = ViewLabel::with_request_labels(base.labels.view.view().clone(), request_values);
        self.handles.push(ViewHandles::new(
            label,
            base.labels.method,
            base.folded,
            base.uncapped || overflow,
        ))
    }

    fn indexed_or_new_view(&self, view: &str, method: MethodLabel) -> ViewId {
        // The one label rule, before any lookup hashes the name: the overflow handles are
        // `folded`, so `note_use` counts the fold.
        if !fits_label_rule(view) {
            return self.overflow_view_id(method);
        }
        if let Some(slots) = self.indexed_view(view) {
            if let Some(id) = slots[method.index()].get() {
                return *id;
            }
        } else if let Some(Some(id)) = self
            .views
            .with(view, |slots| slots[method.index()].get().copied())
        {
            return id;
        }
        self.new_view(view, method)
    }

    /// Replaces the clock, so that a test's latencies are the times it sets (a
    /// `quanta::Clock::mock()`).
    #[cfg(all(test, feature = "axum"))]
    pub(crate) fn use_clock(&mut self, clock: quanta::Clock) {
        self.clock = clock;
    }

    /// Now, in the clock's raw ticks: only [`Self::seconds_since`] gives them a meaning.
    #[inline]
    pub(crate) fn clock_ticks(&self) -> u64 {
        self.clock.raw()
    }

    /// Seconds from `start` (from [`Self::clock_ticks`]) to now; 0 if the clock went back.
    #[inline]
    pub(crate) fn seconds_since(&self, start: u64) -> f64 {
        self.clock.delta_as_nanos(start, self.clock.raw()) as f64 * 1e-9
    }

    /// The handles `id` names.
    #[inline]
    pub(crate) fn handles(&self, id: ViewId) -> &ViewHandles {
        self.handles.get(id)
    }

    /// The view's slots if the lock-free index holds them.
    #[inline]
    fn indexed_view(&self, view: &str) -> Option<&Arc<MethodSlots>> {
        self.view_index.get(view)
    }

    #[cold]
    fn new_view(&self, view: &str, method: MethodLabel) -> ViewId {
        // A new view is let in while the cap on `(view, method)` pairs has room.
        let slots = self.views.get_or_insert_within(
            view,
            || self.view_method_pairs.load(Ordering::Relaxed) < self.max_label_sets,
            |view| {
                // The key is the label value every family of this view shares.
                let key = LabelValue::new(view);
                let slots: Arc<MethodSlots> = Arc::default();
                // Under `views`' write lock: each view is indexed once.
                self.view_index.insert(key.clone(), Arc::clone(&slots));
                (key, slots)
            },
        );
        let admitted = slots.as_ref().and_then(|(view, slots)| {
            let slot = &slots[method.index()];
            if let Some(id) = slot.get() {
                return Some(*id);
            }
            // Reserve the pair before creating it so concurrent creators cannot overshoot.
            if self.view_method_pairs.fetch_add(1, Ordering::Relaxed) >= self.max_label_sets {
                self.view_method_pairs.fetch_sub(1, Ordering::Relaxed);
                return None;
            }
            let mut created = false;
            let id = slot.get_or_init(|| {
                created = true;
                self.handles.push(ViewHandles::new(
                    ViewLabel::new(view.clone()),
                    method,
                    false,
                    false,
                ))
            });
            if !created {
                self.view_method_pairs.fetch_sub(1, Ordering::Relaxed);
            }
            Some(*id)
        });
        // The fold is counted by `note_use`, which every caller runs on the returned handles.
        admitted.unwrap_or_else(|| self.overflow_view_id(method))
    }

    fn overflow_view_id(&self, method: MethodLabel) -> ViewId {
        *self.overflow_view[method.index()].get_or_init(|| {
            self.handles.push(ViewHandles::new(
                ViewLabel::new(LabelValue::new(OVERFLOW)),
                method,
                true,
                true,
            ))
        })
    }

    /// The handles a series refused by a family's cap records into instead: the overflow
    /// view's, with the request-label values of `handles`.
    fn overflow_handles_of(&self, handles: &ViewHandles) -> &ViewHandles {
        let overflow = self.overflow_view_id(handles.labels.method);
        self.handles(self.with_values_of(overflow, handles))
    }

    /// Counts one observation folded into `<overflow>` under `label`.
    pub(crate) fn fold(&self, label: FoldedLabel) {
        self.overflow_folds[label as usize]
            .get_or_init(|| {
                self.families.label_overflow.get_or_create_owned(&OverflowLabels {
                    label: LabelValue::new(label.as_str()),
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
            if !handles.uncapped && !Self::admit(&self.view_transport_method_series, self.max_label_sets) {
                self.fold(FoldedLabel::View);
                return self
                    .overflow_handles_of(handles)
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
        if let Some((_, counter)) = handles.first_status.get().filter(|(first, _)| *first == status) {
            counter.inc();
            return;
        }
        self.responses_by_other_status_view_method(handles, status);
    }

    /// [`Self::responses_by_status_view_method`] past the view's first status: out of line, so
    /// that the usual response's path saves no registers for it.
    #[inline(never)]
    fn responses_by_other_status_view_method(&self, handles: &ViewHandles, status: StatusLabel) {
        if let Some((_, counter)) = handles.statuses.read().iter().find(|(known, _)| *known == status) {
            counter.inc();
            return;
        }
        let counter = if handles.uncapped || Self::admit(&self.status_view_method_series, self.max_label_sets)
        {
            handles.status_counter(&self.families, status)
        } else {
            self.fold(FoldedLabel::View);
            self.overflow_handles_of(handles)
                .status_counter(&self.families, status)
        };
        counter.inc();
    }

    /// Observes a latency; the series is created on first use so that a view seen only in
    /// flight (the request-time view of a response that named another one) stays out of it.
    pub(crate) fn latency(&self, handles: &ViewHandles, seconds: f64, trace_id: Option<&TraceId>) {
        handles
            .latency
            .get_or_init(|| self.duration_series(&self.families.latency_by_view_method, handles))
            .observe_with_exemplar(seconds, trace_id);
    }

    /// Observes the whole response's duration (opt-in), when its body ended or was dropped.
    pub(crate) fn response_duration(&self, handles: &ViewHandles, seconds: f64, trace_id: Option<&TraceId>) {
        handles
            .response_duration
            .get_or_init(|| self.duration_series(&self.families.response_duration_by_view_method, handles))
            .observe_with_exemplar(seconds, trace_id);
    }

    /// The series of `handles` in one of the two view-labelled duration histograms, with the
    /// view's own buckets when a rule names it.
    #[cold]
    fn duration_series(
        &self,
        family: &SnapshotFamily<ViewMethodLabels, LatencyHistogram, LatencyHistograms>,
        handles: &ViewHandles,
    ) -> LatencyHistogram {
        match self.view_buckets.histogram_for(handles.view()) {
            Some(histogram) => family.get_or_create_with(&handles.labels, || histogram),
            None => family.get_or_create_owned(&handles.labels),
        }
    }

    pub(crate) fn view_buckets(&self) -> &ViewBuckets {
        &self.view_buckets
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
                    view: handles.labels.view.view().clone(),
                })
            })
            .inc();
    }

    /// Counts a response by the charset of its `Content-Type`. The first content type seen
    /// with the first charset is remembered whole, so the usual response compares a few bytes
    /// instead of parsing its header. `content_type` is the first `Content-Type` of `headers`.
    pub(crate) fn responses_by_content_type(&self, headers: &HeaderMap, content_type: Option<&HeaderValue>) {
        if let (Some(value), Some((first, counter))) = (content_type, self.first_content_type.get()) {
            // A framework sets `Content-Type` from a static string, which every response and
            // the remembered clone share: equal by address, without comparing bytes.
            if std::ptr::eq(value.as_bytes(), first.as_bytes()) {
                counter.inc();
                return;
            }
        }
        self.responses_by_content_type_bytes(headers, content_type);
    }

    /// [`Self::responses_by_content_type`] past the comparison by address: out of line, so that
    /// the usual response's path saves no registers for it.
    #[inline(never)]
    fn responses_by_content_type_bytes(&self, headers: &HeaderMap, content_type: Option<&HeaderValue>) {
        if let (Some(value), Some((first, counter))) = (content_type, self.first_content_type.get()) {
            if value == first {
                counter.inc();
                return;
            }
        }
        let charset = charset_of(headers);
        self.responses_by_charset(charset);
        if let (Some(value), Some(charset)) = (content_type, charset) {
            if self.first_content_type.get().is_none() {
                self.remember_content_type(value, charset);
            }
        }
    }

    #[cold]
    fn remember_content_type(&self, value: &HeaderValue, charset: &str) {
        if let Some((first, counter)) = self.first_charset.get() {
            if first.eq_ignore_ascii_case(charset) {
                let _ = self.first_content_type.set((value.clone(), counter.clone()));
            }
        }
    }

    /// Counts a response by charset, compared case-insensitively (label values are lower
    /// case); `None` stands for a response without one.
    pub(crate) fn responses_by_charset(&self, charset: Option<&str>) {
        let Some(charset) = charset else {
            match self.no_charset.get() {
                Some(counter) => {
                    counter.inc();
                }
                None => self.new_charset(NO_CHARSET),
            }
            return;
        };
        if let Some((first, counter)) = self.first_charset.get() {
            if first.eq_ignore_ascii_case(charset) {
                counter.inc();
                return;
            }
        }
        if !fits_label_rule(charset) {
            self.overflow_charset();
            return;
        }
        let mut buffer = [0; MAX_INLINE_CHARSET];
        let lower = match buffer.get_mut(..charset.len()) {
            Some(inline) => {
                inline.copy_from_slice(charset.as_bytes());
                inline.make_ascii_lowercase();
                Cow::Borrowed(std::str::from_utf8(inline).expect("ASCII lower-casing keeps UTF-8"))
            }
            None => Cow::Owned(charset.to_ascii_lowercase()),
        };
        if self.charsets.with(&*lower, MaybeStripedCounter::inc).is_none() {
            self.new_charset(&lower);
        }
    }

    /// Counts a charset not seen yet. Every charset, the two cached in fast slots included,
    /// is an entry of the capped map, so the cap counts each exactly once.
    #[cold]
    fn new_charset(&self, charset: &str) {
        let is_none = charset == NO_CHARSET;
        // No charset and the first charset seen are what nearly every response carries:
        // those two are striped per thread; later charsets take a plain counter.
        let striped = is_none || self.first_charset.get().is_none();
        let (counter, admission) = self.charsets.get_or_admit(
            charset,
            |charset| (charset.into(), self.charset_counter(charset, striped)),
            || self.charset_counter(OVERFLOW, false),
        );
        counter.inc();
        match admission {
            Admission::Folded => self.fold(FoldedLabel::Charset),
            Admission::Own if is_none => {
                let _ = self.no_charset.set(counter);
            }
            Admission::Own if striped => {
                let _ = self.first_charset.set((charset.into(), counter));
            }
            Admission::Own => {}
        }
    }

    /// Counts a response whose charset the one label rule refuses.
    #[cold]
    fn overflow_charset(&self) {
        self.overflow_charset
            .get_or_init(|| self.charset_counter(OVERFLOW, false))
            .inc();
        self.fold(FoldedLabel::Charset);
    }

    fn charset_counter(&self, charset: &str, striped: bool) -> MaybeStripedCounter {
        let labels = CharsetLabels {
            charset: LabelValue::new(charset),
        };
        let family = &self.families.responses_by_charset;
        if striped {
            family.get_or_create_with(
                &labels,
                || MaybeStripedCounter::Striped(StripedCounter::default()),
            )
        } else {
            family.get_or_create_owned(&labels)
        }
    }

    /// Counts an error under its `type` label value (see [`super::error_types`]); `None`, or
    /// a value the one label rule refuses, counts under `<overflow>` as a fold. A name seen
    /// before is found without allocating.
    pub(crate) fn exceptions_by_type(&self, name: Option<&str>) {
        let Some(name) = name.filter(|name| fits_label_rule(name)) else {
            self.overflow_error_type();
            return;
        };
        if self.error_types.with(name, Counter::inc).is_none() {
            self.new_error_type(name);
        }
    }

    #[cold]
    fn new_error_type(&self, name: &str) {
        let family = &self.families.exceptions_by_type;
        let (counter, admission) = self.error_types.get_or_admit(
            name,
            |name| {
                let kind = LabelValue::new(name);
                (kind.clone(), family.get_or_create_owned(&TypeLabels { kind }))
            },
            || self.overflow_error_type_counter().clone(),
        );
        counter.inc();
        if admission == Admission::Folded {
            self.fold(FoldedLabel::Type);
        }
    }

    #[cold]
    fn overflow_error_type(&self) {
        self.overflow_error_type_counter().inc();
        self.fold(FoldedLabel::Type);
    }

    fn overflow_error_type_counter(&self) -> &Counter {
        self.overflow_error_type.get_or_init(|| {
            self.families.exceptions_by_type.get_or_create_owned(&TypeLabels {
                kind: LabelValue::new(OVERFLOW),
            })
        })
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
    /// `uncapped`: whether the series bypass the caps on series (the overflow entries').
    fn new(view: ViewLabel, method: MethodLabel, folded: bool, uncapped: bool) -> Self {
        let labels = ViewMethodLabels { view, method };
        Self {
            latency: OnceLock::new(),
            response_duration: OnceLock::new(),
            in_flight: OnceLock::new(),
            labels,
            folded,
            uncapped,
            by_transport: Default::default(),
            cancelled: OnceLock::new(),
            exceptions: OnceLock::new(),
            first_status: OnceLock::new(),
            statuses: RwLock::default(),
        }
    }

    /// The view label these handles record under.
    pub(crate) fn view(&self) -> &str {
        self.labels.view.as_str()
    }

    /// The view label as a shared value, for label sets that keep it (cloning never allocates).
    pub(crate) fn view_label(&self) -> &LabelValue {
        self.labels.view.view()
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
        let create = || {
            families
                .responses_by_status_view_method
                .get_or_create_owned(&StatusViewMethodLabels {
                    status,
                    view: self.labels.view.clone(),
                    method: self.labels.method,
                })
        };
        if self.first_status.get().is_none() {
            let (first, counter) = self.first_status.get_or_init(|| (status, create()));
            if *first == status {
                return counter.clone();
            }
        }
        let mut statuses = self.statuses.write();
        if let Some((_, counter)) = statuses.iter().find(|(known, _)| *known == status) {
            return counter.clone();
        }
        let counter = create();
        statuses.push((status, counter.clone()));
        counter
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A name of the application's, kept where it is by an `Arc`, as axum's `MatchedPath`.
    struct SharedName(Arc<str>);

    impl SharedViewName for SharedName {
        fn name(&self) -> &str {
            &self.0
        }

        fn keeper(&self) -> NameKeeper {
            Box::new(Arc::clone(&self.0))
        }
    }

    #[test]
    fn once_the_pinned_table_is_full_a_new_address_is_looked_up_without_the_pinning_lock() {
        let metrics = crate::Metrics::new();
        let recorder = &metrics.shared.recorder();
        // One view whose name comes at a new address with every request, as a nested router's.
        let mut kept = Vec::new();
        while !recorder.pinning_closed.load(Ordering::Relaxed) {
            let name = SharedName(Arc::from("/nested/view"));
            recorder.pinned_view(&name, MethodLabel::Get);
            kept.push(name);
            assert!(kept.len() <= PINNED_VIEW_SLOTS + 1, "the table fills");
        }
        let expected = recorder.view("/nested/view", MethodLabel::Get);
        let _pinning = recorder.pinning.lock();
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let fresh = SharedName(Arc::from("/nested/view"));
                let _ = sender.send(recorder.pinned_view(&fresh, MethodLabel::Get));
            });
            let id = receiver.recv_timeout(std::time::Duration::from_secs(5));
            drop(_pinning);
            assert_eq!(id.ok(), Some(expected), "found without waiting for the lock");
        });
    }

    #[test]
    fn views_beyond_the_lock_free_index_are_found_in_the_map() {
        let metrics = crate::Metrics::new();
        let recorder = &metrics.shared.recorder();
        let names: Vec<String> = (0..4 * VIEW_INDEX_SLOTS).map(|i| format!("/v{i}")).collect();
        let first: Vec<_> = names
            .iter()
            .map(|name| recorder.view(name, MethodLabel::Get))
            .collect();
        assert!(
            names
                .iter()
                .filter(|name| recorder.indexed_view(name).is_some())
                .count()
                <= VIEW_INDEX_SLOTS
        );
        assert!(names.iter().any(|name| recorder.indexed_view(name).is_none()));
        for (name, id) in names.iter().zip(&first) {
            assert_eq!(recorder.handles(*id).view(), name);
            assert_eq!(*id, recorder.view(name, MethodLabel::Get), "{name}");
            let post = recorder.view(name, MethodLabel::Post);
            assert_eq!(recorder.handles(post).view(), name);
            assert_ne!(*id, post);
        }
        assert_eq!(
            recorder.view_method_pairs.load(Ordering::Relaxed),
            2 * names.len()
        );
    }

    #[test]
    fn the_unnamed_view_shortcut_gives_the_ids_of_the_general_path() {
        let metrics = crate::Metrics::builder().max_label_sets(1).build().unwrap();
        let recorder = &metrics.shared.recorder();
        let get = recorder.view(UNNAMED_VIEW, MethodLabel::Get);
        assert_eq!(recorder.handles(get).view(), UNNAMED_VIEW);
        assert!(!recorder.handles(get).folded);
        assert_eq!(recorder.view(UNNAMED_VIEW, MethodLabel::Get), get);
        assert_eq!(recorder.indexed_or_new_view(UNNAMED_VIEW, MethodLabel::Get), get);
        // The cap (one pair) is reached: POST folds, and keeps folding.
        for _ in 0..2 {
            let post = recorder.view(UNNAMED_VIEW, MethodLabel::Post);
            assert!(recorder.handles(post).folded);
            assert_eq!(recorder.handles(post).view(), OVERFLOW);
        }
        assert!(recorder.unnamed_view[MethodLabel::Post.index()].get().is_none());
    }

    #[test]
    fn views_created_by_many_threads_at_once_get_their_own_handles() {
        let metrics = crate::Metrics::new();
        let recorder = &metrics.shared.recorder();
        let ids: Vec<Vec<(String, ViewId)>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..8)
                .map(|thread| {
                    scope.spawn(move || {
                        // Every thread also asks for the views of the others, so that some
                        // pairs are created by whichever thread comes first.
                        (0..300)
                            .map(|i| {
                                let name = format!("/t{}/v{}", (thread + i) % 8, i);
                                let id = recorder.view(&name, MethodLabel::Get);
                                (name, id)
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers.into_iter().map(|worker| worker.join().unwrap()).collect()
        });
        let mut by_name = std::collections::HashMap::new();
        for (name, id) in ids.into_iter().flatten() {
            assert_eq!(recorder.handles(id).view(), name);
            assert_eq!(*by_name.entry(name).or_insert(id), id, "one id per pair");
        }
        let distinct: std::collections::HashSet<_> = by_name.values().collect();
        assert_eq!(distinct.len(), by_name.len(), "no two pairs share an id");
        assert_eq!(recorder.view_method_pairs.load(Ordering::Relaxed), by_name.len());
    }
}
