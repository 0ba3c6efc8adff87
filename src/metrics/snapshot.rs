//! The metrics snapshot record (`metrics.json`, each line of `metrics.jsonl`) and the SecFlow
//! performance summary, shared by the writer ([`MetricsSink`](super::MetricsSink)) and every
//! reader (`secflow metrics`, push, textfile, analysis).
//!
//! Fields may be added with `schema_version` unchanged; none are renamed. Values are plain
//! JSON numbers (never NaN or infinite): a histogram's `buckets` list the finite upper bounds
//! with cumulative counts, and the implicit `+Inf` bucket equals `count`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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
