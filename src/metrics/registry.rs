//! The in-memory metrics registry: counters, gauges and histograms with labels.
//!
//! Updates are lock-free atomics on a handle ([`Counter`], [`Gauge`], [`Histogram`]) that the
//! caller resolves once per label set with `with(&[...])` (a short, non-async `std` mutex held
//! only for that map lookup, never across an await) and then keeps. A counter increment is a
//! single compare-and-swap on an `AtomicU64` holding the bits of an `f64`.
//!
//! [`Registry::snapshot`] reads every series without stopping writers; a histogram's `count`
//! is the sum of its bucket counts read in that snapshot, so the two always agree.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::snapshot::{Bucket, MetricKind, Series, estimate_quantile};

/// Histogram upper bounds in seconds for durations from 1 ms to hours (about three bounds a
/// decade below a minute, then minutes and hours).
pub const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 14400.0, 43200.0, 86400.0,
];

/// What a metric family is: its Prometheus name (base units, `_total` for counters), help,
/// unit and label names.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Desc {
    pub name: &'static str,
    pub help: &'static str,
    /// Base unit (`seconds`, `bytes`, `percent`) or empty for a plain count.
    pub unit: &'static str,
    pub kind: MetricKind,
    pub labels: &'static [&'static str],
}

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
        if v.is_finite() && v > 0.0 {
            self.0.update(|cur| cur + v);
        }
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
    sum: AtomicF64,
    min: AtomicF64,
    max: AtomicF64,
}

/// Observations counted into fixed buckets.
#[derive(Debug, Clone)]
pub struct Histogram(Arc<HistogramCore>);

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram(Arc::new(HistogramCore {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicF64::default(),
            min: AtomicF64::new(f64::INFINITY),
            max: AtomicF64::new(f64::NEG_INFINITY),
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
        core.sum.update(|s| s + v);
        core.min.update(|m| m.min(v));
        core.max.update(|m| m.max(v));
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
        self.0.sum.get()
    }

    fn fill(&self, series: &mut Series) {
        let core = &self.0;
        let mut cumulative = 0u64;
        let mut buckets = Vec::with_capacity(core.bounds.len());
        for (i, le) in core.bounds.iter().enumerate() {
            cumulative += core.counts[i].load(Ordering::Relaxed);
            buckets.push(Bucket {
                le: *le,
                count: cumulative,
            });
        }
        let count = cumulative + core.counts[core.bounds.len()].load(Ordering::Relaxed);
        let (min, max) = (core.min.get(), core.max.get());
        let q = |q: f64| estimate_quantile(&buckets, count, min, max, q);
        series.p50 = q(0.50);
        series.p90 = q(0.90);
        series.p95 = q(0.95);
        series.p99 = q(0.99);
        series.count = Some(count);
        series.sum = Some(core.sum.get());
        series.buckets = Some(buckets);
    }
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

/// One metric name and all its label sets.
#[derive(Debug)]
struct Family {
    desc: Desc,
    buckets: &'static [f64],
    children: Mutex<BTreeMap<Vec<String>, Slot>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the guard cannot leave a map half-updated, so poison is harmless.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Family {
    fn child(&self, values: &[&str]) -> Child {
        let mut key: Vec<String> = values.iter().map(|v| (*v).to_owned()).collect();
        // Label values must match the declared names; pad or cut rather than fail.
        key.resize(self.desc.labels.len(), String::new());
        let mut children = lock(&self.children);
        children
            .entry(key)
            .or_insert_with(|| Slot {
                child: match self.desc.kind {
                    MetricKind::Counter => Child::Counter(Counter::default()),
                    MetricKind::Gauge => Child::Gauge(Gauge::default()),
                    MetricKind::Histogram => Child::Histogram(Histogram::new(self.buckets)),
                },
                reported: None,
            })
            .child
            .clone()
    }

    /// Appends the family's series; with `only_changed`, labelled series whose value is the
    /// same as at the previous such call are left out (and the call is remembered).
    fn snapshot(&self, out: &mut Vec<Series>, only_changed: bool) {
        let mut children = lock(&self.children);
        let labelled = !self.desc.labels.is_empty();
        for (values, slot) in children.iter_mut() {
            if only_changed {
                let now = slot.child.fingerprint();
                if labelled && slot.reported == Some(now) {
                    continue;
                }
                slot.reported = Some(now);
            }
            let child = &slot.child;
            let mut series = Series::new(
                self.desc.name,
                self.desc.kind,
                self.desc.help,
                self.desc.unit,
                self.desc
                    .labels
                    .iter()
                    .zip(values)
                    .map(|(k, v)| ((*k).to_owned(), v.clone()))
                    .collect(),
            );
            match child {
                Child::Counter(c) => series.value = Some(c.get()),
                Child::Gauge(g) => series.value = Some(g.get()),
                Child::Histogram(h) => h.fill(&mut series),
            }
            out.push(series);
        }
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

/// All metric families of one process (or one run), in registration order.
#[derive(Debug, Default)]
pub struct Registry {
    families: Mutex<Vec<Arc<Family>>>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    fn register(&self, desc: Desc, buckets: &'static [f64]) -> Arc<Family> {
        let mut families = lock(&self.families);
        if let Some(f) = families.iter().find(|f| f.desc.name == desc.name) {
            return f.clone();
        }
        let family = Arc::new(Family {
            desc,
            buckets,
            children: Mutex::new(BTreeMap::new()),
        });
        families.push(family.clone());
        family
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
        ))
    }

    pub fn gauge(&self, desc: Desc) -> GaugeVec {
        GaugeVec(self.register(
            Desc {
                kind: MetricKind::Gauge,
                ..desc
            },
            &[],
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
        ))
    }

    /// Every series now: families in registration order, label sets sorted by value.
    pub fn snapshot(&self) -> Vec<Series> {
        self.collect(false)
    }

    /// For one periodic writer: every unlabelled series, plus the labelled series that changed
    /// since the previous call (all of them on the first call). Unchanged series cost a
    /// fingerprint read, not a [`Series`].
    pub fn snapshot_changed(&self) -> Vec<Series> {
        self.collect(true)
    }

    fn collect(&self, only_changed: bool) -> Vec<Series> {
        let families: Vec<Arc<Family>> = lock(&self.families).clone();
        let mut out = Vec::new();
        for family in families {
            family.snapshot(&mut out, only_changed);
        }
        out
    }
}
