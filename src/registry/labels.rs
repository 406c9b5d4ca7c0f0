//! Label values: how a request and its response become `view`, `method`, `transport`, `status`,
//! `charset` and `type` values, and the label sets of each family.
//!
//! Every rule here keeps the number of distinct values bounded or hands the value to the
//! cardinality cap in [`crate::registry`], so that nothing a client sends can grow the registry.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::sync::Arc;

use http::{HeaderMap, Method, StatusCode};
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelSetEncoder, LabelValueEncoder};

/// The `view` value of requests whose view could not be resolved (django-prometheus's value).
///
/// ```
/// use http::{Request, Response};
/// use tower::{ServiceBuilder, ServiceExt};
/// use tower_prometheus::label_values::UNNAMED_VIEW;
/// use tower_prometheus::{Format, Metrics};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let metrics = Metrics::new();
/// let app = ServiceBuilder::new().layer(metrics.layer()).service_fn(|_: Request<String>| async {
///     Ok::<_, std::convert::Infallible>(Response::new(String::new()))
/// });
/// let request = Request::get("/anything").body(String::new()).unwrap();
/// app.oneshot(request).await.unwrap();
/// let text = metrics.render(Format::PrometheusText).unwrap();
/// assert!(text.contains(&format!("view=\"{UNNAMED_VIEW}\"")));
/// # }
/// ```
pub const UNNAMED_VIEW: &str = "<unnamed view>";

/// The `method` value of any method outside the nine standard ones (django-prometheus's value).
///
/// ```
/// use http::{Request, Response};
/// use tower::{ServiceBuilder, ServiceExt};
/// use tower_prometheus::label_values::INVALID_METHOD;
/// use tower_prometheus::{Format, Metrics};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let metrics = Metrics::new();
/// let app = ServiceBuilder::new().layer(metrics.layer()).service_fn(|_: Request<String>| async {
///     Ok::<_, std::convert::Infallible>(Response::new(String::new()))
/// });
/// let request = Request::builder().method("BREW").uri("/").body(String::new()).unwrap();
/// app.oneshot(request).await.unwrap();
/// let text = metrics.render(Format::PrometheusText).unwrap();
/// assert!(text.contains(&format!("method=\"{INVALID_METHOD}\"")));
/// # }
/// ```
pub const INVALID_METHOD: &str = "<invalid method>";

/// The `charset` value of responses without a `charset` parameter in their `Content-Type`.
///
/// ```
/// use http::{Request, Response};
/// use tower::{ServiceBuilder, ServiceExt};
/// use tower_prometheus::label_values::NO_CHARSET;
/// use tower_prometheus::{Format, Metrics};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let metrics = Metrics::new();
/// let app = ServiceBuilder::new().layer(metrics.layer()).service_fn(|_: Request<String>| async {
///     Ok::<_, std::convert::Infallible>(Response::new(String::new()))
/// });
/// let request = Request::get("/anything").body(String::new()).unwrap();
/// app.oneshot(request).await.unwrap();
/// let text = metrics.render(Format::PrometheusText).unwrap();
/// assert!(text.contains(&format!("charset=\"{NO_CHARSET}\"")));
/// # }
/// ```
pub const NO_CHARSET: &str = "<no charset>";

/// The value that replaces a free-form label value once its family reached the label-set cap.
///
/// ```
/// use http::{Request, Response};
/// use tower::{ServiceBuilder, ServiceExt};
/// use tower_prometheus::label_values::OVERFLOW;
/// use tower_prometheus::{Format, Metrics};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let metrics = Metrics::builder()
///     .max_label_sets(1)
///     .view_resolver(|request| Some(tower_prometheus::ViewName::new(request.uri().path().to_owned())))
///     .build().unwrap();
/// let app = ServiceBuilder::new().layer(metrics.layer()).service_fn(|_: Request<String>| async {
///     Ok::<_, std::convert::Infallible>(Response::new(String::new()))
/// });
/// for path in ["/first", "/second"] {
///     app.clone().oneshot(Request::get(path).body(String::new()).unwrap()).await.unwrap();
/// }
/// let text = metrics.render(Format::PrometheusText).unwrap();
/// assert!(text.contains(&format!("view=\"{OVERFLOW}\"")));
/// # }
/// ```
pub const OVERFLOW: &str = "<overflow>";

/// The longest label value a request can influence, in bytes. The one rule for every such
/// value (view, gRPC service and method, request labels, error type, charset): a longer one,
/// or one spelled like [`OVERFLOW`] itself, is recorded as [`OVERFLOW`] and counted in
/// `http_metrics_label_overflow_total{label}`, exactly as a value beyond the label-set cap is.
///
/// Folding rather than cutting keeps every exposed value an honest one: two long values that
/// share their first bytes never merge into a series that looks like a real name.
///
/// ```
/// use http::{Request, Response};
/// use tower::{ServiceBuilder, ServiceExt};
/// use tower_prometheus::label_values::{MAX_LABEL_VALUE_BYTES, OVERFLOW};
/// use tower_prometheus::{Format, Metrics, ViewName};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let metrics = Metrics::builder()
///     .view_resolver(|request| Some(ViewName::new(request.uri().path().to_owned())))
///     .build().unwrap();
/// let app = ServiceBuilder::new().layer(metrics.layer()).service_fn(|_: Request<String>| async {
///     Ok::<_, std::convert::Infallible>(Response::new(String::new()))
/// });
/// let long = format!("/{}", "a".repeat(MAX_LABEL_VALUE_BYTES));
/// app.oneshot(Request::get(long.as_str()).body(String::new()).unwrap()).await.unwrap();
/// let text = metrics.render(Format::PrometheusText).unwrap();
/// assert!(text.contains(&format!("view=\"{OVERFLOW}\"")));
/// assert!(!text.contains(&long));
/// assert!(text.contains("http_metrics_label_overflow_total{label=\"view\"} 1"));
/// # }
/// ```
pub const MAX_LABEL_VALUE_BYTES: usize = 256;

/// Whether a label value a request influenced may be exposed as it is: the rule of
/// [`MAX_LABEL_VALUE_BYTES`], a length comparison (the comparison with [`OVERFLOW`] reads its
/// bytes only when the lengths are equal). Every source of such values asks it.
#[inline]
pub(crate) fn fits_label_rule(value: &str) -> bool {
    value.len() <= MAX_LABEL_VALUE_BYTES && value != OVERFLOW
}

/// The `type` value recorded when the inner service panics (in
/// `http_exceptions_total_by_type_total`), where an error's type name goes otherwise.
///
/// ```
/// assert_eq!(tower_prometheus::label_values::PANIC_TYPE, "panic");
/// ```
pub const PANIC_TYPE: &str = "panic";

/// The name of the view (route template) that handled a request, used as the `view` label.
///
/// An inner service can name its view by inserting a `ViewName` into the **response**
/// extensions; this is the framework-agnostic way to label requests, and it takes precedence
/// over axum's `MatchedPath` and over the builder's resolver.
///
/// ```
/// use tower_prometheus::ViewName;
///
/// let mut response = http::Response::new(());
/// response.extensions_mut().insert(ViewName::new("/users/{id}"));
/// assert_eq!(response.extensions().get::<ViewName>().unwrap().as_str(), "/users/{id}");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ViewName(Cow<'static, str>);

impl ViewName {
    /// Names a view; a `&'static str` is stored without allocating.
    ///
    /// ```
    /// let view = tower_prometheus::ViewName::new(String::from("orders::list"));
    /// assert_eq!(view.as_str(), "orders::list");
    /// ```
    #[must_use]
    pub fn new(name: impl Into<Cow<'static, str>>) -> Self {
        Self(name.into())
    }

    /// The view's name.
    ///
    /// ```
    /// assert_eq!(tower_prometheus::ViewName::new("/").as_str(), "/");
    /// ```
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&'static str> for ViewName {
    fn from(name: &'static str) -> Self {
        Self::new(name)
    }
}

impl From<String> for ViewName {
    fn from(name: String) -> Self {
        Self::new(name)
    }
}

/// The `method` label: the nine methods django-prometheus knows, everything else folded into
/// [`INVALID_METHOD`] so that clients cannot invent label values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum MethodLabel {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Trace,
    Options,
    Connect,
    Patch,
    Invalid,
}

impl MethodLabel {
    pub(crate) const COUNT: usize = 10;
    /// Every method label, in index order.
    pub(crate) const ALL: [Self; Self::COUNT] = [
        Self::Get,
        Self::Head,
        Self::Post,
        Self::Put,
        Self::Delete,
        Self::Trace,
        Self::Options,
        Self::Connect,
        Self::Patch,
        Self::Invalid,
    ];

    pub(crate) fn of(method: &Method) -> Self {
        match *method {
            Method::GET => Self::Get,
            Method::HEAD => Self::Head,
            Method::POST => Self::Post,
            Method::PUT => Self::Put,
            Method::DELETE => Self::Delete,
            Method::TRACE => Self::Trace,
            Method::OPTIONS => Self::Options,
            Method::CONNECT => Self::Connect,
            Method::PATCH => Self::Patch,
            _ => Self::Invalid,
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Delete => "DELETE",
            Self::Trace => "TRACE",
            Self::Options => "OPTIONS",
            Self::Connect => "CONNECT",
            Self::Patch => "PATCH",
            Self::Invalid => INVALID_METHOD,
        }
    }
}

/// The `transport` label: `https` or `http`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Transport {
    Http,
    Https,
}

impl Transport {
    pub(crate) const COUNT: usize = 2;
    /// Both transports, in index order.
    pub(crate) const ALL: [Self; Self::COUNT] = [Self::Http, Self::Https];

    /// The URI scheme decides, unless a trusted forwarded-proto header is configured and present.
    #[inline]
    pub(crate) fn of(
        uri: &http::Uri,
        headers: &HeaderMap,
        trusted_header: Option<&http::HeaderName>,
    ) -> Self {
        if let Some(value) = trusted_header.and_then(|name| headers.get(name)) {
            let first = value.as_bytes().split(|&b| b == b',').next().unwrap_or_default();
            return if first.trim_ascii().eq_ignore_ascii_case(b"https") {
                Self::Https
            } else {
                Self::Http
            };
        }
        if uri.scheme() == Some(&http::uri::Scheme::HTTPS) {
            Self::Https
        } else {
            Self::Http
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }
}

/// The `status` label: the code as text, or its class (`2xx`) when grouping is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct StatusLabel(u16);

impl StatusLabel {
    /// Codes are 100..=999 (guaranteed by `http::StatusCode`); classes are stored as 1..=9.
    pub(crate) const COUNT: usize = 1000;

    pub(crate) fn of(status: StatusCode, grouped: bool) -> Self {
        if grouped {
            Self(status.as_u16() / 100)
        } else {
            Self(status.as_u16())
        }
    }

    pub(crate) fn index(self) -> usize {
        usize::from(self.0)
    }
}

impl EncodeLabelValue for StatusLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> fmt::Result {
        if self.0 < 10 {
            write!(encoder, "{}xx", self.0)
        } else {
            write!(encoder, "{}", self.0)
        }
    }
}

/// A shared, immutable label value; cloning it never allocates.
///
/// Values are kept verbatim, never sanitized: prometheus-client escapes `\`, `"` and newline,
/// and every other character (control characters and non-ASCII included) is valid as is in
/// both text formats; `tests/e2e/reliability_hostile_labels.rs` checks this against the Python
/// client, promtool and Prometheus's OpenMetrics parser.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct LabelValue(Arc<str>);

/// Lets maps keyed by label values be searched with a borrowed `&str` (`Arc<str>` hashes as
/// its `str`), so a warm lookup allocates nothing.
impl std::borrow::Borrow<str> for LabelValue {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl LabelValue {
    pub(crate) fn new(value: &str) -> Self {
        Self(Arc::from(value))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl EncodeLabelValue for LabelValue {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> fmt::Result {
        encoder.write_str(&self.0)
    }
}

/// The `view` of a label set keyed by view and method, carrying the values of the request
/// labels (`MetricsBuilder::request_label`) when some are declared, which are exposed after
/// the set's own labels. One pointer wide: every family of a `(view, method, values)` series
/// shares it, and a label set holding it is no larger than one holding the view alone.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ViewLabel(Arc<ViewLabelParts>);

#[derive(Debug, PartialEq, Eq, Hash)]
struct ViewLabelParts {
    view: LabelValue,
    request: Option<Box<SeriesRequestLabels>>,
}

/// The request labels of one series: the declared names, in order, and this series' values.
/// Compared and hashed by names and values only, so that two combinations exposed alike are
/// one series of each family.
#[derive(Debug)]
pub(crate) struct SeriesRequestLabels {
    pub(crate) names: Arc<[LabelValue]>,
    pub(crate) values: Box<[LabelValue]>,
    /// The values' ids in their labels' value maps, with which the response's view (when
    /// it differs from the request's) finds the same values again without reading the
    /// request a second time.
    pub(crate) ids: RequestValueIds,
}

impl PartialEq for SeriesRequestLabels {
    fn eq(&self, other: &Self) -> bool {
        self.names == other.names && self.values == other.values
    }
}

impl Eq for SeriesRequestLabels {}

impl std::hash::Hash for SeriesRequestLabels {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.names.hash(state);
        self.values.hash(state);
    }
}

/// The ids of one request's request-label values (unused labels are 0).
pub(crate) type RequestValueIds = [u32; MAX_REQUEST_LABELS];

/// How many request labels `MetricsBuilder::request_label` accepts.
pub(crate) const MAX_REQUEST_LABELS: usize = 4;

impl ViewLabel {
    /// A view without request labels.
    pub(crate) fn new(view: LabelValue) -> Self {
        Self(Arc::new(ViewLabelParts { view, request: None }))
    }

    /// A view with the values of the request labels.
    pub(crate) fn with_request_labels(view: LabelValue, request: SeriesRequestLabels) -> Self {
        Self(Arc::new(ViewLabelParts {
            view,
            request: Some(Box::new(request)),
        }))
    }

    pub(crate) fn as_str(&self) -> &str {
        self.0.view.as_str()
    }

    /// The view alone, for label sets that carry no request labels.
    pub(crate) fn view(&self) -> &LabelValue {
        &self.0.view
    }

    pub(crate) fn request_labels(&self) -> Option<&SeriesRequestLabels> {
        self.0.request.as_deref()
    }

    fn encode_request_labels(&self, encoder: &mut LabelSetEncoder<'_>) -> fmt::Result {
        if let Some(request) = self.request_labels() {
            for (name, value) in request.names.iter().zip(request.values.iter()) {
                encode_label(encoder, name.as_str(), value)?;
            }
        }
        Ok(())
    }

    fn for_each_request_label(&self, visit: &mut impl FnMut(&str, LabelText<'_>)) {
        if let Some(request) = self.request_labels() {
            for (name, value) in request.names.iter().zip(request.values.iter()) {
                visit(name.as_str(), value.label_text());
            }
        }
    }
}

impl EncodeLabelValue for ViewLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> fmt::Result {
        self.0.view.encode(encoder)
    }
}

impl AsLabelText for ViewLabel {
    fn label_text(&self) -> LabelText<'_> {
        self.0.view.label_text()
    }
}

/// Extracts the `charset` parameter of a `Content-Type`, if any, as written (the recorder
/// compares it case-insensitively, so no lower-cased copy is allocated per response).
///
/// Returns `None` when the header is absent, has no charset parameter, or the charset is empty
/// or not visible ASCII. Runs on every response, hence one pass over bytes rather than `str`
/// patterns and a check of the whole header.
pub(crate) fn charset_of(headers: &HeaderMap) -> Option<&str> {
    let content_type = headers.get(http::header::CONTENT_TYPE)?.as_bytes();
    let start = content_type.iter().position(|&b| b == b';')?;
    for parameter in content_type[start + 1..].split(|&b| b == b';') {
        let Some(equals) = parameter.iter().position(|&b| b == b'=') else {
            continue;
        };
        if parameter[..equals].trim_ascii().eq_ignore_ascii_case(b"charset") {
            let mut value = parameter[equals + 1..].trim_ascii();
            while let [b'"', rest @ ..] = value {
                value = rest;
            }
            while let [rest @ .., b'"'] = value {
                value = rest;
            }
            if value.is_empty() || !value.iter().all(u8::is_ascii_graphic) {
                return None;
            }
            return std::str::from_utf8(value).ok();
        }
    }
    None
}

/// Writes a stable, low-cardinality name for an error type into `out`: its Rust type name with
/// module paths removed (`std::io::error::Error` → `Error`, `Box<dyn core::error::Error + Send>`
/// → `Box<dyn Error + Send>`).
pub(crate) fn write_short_type_name(full: &str, out: &mut impl fmt::Write) -> fmt::Result {
    let mut segment_start = 0;
    for (index, character) in full.char_indices() {
        if !(character.is_alphanumeric() || character == '_' || character == ':') {
            out.write_str(last_path_segment(&full[segment_start..index]))?;
            out.write_char(character)?;
            segment_start = index + character.len_utf8();
        }
    }
    out.write_str(last_path_segment(&full[segment_start..]))
}

fn last_path_segment(path: &str) -> &str {
    path.rsplit("::").next().unwrap_or(path)
}

/// Writes one `key="value"` pair of a label set: the one way every label set of the crate
/// (ours, gRPC's, the exemplars', the scrape self-metrics') is encoded.
pub(crate) fn encode_label(
    encoder: &mut LabelSetEncoder<'_>,
    key: &str,
    value: &impl EncodeLabelValue,
) -> fmt::Result {
    let mut label = encoder.encode_label();
    let mut key_encoder = label.encode_label_key()?;
    key_encoder.write_str(key)?;
    let mut value_encoder = key_encoder.encode_label_value()?;
    value.encode(&mut value_encoder)?;
    value_encoder.finish()
}

macro_rules! label_set {
    (
        $(#[$doc:meta])* $name:ident { $($field:ident : $ty:ty => $key:literal),+ $(,)? }
        $(then the request labels of $requests:ident)?
    ) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub(crate) struct $name {
            $(pub(crate) $field: $ty,)+
        }

        impl EncodeLabelSet for $name {
            fn encode(&self, encoder: &mut LabelSetEncoder<'_>) -> fmt::Result {
                $(encode_label(encoder, $key, &self.$field)?;)+
                $(self.$requests.encode_request_labels(encoder)?;)?
                Ok(())
            }
        }

        impl LabelFields for $name {
            fn for_each_label(&self, mut visit: impl FnMut(&str, LabelText<'_>)) {
                $(visit($key, self.$field.label_text());)+
                $(self.$requests.for_each_request_label(&mut visit);)?
            }
        }
    };
}

impl EncodeLabelValue for MethodLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> fmt::Result {
        encoder.write_str(self.as_str())
    }
}

impl EncodeLabelValue for Transport {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> fmt::Result {
        encoder.write_str(self.as_str())
    }
}

/// A label value as an encoder reads it: text to escape, or a number to write as digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LabelText<'a> {
    Str(&'a str),
    /// A status code, written as its digits.
    Code(u16),
    /// A status class (`2` for `2xx`), written as the digit and `xx`.
    Class(u16),
}

/// A label value of ours, read out for an encoder.
pub(crate) trait AsLabelText {
    fn label_text(&self) -> LabelText<'_>;
}

/// A label set of ours, read out pair by pair, in exposition order.
pub(crate) trait LabelFields {
    fn for_each_label(&self, visit: impl FnMut(&str, LabelText<'_>));
}

impl AsLabelText for MethodLabel {
    fn label_text(&self) -> LabelText<'_> {
        LabelText::Str(self.as_str())
    }
}

impl AsLabelText for Transport {
    fn label_text(&self) -> LabelText<'_> {
        LabelText::Str(self.as_str())
    }
}

impl AsLabelText for StatusLabel {
    fn label_text(&self) -> LabelText<'_> {
        if self.0 < 10 {
            LabelText::Class(self.0)
        } else {
            LabelText::Code(self.0)
        }
    }
}

impl AsLabelText for LabelValue {
    fn label_text(&self) -> LabelText<'_> {
        LabelText::Str(&self.0)
    }
}

impl AsLabelText for &'static str {
    fn label_text(&self) -> LabelText<'_> {
        LabelText::Str(self)
    }
}

label_set!(
    /// `{method}`
    MethodLabels { method: MethodLabel => "method" }
);
label_set!(
    /// `{transport}`
    TransportLabels { transport: Transport => "transport" }
);
label_set!(
    /// `{view, method, <request labels>}`
    ViewMethodLabels { view: ViewLabel => "view", method: MethodLabel => "method" }
    then the request labels of view
);
label_set!(
    /// `{view, transport, method, <request labels>}`
    ViewTransportMethodLabels {
        view: ViewLabel => "view",
        transport: Transport => "transport",
        method: MethodLabel => "method",
    }
    then the request labels of view
);
label_set!(
    /// `{status}`
    StatusLabels { status: StatusLabel => "status" }
);
label_set!(
    /// `{status, view, method, <request labels>}`
    StatusViewMethodLabels {
        status: StatusLabel => "status",
        view: ViewLabel => "view",
        method: MethodLabel => "method",
    }
    then the request labels of view
);
label_set!(
    /// `{charset}`
    CharsetLabels { charset: LabelValue => "charset" }
);
label_set!(
    /// `{type}`
    TypeLabels { kind: LabelValue => "type" }
);
label_set!(
    /// `{view}`
    ViewLabels { view: LabelValue => "view" }
);
label_set!(
    /// `{label}`: which label of ours (or which request label) was folded into [`OVERFLOW`].
    OverflowLabels { label: LabelValue => "label" }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_methods_keep_their_name_and_others_fold() {
        assert_eq!(MethodLabel::of(&Method::PATCH).as_str(), "PATCH");
        let odd = Method::from_bytes(b"FOOBAR").unwrap();
        assert_eq!(MethodLabel::of(&odd).as_str(), INVALID_METHOD);
    }

    #[test]
    fn transport_trusts_only_the_configured_header() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-proto", "HTTPS, http".parse().unwrap());
        let uri: http::Uri = "/".parse().unwrap();
        let name = http::HeaderName::from_static("x-forwarded-proto");
        assert_eq!(Transport::of(&uri, &headers, None), Transport::Http);
        assert_eq!(Transport::of(&uri, &headers, Some(&name)), Transport::Https);
        let https: http::Uri = "https://example.com/".parse().unwrap();
        assert_eq!(Transport::of(&https, &HeaderMap::new(), None), Transport::Https);
    }

    #[test]
    fn charset_is_trimmed_and_unquoted() {
        let mut headers = HeaderMap::new();
        assert_eq!(charset_of(&headers), None);
        headers.insert(
            http::header::CONTENT_TYPE,
            "text/html; Charset=\"UTF-8\"".parse().unwrap(),
        );
        assert_eq!(charset_of(&headers), Some("UTF-8"));
        headers.insert(
            http::header::CONTENT_TYPE,
            "text/plain;a=b; charset=utf-8 ".parse().unwrap(),
        );
        assert_eq!(charset_of(&headers), Some("utf-8"));
        headers.insert(
            http::header::CONTENT_TYPE,
            "text/plain; charset=\"\"".parse().unwrap(),
        );
        assert_eq!(charset_of(&headers), None);
        headers.insert(http::header::CONTENT_TYPE, "application/json".parse().unwrap());
        assert_eq!(charset_of(&headers), None);
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_bytes(b"text/plain; charset=\xff").unwrap(),
        );
        assert_eq!(charset_of(&headers), None);
    }

    #[test]
    fn type_names_lose_their_module_paths() {
        let short_type_name = |full: &str| {
            let mut short = String::new();
            write_short_type_name(full, &mut short).unwrap();
            short
        };
        assert_eq!(short_type_name("std::io::error::Error"), "Error");
        assert_eq!(
            short_type_name("alloc::boxed::Box<dyn core::error::Error + core::marker::Send>"),
            "Box<dyn Error + Send>"
        );
        assert_eq!(short_type_name("core::convert::Infallible"), "Infallible");
    }
}
