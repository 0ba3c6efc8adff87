//! Every series SPEC §4 names, declared once: Prometheus name (base units, `_total` on
//! counters), HELP text, unit and label names. [`SecflowMetrics::register`] creates them all in
//! a [`Registry`]; unlabelled series exist (at 0) from the start, so every snapshot lists them.

use std::sync::Arc;

use super::registry::{
    CounterRows, CounterVec, DURATION_BUCKETS, Desc, GaugeVec, HistogramRows, HistogramVec,
    Registry, RowLabels,
};
use super::snapshot::MetricKind;

const fn desc(
    name: &'static str,
    kind: MetricKind,
    unit: &'static str,
    labels: &'static [&'static str],
    help: &'static str,
) -> Desc {
    Desc {
        name,
        help,
        unit,
        kind,
        labels,
    }
}

use MetricKind::{Counter as C, Gauge as G, Histogram as H};

const NODE: &[&str] = &["node_id", "plugin_name"];
const PLUGIN: &[&str] = &["plugin_name"];

/// The `status` values of `secflow_nodes_executed_total`: a node's final statuses.
pub const NODE_FINAL_STATUSES: &[&str] = &[
    "succeeded",
    "failed",
    "timed_out",
    "skipped",
    "cancelled",
    "cached",
];

/// Handles to every secflow metric family. The per-node families are row-indexed (one row per
/// plan node, bound with [`bind_nodes`](Self::bind_nodes)), so a plan of many nodes costs a few
/// flat arrays, not a labelled map entry per node and series.
#[derive(Debug, Clone)]
pub struct SecflowMetrics {
    pub workflows_started: CounterVec,
    pub workflows_completed: CounterVec,
    pub workflow_duration: HistogramVec,
    pub active_workflows: GaugeVec,
    pub nodes_executed: CounterRows,
    pub node_duration: HistogramRows,
    pub node_queue_wait: HistogramVec,
    pub node_retries: CounterRows,
    pub findings_generated: CounterRows,
    pub plugins_loaded: CounterVec,
    pub plugin_executions: CounterVec,
    pub plugin_duration: HistogramVec,
    pub plugin_memory: GaugeVec,
    pub plugin_cpu: CounterVec,
    pub tool_failures: CounterVec,
    pub audit_events: CounterVec,
    pub audit_head: GaugeVec,
    pub system_cpu: GaugeVec,
    pub system_memory: GaugeVec,
    pub system_memory_percent: GaugeVec,
    pub system_disk_percent: GaugeVec,
    pub process_memory: GaugeVec,
    pub process_cpu_percent: GaugeVec,
    pub process_cpu: CounterVec,
    pub sampler_cpu: CounterVec,
    pub findings_per_second: GaugeVec,
    pub avg_node_duration: GaugeVec,
}

impl SecflowMetrics {
    /// Registers every family in `registry`.
    ///
    /// Long because: one declaration per metric family (name, kind, unit, labels, help), a
    /// table that reads best in one place.
    pub fn register(r: &Registry) -> Self {
        let d = DURATION_BUCKETS;
        let m = SecflowMetrics {
            workflows_started: r.counter(desc(
                "secflow_workflows_started_total", C, "", &[],
                "Workflow runs started.",
            )),
            workflows_completed: r.counter(desc(
                "secflow_workflows_completed_total", C, "", &["status"],
                "Workflow runs finished, by final status (succeeded, failed, cancelled).",
            )),
            workflow_duration: r.histogram(desc(
                "secflow_workflow_duration_seconds", H, "seconds", &[],
                "Wall time of workflow runs in seconds.",
            ), d),
            active_workflows: r.gauge(desc(
                "secflow_active_workflows", G, "", &[],
                "Workflow runs in progress.",
            )),
            nodes_executed: r.counter_rows(desc(
                "secflow_nodes_executed_total", C, "", &["node_id", "plugin_name", "status"],
                "Nodes that reached a final status (succeeded, failed, timed_out, skipped, cancelled, cached).",
            ), NODE_FINAL_STATUSES),
            node_duration: r.histogram_rows(desc(
                "secflow_node_duration_seconds", H, "seconds", NODE,
                "Duration of node attempts in seconds.",
            ), d),
            node_queue_wait: r.histogram(desc(
                "secflow_node_queue_wait_seconds", H, "seconds", &[],
                "Time node attempts waited for a free slot after their dependencies finished, in seconds.",
            ), d),
            node_retries: r.counter_rows(desc(
                "secflow_node_retries_total", C, "", NODE,
                "Node attempts retried after a failure.",
            ), &[]),
            findings_generated: r.counter_rows(desc(
                "secflow_findings_generated_total", C, "", NODE,
                "Findings (dataset records) produced by nodes.",
            ), &[]),
            plugins_loaded: r.counter(desc(
                "secflow_plugins_loaded_total", C, "", &["plugin_name", "status"],
                "Plugins loaded for a run, by outcome.",
            )),
            plugin_executions: r.counter(desc(
                "secflow_plugin_executions_total", C, "", &["plugin_name", "status"],
                "Plugin (tool) process executions, one per attempt, by attempt status.",
            )),
            plugin_duration: r.histogram(desc(
                "secflow_plugin_duration_seconds", H, "seconds", PLUGIN,
                "Duration of plugin (tool) executions in seconds.",
            ), d),
            plugin_memory: r.gauge(desc(
                "secflow_plugin_memory_bytes", G, "bytes", PLUGIN,
                "Highest peak resident memory of a plugin's executions in bytes.",
            )),
            plugin_cpu: r.counter(desc(
                "secflow_plugin_cpu_seconds_total", C, "seconds", PLUGIN,
                "CPU time (user + system) used by plugin executions in seconds.",
            )),
            tool_failures: r.counter(desc(
                "secflow_tool_failures_total", C, "", PLUGIN,
                "Plugin (tool) executions that failed or timed out.",
            )),
            audit_events: r.counter(desc(
                "secflow_audit_events_total", C, "", &["event_type"],
                "Audit-worthy events of the run, by audit event type.",
            )),
            audit_head: r.gauge(desc(
                "secflow_audit_head_seq", G, "", &["run_id", "key_id", "last_hash"],
                "Sequence number of the last audit event written by the run, with its hash: an outside witness of the chain's head.",
            )),
            system_cpu: r.gauge(desc(
                "secflow_system_cpu_percent", G, "percent", &[],
                "Host CPU utilisation over the last sample interval, percent of all cores.",
            )),
            system_memory: r.gauge(desc(
                "secflow_system_memory_bytes", G, "bytes", &[],
                "Host memory in use (total minus available) in bytes.",
            )),
            system_memory_percent: r.gauge(desc(
                "secflow_system_memory_percent", G, "percent", &[],
                "Host memory in use, percent of total.",
            )),
            system_disk_percent: r.gauge(desc(
                "secflow_system_disk_percent", G, "percent", &[],
                "Space used on the state directory's filesystem, percent (as df reports it).",
            )),
            process_memory: r.gauge(desc(
                "secflow_process_resident_memory_bytes", G, "bytes", &[],
                "Resident memory of the secflow process itself in bytes.",
            )),
            process_cpu_percent: r.gauge(desc(
                "secflow_process_cpu_percent", G, "percent", &[],
                "CPU used by the secflow process itself over the last sample interval, percent of one core.",
            )),
            process_cpu: r.counter(desc(
                "secflow_process_cpu_seconds_total", C, "seconds", &[],
                "CPU time (user + system) used by the secflow process itself in seconds.",
            )),
            sampler_cpu: r.counter(desc(
                "secflow_metrics_sampler_cpu_seconds_total", C, "seconds", &[],
                "CPU time used by the metrics sampler thread (system sampling and snapshots) in seconds.",
            )),
            findings_per_second: r.gauge(desc(
                "secflow_workflow_findings_per_second", G, "", &[],
                "Findings per second of wall time of the finished run.",
            )),
            avg_node_duration: r.gauge(desc(
                "secflow_workflow_avg_node_duration_seconds", G, "seconds", &[],
                "Mean attempt time of the nodes that ran, in seconds.",
            )),
        };
        // Unlabelled families exist from the start so every snapshot lists them.
        m.workflows_started.with(&[]);
        m.workflow_duration.with(&[]);
        m.active_workflows.with(&[]);
        m.node_queue_wait.with(&[]);
        m.system_cpu.with(&[]);
        m.system_memory.with(&[]);
        m.system_memory_percent.with(&[]);
        m.system_disk_percent.with(&[]);
        m.process_memory.with(&[]);
        m.process_cpu_percent.with(&[]);
        m.process_cpu.with(&[]);
        m.sampler_cpu.with(&[]);
        m.findings_per_second.with(&[]);
        m.avg_node_duration.with(&[]);
        m
    }

    /// Gives the per-node families their rows: row `i` is plan node `i`, with labels
    /// `node_id` and `plugin_name` (in that order). From then on every node has its
    /// duration, retries and findings series (at 0); `nodes_executed` series appear as nodes
    /// finish.
    pub fn bind_nodes(&self, nodes: Arc<dyn RowLabels>) {
        self.node_duration.bind(nodes.clone());
        self.node_retries.bind(nodes.clone());
        self.findings_generated.bind(nodes.clone());
        self.nodes_executed.bind(nodes);
    }
}
