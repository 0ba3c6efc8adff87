//! The metrics snapshot record (`metrics.json`, each line of `metrics.jsonl`) and the SecFlow
//! performance summary, shared by the writer ([`MetricsSink`](super::MetricsSink)) and every
//! reader (`secflow metrics`, push, textfile, analysis).
//!
//! Fields may be added with `schema_version` unchanged; none are renamed. Values are plain
//! JSON numbers (never NaN or infinite): a histogram's `buckets` list the finite upper bounds
//! with cumulative counts, and the implicit `+Inf` bucket equals `count`.

use std::collections::BTreeMap;
use std::io::Write;

use schemars::JsonSchema;
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use super::registry::{MAX_LABELS, Registry};
use crate::store::RunRecord;

/// The current metrics snapshot schema version.
pub const METRICS_SCHEMA_VERSION: u32 = 1;

/// Prometheus metric type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MetricKind {
    Counter,
    Gauge,
    Histogram,
}

impl MetricKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        }
    }
}

/// One cumulative histogram bucket: observations `<= le`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Bucket {
    pub le: f64,
    pub count: u64,
}

/// One series: a metric name with one set of label values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Series {
    /// Prometheus name, base units, `_total` for counters.
    pub name: String,
    #[serde(rename = "type")]
    pub kind: MetricKind,
    pub help: String,
    /// `seconds`, `bytes`, `percent`, or empty for a plain count.
    pub unit: String,
    pub labels: BTreeMap<String, String>,
    /// Counters and gauges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// Histograms: observations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Histograms: sum of observations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sum: Option<f64>,
    /// Histograms: cumulative counts per finite upper bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buckets: Option<Vec<Bucket>>,
    /// Histograms: quantiles estimated from the buckets (absent when empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p90: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p95: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99: Option<f64>,
}

impl Series {
    pub fn new(
        name: &str,
        kind: MetricKind,
        help: &str,
        unit: &str,
        labels: BTreeMap<String, String>,
    ) -> Self {
        Series {
            name: name.to_owned(),
            kind,
            help: help.to_owned(),
            unit: unit.to_owned(),
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
}

/// A series' labels borrowed from wherever they live, sorted by name (as a `BTreeMap` of them
/// serialises).
#[derive(Debug, Clone, Copy)]
pub struct LabelPairs<'a> {
    pairs: [(&'a str, &'a str); MAX_LABELS],
    len: usize,
}

impl<'a> LabelPairs<'a> {
    /// `names[k]` with `value(k)`, for the first [`MAX_LABELS`] names.
    pub fn new(names: &'a [&'static str], value: impl Fn(usize) -> &'a str) -> Self {
        let mut pairs = [("", ""); MAX_LABELS];
        let len = names.len().min(MAX_LABELS);
        for (k, name) in names[..len].iter().enumerate() {
            pairs[k] = (name, value(k));
        }
        pairs[..len].sort_by(|a, b| a.0.cmp(b.0));
        LabelPairs { pairs, len }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a str)> + '_ {
        self.pairs[..self.len].iter().copied()
    }
}

impl Serialize for LabelPairs<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len))?;
        for (k, v) in self.iter() {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// One series borrowed from the registry: serialises exactly as the [`Series`] it stands for,
/// without owning anything (snapshots are streamed from these).
#[derive(Debug, Clone, Serialize)]
pub struct SeriesView<'a> {
    pub name: &'a str,
    #[serde(rename = "type")]
    pub kind: MetricKind,
    pub help: &'a str,
    pub unit: &'a str,
    pub labels: LabelPairs<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sum: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buckets: Option<&'a [Bucket]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p50: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p90: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p95: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p99: Option<f64>,
}

impl SeriesView<'_> {
    /// The owned series.
    pub fn to_series(&self) -> Series {
        Series {
            name: self.name.to_owned(),
            kind: self.kind,
            help: self.help.to_owned(),
            unit: self.unit.to_owned(),
            labels: self
                .labels
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            value: self.value,
            count: self.count,
            sum: self.sum,
            buckets: self.buckets.map(<[Bucket]>::to_vec),
            p50: self.p50,
            p90: self.p90,
            p95: self.p95,
            p99: self.p99,
        }
    }
}

/// The SecFlow performance summary of a finished run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SecflowSummary {
    pub total_duration_ms: u64,
    /// Nodes in the plan.
    pub node_count: u64,
    pub findings_count: u64,
    /// Mean over nodes that ran of the node's attempt time (integer ms, rounded).
    pub avg_node_duration_ms: u64,
    /// `findings_count` over the run's wall time; 0 for a run of 0 ms.
    pub findings_per_second: f64,
}

impl SecflowSummary {
    /// The summary as analysis computes it, from `run.json`.
    pub fn from_record(record: &RunRecord) -> Self {
        let mut ran = 0u64;
        let mut total = 0u64;
        for node in &record.nodes {
            let durations: Vec<u64> = node.attempts.iter().filter_map(|a| a.duration_ms).collect();
            if !durations.is_empty() {
                ran += 1;
                total += durations.iter().sum::<u64>();
            }
        }
        let total_duration_ms = record.duration_ms.unwrap_or(0);
        let findings_per_second = if total_duration_ms == 0 {
            0.0
        } else {
            record.findings_count as f64 * 1000.0 / total_duration_ms as f64
        };
        SecflowSummary {
            total_duration_ms,
            node_count: record.nodes.len() as u64,
            findings_count: record.findings_count,
            avg_node_duration_ms: (total as f64 / ran.max(1) as f64).round() as u64,
            findings_per_second,
        }
    }
}

/// `metrics.json` (final) and each line of `metrics.jsonl` (periodic).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "secflow metrics snapshot (metrics.json, metrics.jsonl)")]
pub struct MetricsSnapshot {
    pub schema_version: u32,
    pub run_id: String,
    /// The workflow's name.
    pub workflow: String,
    /// When the snapshot was taken (RFC 3339 UTC, ms).
    pub timestamp: String,
    /// Milliseconds since the run started.
    pub elapsed_ms: u64,
    /// True for `metrics.json`, written when the run ended.
    #[serde(rename = "final")]
    pub is_final: bool,
    /// A periodic line that lists the unlabelled series plus only the labelled series that
    /// changed since the previous line; fold the lines in order ([`MetricsSnapshot::merge`])
    /// to get the full picture. Keeps `metrics.jsonl` small for plans with many nodes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    /// The SecFlow performance summary; in the final snapshot only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<SecflowSummary>,
    pub series: Vec<Series>,
}

/// Everything of a snapshot but its series: what a writer streams before them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SnapshotHead {
    pub schema_version: u32,
    pub run_id: String,
    pub workflow: String,
    pub timestamp: String,
    pub elapsed_ms: u64,
    #[serde(rename = "final")]
    pub is_final: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<SecflowSummary>,
}

impl SnapshotHead {
    /// Writes one snapshot line (this head, then `registry`'s series as
    /// [`Registry::visit`] picks them, then a newline) straight to `w`, one series at a time:
    /// memory stays flat however many series there are. Equal, once parsed, to
    /// [`to_snapshot`](Self::to_snapshot) of the same series.
    pub fn write_line(
        &self,
        w: &mut impl Write,
        registry: &Registry,
        only_changed: bool,
    ) -> std::io::Result<()> {
        let head = serde_json::to_vec(self)?;
        // `{...}` -> `{...,"series":[`
        w.write_all(&head[..head.len() - 1])?;
        w.write_all(b",\"series\":[")?;
        let mut first = true;
        registry.visit(only_changed, |s| {
            if !first {
                w.write_all(b",")?;
            }
            first = false;
            serde_json::to_writer(&mut *w, s).map_err(std::io::Error::from)
        })?;
        w.write_all(b"]}\n")
    }

    /// The snapshot with these `series`.
    pub fn to_snapshot(&self, series: Vec<Series>) -> MetricsSnapshot {
        MetricsSnapshot {
            schema_version: self.schema_version,
            run_id: self.run_id.clone(),
            workflow: self.workflow.clone(),
            timestamp: self.timestamp.clone(),
            elapsed_ms: self.elapsed_ms,
            is_final: self.is_final,
            partial: self.partial,
            summary: self.summary.clone(),
            series,
        }
    }
}

impl MetricsSnapshot {
    /// Applies a later line: a full snapshot replaces this one; a partial one replaces the
    /// series it lists (same name and labels) and adds the new ones.
    pub fn merge(&mut self, later: MetricsSnapshot) {
        if !later.partial {
            *self = later;
            return;
        }
        let mut series = std::mem::take(&mut self.series);
        let mut index: std::collections::HashMap<(String, BTreeMap<String, String>), usize> =
            series
                .iter()
                .enumerate()
                .map(|(i, s)| ((s.name.clone(), s.labels.clone()), i))
                .collect();
        for s in later.series {
            let key = (s.name.clone(), s.labels.clone());
            match index.get(&key) {
                Some(&i) => series[i] = s,
                None => {
                    index.insert(key, series.len());
                    series.push(s);
                }
            }
        }
        *self = MetricsSnapshot {
            series,
            partial: self.partial,
            ..later
        };
        // Keep each name's series together, as a registry snapshot lists them.
        let mut order: Vec<String> = Vec::new();
        for s in &self.series {
            if !order.contains(&s.name) {
                order.push(s.name.clone());
            }
        }
        self.series.sort_by_key(|s| {
            order
                .iter()
                .position(|n| *n == s.name)
                .unwrap_or(usize::MAX)
        });
    }

    /// The first series named `name` whose labels include all of `labels`.
    pub fn find(&self, name: &str, labels: &[(&str, &str)]) -> Option<&Series> {
        self.series.iter().find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
    }
}

/// Estimates quantile `q` (0 < q <= 1) from cumulative `buckets` the way Prometheus's
/// `histogram_quantile` does (linear inside the bucket holding the rank), then clamps it to the
/// observed `[min, max]`; the `+Inf` bucket interpolates up to `max`. `None` when empty.
pub fn estimate_quantile(
    buckets: &[Bucket],
    count: u64,
    min: f64,
    max: f64,
    q: f64,
) -> Option<f64> {
    let valid = count > 0 && q > 0.0 && q <= 1.0 && min.is_finite() && max.is_finite();
    if !valid || min > max {
        return None;
    }
    let rank = q * count as f64;
    let mut prev_count = 0u64;
    let mut prev_bound = min.min(buckets.first().map_or(min, |b| b.le));
    let mut found = None;
    for b in buckets {
        if b.count as f64 >= rank {
            found = Some((prev_bound, b.le, prev_count, b.count));
            break;
        }
        prev_count = b.count;
        prev_bound = b.le;
    }
    let (lower, upper, below, upto) = found.unwrap_or((prev_bound, max, prev_count, count));
    let in_bucket = (upto - below) as f64;
    let estimate = if in_bucket <= 0.0 {
        upper
    } else {
        lower + (upper - lower) * ((rank - below as f64) / in_bucket)
    };
    Some(estimate.clamp(min, max))
}
