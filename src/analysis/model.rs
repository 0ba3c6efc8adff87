//! The analysis report: the one type every output format renders and `secflow schema
//! --record analysis` describes.
//!
//! Stable: fields may be added with `schema_version` unchanged; none are renamed. Times are
//! integer milliseconds (offsets from the run's start where named `*_offset_ms`), sizes bytes.

use std::borrow::Cow;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The current analysis report schema version.
pub const ANALYSIS_SCHEMA_VERSION: u32 = 1;

/// `secflow performance-analysis --format json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "secflow performance analysis report")]
pub struct AnalysisReport {
    pub schema_version: u32,
    /// The run the single-run sections describe: the only one, or the newest selected.
    pub run: RunInfo,
    /// SecFlow's summary of that run.
    pub summary: Summary,
    /// Per node of that run, in run.json order (topological).
    pub nodes: Vec<NodeReport>,
    pub critical_path: CriticalPath,
    pub parallelism: Parallelism,
    /// Node ids, slowest first (at most 10).
    pub slowest_nodes: Vec<String>,
    /// Retries, timeouts and failures with their errors.
    pub problems: Vec<Problem>,
    /// System CPU/memory sampled during the run (metrics.jsonl), when recorded.
    pub system: Option<SystemUsage>,
    /// The node-completed aggregate over logs.jsonl, when recorded.
    pub logs: Option<LogAggregate>,
    /// Spans read from spans.jsonl, when recorded.
    pub spans: Option<SpanSummary>,
    /// Several runs: the runs compared, oldest first, and per-node statistics.
    pub across_runs: Option<AcrossRuns>,
    /// Nodes flagged as slower or larger than the baseline (empty when nothing changed).
    pub regressions: Vec<Regression>,
    /// What could not be read or inferred, said once each.
    pub warnings: Vec<String>,
    /// Fanned-out nodes (SPEC §9): their instances grouped under the template.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fanouts: Vec<InstanceGroup>,
    /// `--node ID`: the node, instance or fan-out template the node sections are restricted
    /// to (absent: every node).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

/// The instances of one `foreach`/`matrix` node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct InstanceGroup {
    /// The template node's id.
    pub template: String,
    pub count: u64,
    /// Duration percentiles over its instances (attempts summed), nearest rank.
    pub p50_ms: u64,
    pub p95_ms: u64,
    pub max_ms: u64,
    /// Instance ids, slowest first (at most 5).
    pub slowest: Vec<String>,
    /// Instances that failed, timed out or were cancelled.
    pub failed: Vec<String>,
}

/// Identity and completeness of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunInfo {
    pub run_id: String,
    pub workflow: String,
    /// `running` for a run that never finished.
    pub status: String,
    /// False when run.json says the run is still running (a crash or kill -9 leaves it so).
    pub finished: bool,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub concurrency: u32,
    /// Torn last lines skipped over all files read.
    pub torn_lines: u64,
    /// Other unreadable lines skipped.
    pub invalid_lines: u64,
}

/// SecFlow's five summary figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    /// Wall time of the run (up to the last recorded event for an unfinished run).
    pub total_duration_ms: u64,
    pub node_count: u64,
    pub findings_count: u64,
    /// Mean over nodes that ran of the node's attempt time (sum of its attempts' durations,
    /// retry delays excluded), integer ms rounded — the figure `secflow metrics` reports.
    pub avg_node_duration_ms: u64,
    pub findings_per_second: f64,
}

/// One node of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NodeReport {
    pub node_id: String,
    pub plugin_name: String,
    /// A node status word (`succeeded`, `failed`, …); borrowed, not allocated per node.
    pub status: Cow<'static, str>,
    pub attempts: u32,
    /// Summed over attempts.
    pub queue_wait_ms: u64,
    /// First attempt start to last attempt end (retry delays included).
    pub duration_ms: u64,
    /// User + system, summed over attempts.
    pub cpu_ms: u64,
    /// Largest over attempts.
    pub peak_rss_bytes: u64,
    pub findings_count: u64,
    /// `duration_ms` / the run's wall time.
    pub share_of_wall: f64,
    pub on_critical_path: bool,
    pub attempt_details: Vec<AttemptReport>,
}

/// One attempt, positioned on the run's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AttemptReport {
    pub attempt: u32,
    pub status: Cow<'static, str>,
    /// Start, relative to the run's start; null if it never started.
    pub start_offset_ms: Option<u64>,
    pub duration_ms: u64,
    pub queue_wait_ms: u64,
    pub cpu_ms: u64,
    pub peak_rss_bytes: u64,
    pub exit_code: Option<i32>,
    pub error: Option<String>,
    /// The concurrency slot it ran in (interval partitioning), for timelines.
    pub slot: u32,
}

/// The chain of nodes that determined the wall time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CriticalPath {
    /// Node ids, first to last.
    pub nodes: Vec<String>,
    /// Sum of the chain's node durations.
    pub duration_ms: u64,
    /// `duration_ms` / wall time.
    pub share: f64,
    /// `recorded` (exact: the `depends_on` edges run.json records) or `timing` (inferred,
    /// for records written before `depends_on` existed: each node's predecessor is the node
    /// that ended last before it was queued).
    pub method: String,
}

/// How well the run used its concurrency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Parallelism {
    /// Sum of attempt durations.
    pub busy_ms: u64,
    pub wall_ms: u64,
    pub concurrency: u32,
    /// busy / wall.
    pub average: f64,
    /// busy / (wall × concurrency).
    pub efficiency: f64,
    /// Most attempts running at once.
    pub peak: u32,
}

/// A retry, timeout or failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Problem {
    pub node_id: String,
    pub attempt: u32,
    /// `retried`, `timed_out`, `failed`, `cancelled` or `skipped`.
    pub kind: String,
    pub message: String,
}

/// System CPU and memory over the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SystemUsage {
    pub samples: u64,
    pub cpu_percent: MinAvgMax,
    pub memory_bytes: MinAvgMax,
    /// Downsampled points for charts, oldest first.
    pub points: Vec<SystemPoint>,
}

/// Minimum, mean, maximum.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MinAvgMax {
    pub min: f64,
    pub avg: f64,
    pub max: f64,
}

/// One system sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SystemPoint {
    pub offset_ms: u64,
    pub cpu_percent: Option<f64>,
    pub memory_bytes: Option<f64>,
}

/// The aggregate over `logs.jsonl` records whose message is "node completed".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LogAggregate {
    pub bytes_read: u64,
    pub records: u64,
    /// Overall p95 of `duration_ms` (histogram estimate: the upper edge of a bucket
    /// under 0.8 % wide).
    pub p95_duration_ms: u64,
    pub torn_lines: u64,
    pub invalid_lines: u64,
    /// Per node, by node id.
    pub nodes: Vec<LogNodeAggregate>,
}

/// One node's "node completed" records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LogNodeAggregate {
    pub node_id: String,
    pub count: u64,
    pub sum_duration_ms: u64,
    pub avg_duration_ms: f64,
    pub max_duration_ms: u64,
    pub sum_findings: u64,
}

/// What spans.jsonl held.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SpanSummary {
    pub spans: u64,
    pub error_spans: u64,
    /// Time spent in `validate` spans.
    pub validate_ms: u64,
    /// Time spent in `plugin.load …` spans.
    pub plugin_load_ms: u64,
    pub torn_lines: u64,
    pub invalid_lines: u64,
}

/// Statistics over several runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AcrossRuns {
    /// Oldest first.
    pub runs: Vec<RunPoint>,
    /// The baseline run, when `--baseline` named one.
    pub baseline: Option<String>,
    pub nodes: Vec<NodeStats>,
    /// With `--baseline`: every node that ran in either side, against the baseline run
    /// (the current figure as for regressions: the median over the selected runs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compare: Vec<NodeDelta>,
}

/// One node's duration against the baseline run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NodeDelta {
    pub node_id: String,
    /// Null for a node new since the baseline.
    pub baseline_ms: Option<u64>,
    /// Null for a node the current runs no longer ran (removed).
    pub current_ms: Option<u64>,
    /// current − baseline, when both exist.
    pub delta_ms: Option<i64>,
    pub delta_percent: Option<f64>,
    /// `new`, `removed`, `slower`, `faster` or `same`.
    pub change: String,
    /// Flagged by the regression rule (duration).
    pub regression: bool,
}

/// One run in a comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunPoint {
    pub run_id: String,
    pub started_at: String,
    pub status: String,
    pub total_duration_ms: u64,
}

/// One node across runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NodeStats {
    pub node_id: String,
    pub runs: u64,
    pub duration_ms: Distribution,
    pub cpu_ms: Distribution,
    pub peak_rss_bytes: Distribution,
    /// Durations oldest first (one per run the node ran in).
    pub trend_ms: Vec<u64>,
    /// Least-squares slope of duration per run, ms.
    pub trend_slope_ms: f64,
}

/// Percentiles and spread of one measure (nearest-rank percentiles).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Distribution {
    pub min: u64,
    pub p50: u64,
    pub p95: u64,
    pub p99: u64,
    pub max: u64,
    /// Population standard deviation.
    pub stddev: f64,
}

/// A node flagged slower (or larger) than its baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Regression {
    pub node_id: String,
    /// `duration_ms` or `peak_rss_bytes`.
    pub metric: String,
    /// The baseline figure: the `--baseline` run's, or the median of the earlier runs.
    pub baseline: u64,
    /// The current figure: the median over the selected runs, or the newest run's.
    pub current: u64,
    pub delta: u64,
    pub delta_percent: f64,
    pub threshold_percent: f64,
    pub noise_floor: u64,
}
