//! [`RequestHead`]: what the closures given to the builder read of a request.

use http::{Extensions, HeaderMap, Method, Uri, Version};

/// A borrowed view of a request's head: its method, URI, version, headers and extensions.
///
/// The closures of [`MetricsBuilder::view_resolver`](crate::MetricsBuilder::view_resolver) and
/// [`MetricsBuilder::exemplars_from`](crate::MetricsBuilder::exemplars_from) receive one. It
/// borrows the request the layer is about to pass on, so reading it neither moves, copies nor
/// takes the request apart. It is `Copy`: a handful of references.
///
/// ```
/// use tower_prometheus::RequestHead;
///
/// let request = http::Request::get("/users/7")
///     .header("x-tenant", "acme")
///     .body(())
///     .unwrap();
/// let head = RequestHead::from(&request);
/// assert_eq!(head.method(), http::Method::GET);
/// assert_eq!(head.uri().path(), "/users/7");
/// assert_eq!(head.headers()["x-tenant"], "acme");
/// ```
#[derive(Clone, Copy, Debug)]
pub struct RequestHead<'a> {
    method: &'a Method,
    uri: &'a Uri,
    version: Version,
    headers: &'a HeaderMap,
    extensions: &'a Extensions,
}

impl<'a> RequestHead<'a> {
    /// The head of `request`, borrowed.
    ///
    /// ```
    /// let request = http::Request::post("/orders").body(String::from("{}")).unwrap();
    /// let head = tower_prometheus::RequestHead::new(&request);
    /// assert_eq!(head.method(), http::Method::POST);
    /// // The request is only borrowed: it is still whole.
    /// assert_eq!(request.body(), "{}");
    /// ```
    #[inline]
    #[must_use]
    pub fn new<B>(request: &'a http::Request<B>) -> Self {
        Self {
            method: request.method(),
            uri: request.uri(),
            version: request.version(),
            headers: request.headers(),
            extensions: request.extensions(),
        }
    }

    /// The request method.
    ///
    /// ```
    /// let request = http::Request::delete("/users/7").body(()).unwrap();
    /// let head = tower_prometheus::RequestHead::new(&request);
    /// assert_eq!(head.method(), http::Method::DELETE);
    /// ```
    #[inline]
    #[must_use]
    pub fn method(&self) -> &'a Method {
        self.method
    }

    /// The request URI: for a server request usually the path and query only.
    ///
    /// ```
    /// let request = http::Request::get("/search?q=rust").body(()).unwrap();
    /// let head = tower_prometheus::RequestHead::new(&request);
    /// assert_eq!(head.uri().path(), "/search");
    /// assert_eq!(head.uri().query(), Some("q=rust"));
    /// ```
    #[inline]
    #[must_use]
    pub fn uri(&self) -> &'a Uri {
        self.uri
    }

    /// The HTTP version.
    ///
    /// ```
    /// let request = http::Request::get("/").version(http::Version::HTTP_2).body(()).unwrap();
    /// let head = tower_prometheus::RequestHead::new(&request);
    /// assert_eq!(head.version(), http::Version::HTTP_2);
    /// ```
    #[inline]
    #[must_use]
    pub fn version(&self) -> Version {
        self.version
    }

    /// The request headers.
    ///
    /// ```
    /// let request = http::Request::get("/").header("x-trace-id", "abc123").body(()).unwrap();
    /// let head = tower_prometheus::RequestHead::new(&request);
    /// assert_eq!(head.headers().get("x-trace-id").unwrap(), "abc123");
    /// ```
    #[inline]
    #[must_use]
    pub fn headers(&self) -> &'a HeaderMap {
        self.headers
    }

    /// The request extensions: whatever the layers outside this one inserted (a route, an
    /// authenticated user, a tracing context).
    ///
    /// ```
    /// #[derive(Clone)]
    /// struct Tenant(&'static str);
    ///
    /// let mut request = http::Request::get("/").body(()).unwrap();
    /// request.extensions_mut().insert(Tenant("acme"));
    /// let head = tower_prometheus::RequestHead::new(&request);
    /// assert_eq!(head.extensions().get::<Tenant>().unwrap().0, "acme");
    /// ```
    #[inline]
    #[must_use]
    pub fn extensions(&self) -> &'a Extensions {
        self.extensions
    }
}

/// The same as [`RequestHead::new`].
///
/// ```
/// use tower_prometheus::RequestHead;
///
/// let request = http::Request::get("/health").body(()).unwrap();
/// assert_eq!(RequestHead::from(&request).uri().path(), "/health");
/// ```
impl<'a, B> From<&'a http::Request<B>> for RequestHead<'a> {
    #[inline]
    fn from(request: &'a http::Request<B>) -> Self {
        Self::new(request)
    }
}

/// The head of a request already taken apart, say to test a resolver on its own.
///
/// ```
/// use tower_prometheus::RequestHead;
///
/// let (parts, _body) = http::Request::get("/users/7").body(()).unwrap().into_parts();
/// let head = RequestHead::from(&parts);
/// assert_eq!(head.uri().path(), "/users/7");
/// ```
impl<'a> From<&'a http::request::Parts> for RequestHead<'a> {
    #[inline]
    fn from(parts: &'a http::request::Parts) -> Self {
        Self {
            method: &parts.method,
            uri: &parts.uri,
            version: parts.version,
            headers: &parts.headers,
            extensions: &parts.extensions,
        }
    }
}
