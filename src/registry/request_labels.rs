//! Labels taken from the request (`MetricsBuilder::request_label`): their rules, and the
//! bounded maps that turn each request's values into the series of the view-labelled
//! families.
//!
//! A request's values are looked up as small integer ids, one map per label (capped by that
//! label's `max_values`; beyond it a value folds into [`OVERFLOW`]); the view's handles for
//! those ids are then found in one map keyed by `(view id, value ids)`, capped like every
//! other label set. A warm request therefore compares and hashes the borrowed values and
//! allocates nothing.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

use prometheus_client::metrics::counter::Counter;

use super::families::HttpFamilies;
use super::labels::{
    fits_label_rule, LabelValue, OverflowLabels, RequestValueIds, SeriesRequestLabels, MAX_REQUEST_LABELS,
    OVERFLOW,
};
use crate::primitives::capped_map::{Admission, CappedMap};
use crate::primitives::lock_free_index::LockFreeIndex;
use crate::primitives::view_arena::ViewId;
use crate::RequestHead;

type ExtractValue = dyn for<'a> Fn(&RequestHead<'a>) -> Option<&'a str> + Send + Sync;

/// The id of "no value": the label is exposed empty.
const NO_VALUE: u32 = 0;
/// The id of a value beyond the label's `max_values`: exposed as [`OVERFLOW`].
const OVERFLOW_VALUE: u32 = 1;
const FIRST_VALUE: u32 = 2;

/// The largest `max_values`: a label's value ids are `u32`s, two of them reserved.
pub(crate) const MAX_MAX_VALUES: usize = u32::MAX as usize - FIRST_VALUE as usize;

/// Slots of the lock-free indexes in front of each label's values and of the combinations.
const VALUE_INDEX_SLOTS: usize = 64;
const COMBINATION_INDEX_SLOTS: usize = 256;

/// One `request_label` rule as the builder received it.
#[derive(Clone)]
pub(crate) struct RequestLabelRule {
    pub(crate) name: String,
    pub(crate) extract: Arc<ExtractValue>,
    pub(crate) max_values: usize,
}

impl fmt::Debug for RequestLabelRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestLabelRule")
            .field("name", &self.name)
            .field("max_values", &self.max_values)
            .finish_non_exhaustive()
    }
}

impl RequestLabelRule {
    pub(crate) fn new(name: String, extract: Arc<ExtractValue>, max_values: usize) -> Self {
        Self {
            name,
            extract,
            max_values,
        }
    }
}

/// One declared label at run time: its rule, its values' ids and its fold counter.
struct RequestLabel {
    name: LabelValue,
    extract: Arc<ExtractValue>,
    values: CappedMap<LabelValue, u32>,
    /// The first values, found without `values`' lock.
    value_index: LockFreeIndex<LabelValue, u32, VALUE_INDEX_SLOTS>,
    next_id: AtomicU32,
    folds: OnceLock<Counter>,
}

/// The request labels of a recorder, and the view handles of each combination of values.
pub(crate) struct RequestLabels {
    labels: Box<[RequestLabel]>,
    names: Arc<[LabelValue]>,
    /// `(view, method)` handles id and value ids → the handles of that combination.
    combinations: CappedMap<(ViewId, RequestValueIds), ViewId>,
    /// The first combinations, found without `combinations`' lock.
    combination_index: LockFreeIndex<(ViewId, RequestValueIds), ViewId, COMBINATION_INDEX_SLOTS>,
    /// The combinations refused by the cap, one per `(view, method)` handles id: every
    /// request label `<overflow>`.
    overflow: CappedMap<ViewId, ViewId>,
}

impl fmt::Debug for RequestLabels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestLabels")
            .field("names", &self.names)
            .field("combinations", &self.combinations)
            .finish_non_exhaustive()
    }
}

/// One request's values of the request labels, as read: their ids, and their texts (for a
/// combination not seen yet).
pub(crate) struct ResolvedValues<'a> {
    pub(crate) ids: RequestValueIds,
    texts: [Option<&'a str>; MAX_REQUEST_LABELS],
}

impl RequestLabels {
    /// The labels of `rules`, or `None` when there are none (the hot path then skips them
    /// with one branch).
    pub(crate) fn new(rules: &[RequestLabelRule], max_label_sets: usize) -> Option<Self> {
        if rules.is_empty() {
            return None;
        }
        let labels: Box<[RequestLabel]> = rules
            .iter()
            .map(|rule| RequestLabel {
                name: LabelValue::new(&rule.name),
                extract: Arc::clone(&rule.extract),
                values: CappedMap::new(rule.max_values),
                value_index: LockFreeIndex::new(),
                next_id: AtomicU32::new(FIRST_VALUE),
                folds: OnceLock::new(),
            })
            .collect();
        let names = labels.iter().map(|label| label.name.clone()).collect();
        Some(Self {
            labels,
            names,
            combinations: CappedMap::new(max_label_sets),
            combination_index: LockFreeIndex::new(),
            overflow: CappedMap::new(usize::MAX),
        })
    }

    /// Reads the request's value of each label and finds its id, admitting new values while
    /// each label's `max_values` has room; a folded value is counted in
    /// `http_metrics_label_overflow_total{label="<name>"}`. A value outside the one label rule
    /// ([`fits_label_rule`]) folds too.
    #[inline]
    pub(crate) fn values<'a>(
        &self,
        request: &RequestHead<'a>,
        families: &HttpFamilies,
    ) -> ResolvedValues<'a> {
        let mut values = ResolvedValues {
            ids: [NO_VALUE; MAX_REQUEST_LABELS],
            texts: [None; MAX_REQUEST_LABELS],
        };
        for (index, label) in self.labels.iter().enumerate() {
            let Some(text) = (label.extract)(request).filter(|text| !text.is_empty()) else {
                continue;
            };
            values.texts[index] = Some(text);
            // Checked before any lookup: a value the rule refuses is never hashed.
            if !fits_label_rule(text) {
                label.fold(families);
                values.ids[index] = OVERFLOW_VALUE;
                continue;
            }
            values.ids[index] = match label.value_index.get(text) {
                Some(id) => *id,
                None => match label.values.with(text, |id| *id) {
                    Some(id) => id,
                    None => label.admit(text, families),
                },
            };
        }
        values
    }

    /// The handles id of `view` (a `(view, method)` handles id) with `ids` as the request
    /// labels' values, created by `create` on first use; `create` gets the values to expose
    /// and whether this is a `(view, method)`'s overflow combination (refused by the cap).
    #[inline]
    pub(crate) fn combination(
        &self,
        view: ViewId,
        ids: RequestValueIds,
        texts: impl FnOnce() -> Vec<LabelValue>,
        families: &HttpFamilies,
        create: impl FnOnce(SeriesRequestLabels, bool) -> ViewId,
    ) -> ViewId {
        if let Some(id) = self.combination_index.get(&(view, ids)) {
            return *id;
        }
        if let Some(id) = self.combinations.with(&(view, ids), |id| *id) {
            return id;
        }
        self.new_combination(view, ids, texts, families, create)
    }

    #[cold]
    fn new_combination(
        &self,
        view: ViewId,
        ids: RequestValueIds,
        texts: impl FnOnce() -> Vec<LabelValue>,
        families: &HttpFamilies,
        create: impl FnOnce(SeriesRequestLabels, bool) -> ViewId,
    ) -> ViewId {
        let mut create = Some(create);
        let admitted = self.combinations.get_or_insert_within(
            &(view, ids),
            || true,
            |key| {
                let values = SeriesRequestLabels {
                    names: Arc::clone(&self.names),
                    values: texts().into_boxed_slice(),
                    ids,
                };
                let create = create.take().expect("a combination is created once");
                let id = create(values, false);
                // Under `combinations`' write lock: each combination is indexed once.
                self.combination_index.insert(*key, id);
                (*key, id)
            },
        );
        if let Some((_, id)) = admitted {
            return id;
        }
        // The cap on label sets is reached: this (view, method) records under `<overflow>`
        // for every request label, and each label whose value was not folded already counts
        // the fold (a request is counted once per label).
        for (label, id) in self.labels.iter().zip(ids) {
            if id != OVERFLOW_VALUE {
                label.fold(families);
            }
        }
        let overflow_ids = std::array::from_fn(|index| {
            if index < self.labels.len() {
                OVERFLOW_VALUE
            } else {
                NO_VALUE
            }
        });
        let (id, _) = self.overflow.get_or_admit(
            &view,
            |view| {
                let values = SeriesRequestLabels {
                    names: Arc::clone(&self.names),
                    values: self.labels.iter().map(|_| LabelValue::new(OVERFLOW)).collect(),
                    ids: overflow_ids,
                };
                let create = create.take().expect("a combination is created once");
                (*view, create(values, true))
            },
            || unreachable!("the overflow combinations are bounded by the views, not capped"),
        );
        id
    }
}

impl<'a> ResolvedValues<'a> {
    /// The label values to expose for these ids.
    pub(crate) fn label_values(&self, labels: &RequestLabels) -> Vec<LabelValue> {
        (0..labels.labels.len())
            .map(|index| match (self.ids[index], self.texts[index]) {
                (OVERFLOW_VALUE, _) => LabelValue::new(OVERFLOW),
                (_, Some(text)) => LabelValue::new(text),
                (_, None) => LabelValue::new(""),
            })
            .collect()
    }
}

impl RequestLabel {
    #[cold]
    fn admit(&self, text: &str, families: &HttpFamilies) -> u32 {
        let (id, admission) = self.values.get_or_admit(
            text,
            |text| {
                let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                let value = LabelValue::new(text);
                // Under `values`' write lock: each value is indexed once.
                self.value_index.insert(value.clone(), id);
                (value, id)
            },
            || OVERFLOW_VALUE,
        );
        if admission == Admission::Folded {
            self.fold(families);
        }
        id
    }

    fn fold(&self, families: &HttpFamilies) {
        self.folds
            .get_or_init(|| {
                families.label_overflow.get_or_create_owned(&OverflowLabels {
                    label: self.name.clone(),
                })
            })
            .inc();
    }
}
