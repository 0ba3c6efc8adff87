//! `run.json`: the summary of one run, in the shape SPEC §4 pins.
//!
//! Fields may be added with `schema_version` unchanged; none are ever renamed. Times are
//! RFC 3339 UTC with milliseconds, durations integer milliseconds.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The current `run.json` schema version.
pub const RUN_SCHEMA_VERSION: u32 = 1;

/// Status of a node, the same words everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Skipped,
    Cancelled,
    Cached,
}

impl NodeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeStatus::Pending => "pending",
            NodeStatus::Running => "running",
            NodeStatus::Succeeded => "succeeded",
            NodeStatus::Failed => "failed",
            NodeStatus::TimedOut => "timed_out",
            NodeStatus::Skipped => "skipped",
            NodeStatus::Cancelled => "cancelled",
            NodeStatus::Cached => "cached",
        }
    }

    /// Whether the node reached a final state.
    pub fn is_terminal(self) -> bool {
        !matches!(self, NodeStatus::Pending | NodeStatus::Running)
    }

    /// Whether the node's outputs exist for its dependants.
    pub fn is_success(self) -> bool {
        matches!(self, NodeStatus::Succeeded | NodeStatus::Cached)
    }
}

/// Status of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }
}

/// `run.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "secflow run record (run.json)")]
pub struct RunRecord {
    pub schema_version: u32,
    /// Sortable by time (ULID).
    pub run_id: String,
    pub workflow: WorkflowRef,
    pub status: RunStatus,
    /// The process exit code once the run ended; null while running.
    pub exit_code: Option<i32>,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub duration_ms: Option<u64>,
    pub executor: String,
    pub concurrency: u32,
    pub vars: BTreeMap<String, String>,
    pub resumed_from: Option<String>,
    /// W3C trace id (32 lowercase hex).
    pub trace_id: String,
    pub pid: u32,
    pub host: String,
    /// In topological order.
    pub nodes: Vec<NodeRecord>,
    pub counts: Counts,
    pub findings_count: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<AuditSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telemetry: Option<TelemetrySummary>,
    /// Why the run stopped early, when it did (`--timeout`, a signal, a failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// secflow's own resource use over the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_usage: Option<SelfUsage>,
}

/// The recipe a run executed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WorkflowRef {
    pub name: String,
    pub recipe_path: String,
    pub recipe_sha256: String,
}

/// One node's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NodeRecord {
    pub node_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub plugin_name: String,
    /// The ids of the nodes this one waited for (data and ordering edges), as the plan
    /// resolved them: analysis takes the critical path from here, never from the recipe.
    /// Absent in records written before the field existed (analysis then infers the edges
    /// from timing and says so).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depends_on: Option<Vec<String>>,
    pub status: NodeStatus,
    /// Why a node was skipped, cancelled or failed.
    pub reason: Option<String>,
    pub findings_count: u64,
    pub outputs: BTreeMap<String, OutputRecord>,
    pub cache_key: Option<String>,
    pub attempts: Vec<AttemptRecord>,
    /// Left-over processes ended over all attempts (the sum of the attempts' figures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub killed_descendants: Option<u64>,
    /// Set on an instance of a `foreach`/`matrix` node (SPEC §9): `template`, `index`,
    /// `item`.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<InstanceRecord>,
}

/// What identifies an instance of a fanned-out node in its record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct InstanceRecord {
    /// The template node's id (`scan` for `scan@3`).
    pub template: String,
    /// 0-based, in item order.
    pub index: u64,
    /// The item (at most 1 KiB; cut longer ones, which then carry `item_sha256`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    /// SHA-256 of the whole item, when `item` was cut.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_sha256: Option<String>,
    /// `matrix` values, NAME → value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub matrix: BTreeMap<String, String>,
}

/// A dataset a node produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OutputRecord {
    /// Relative to the run directory.
    pub path: String,
    /// Non-empty lines.
    pub records: u64,
    /// Lowercase hex SHA-256 of the file's bytes as recorded (absent for a directory output
    /// and in runs recorded before it was kept). The same digest, with the size, is in the
    /// audit chain's `node.completed`/`node.cached` event, which is what `--resume` trusts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Size of the file in bytes (with `sha256`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
}

/// One attempt of a node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AttemptRecord {
    /// 1-based.
    pub attempt: u32,
    pub status: NodeStatus,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub queued_at: String,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub queue_wait_ms: Option<u64>,
    pub duration_ms: Option<u64>,
    pub cpu_user_ms: Option<u64>,
    pub cpu_system_ms: Option<u64>,
    pub peak_rss_bytes: Option<u64>,
    /// The delay waited before this attempt (a retry), as drawn with jitter.
    pub retry_delay_ms: Option<u64>,
    pub executor_job_id: Option<String>,
    /// What went wrong, for a failed attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_bytes: Option<u64>,
    /// Processes the attempt left running (escaped descendants included) that secflow
    /// ended after the tool exited or was stopped; absent when the executor cannot tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub killed_descendants: Option<u32>,
}

/// Nodes by final status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Counts {
    pub succeeded: u64,
    pub failed: u64,
    pub skipped: u64,
    pub cached: u64,
    pub cancelled: u64,
    pub timed_out: u64,
}

/// The audit chain's end, for `audit verify`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AuditSummary {
    pub events: u64,
    pub last_hash: String,
    pub anchor: Option<String>,
    /// Set instead of `anchor` when a record write error stopped the chain (SPEC §10):
    /// HMAC(key, "cut" ‖ run_id ‖ events ‖ last_hash) over the head written to disk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cut: Option<String>,
    /// The key's id (first 16 hex of its SHA-256), as in every event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
}

/// Health of the telemetry pipeline.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TelemetrySummary {
    pub torn_lines: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export: Option<ExportSummary>,
}

/// Delivery to an external collector.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExportSummary {
    /// The collector's traces endpoint (headers are never recorded).
    pub otlp: Option<String>,
    /// Items (spans, log records, metric series) not delivered.
    pub undelivered: u64,
    /// Why delivery stopped, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The Pushgateway the final metrics were pushed to (`--push-metrics`); a failed push
    /// counts its series in `undelivered` and says why in `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushgateway: Option<String>,
}

/// secflow's own CPU and memory over the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SelfUsage {
    pub cpu_user_ms: u64,
    pub cpu_system_ms: u64,
    pub peak_rss_bytes: u64,
}
