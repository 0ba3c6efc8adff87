//! The in-memory metrics registry: counters, gauges and histograms with labels.
//!
//! Two kinds of family:
//! - label-keyed ([`CounterVec`], [`GaugeVec`], [`HistogramVec`]): updates are lock-free atomics
//!   on a handle ([`Counter`], [`Gauge`], [`Histogram`]) that the caller resolves once per label
//!   set with `with(&[...])` (a short, non-async `std` mutex held only for that map lookup,
//!   never across an await) and then keeps. For families with a handful of label sets.
//! - row-indexed ([`CounterRows`], [`HistogramRows`]): one series per row of a shared label
//!   table ([`RowLabels`], e.g. one row per plan node), stored densely in flat atomic arrays
//!   indexed by row — no label strings, map entries or handles per series. A counter row is
//!   8 bytes, a histogram row 32 (its bucket indices packed into one word, plus sum, min and
//!   max); label values are read from the table only when a snapshot is taken. For families with a series per node.
//!
//! A counter increment is a single compare-and-swap on an `AtomicU64` holding the bits of an
//! `f64`. [`Registry::snapshot`] reads every series without stopping writers; a histogram's
//! `count` is the sum of its bucket counts read in that snapshot, so the two always agree.
//! [`Registry::visit`] hands out borrowed [`SeriesView`]s one at a time, so a snapshot can be
//! streamed to disk without ever holding all series in memory.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use super::snapshot::{Bucket, LabelPairs, MetricKind, Series, SeriesView, estimate_quantile};

/// Histogram upper bounds in seconds for durations from 1 ms to hours (about three bounds a
/// decade below a minute, then minutes and hours).
pub const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 14400.0, 43200.0, 86400.0,
];

/// What a metric family is: its Prometheus name (base units, `_total` for counters), help,
/// unit and label names (at most [`MAX_LABELS`]; further ones are ignored).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Desc {
    pub name: &'static str,
    pub help: &'static str,
    /// Base unit (`seconds`, `bytes`, `percent`) or empty for a plain count.
    pub unit: &'static str,
    pub kind: MetricKind,
    pub labels: &'static [&'static str],
}

/// Most labels a family can have.
pub const MAX_LABELS: usize = 8;

/// An `f64` updated atomically through its bits.
#[derive(Debug, Default)]
struct AtomicF64(AtomicU64);

impl AtomicF64 {
    fn new(v: f64) -> Self {
        AtomicF64(AtomicU64::new(v.to_bits()))
    }

    fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }

    fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }

    fn update(&self, f: impl Fn(f64) -> f64) {
        let mut cur = self.0.load(Ordering::Relaxed);
        loop {
            let next = f(f64::from_bits(cur)).to_bits();
            match self
                .0
                .compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Counter semantics: adds a finite positive `v`, ignores anything else.
    fn add_positive(&self, v: f64) {
        if v.is_finite() && v > 0.0 {
            self.update(|cur| cur + v);
        }
    }

    /// Histogram statistics: sum, min and max (at `stats[0..3]`) take `v`.
    fn observe(stats: &[AtomicF64], v: f64) {
        stats[0].update(|s| s + v);
        stats[1].update(|m| m.min(v));
        stats[2].update(|m| m.max(v));
    }
}

/// A monotonically increasing value.
#[derive(Debug, Clone, Default)]
pub struct Counter(Arc<AtomicF64>);

impl Counter {
    pub fn inc(&self) {
        self.add(1.0);
    }

    /// Adds `v`; negative or non-finite values are ignored (a counter never goes down).
    pub fn add(&self, v: f64) {
        self.0.add_positive(v);
    }

    /// Raises the counter to `total` when that is higher (for totals read from the OS, such
    /// as a process's CPU time).
    pub fn raise_to(&self, total: f64) {
        if total.is_finite() {
            self.0.update(|cur| cur.max(total));
        }
    }

    pub fn get(&self) -> f64 {
        self.0.get()
    }
}

/// A value that goes up and down.
#[derive(Debug, Clone, Default)]
pub struct Gauge(Arc<AtomicF64>);

impl Gauge {
    /// Sets the value; non-finite values are ignored.
    pub fn set(&self, v: f64) {
        if v.is_finite() {
            self.0.set(v);
        }
    }

    pub fn add(&self, v: f64) {
        if v.is_finite() {
            self.0.update(|cur| cur + v);
        }
    }

    /// Keeps the highest value seen.
    pub fn set_max(&self, v: f64) {
        if v.is_finite() {
            self.0.update(|cur| cur.max(v));
        }
    }

    pub fn get(&self) -> f64 {
        self.0.get()
    }
}

#[derive(Debug)]
struct HistogramCore {
    bounds: &'static [f64],
    /// Non-cumulative; one more than `bounds` (the last is `+Inf`).
    counts: Box<[AtomicU64]>,
    /// Sum, min, max.
    stats: [AtomicF64; 3],
}

fn new_stats() -> [AtomicF64; 3] {
    [
        AtomicF64::default(),
        AtomicF64::new(f64::INFINITY),
        AtomicF64::new(f64::NEG_INFINITY),
    ]
}

/// Observations counted into fixed buckets.
#[derive(Debug, Clone)]
pub struct Histogram(Arc<HistogramCore>);

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram(Arc::new(HistogramCore {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            stats: new_stats(),
        }))
    }

    /// Records one observation; non-finite values are ignored.
    pub fn observe(&self, v: f64) {
        if !v.is_finite() {
            return;
        }
        let core = &self.0;
        let idx = core.bounds.partition_point(|b| *b < v);
        core.counts[idx].fetch_add(1, Ordering::Relaxed);
        AtomicF64::observe(&core.stats, v);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.0
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }

    pub fn sum(&self) -> f64 {
        self.0.stats[0].get()
    }
}

/// What a histogram series shows, filled from its bucket counts and statistics.
struct HistogramFigures {
    count: u64,
    sum: f64,
    quantiles: [Option<f64>; 4],
}

/// Cumulative `buckets` (refilled) and figures of one histogram series: `count_at(i)` is the
/// non-cumulative count of bucket `i` (`bounds.len()` is `+Inf`), `stats` sum, min and max.
fn histogram_figures(
    bounds: &[f64],
    count_at: impl Fn(usize) -> u64,
    stats: &[AtomicF64],
    buckets: &mut Vec<Bucket>,
) -> HistogramFigures {
    buckets.clear();
    let mut cumulative = 0u64;
    for (i, le) in bounds.iter().enumerate() {
        cumulative += count_at(i);
        buckets.push(Bucket {
            le: *le,
            count: cumulative,
        });
    }
    let count = cumulative + count_at(bounds.len());
    let (min, max) = (stats[1].get(), stats[2].get());
    let q = |q: f64| estimate_quantile(buckets, count, min, max, q);
    HistogramFigures {
        count,
        sum: stats[0].get(),
        quantiles: [q(0.50), q(0.90), q(0.95), q(0.99)],
    }
}

fn view<'a>(desc: &'a Desc, labels: LabelPairs<'a>) -> SeriesView<'a> {
    SeriesView {
        name: desc.name,
        kind: desc.kind,
        help: desc.help,
        unit: desc.unit,
        labels,
        value: None,
        count: None,
        sum: None,
        buckets: None,
        p50: None,
        p90: None,
        p95: None,
        p99: None,
    }
}

fn set_histogram<'a>(v: &mut SeriesView<'a>, f: HistogramFigures, buckets: &'a [Bucket]) {
    v.count = Some(f.count);
    v.sum = Some(f.sum);
    v.buckets = Some(buckets);
    [v.p50, v.p90, v.p95, v.p99] = f.quantiles;
}

#[derive(Debug, Clone)]
enum Child {
    Counter(Counter),
    Gauge(Gauge),
    Histogram(Histogram),
}

impl Child {
    /// Changes whenever the series does: a value's bits, a histogram's count.
    fn fingerprint(&self) -> u64 {
        match self {
            Child::Counter(c) => c.get().to_bits(),
            Child::Gauge(g) => g.get().to_bits(),
            Child::Histogram(h) => h.count(),
        }
    }
}

/// A series and what [`Registry::snapshot_changed`] last reported of it.
#[derive(Debug)]
struct Slot {
    child: Child,
    reported: Option<u64>,
}

/// Label values of the rows of row-indexed families: one row per plan node, say, with the
/// node's id and plugin name. `label(row, k)` is the value of the family's `k`-th label.
pub trait RowLabels: Send + Sync {
    /// Number of rows.
    fn row_count(&self) -> usize;
    /// Value of label `k` of `row` (both in range).
    fn label(&self, row: usize, k: usize) -> &str;
}

/// Rows given as label value lists (tests, small tables).
impl RowLabels for Vec<Vec<String>> {
    fn row_count(&self) -> usize {
        self.len()
    }

    fn label(&self, row: usize, k: usize) -> &str {
        self[row].get(k).map_or("", String::as_str)
    }
}

/// One bit per cell, set and cleared atomically.
#[derive(Debug)]
struct Bits(Box<[AtomicU64]>);

impl Bits {
    fn new(n: usize, on: bool) -> Self {
        let words = n.div_ceil(64);
        Bits(
            (0..words)
                .map(|w| {
                    let bits = if !on {
                        0
                    } else if w + 1 < words || n.is_multiple_of(64) {
                        u64::MAX
                    } else {
                        (1u64 << (n % 64)) - 1
                    };
                    AtomicU64::new(bits)
                })
                .collect(),
        )
    }

    fn mask(i: usize) -> u64 {
        1u64 << (i % 64)
    }

    fn get(&self, i: usize) -> bool {
        self.0[i / 64].load(Ordering::Acquire) & Self::mask(i) != 0
    }

    fn set(&self, i: usize) {
        if !self.get(i) {
            self.0[i / 64].fetch_or(Self::mask(i), Ordering::AcqRel);
        }
    }

    /// Clears the bit; whether it was set.
    fn take(&self, i: usize) -> bool {
        self.get(i)
            && self.0[i / 64].fetch_and(!Self::mask(i), Ordering::AcqRel) & Self::mask(i) != 0
    }

    fn heap_bytes(&self) -> usize {
        self.0.len() * 8
    }
}

/// Low bits of a packed word: how many bucket indices it holds, or [`SPILLED`].
const LEN_BITS: u32 = 4;
const LEN_MASK: u64 = (1 << LEN_BITS) - 1;
/// The row's counts moved to [`PackedBuckets::spilled`].
const SPILLED: u64 = LEN_MASK;

/// Bucket counts of one small histogram per row, each row in one `u64`: the bucket index of
/// every observation so far (12 of them with 25 buckets), above a 4-bit length. A row that
/// sees more observations than fit moves to a full count array in a side map. Per-node
/// histograms see one observation per attempt, so a row is 8 bytes instead of 4 or 8 per
/// bucket.
#[derive(Debug)]
struct PackedBuckets {
    /// Buckets per row (`bounds.len() + 1`, the last `+Inf`).
    buckets: usize,
    /// Bits per bucket index.
    bits: u32,
    /// Indices one word holds.
    slots: u64,
    words: Box<[AtomicU64]>,
    spilled: Mutex<HashMap<usize, Box<[u64]>>>,
}

impl PackedBuckets {
    fn new(rows: usize, buckets: usize) -> Self {
        let bits = (usize::BITS - buckets.saturating_sub(1).leading_zeros()).max(1);
        PackedBuckets {
            buckets,
            bits,
            slots: u64::from((64 - LEN_BITS) / bits).min(SPILLED - 1),
            words: zeros(rows),
            spilled: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one observation in bucket `idx` of `row`.
    fn add(&self, row: usize, idx: usize) {
        let word = &self.words[row];
        let mut cur = word.load(Ordering::Acquire);
        loop {
            let n = cur & LEN_MASK;
            if n == SPILLED {
                if let Some(counts) = lock(&self.spilled).get_mut(&row) {
                    counts[idx] += 1;
                }
                return;
            }
            if n < self.slots {
                let next = (cur + 1) | ((idx as u64) << (LEN_BITS + n as u32 * self.bits));
                match word.compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => return,
                    Err(actual) => cur = actual,
                }
                continue;
            }
            // Full: move the row to a count array (under the lock, so only one writer does).
            let mut spilled = lock(&self.spilled);
            let now = word.load(Ordering::Acquire);
            if now != cur {
                cur = now;
                continue;
            }
            let mut counts = vec![0u64; self.buckets];
            self.decode(cur, &mut counts);
            counts[idx] += 1;
            spilled.insert(row, counts.into_boxed_slice());
            word.store(SPILLED, Ordering::Release);
            return;
        }
    }

    /// Adds the indices held in `word` to `counts`.
    fn decode(&self, word: u64, counts: &mut [u64]) {
        let mask = (1u64 << self.bits) - 1;
        for i in 0..(word & LEN_MASK) {
            let idx = (word >> (LEN_BITS + i as u32 * self.bits)) & mask;
            counts[idx as usize] += 1;
        }
    }

    /// The non-cumulative counts of `row` into `counts` (refilled, `buckets` long).
    fn read(&self, row: usize, counts: &mut Vec<u64>) {
        counts.clear();
        counts.resize(self.buckets, 0);
        let word = self.words[row].load(Ordering::Acquire);
        if word & LEN_MASK == SPILLED {
            if let Some(c) = lock(&self.spilled).get(&row) {
                counts.copy_from_slice(c);
            }
        } else {
            self.decode(word, counts);
        }
    }

    fn heap_bytes(&self) -> usize {
        self.words.len() * 8 + lock(&self.spilled).len() * (self.buckets * 8 + 32)
    }
}

/// The values of a row-indexed family.
#[derive(Debug)]
enum Cells {
    /// Counters without an extra label: one `f64` per row.
    Values(Box<[AtomicF64]>),
    /// Counters whose last label takes one of the family's `extra` values: a count per row
    /// and value (`row * extra.len() + value`).
    Counts(Box<[AtomicU32]>),
    /// Histograms: packed bucket counts per row, then sum, min and max per row.
    Histograms {
        bounds: &'static [f64],
        counts: PackedBuckets,
        stats: Box<[AtomicF64]>,
    },
}

/// A row-indexed family bound to its rows.
struct RowStore {
    rows: Arc<dyn RowLabels>,
    n_rows: usize,
    cells: Cells,
    /// Cells that exist (listed in snapshots): every row from the start, except for counters
    /// with an extra label, whose cells exist once incremented.
    live: Bits,
    /// Cells changed since the previous [`Registry::snapshot_changed`] (all at first).
    dirty: Bits,
}

impl std::fmt::Debug for RowStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowStore")
            .field("rows", &self.n_rows)
            .field("cells", &self.cells)
            .finish_non_exhaustive()
    }
}

fn zeros<T: Default>(n: usize) -> Box<[T]> {
    (0..n).map(|_| T::default()).collect()
}

impl RowStore {
    fn new(
        kind: MetricKind,
        bounds: &'static [f64],
        extra: &'static [&'static str],
        rows: Arc<dyn RowLabels>,
    ) -> Self {
        let n_rows = rows.row_count();
        let (cells, n_cells) = match kind {
            MetricKind::Histogram => (
                Cells::Histograms {
                    bounds,
                    counts: PackedBuckets::new(n_rows, bounds.len() + 1),
                    stats: (0..n_rows).flat_map(|_| new_stats()).collect(),
                },
                n_rows,
            ),
            _ if extra.is_empty() => (Cells::Values(zeros(n_rows)), n_rows),
            _ => (
                Cells::Counts(zeros(n_rows * extra.len())),
                n_rows * extra.len(),
            ),
        };
        let all = !matches!(cells, Cells::Counts(_));
        RowStore {
            rows,
            n_rows,
            cells,
            live: Bits::new(n_cells, all),
            dirty: Bits::new(n_cells, all),
        }
    }

    fn heap_bytes(&self) -> usize {
        let cells = match &self.cells {
            Cells::Values(v) => v.len() * 8,
            Cells::Counts(c) => c.len() * 4,
            Cells::Histograms { counts, stats, .. } => counts.heap_bytes() + stats.len() * 8,
        };
        cells + self.live.heap_bytes() + self.dirty.heap_bytes()
    }
}

/// How a family keeps its series.
#[derive(Debug)]
enum Children {
    Map(Mutex<BTreeMap<Vec<String>, Slot>>),
    /// Row-indexed; `extra` are the values of the last label when it is not a row label.
    Rows {
        extra: &'static [&'static str],
        store: OnceLock<RowStore>,
    },
}

/// One metric name and all its label sets.
#[derive(Debug)]
struct Family {
    desc: Desc,
    buckets: &'static [f64],
    children: Children,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the guard cannot leave a map half-updated, so poison is harmless.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Family {
    fn new_child(&self) -> Child {
        match self.desc.kind {
            MetricKind::Counter => Child::Counter(Counter::default()),
            MetricKind::Gauge => Child::Gauge(Gauge::default()),
            MetricKind::Histogram => Child::Histogram(Histogram::new(self.buckets)),
        }
    }

    fn child(&self, values: &[&str]) -> Child {
        let Children::Map(children) = &self.children else {
            // A row-indexed family has no handles: a detached child takes the update.
            return self.new_child();
        };
        let mut key: Vec<String> = values.iter().map(|v| (*v).to_owned()).collect();
        // Label values must match the declared names; pad or cut rather than fail.
        key.resize(self.desc.labels.len(), String::new());
        let mut children = lock(children);
        children
            .entry(key)
            .or_insert_with(|| Slot {
                child: self.new_child(),
                reported: None,
            })
            .child
            .clone()
    }

    fn rows(&self) -> Option<&RowStore> {
        match &self.children {
            Children::Rows { store, .. } => store.get(),
            Children::Map(_) => None,
        }
    }

    fn bind(&self, rows: Arc<dyn RowLabels>) {
        if let Children::Rows { extra, store } = &self.children {
            store.get_or_init(|| RowStore::new(self.desc.kind, self.buckets, extra, rows));
        }
    }

    /// Calls `f` with each series; with `only_changed`, labelled series unchanged since the
    /// previous such call are left out (and the call is remembered).
    fn visit<E>(
        &self,
        only_changed: bool,
        buckets: &mut Vec<Bucket>,
        f: &mut impl FnMut(&SeriesView<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        match &self.children {
            Children::Map(children) => self.visit_map(children, only_changed, buckets, f),
            Children::Rows { extra, store } => match store.get() {
                Some(store) => self.visit_rows(store, extra, only_changed, buckets, f),
                None => Ok(()),
            },
        }
    }

    fn visit_map<E>(
        &self,
        children: &Mutex<BTreeMap<Vec<String>, Slot>>,
        only_changed: bool,
        buckets: &mut Vec<Bucket>,
        f: &mut impl FnMut(&SeriesView<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        // Copy what to show out of the lock, so `f` (which may write to disk) never holds it.
        let labelled = !self.desc.labels.is_empty();
        let picked: Vec<(Vec<String>, Child)> = lock(children)
            .iter_mut()
            .filter_map(|(values, slot)| {
                if only_changed {
                    let now = slot.child.fingerprint();
                    if labelled && slot.reported == Some(now) {
                        return None;
                    }
                    slot.reported = Some(now);
                }
                Some((values.clone(), slot.child.clone()))
            })
            .collect();
        for (values, child) in &picked {
            let labels = LabelPairs::new(self.desc.labels, |k| values[k].as_str());
            let mut v = view(&self.desc, labels);
            match child {
                Child::Counter(c) => v.value = Some(c.get()),
                Child::Gauge(g) => v.value = Some(g.get()),
                Child::Histogram(h) => {
                    let core = &h.0;
                    let figures = histogram_figures(
                        core.bounds,
                        |i| core.counts[i].load(Ordering::Relaxed),
                        &core.stats,
                        buckets,
                    );
                    set_histogram(&mut v, figures, buckets);
                }
            }
            f(&v)?;
        }
        Ok(())
    }

    fn visit_rows<E>(
        &self,
        store: &RowStore,
        extra: &'static [&'static str],
        only_changed: bool,
        buckets: &mut Vec<Bucket>,
        f: &mut impl FnMut(&SeriesView<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let width = extra.len().max(1);
        let mut row_counts = Vec::new();
        let row_labels = self.desc.labels.len() - usize::from(!extra.is_empty());
        for cell in 0..store.n_rows * width {
            if !store.live.get(cell) {
                continue;
            }
            if only_changed && !store.dirty.take(cell) {
                continue;
            }
            let (row, e) = (cell / width, cell % width);
            let labels = LabelPairs::new(self.desc.labels, |k| {
                if k < row_labels {
                    store.rows.label(row, k)
                } else {
                    extra[e]
                }
            });
            let mut v = view(&self.desc, labels);
            match &store.cells {
                Cells::Values(values) => v.value = Some(values[row].get()),
                Cells::Counts(counts) => {
                    v.value = Some(f64::from(counts[cell].load(Ordering::Relaxed)));
                }
                Cells::Histograms {
                    bounds,
                    counts,
                    stats,
                } => {
                    counts.read(row, &mut row_counts);
                    let figures = histogram_figures(
                        bounds,
                        |i| row_counts[i],
                        &stats[row * 3..row * 3 + 3],
                        buckets,
                    );
                    set_histogram(&mut v, figures, buckets);
                }
            }
            f(&v)?;
        }
        Ok(())
    }
}

/// Counters sharing a name, one per label set.
#[derive(Debug, Clone)]
pub struct CounterVec(Arc<Family>);

impl CounterVec {
    pub fn with(&self, values: &[&str]) -> Counter {
        match self.0.child(values) {
            Child::Counter(c) => c,
            _ => Counter::default(),
        }
    }
}

/// Gauges sharing a name, one per label set.
#[derive(Debug, Clone)]
pub struct GaugeVec(Arc<Family>);

impl GaugeVec {
    pub fn with(&self, values: &[&str]) -> Gauge {
        match self.0.child(values) {
            Child::Gauge(g) => g,
            _ => Gauge::default(),
        }
    }
}

/// Histograms sharing a name, one per label set.
#[derive(Debug, Clone)]
pub struct HistogramVec(Arc<Family>);

impl HistogramVec {
    pub fn with(&self, values: &[&str]) -> Histogram {
        match self.0.child(values) {
            Child::Histogram(h) => h,
            _ => Histogram::new(self.0.buckets),
        }
    }
}

/// Counters, one per row of a [`RowLabels`] table (and per value of the extra label, when the
/// family has one). Updates before [`bind`](Self::bind) or outside the rows are ignored.
#[derive(Debug, Clone)]
pub struct CounterRows(Arc<Family>);

impl CounterRows {
    /// Gives the family its rows (once; later calls are ignored). Without an extra label every
    /// row's series exists (at 0) from now on; with one, a series exists once incremented.
    pub fn bind(&self, rows: Arc<dyn RowLabels>) {
        self.0.bind(rows);
    }

    /// Adds `v` to `row`'s counter (no extra label); negative or non-finite values are ignored.
    pub fn add(&self, row: usize, v: f64) {
        let Some(store) = self.0.rows() else { return };
        if let Cells::Values(values) = &store.cells
            && let Some(cell) = values.get(row)
            && v.is_finite()
            && v > 0.0
        {
            cell.add_positive(v);
            store.dirty.set(row);
        }
    }

    pub fn inc(&self, row: usize) {
        self.add(row, 1.0);
    }

    /// Increments `row`'s counter whose extra label is `value` (one of the declared values;
    /// others are ignored).
    pub fn inc_with(&self, row: usize, value: &str) {
        let (Some(store), Children::Rows { extra, .. }) = (self.0.rows(), &self.0.children) else {
            return;
        };
        let (Cells::Counts(counts), Some(e)) =
            (&store.cells, extra.iter().position(|x| *x == value))
        else {
            return;
        };
        let cell = row * extra.len() + e;
        if let Some(c) = counts.get(cell) {
            c.fetch_add(1, Ordering::Relaxed);
            store.live.set(cell);
            store.dirty.set(cell);
        }
    }

    /// `row`'s value (with `value` of the extra label, if the family has one); 0 when absent.
    pub fn get(&self, row: usize, value: Option<&str>) -> f64 {
        let (Some(store), Children::Rows { extra, .. }) = (self.0.rows(), &self.0.children) else {
            return 0.0;
        };
        match (&store.cells, value) {
            (Cells::Values(values), None) => values.get(row).map_or(0.0, AtomicF64::get),
            (Cells::Counts(counts), Some(value)) => extra
                .iter()
                .position(|x| *x == value)
                .and_then(|e| counts.get(row * extra.len() + e))
                .map_or(0.0, |c| f64::from(c.load(Ordering::Relaxed))),
            _ => 0.0,
        }
    }
}

/// Histograms, one per row of a [`RowLabels`] table; every row's series exists (empty) from
/// [`bind`](Self::bind) on. Updates before `bind` or outside the rows are ignored.
#[derive(Debug, Clone)]
pub struct HistogramRows(Arc<Family>);

impl HistogramRows {
    /// Gives the family its rows (once; later calls are ignored).
    pub fn bind(&self, rows: Arc<dyn RowLabels>) {
        self.0.bind(rows);
    }

    /// Records one observation for `row`; non-finite values are ignored.
    pub fn observe(&self, row: usize, v: f64) {
        let Some(store) = self.0.rows() else { return };
        let Cells::Histograms {
            bounds,
            counts,
            stats,
        } = &store.cells
        else {
            return;
        };
        if row >= store.n_rows || !v.is_finite() {
            return;
        }
        counts.add(row, bounds.partition_point(|b| *b < v));
        AtomicF64::observe(&stats[row * 3..row * 3 + 3], v);
        store.dirty.set(row);
    }
}

/// All metric families of one process (or one run), in registration order.
#[derive(Debug, Default)]
pub struct Registry {
    families: Mutex<Vec<Arc<Family>>>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    fn register(&self, desc: Desc, buckets: &'static [f64], children: Children) -> Arc<Family> {
        let mut families = lock(&self.families);
        if let Some(f) = families.iter().find(|f| f.desc.name == desc.name) {
            return f.clone();
        }
        let family = Arc::new(Family {
            desc: Desc {
                labels: &desc.labels[..desc.labels.len().min(MAX_LABELS)],
                ..desc
            },
            buckets,
            children,
        });
        families.push(family.clone());
        family
    }

    /// Whether a family of that name is registered.
    pub fn has_family(&self, name: &str) -> bool {
        lock(&self.families).iter().any(|f| f.desc.name == name)
    }

    fn map() -> Children {
        Children::Map(Mutex::new(BTreeMap::new()))
    }

    /// Registers a counter family (`desc.kind` is taken as counter). Registering a name twice
    /// returns the first family.
    pub fn counter(&self, desc: Desc) -> CounterVec {
        CounterVec(self.register(
            Desc {
                kind: MetricKind::Counter,
                ..desc
            },
            &[],
            Self::map(),
        ))
    }

    pub fn gauge(&self, desc: Desc) -> GaugeVec {
        GaugeVec(self.register(
            Desc {
                kind: MetricKind::Gauge,
                ..desc
            },
            &[],
            Self::map(),
        ))
    }

    /// Registers a histogram family with the given upper bounds (ascending, finite).
    pub fn histogram(&self, desc: Desc, buckets: &'static [f64]) -> HistogramVec {
        HistogramVec(self.register(
            Desc {
                kind: MetricKind::Histogram,
                ..desc
            },
            buckets,
            Self::map(),
        ))
    }

    /// Registers a row-indexed counter family. Without `extra`, every label of `desc` is a row
    /// label; with `extra`, the last label is not and takes one of those values.
    pub fn counter_rows(&self, desc: Desc, extra: &'static [&'static str]) -> CounterRows {
        let extra = if desc.labels.is_empty() { &[] } else { extra };
        CounterRows(self.register(
            Desc {
                kind: MetricKind::Counter,
                ..desc
            },
            &[],
            Children::Rows {
                extra,
                store: OnceLock::new(),
            },
        ))
    }

    /// Registers a row-indexed histogram family (every label a row label) with the given upper
    /// bounds (ascending, finite).
    pub fn histogram_rows(&self, desc: Desc, buckets: &'static [f64]) -> HistogramRows {
        HistogramRows(self.register(
            Desc {
                kind: MetricKind::Histogram,
                ..desc
            },
            buckets,
            Children::Rows {
                extra: &[],
                store: OnceLock::new(),
            },
        ))
    }

    /// Bytes the row-indexed families hold for their values (what grows with the rows).
    pub fn row_heap_bytes(&self) -> usize {
        lock(&self.families)
            .iter()
            .filter_map(|f| f.rows())
            .map(RowStore::heap_bytes)
            .sum()
    }

    /// Every series now: families in registration order; label sets sorted by value, rows in
    /// row order.
    pub fn snapshot(&self) -> Vec<Series> {
        self.collect(false)
    }

    /// For one periodic writer: every unlabelled series, plus the labelled series that changed
    /// since the previous call (all of them on the first call). Unchanged series cost a
    /// fingerprint read or a bit test, not a [`Series`].
    pub fn snapshot_changed(&self) -> Vec<Series> {
        self.collect(true)
    }

    fn collect(&self, only_changed: bool) -> Vec<Series> {
        let mut out = Vec::new();
        let _ = self.visit(only_changed, |s| {
            out.push(s.to_series());
            Ok::<(), std::convert::Infallible>(())
        });
        out
    }

    /// Calls `f` with every series (with `only_changed`, as [`snapshot_changed`]
    /// (Self::snapshot_changed) picks them), in [`snapshot`](Self::snapshot)'s order, one
    /// borrowed view at a time; stops at `f`'s first error.
    pub fn visit<E>(
        &self,
        only_changed: bool,
        mut f: impl FnMut(&SeriesView<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let families: Vec<Arc<Family>> = lock(&self.families).clone();
        let mut buckets = Vec::new();
        for family in families {
            family.visit(only_changed, &mut buckets, &mut f)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODE: Desc = Desc {
        name: "t_node_seconds",
        help: "Per node.",
        unit: "seconds",
        kind: MetricKind::Histogram,
        labels: &["node_id", "plugin_name"],
    };

    fn rows(n: usize) -> Arc<dyn RowLabels> {
        Arc::new(
            (0..n)
                .map(|i| vec![format!("n{i}"), "exec".to_owned()])
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn bits_set_take_and_start_full() {
        let b = Bits::new(130, true);
        assert!((0..130).all(|i| b.get(i)));
        assert!(b.take(129) && !b.take(129) && !b.get(129));
        let b = Bits::new(70, false);
        assert!(!b.get(69));
        b.set(69);
        assert!(b.get(69) && !b.get(68));
    }

    #[test]
    fn row_families_match_label_keyed_ones() {
        let r = Registry::new();
        let keyed = r.histogram(
            Desc {
                name: "t_keyed_seconds",
                ..NODE
            },
            DURATION_BUCKETS,
        );
        let by_row = r.histogram_rows(NODE, DURATION_BUCKETS);
        by_row.bind(rows(3));
        // Row 1 sees more observations than its packed word holds (it spills to a count
        // array part-way), row 2 one.
        let many = (0..40).map(|i| (1, f64::from(i) * 0.37 + 0.0001));
        for (row, v) in many.chain([(1, 0.002), (1, 7.0), (2, 0.3)]) {
            keyed.with(&[&format!("n{row}"), "exec"]).observe(v);
            by_row.observe(row, v);
        }
        keyed.with(&["n0", "exec"]);
        by_row.observe(9, 1.0); // outside the rows: ignored
        let snap = r.snapshot();
        assert_eq!(snap.len(), 6);
        for (k, row) in snap[..3].iter().zip(&snap[3..]) {
            assert_eq!(row.name, "t_node_seconds");
            assert_eq!(
                Series {
                    name: row.name.clone(),
                    ..k.clone()
                },
                *row
            );
        }
        assert_eq!(snap[4].count, Some(42));
        assert_eq!(snap[5].count, Some(1));
        assert_eq!(snap[4].labels["node_id"], "n1");
    }

    #[test]
    fn packed_buckets_count_exactly_before_and_after_spilling() {
        for buckets in [1, 2, 25, 64, 300] {
            let p = PackedBuckets::new(3, buckets);
            let mut expected = vec![0u64; buckets];
            let mut got = Vec::new();
            for i in 0..(p.slots as usize + 5) {
                let idx = (i * 7 + 3) % buckets;
                p.add(1, idx);
                expected[idx] += 1;
                p.read(1, &mut got);
                assert_eq!(got, expected, "{buckets} buckets after {} adds", i + 1);
            }
            p.read(0, &mut got);
            assert!(got.iter().all(|c| *c == 0), "other rows untouched");
        }
        assert_eq!(PackedBuckets::new(1, 25).slots, 12);
    }

    #[test]
    fn extra_label_cells_exist_once_incremented_and_report_changes_once() {
        let r = Registry::new();
        let c = r.counter_rows(
            Desc {
                name: "t_done_total",
                kind: MetricKind::Counter,
                labels: &["node_id", "plugin_name", "status"],
                ..NODE
            },
            &["succeeded", "failed"],
        );
        c.bind(rows(4));
        assert!(r.snapshot().is_empty());
        c.inc_with(2, "failed");
        c.inc_with(2, "failed");
        c.inc_with(3, "succeeded");
        c.inc_with(3, "unknown"); // not a declared value: ignored
        assert_eq!(c.get(2, Some("failed")), 2.0);
        let labels = |s: &Series| s.labels.values().cloned().collect::<Vec<_>>().join(",");
        let changed = r.snapshot_changed();
        assert_eq!(
            changed.iter().map(labels).collect::<Vec<_>>(),
            ["n2,exec,failed", "n3,exec,succeeded"]
        );
        assert!(r.snapshot_changed().is_empty(), "nothing moved");
        c.inc_with(3, "succeeded");
        let changed = r.snapshot_changed();
        assert_eq!(changed.len(), 1);
        assert_eq!(changed[0].value, Some(2.0));
        assert_eq!(r.snapshot().len(), 2);
    }

    /// The structural guard against the per-node blow-up (label strings, map entries and
    /// `Arc` handles per node series): the node families of a 10 000-node plan keep their
    /// values in under 100 bytes a node.
    #[test]
    fn node_families_stay_small_per_node() {
        let r = Registry::new();
        let m = super::super::series::SecflowMetrics::register(&r);
        let n = 10_000;
        m.bind_nodes(rows(n));
        let per_node = r.row_heap_bytes() as f64 / n as f64;
        assert!(per_node < 100.0, "{per_node} bytes per node");
        assert!(per_node > 50.0, "{per_node}: the histogram rows are there");
    }
}
