//! gRPC outcomes: `grpc_server_handled_total{grpc_service, grpc_method, grpc_code}`.
//!
//! A gRPC answer is an HTTP 200 whatever happened; the outcome travels in the `grpc-status`
//! field, in the response headers for a trailers-only answer (how tonic sends most errors) or
//! in the trailers at the end of the body. The layer reads it from either and counts the call
//! under the Go client's code names (`OK`, `NotFound`, `Internal`, …), so dashboards written
//! for go-grpc-prometheus's family work. The family appears in the exposition after the first
//! gRPC call.
//!
//! A request is counted as a gRPC call when its `content-type` is `application/grpc` or
//! `application/grpc+…` (gRPC-Web carries its trailers inside the body and is not read), its
//! path is `/{service}/{method}`, and its *response* carries a gRPC `content-type` too: what a
//! client sends alone never creates a series. A call that ends without a response head (the
//! service's `Err`, a panic, a client gone before the head) is not counted here. The service
//! and method follow the one label rule ([`super::labels::MAX_LABEL_VALUE_BYTES`]).

use std::fmt;
use std::sync::Arc;

use http::header::CONTENT_TYPE;
use http::HeaderMap;
use prometheus_client::encoding::{EncodeLabelSet, LabelSetEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

use super::families::{FamilySpec, Kind};
use super::labels::{encode_label, fits_label_rule, OVERFLOW};
use super::recorder::{FoldedLabel, Recorder};
use crate::primitives::capped_map::{Admission, CappedMap};
use crate::primitives::snapshot_family::SnapshotFamily;

const GRPC_STATUS: &str = "grpc-status";

/// The gRPC family's row, beside the HTTP families' table.
pub(crate) const GRPC_FAMILY: FamilySpec = FamilySpec {
    name: "grpc_server_handled",
    help: "gRPC calls completed by the server, by service, method and status code",
    unit: None,
    kind: Kind::Counter,
};

/// The gRPC family and the cap on its distinct (service, method) pairs: the path is chosen by
/// the client, so without a cap a scan of made-up methods would grow the exposition forever.
#[derive(Debug)]
pub(crate) struct GrpcMetrics {
    handled: SnapshotFamily<GrpcLabels, Counter>,
    /// Admitted calls by path (`/service/method`): a call seen before allocates nothing.
    calls: CappedMap<Box<str>, GrpcCall>,
    /// The call that `<overflow>` stands for, shared by every folded call.
    overflow: GrpcCall,
}

impl GrpcMetrics {
    pub(crate) fn new(max_label_sets: usize) -> Self {
        Self {
            handled: SnapshotFamily::default(),
            calls: CappedMap::new(max_label_sets),
            overflow: GrpcCall::new(OVERFLOW, OVERFLOW, Admitted::Folded),
        }
    }

    pub(crate) fn register(&self, registry: &mut Registry) {
        registry.register(GRPC_FAMILY.name, GRPC_FAMILY.help, self.handled.clone());
    }

    /// The gRPC call a request may start, `None` for a request that does not look like one.
    /// Nothing is admitted yet: only a gRPC *response* ([`is_grpc_response`]) makes it a call
    /// ([`Self::answered`]), so a client sending `application/grpc` to a plain HTTP route
    /// creates no series. A call seen before is found without allocating.
    pub(crate) fn call(&self, uri: &http::Uri, headers: &HeaderMap) -> Option<GrpcCall> {
        let (service, method) = GrpcCall::names(uri, headers)?;
        if !(fits_label_rule(service) && fits_label_rule(method)) {
            return Some(self.overflow.clone());
        }
        Some(match self.calls.with(uri.path(), GrpcCall::clone) {
            Some(call) => call,
            None => GrpcCall::new(service, method, Admitted::NotYet),
        })
    }

    /// The call to count, once the response showed it is a gRPC answer: `call` admitted
    /// while the cap has room, `<overflow>` otherwise (or when the one label rule refused
    /// its names), each fold counted once per call.
    pub(crate) fn answered(&self, call: GrpcCall, recorder: &Recorder) -> GrpcCall {
        match call.0.admitted {
            Admitted::Yes => call,
            Admitted::Folded => {
                recorder.fold(FoldedLabel::GrpcMethod);
                call
            }
            Admitted::NotYet => self.admit(&call, recorder),
        }
    }

    #[cold]
    fn admit(&self, call: &GrpcCall, recorder: &Recorder) -> GrpcCall {
        let path = format!("/{}/{}", call.0.service, call.0.method);
        let (call, admission) = self.calls.get_or_admit(
            path.as_str(),
            |path| {
                let names = &call.0;
                (
                    path.into(),
                    GrpcCall::new(&names.service, &names.method, Admitted::Yes),
                )
            },
            || self.overflow.clone(),
        );
        if admission == Admission::Folded {
            recorder.fold(FoldedLabel::GrpcMethod);
        }
        call
    }

    /// Counts one completed call.
    pub(crate) fn record(&self, call: GrpcCall, code: GrpcCode) {
        self.handled
            .get_or_create_owned(&GrpcLabels {
                service: Arc::clone(&call.0.service),
                method: Arc::clone(&call.0.method),
                code,
            })
            .inc();
    }
}

/// Whether a response is a gRPC answer: its `content-type` is `application/grpc` or
/// `application/grpc+…` (the same test as the request's).
pub(crate) fn is_grpc_response(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .is_some_and(|value| is_grpc_content_type(value.as_bytes()))
}

fn is_grpc_content_type(content_type: &[u8]) -> bool {
    content_type
        .strip_prefix(b"application/grpc")
        .is_some_and(|subtype| subtype.is_empty() || subtype.starts_with(b"+") || subtype.starts_with(b";"))
}

/// A gRPC call whose outcome is not yet known: one thin pointer in every request's tracker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GrpcCall(Arc<GrpcNames>);

#[derive(Debug, PartialEq, Eq)]
struct GrpcNames {
    service: Arc<str>,
    method: Arc<str>,
    admitted: Admitted,
}

/// Where a call's names stand with the cap and the one label rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Admitted {
    /// Found in (or admitted to) the capped map.
    Yes,
    /// Not seen before: admitted once its response shows it is a gRPC answer.
    NotYet,
    /// `<overflow>`: the names broke the one label rule, or the cap was reached.
    Folded,
}

impl GrpcCall {
    fn new(service: &str, method: &str, admitted: Admitted) -> Self {
        Self(Arc::new(GrpcNames {
            service: Arc::from(service),
            method: Arc::from(method),
            admitted,
        }))
    }

    /// The service and method of a gRPC request, `None` for any other request.
    fn names<'u>(uri: &'u http::Uri, headers: &HeaderMap) -> Option<(&'u str, &'u str)> {
        if !is_grpc_content_type(headers.get(CONTENT_TYPE)?.as_bytes()) {
            return None;
        }
        let (service, method) = uri.path().strip_prefix('/')?.split_once('/')?;
        if service.is_empty() || method.is_empty() || method.contains('/') {
            return None;
        }
        Some((service, method))
    }
}

/// A gRPC status code, named as the Go implementation names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct GrpcCode(u8);

impl GrpcCode {
    const NAMES: [&'static str; 17] = [
        "OK",
        "Canceled",
        "Unknown",
        "InvalidArgument",
        "DeadlineExceeded",
        "NotFound",
        "AlreadyExists",
        "PermissionDenied",
        "ResourceExhausted",
        "FailedPrecondition",
        "Aborted",
        "OutOfRange",
        "Unimplemented",
        "Internal",
        "Unavailable",
        "DataLoss",
        "Unauthenticated",
    ];
    /// The call was abandoned before its status was sent (the client went away).
    pub(crate) const CANCELED: Self = Self(1);
    /// The answer ended without a status, or with one outside the specification.
    pub(crate) const UNKNOWN: Self = Self(2);

    /// The `grpc-status` of a header or trailer map, if present. Values outside the
    /// specification count as `Unknown`, as the gRPC specification tells clients to do.
    pub(crate) fn of(headers: &HeaderMap) -> Option<Self> {
        let value = headers.get(GRPC_STATUS)?;
        let code = std::str::from_utf8(value.as_bytes())
            .ok()
            .and_then(|text| text.trim().parse::<u8>().ok())
            .filter(|code| usize::from(*code) < Self::NAMES.len());
        Some(code.map_or(Self::UNKNOWN, Self))
    }

    fn as_str(self) -> &'static str {
        Self::NAMES[usize::from(self.0)]
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct GrpcLabels {
    service: Arc<str>,
    method: Arc<str>,
    code: GrpcCode,
}

impl EncodeLabelSet for GrpcLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder<'_>) -> fmt::Result {
        encode_label(encoder, "grpc_service", &&*self.service)?;
        encode_label(encoder, "grpc_method", &&*self.method)?;
        encode_label(encoder, "grpc_code", &self.code.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(path: &str, content_type: &str) -> http::request::Parts {
        http::Request::post(path)
            .header(CONTENT_TYPE, content_type)
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    fn names_of(request: &http::request::Parts) -> Option<(&str, &str)> {
        GrpcCall::names(&request.uri, &request.headers)
    }

    #[test]
    fn grpc_requests_are_recognised_by_content_type_and_path() {
        let orders = request("/shop.Orders/Get", "application/grpc");
        assert_eq!(
            GrpcCall::names(&orders.uri, &orders.headers),
            Some(("shop.Orders", "Get"))
        );
        assert!(names_of(&request("/shop.Orders/Get", "application/grpc+proto")).is_some());
        assert!(names_of(&request("/shop.Orders/Get", "application/grpc-web")).is_none());
        assert!(names_of(&request("/shop.Orders/Get", "application/json")).is_none());
        assert!(names_of(&request("/shop.Orders", "application/grpc")).is_none());
        assert!(names_of(&request("/a/b/c", "application/grpc")).is_none());
        assert!(names_of(&request("//Get", "application/grpc")).is_none());
    }

    #[test]
    fn status_codes_use_go_names_and_fold_the_unknown() {
        let status = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(GRPC_STATUS, value.parse().unwrap());
            GrpcCode::of(&headers).map(GrpcCode::as_str)
        };
        assert_eq!(status("0"), Some("OK"));
        assert_eq!(status("5"), Some("NotFound"));
        assert_eq!(status("16"), Some("Unauthenticated"));
        assert_eq!(status("17"), Some("Unknown"));
        assert_eq!(status("ok"), Some("Unknown"));
        assert_eq!(GrpcCode::of(&HeaderMap::new()), None);
    }
}
