//! Which requests the layer leaves unmeasured: decided by [`Exclusions::excludes`], and
//! nowhere else.

use std::fmt;
use std::sync::Arc;

use http::Method;

use crate::RequestHead;

type ExcludeRequest = dyn Fn(&RequestHead<'_>) -> bool + Send + Sync;

/// Every exclusion rule of the builder: exact paths, path prefixes, methods and closures. A
/// request matching any of them touches no family.
#[derive(Clone, Default)]
pub(crate) struct Exclusions {
    paths: Vec<String>,
    prefixes: Vec<String>,
    methods: Vec<Method>,
    predicates: Vec<Arc<ExcludeRequest>>,
    /// Whether any rule is set: without one, a request pays a single branch.
    any: bool,
}

impl Exclusions {
    pub(crate) fn add_path(&mut self, path: String) {
        self.paths.push(path);
        self.any = true;
    }

    pub(crate) fn add_prefix(&mut self, prefix: String) {
        self.prefixes.push(prefix);
        self.any = true;
    }

    pub(crate) fn add_method(&mut self, method: Method) {
        self.methods.push(method);
        self.any = true;
    }

    pub(crate) fn add_predicate(&mut self, predicate: Arc<ExcludeRequest>) {
        self.predicates.push(predicate);
        self.any = true;
    }

    /// The exact paths, for `build()`'s checks.
    pub(crate) fn paths(&self) -> &[String] {
        &self.paths
    }

    /// The path prefixes, for `build()`'s checks.
    pub(crate) fn prefixes(&self) -> &[String] {
        &self.prefixes
    }

    /// Whether `head`'s request is left unmeasured. Cheap rules first; the closures last.
    #[inline]
    pub(crate) fn excludes(&self, head: &RequestHead<'_>) -> bool {
        self.any && self.matches(head)
    }

    #[inline(never)]
    fn matches(&self, head: &RequestHead<'_>) -> bool {
        let path = head.uri().path();
        self.paths.iter().any(|excluded| excluded == path)
            || self
                .prefixes
                .iter()
                .any(|prefix| path.starts_with(prefix.as_str()))
            || self.methods.iter().any(|method| method == head.method())
            || self.predicates.iter().any(|predicate| predicate(head))
    }
}

impl fmt::Debug for Exclusions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exclusions")
            .field("paths", &self.paths)
            .field("prefixes", &self.prefixes)
            .field("methods", &self.methods)
            .field("predicates", &self.predicates.len())
            .finish()
    }
}
