//! Metrics a tool reports on `SECFLOW_EVENTS` (SPEC §11): one family per name, labelled
//! `node_id` and `plugin_name` (set by secflow, first, never the tool's) then the tool's own
//! labels in name order.
//!
//! Names and labels arrive validated ((`engine::tool_events::parse`)); this module
//! bounds what they may cost: a name keeps the type and label names it was first reported
//! with (a line that disagrees is counted in `rejected`), and at most [`MAX_FAMILIES`]
//! distinct families exist in a process (their names are interned for the registry, which
//! holds `'static` descriptors). Series per attempt are capped by the channel, series per
//! run by [`MAX_RUN_SERIES`].

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use super::registry::{CounterVec, Desc, GaugeVec, HistogramVec, Registry};
use super::snapshot::MetricKind;
use crate::event::tool::{MetricItem, MetricType};

/// Most tool metric families (name with its label names) in one process.
pub const MAX_FAMILIES: usize = 256;

/// Most tool series in one run: the channel caps each attempt, but a fan-out of 10 000
/// instances, each labelling its own item, would otherwise multiply that cap.
pub const MAX_RUN_SERIES: usize = 2_000;

/// Bucket bounds of tool histograms: the value's own unit, decades from 0.001 to 10^6.
pub const TOOL_BUCKETS: &[f64] = &[
    0.001,
    0.01,
    0.1,
    1.0,
    10.0,
    100.0,
    1_000.0,
    10_000.0,
    100_000.0,
    1_000_000.0,
];

const HELP: &str = "Reported by a node's tool on SECFLOW_EVENTS.";

type Interned = (&'static str, &'static [&'static str]);

/// Descriptor strings shared by every run of the process, bounded by [`MAX_FAMILIES`].
static INTERNED: Mutex<Vec<Interned>> = Mutex::new(Vec::new());

fn intern(name: &str, labels: &[&str]) -> Option<Interned> {
    let mut table = INTERNED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(found) = table
        .iter()
        .find(|(n, l)| *n == name && l.iter().copied().eq(labels.iter().copied()))
    {
        return Some(*found);
    }
    if table.len() >= MAX_FAMILIES {
        return None;
    }
    let leaked_name: &'static str = Box::leak(name.to_owned().into_boxed_str());
    let leaked_labels: Vec<&'static str> = labels
        .iter()
        .map(|l| &*Box::leak((*l).to_owned().into_boxed_str()))
        .collect();
    let entry = (leaked_name, &*Box::leak(leaked_labels.into_boxed_slice()));
    table.push(entry);
    Some(entry)
}

enum Family {
    Counter(CounterVec),
    Gauge(GaugeVec),
    Histogram(HistogramVec),
}

struct Known {
    kind: MetricType,
    labels: Vec<String>,
    family: Family,
}

/// The tool families of one run's registry.
#[derive(Default)]
pub struct ToolMetrics {
    known: HashMap<String, Known>,
    /// The run's tool series (name and label values), at most [`MAX_RUN_SERIES`].
    series: std::collections::HashSet<String>,
    /// Lines refused here: a type or label set other than the name's first, or the family cap.
    pub rejected: u64,
}

impl ToolMetrics {
    /// Records `m` for a node; false (and counted) when refused.
    pub fn record(
        &mut self,
        registry: &Registry,
        node_id: &str,
        plugin_name: &str,
        m: &MetricItem,
    ) -> bool {
        let labels: Vec<String> = m.labels.keys().cloned().collect();
        if !self.known.contains_key(&m.name) {
            let mut names: Vec<&str> = vec!["node_id", "plugin_name"];
            names.extend(labels.iter().map(String::as_str));
            // A name secflow itself registered is not the tool's to update.
            if registry.has_family(&m.name) {
                self.rejected += 1;
                return false;
            }
            let Some((name, label_names)) = intern(&m.name, &names) else {
                self.rejected += 1;
                return false;
            };
            let desc = |kind| Desc {
                name,
                help: HELP,
                unit: "",
                kind,
                labels: label_names,
            };
            let family = match m.kind {
                MetricType::Counter => Family::Counter(registry.counter(desc(MetricKind::Counter))),
                MetricType::Gauge => Family::Gauge(registry.gauge(desc(MetricKind::Gauge))),
                MetricType::Histogram => {
                    Family::Histogram(registry.histogram(desc(MetricKind::Histogram), TOOL_BUCKETS))
                }
            };
            self.known.insert(
                m.name.clone(),
                Known {
                    kind: m.kind,
                    labels: labels.clone(),
                    family,
                },
            );
        }
        let Some(known) = self.known.get(&m.name) else {
            return false;
        };
        if known.kind != m.kind || known.labels != labels {
            self.rejected += 1;
            return false;
        }
        let mut values: Vec<&str> = vec![node_id, plugin_name];
        values.extend(m.labels.values().map(String::as_str));
        let key = format!("{}\0{}", m.name, values.join("\0"));
        if !self.series.contains(&key) {
            if self.series.len() >= MAX_RUN_SERIES {
                self.rejected += 1;
                return false;
            }
            self.series.insert(key);
        }
        match &known.family {
            Family::Counter(c) => c.with(&values).add(m.value),
            Family::Gauge(g) => g.with(&values).set(m.value),
            Family::Histogram(h) => h.with(&values).observe(m.value),
        }
        true
    }
}
