//! The `view` label of a request: decided here, and nowhere else.
//!
//! The first of these that names a view wins:
//! 1. the metrics path (a scrape is labelled by the path it was served at);
//! 2. a [`ViewName`] the inner service put in the response extensions;
//! 3. axum's `MatchedPath` in the request extensions (feature `axum`);
//! 4. the builder's view resolver, given the [`RequestHead`];
//! 5. [`UNNAMED_VIEW`](crate::label_values::UNNAMED_VIEW).
//!
//! The in-flight gauge needs a view as soon as the request arrives, before any response could
//! name one: [`RequestView::of`] applies steps 1, 3, 4 and 5 then, and [`of_response`] step 2
//! once the response head arrives, where the tracker moves the request to the response's view
//! if it differs. The metrics path's answer is built by the layer itself and carries no
//! `ViewName`, so step 1 keeps its place.

use http::Extensions;

use crate::registry::config::{RecordingConfig, ViewResolver};
use crate::registry::labels::ViewName;
#[cfg(feature = "axum")]
use crate::registry::recorder::SharedViewName;
use crate::registry::recorder::ViewKey;
use crate::RequestHead;

/// The view a request has when it arrives (steps 1, 3, 4 and 5 of the [module](self) order).
///
/// Borrowed from the request or the configuration, except what a resolver returned: nothing
/// is allocated or cloned to label a request.
#[derive(Debug)]
pub(super) enum RequestView<'a> {
    /// The metrics path.
    Borrowed(&'a str),
    /// [`UNNAMED_VIEW`](crate::label_values::UNNAMED_VIEW).
    Unnamed,
    /// axum's `MatchedPath`: the router's own copy of the route, shared by all its requests.
    #[cfg(feature = "axum")]
    Matched(&'a axum::extract::MatchedPath),
    /// The view resolver's answer.
    Resolved(ViewName),
}

impl<'a> RequestView<'a> {
    /// The view of `request`; `is_metrics_path` says whether it is a scrape of the layer's
    /// metrics path.
    #[inline]
    pub(super) fn of(config: &RecordingConfig, request: &RequestHead<'a>, is_metrics_path: bool) -> Self {
        if is_metrics_path {
            return Self::Borrowed(request.uri().path());
        }
        #[cfg(feature = "axum")]
        if let Some(matched) = request.extensions().get::<axum::extract::MatchedPath>() {
            return Self::Matched(matched);
        }
        match &config.view_resolver {
            Some(resolver) => Self::resolve(resolver, request),
            None => Self::Unnamed,
        }
    }

    /// Asks the user's resolver: kept out of line, as most services never set one.
    #[cold]
    fn resolve(resolver: &ViewResolver, request: &RequestHead<'_>) -> Self {
        (resolver.0)(request).map_or(Self::Unnamed, Self::Resolved)
    }

    /// How the recorder looks the view up.
    #[inline]
    pub(super) fn key(&self) -> ViewKey<'_> {
        match self {
            Self::Borrowed(view) => ViewKey::Name(view),
            Self::Unnamed => ViewKey::Unnamed,
            #[cfg(feature = "axum")]
            Self::Matched(matched) => ViewKey::Shared(*matched),
            Self::Resolved(view) => ViewKey::Name(view.as_str()),
        }
    }
}

/// The view the response names, which wins over the request's own (step 2 of the
/// [module](self) order), `None` when it names none.
#[inline]
pub(super) fn of_response(extensions: &Extensions) -> Option<&str> {
    extensions.get::<ViewName>().map(ViewName::as_str)
}

/// axum's route template (step 3 of the [module](self) order) is an `Arc<str>` its router
/// hands to every request of the route: a clone keeps its bytes where they are.
#[cfg(feature = "axum")]
impl SharedViewName for axum::extract::MatchedPath {
    fn name(&self) -> &str {
        self.as_str()
    }

    fn keeper(&self) -> crate::registry::recorder::NameKeeper {
        Box::new(self.clone())
    }
}
