//! [`RequestTracker`]: accounts for one request exactly once, whatever ends it.
//!
//! The tracker is created when the request enters the layer, travels from the response future
//! into the response body, and records at each stage. Its `Drop` covers every way a request
//! can end early (future dropped, body dropped, unwinding), so the in-flight gauge always
//! returns to its previous value and nothing is counted twice.

use std::sync::Arc;

use http::header::CONTENT_TYPE;
use http::HeaderMap;

use crate::metrics::Shared;
use crate::primitives::stripes::Stripe;
use crate::primitives::view_arena::ViewId;
use crate::registry::error_types::{error_type_of, LabelBuffer};
use crate::registry::exemplars::TraceId;
use crate::registry::grpc::{is_grpc_response, GrpcCall, GrpcCode};
use crate::registry::labels::{MethodLabel, StatusLabel, Transport, OVERFLOW, PANIC_TYPE};
use crate::registry::otel::{self, OtelRequest};
use crate::registry::recorder::ViewHandles;
use crate::RequestHead;

use super::headers::{first_value, RequestHeaders};
use super::view;

const UNKNOWN_SIZE: u64 = u64::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Waiting for the inner service's response head.
    AwaitingHead,
    /// The head was recorded; the body is streaming.
    Streaming,
    /// Everything is recorded; dropping does nothing more.
    Done,
}

/// The accounting state of one request.
pub(crate) struct RequestTracker {
    shared: Arc<Shared>,
    method: MethodLabel,
    transport: Transport,
    /// The recorder's clock at the start, in raw ticks: quanta reads the TSC (calibrated once
    /// against the OS clock), which is cheaper than a `clock_gettime` call, and falls back to
    /// the OS clock by itself where no invariant TSC is available; ticks are scaled to seconds
    /// once, at the end.
    start: u64,
    /// The handles whose in-flight gauge this request incremented (the request-time view),
    /// by id: holding them by `Arc` cost a clone and a drop on a line every request of the
    /// view reads (see `registry::view_arena`).
    in_flight: ViewId,
    /// The handles of the response's view when it differs from the request-time view.
    switched_view: Option<ViewId>,
    stage: Stage,
    body_bytes: u64,
    /// The body's announced size, [`UNKNOWN_SIZE`] for a streaming body (an `Option<u64>`
    /// would take 16 bytes of a struct moved several times per request).
    expected_body_bytes: u64,
    /// The gRPC call whose `grpc-status` is still to be read, if this is one.
    grpc: Option<GrpcCall>,
    /// The exemplar of this request, when exemplars are on and it carries a trace id.
    trace_id: Option<TraceId>,
    /// The OpenTelemetry profile's state of this request, when the profile is on (inline and
    /// small: a box would be an allocation per request).
    otel: Option<OtelRequest>,
}

impl std::fmt::Debug for RequestTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestTracker")
            .field("method", &self.method)
            .field("view", &self.view().view())
            .field("stage", &self.stage)
            .finish_non_exhaustive()
    }
}

impl RequestTracker {
    /// Records the request's arrival and marks it in flight under `view` (decided by
    /// [`view::RequestView`]).
    pub(super) fn start(
        shared: &Arc<Shared>,
        request: &RequestHead<'_>,
        view: view::RequestView<'_>,
        trace_id: Option<TraceId>,
    ) -> Self {
        let recorder = &shared.recorder();
        let start = recorder.clock_ticks();
        let families = &recorder.families;
        let method = MethodLabel::of(request.method());
        let transport = Transport::of(
            request.uri(),
            request.headers(),
            shared.recording_config().forwarded_proto_header.as_ref(),
        );
        let stripe = Stripe::current();
        recorder.requests(method, transport).inc_in(stripe);
        let headers = RequestHeaders::of(request.headers());
        if headers.is_ajax() {
            families.ajax_requests.inc();
        }
        let request_length = headers.content_length();
        if let Some(length) = request_length {
            families.request_body_bytes.observe_bytes(length);
        }
        let view_id = recorder.request_view(view.key(), method, request);
        let handles = recorder.handles(view_id);
        recorder.note_use(handles);
        recorder.in_flight(handles).inc();
        Self {
            shared: Arc::clone(shared),
            method,
            transport,
            start,
            switched_view: None,
            in_flight: view_id,
            stage: Stage::AwaitingHead,
            body_bytes: 0,
            expected_body_bytes: UNKNOWN_SIZE,
            // gRPC calls are always POSTs: other requests skip the content-type lookup.
            grpc: (method == MethodLabel::Post)
                .then(|| shared.grpc().call(request.uri(), request.headers()))
                .flatten(),
            trace_id,
            otel: shared
                .otel()
                .map(|otel| otel.start(request.method(), transport, request.version(), request_length)),
        }
    }

    /// Records the response head. `body_size` is the body's exact size when known; a body
    /// without one is a streaming response.
    pub(crate) fn on_response(
        &mut self,
        status: http::StatusCode,
        headers: &HeaderMap,
        extensions: &http::Extensions,
        body_size: Option<u64>,
        body_ended: bool,
    ) {
        let elapsed = self.elapsed_seconds();
        if self.grpc.is_some() {
            self.on_grpc_head(headers);
        }
        if let Some(otel) = &mut self.otel {
            otel.on_status(status);
        }
        if let Some(view) = view::of_response(extensions) {
            self.switch_view(view);
        }
        let recorder = &self.shared.recorder();
        let families = &recorder.families;
        let trace_id = self.trace_id.as_ref();
        if let Some(latency) = families.latency_including_middlewares.recorded() {
            latency.observe_with_exemplar(elapsed, trace_id);
        }
        let view = self.view();
        recorder.latency(view, elapsed, trace_id);
        recorder.requests_by_view_transport_method(view, self.transport, trace_id);
        let status = StatusLabel::of(status, self.shared.recording_config().group_status_codes);
        recorder.responses_by_status_view_method(view, status);
        recorder.responses_by_content_type(headers, first_value(headers, &CONTENT_TYPE));
        if body_size.is_none() {
            families.responses_streaming.inc();
        }
        self.expected_body_bytes = body_size.unwrap_or(UNKNOWN_SIZE);
        self.stage = Stage::Streaming;
        if body_ended || body_size == Some(0) {
            self.on_body_end();
        }
    }

    /// Records the inner service's `Err`, labelled as [`crate::registry::error_types`] says.
    pub(crate) fn on_error<E: 'static>(&mut self, error: &E) {
        // No response head: not a gRPC answer.
        self.grpc = None;
        let elapsed = self.elapsed_seconds();
        let recorder = &self.shared.recorder();
        let trace_id = self.trace_id.as_ref();
        if let Some(latency) = recorder.families.latency_including_middlewares.recorded() {
            latency.observe_with_exemplar(elapsed, trace_id);
        }
        let view = self.view();
        recorder.latency(view, elapsed, trace_id);
        recorder.requests_by_view_transport_method(view, self.transport, trace_id);
        self.record_error(error);
    }

    /// Counts bytes of the response body; finishes once the announced size has streamed.
    #[inline]
    pub(crate) fn on_body_data(&mut self, bytes: usize) {
        self.body_bytes = self.body_bytes.saturating_add(bytes as u64);
        if self.expected_body_bytes != UNKNOWN_SIZE && self.body_bytes >= self.expected_body_bytes {
            self.on_body_end();
        }
    }

    /// Whether the body's end is still to be recorded.
    pub(crate) fn awaits_body_end(&self) -> bool {
        self.stage == Stage::Streaming
    }

    /// Whether the body's frames can still tell something: its end, its bytes, or a gRPC
    /// status in its trailers.
    #[inline]
    pub(crate) fn reads_frames(&self) -> bool {
        self.stage == Stage::Streaming || self.grpc.is_some()
    }

    /// Records the end of the response body.
    pub(crate) fn on_body_end(&mut self) {
        if self.stage != Stage::Streaming {
            return;
        }
        self.shared
            .recorder()
            .families
            .response_body_bytes
            .observe_bytes(self.body_bytes);
        self.finish(None);
    }

    /// Records an error from the response body.
    pub(crate) fn on_body_error<E: 'static>(&mut self, error: &E) {
        if self.stage == Stage::Streaming {
            self.record_error(error);
        }
    }

    /// Reads the trailers at the end of the response body (where gRPC sends its status).
    pub(crate) fn on_trailers(&mut self, trailers: &HeaderMap) {
        self.on_grpc_status(trailers);
    }

    /// A gRPC request's response head: the call counts only if the answer is gRPC too, and
    /// its status may already be in the head (a trailers-only answer).
    #[cold]
    fn on_grpc_head(&mut self, headers: &HeaderMap) {
        let Some(call) = self.grpc.take() else {
            return;
        };
        if is_grpc_response(headers) {
            let recorder = self.shared.recorder();
            self.grpc = Some(self.shared.grpc().answered(call, recorder));
            self.on_grpc_status(headers);
        }
    }

    /// Counts a gRPC call once its `grpc-status` shows up in the headers or the trailers.
    fn on_grpc_status(&mut self, headers: &HeaderMap) {
        if self.grpc.is_some() {
            if let Some(code) = GrpcCode::of(headers) {
                self.finish_grpc(code);
            }
        }
    }

    fn finish_grpc(&mut self, code: GrpcCode) {
        if let Some(call) = self.grpc.take() {
            self.shared.grpc().record(call, code);
        }
    }

    /// Records a panic of the inner service or its body; the caller resumes unwinding.
    pub(crate) fn on_panic(&mut self) {
        match self.stage {
            Stage::AwaitingHead => {
                self.grpc = None;
                self.record_unfinished_request();
                self.record_exception(Some(PANIC_TYPE));
            }
            Stage::Streaming => self.record_exception(Some(PANIC_TYPE)),
            Stage::Done => {}
        }
    }

    fn elapsed_seconds(&self) -> f64 {
        self.shared.recorder().seconds_since(self.start)
    }

    /// The handles of the best view known so far (the response's view once the head arrived).
    fn view(&self) -> &ViewHandles {
        self.shared
            .recorder()
            .handles(self.switched_view.unwrap_or(self.in_flight))
    }

    fn switch_view(&mut self, view: &str) {
        let current = self.view();
        if view != current.view() {
            let recorder = &self.shared.recorder();
            let view_id = recorder.switched_view(view, self.method, current);
            recorder.note_use(recorder.handles(view_id));
            self.switched_view = Some(view_id);
        }
    }

    /// A request that never got a response head: its latency is unknown.
    fn record_unfinished_request(&self) {
        let recorder = &self.shared.recorder();
        recorder.families.unknown_latency_including_middlewares.inc();
        recorder.families.unknown_latency.inc();
        recorder.requests_by_view_transport_method(self.view(), self.transport, self.trace_id.as_ref());
    }

    /// Names `error` on the stack (no allocation for a name seen before) and records it.
    fn record_error<E: 'static>(&mut self, error: &E) {
        let mut name = LabelBuffer::new();
        error_type_of(
            error,
            self.shared.recording_config().error_type.as_ref(),
            &mut name,
        );
        self.record_exception(name.value());
    }

    /// `name`: the `type` label (`None` when it broke the one label rule), which the
    /// OpenTelemetry profile's `error_type` reads too.
    fn record_exception(&mut self, name: Option<&str>) {
        let recorder = &self.shared.recorder();
        recorder.exceptions_by_type(name);
        recorder.exceptions_by_view(self.view());
        self.finish(Some(name.unwrap_or(OVERFLOW)));
    }

    /// `error`: what the request ended with, for the OpenTelemetry profile: an error's name,
    /// [`PANIC_TYPE`] or [`otel::CANCELLED`]. Always inlined: every request ends here once, and as
    /// a call of its own it saved and restored registers on the way.
    #[inline(always)]
    fn finish(&mut self, error: Option<&str>) {
        if self.stage == Stage::Streaming && self.shared.recording_config().response_duration_histogram {
            self.record_response_duration();
        }
        self.stage = Stage::Done;
        let recorder = &self.shared.recorder();
        recorder.in_flight(recorder.handles(self.in_flight)).dec();
        if let Some(otel) = self.otel.take() {
            self.finish_otel(otel, error);
        }
    }

    /// Out of line, as the profile is opt-in.
    #[cold]
    fn finish_otel(&self, request: OtelRequest, error: Option<&str>) {
        if let Some(otel) = self.shared.otel() {
            let elapsed = self.elapsed_seconds();
            otel.finish(
                request,
                error,
                self.view().view_label(),
                elapsed,
                self.body_bytes,
                self.shared.recorder(),
            );
        }
    }

    /// The whole response's duration, from the request to the end (or the drop) of its body:
    /// out of line, as the histogram is opt-in.
    #[cold]
    fn record_response_duration(&self) {
        let elapsed = self.elapsed_seconds();
        self.shared
            .recorder()
            .response_duration(self.view(), elapsed, self.trace_id.as_ref());
    }
}

impl Drop for RequestTracker {
    /// Inlined for the usual end, everything recorded and no gRPC call: the rest is out of line.
    #[inline]
    fn drop(&mut self) {
        if self.stage != Stage::Done || self.grpc.is_some() {
            self.drop_unfinished();
        }
    }
}

impl RequestTracker {
    /// [`Drop`] for a request not yet finished, or with a gRPC call still to count.
    #[inline(never)]
    fn drop_unfinished(&mut self) {
        if self.stage == Stage::AwaitingHead {
            // No response head: not a gRPC answer.
            self.grpc = None;
        }
        if self.grpc.is_some() {
            // No status was seen: an answer that ended without one is `Unknown`, one
            // abandoned midway was cancelled.
            let ended = self.stage == Stage::Done || std::thread::panicking();
            self.finish_grpc(if ended {
                GrpcCode::UNKNOWN
            } else {
                GrpcCode::CANCELED
            });
        }
        if self.stage == Stage::Done {
            return;
        }
        if std::thread::panicking() {
            self.on_panic();
            return;
        }
        // A HEAD response has no body to send: hyper and axum drop it unpolled, which is
        // how such a request normally ends, not a cancellation.
        if self.stage == Stage::Streaming && self.method == MethodLabel::Head {
            self.on_body_end();
            return;
        }
        if self.stage == Stage::AwaitingHead {
            self.record_unfinished_request();
        }
        self.shared.recorder().cancelled(self.view());
        self.finish(Some(otel::CANCELLED));
    }
}
