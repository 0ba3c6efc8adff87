//! [`MetricsSink`]: turns the engine's events into the SPEC §4 series and writes the run's
//! `metrics.jsonl` (a snapshot every sample interval, from a background thread that also samples
//! the host) and `metrics.json` (the final snapshot with the SecFlow summary) at `finish`.
//!
//! On the engine's thread the sink only does atomic updates on handles resolved once per node
//! when the run starts, plus a few map lookups per node for status labels; disk writes and
//! system sampling happen on the sampler thread, never on the engine's.

use std::collections::{BTreeSet, HashMap};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use anyhow::Context;

use super::registry::{Counter, Gauge, Histogram, Registry};
use super::series::SecflowMetrics;
use super::snapshot::{METRICS_SCHEMA_VERSION, MetricsSnapshot, SecflowSummary, Series};
use super::system::{self, DEFAULT_SAMPLE_INTERVAL, SystemSampler};
use super::{METRICS_FILE, METRICS_JSONL_FILE, rfc3339_ms, write_atomic};
use crate::engine::{Event, RunContext, Sink};
use crate::store::{NodeStatus, RunRecord, RunStatus, SelfUsage};

/// How the sink samples.
#[derive(Debug, Clone)]
pub struct MetricsOptions {
    /// Period of system samples and `metrics.jsonl` snapshots (`--sample-interval`).
    pub sample_interval: Duration,
    /// Sample host and self figures with sysinfo (the snapshots are written either way).
    pub sample_system: bool,
    /// Directory whose filesystem's usage is reported; the run directory when `None`.
    pub disk_path: Option<PathBuf>,
}

impl Default for MetricsOptions {
    fn default() -> Self {
        MetricsOptions {
            sample_interval: DEFAULT_SAMPLE_INTERVAL,
            sample_system: true,
            disk_path: None,
        }
    }
}

/// The final snapshot, readable after the run through a handle taken before the sink was
/// handed to the engine (for `--push-metrics` and `--metrics-textfile`).
pub type FinalSnapshot = Arc<OnceLock<MetricsSnapshot>>;

/// What identifies a run in its snapshots.
#[derive(Debug, Clone)]
struct Meta {
    run_id: String,
    workflow: String,
    started_at: SystemTime,
}

impl Meta {
    fn snapshot(
        &self,
        registry: &Registry,
        is_final: bool,
        summary: Option<SecflowSummary>,
    ) -> MetricsSnapshot {
        self.snapshot_with(registry.snapshot(), is_final, summary)
    }

    fn snapshot_with(
        &self,
        series: Vec<Series>,
        is_final: bool,
        summary: Option<SecflowSummary>,
    ) -> MetricsSnapshot {
        let now = SystemTime::now();
        MetricsSnapshot {
            schema_version: METRICS_SCHEMA_VERSION,
            run_id: self.run_id.clone(),
            workflow: self.workflow.clone(),
            timestamp: rfc3339_ms(now),
            elapsed_ms: now
                .duration_since(self.started_at)
                .map_or(0, |d| d.as_millis() as u64),
            is_final,
            partial: false,
            summary,
            series,
        }
    }
}

/// Handles resolved once per plan node.
struct NodeHandles {
    node_id: String,
    plugin_name: String,
    duration: Histogram,
    retries: Counter,
    findings: Counter,
    plugin_duration: Histogram,
    plugin_memory: Gauge,
    plugin_cpu: Counter,
    tool_failures: Counter,
}

/// The periodic writer and sampler thread.
struct Periodic {
    stop: mpsc::Sender<()>,
    handle: JoinHandle<Result<(), String>>,
}

/// The metrics sink. Create with [`MetricsSink::new`], take [`MetricsSink::final_snapshot`]
/// if the final snapshot is needed after the run, and give the sink to the engine.
pub struct MetricsSink {
    options: MetricsOptions,
    registry: Arc<Registry>,
    m: SecflowMetrics,
    nodes: Vec<NodeHandles>,
    audit: HashMap<&'static str, Counter>,
    meta: Option<Meta>,
    periodic: Option<Periodic>,
    completed_seen: bool,
    start_error: Option<String>,
    final_snapshot: FinalSnapshot,
}

impl MetricsSink {
    pub fn new(options: MetricsOptions) -> Self {
        let registry = Arc::new(Registry::new());
        let m = SecflowMetrics::register(&registry);
        MetricsSink {
            options,
            registry,
            m,
            nodes: Vec::new(),
            audit: HashMap::new(),
            meta: None,
            periodic: None,
            completed_seen: false,
            start_error: None,
            final_snapshot: FinalSnapshot::default(),
        }
    }

    /// The registry the sink updates (to read live values or add series).
    pub fn registry(&self) -> Arc<Registry> {
        self.registry.clone()
    }

    /// A handle that holds the final snapshot once `finish` has run.
    pub fn final_snapshot(&self) -> FinalSnapshot {
        self.final_snapshot.clone()
    }

    fn audit(&mut self, event_type: &'static str) {
        let family = &self.m.audit_events;
        self.audit
            .entry(event_type)
            .or_insert_with(|| family.with(&[event_type]))
            .inc();
    }

    /// Resolves per-node handles and starts the sampler thread, once.
    fn start(&mut self, ctx: &RunContext) {
        if self.meta.is_some() {
            return;
        }
        let meta = Meta {
            run_id: ctx.run_id.clone(),
            workflow: ctx.plan.name.clone(),
            started_at: ctx.started_at,
        };
        let m = &self.m;
        self.nodes = ctx
            .plan
            .nodes
            .iter()
            .map(|n| {
                let node = [n.id.as_str(), n.plugin_name.as_str()];
                let plugin = [n.plugin_name.as_str()];
                NodeHandles {
                    node_id: n.id.clone(),
                    plugin_name: n.plugin_name.clone(),
                    duration: m.node_duration.with(&node),
                    retries: m.node_retries.with(&node),
                    findings: m.findings_generated.with(&node),
                    plugin_duration: m.plugin_duration.with(&plugin),
                    plugin_memory: m.plugin_memory.with(&plugin),
                    plugin_cpu: m.plugin_cpu.with(&plugin),
                    tool_failures: m.tool_failures.with(&plugin),
                }
            })
            .collect();
        let disk = self
            .options
            .disk_path
            .clone()
            .unwrap_or_else(|| ctx.run_dir.clone());
        match spawn_periodic(
            self.registry.clone(),
            self.m.clone(),
            meta.clone(),
            ctx.run_dir.join(METRICS_JSONL_FILE),
            self.options.sample_interval,
            self.options.sample_system.then_some(disk),
        ) {
            Ok(p) => self.periodic = Some(p),
            Err(e) => self.start_error = Some(e),
        }
        self.meta = Some(meta);
    }

    fn run_started(&mut self, ctx: &RunContext) {
        self.m.workflows_started.with(&[]).inc();
        self.m.active_workflows.with(&[]).set(1.0);
        self.audit("workflow.run.started");
        if ctx.resumed_from.is_some() {
            self.audit("workflow.run.resumed");
        }
        let plugins: BTreeSet<&str> = ctx
            .plan
            .nodes
            .iter()
            .map(|n| n.plugin_name.as_str())
            .filter(|p| *p != "exec")
            .collect();
        for plugin in plugins {
            self.m.plugins_loaded.with(&[plugin, "ok"]).inc();
            self.audit("plugin.loaded");
        }
    }

    fn run_finished(&mut self, ctx: &RunContext, status: RunStatus, at: SystemTime) {
        if self.completed_seen {
            return;
        }
        self.completed_seen = true;
        self.m.workflows_completed.with(&[status.as_str()]).inc();
        if let Ok(d) = at.duration_since(ctx.started_at) {
            self.m.workflow_duration.with(&[]).observe(d.as_secs_f64());
        }
        self.m.active_workflows.with(&[]).set(0.0);
        self.audit(match status {
            RunStatus::Succeeded | RunStatus::Running => "workflow.run.completed",
            RunStatus::Failed => "workflow.run.failed",
            RunStatus::Cancelled => "workflow.run.cancelled",
        });
    }

    fn attempt_finished(&mut self, node: usize, record: &crate::store::AttemptRecord) {
        let Some(h) = self.nodes.get(node) else {
            return;
        };
        if let Some(ms) = record.queue_wait_ms {
            self.m.node_queue_wait.with(&[]).observe(ms as f64 / 1000.0);
        }
        if let Some(ms) = record.duration_ms {
            h.duration.observe(ms as f64 / 1000.0);
            h.plugin_duration.observe(ms as f64 / 1000.0);
        }
        let cpu_ms = record.cpu_user_ms.unwrap_or(0) + record.cpu_system_ms.unwrap_or(0);
        h.plugin_cpu.add(cpu_ms as f64 / 1000.0);
        if let Some(rss) = record.peak_rss_bytes {
            h.plugin_memory.set_max(rss as f64);
        }
        if matches!(record.status, NodeStatus::Failed | NodeStatus::TimedOut) {
            h.tool_failures.inc();
        }
        self.m
            .plugin_executions
            .with(&[h.plugin_name.as_str(), record.status.as_str()])
            .inc();
    }

    fn node_finished(&mut self, node: usize, status: NodeStatus, findings: u64) {
        let Some(h) = self.nodes.get(node) else {
            return;
        };
        self.m
            .nodes_executed
            .with(&[h.node_id.as_str(), h.plugin_name.as_str(), status.as_str()])
            .inc();
        h.findings.add(findings as f64);
        let audit = match status {
            NodeStatus::Succeeded => "node.completed",
            NodeStatus::Failed => "node.failed",
            NodeStatus::TimedOut => "node.timed_out",
            NodeStatus::Skipped => "node.skipped",
            NodeStatus::Cached => "node.cached",
            NodeStatus::Cancelled | NodeStatus::Pending | NodeStatus::Running => return,
        };
        self.audit(audit);
    }

    fn stop_periodic(&mut self) -> Result<(), String> {
        match self.periodic.take() {
            Some(p) => {
                let _ = p.stop.send(());
                p.handle
                    .join()
                    .unwrap_or_else(|_| Err("metrics sampler thread panicked".into()))
            }
            None => Ok(()),
        }
    }
}

impl Sink for MetricsSink {
    fn event(&mut self, ctx: &RunContext, event: &Event) {
        self.start(ctx);
        match event {
            Event::RunStarted { .. } => self.run_started(ctx),
            Event::NodeQueued { .. }
            | Event::NodeOutputs { .. }
            | Event::NodeCacheKey { .. }
            | Event::Message { .. } => {}
            Event::AttemptStarted { .. } => self.audit("node.started"),
            Event::AttemptFinished { node, record, .. } => self.attempt_finished(*node, record),
            Event::NodeRetrying { node, .. } => {
                if let Some(h) = self.nodes.get(*node) {
                    h.retries.inc();
                }
                self.audit("node.retried");
            }
            Event::NodeFinished {
                node,
                status,
                findings_count,
                ..
            } => self.node_finished(*node, *status, *findings_count),
            Event::RunFinished { status, at, .. } => self.run_finished(ctx, *status, *at),
        }
    }

    fn finish(&mut self, ctx: &RunContext, record: &mut RunRecord) -> anyhow::Result<()> {
        self.start(ctx);
        let periodic = match self.start_error.take() {
            Some(e) => Err(e),
            None => self.stop_periodic(),
        };
        if !self.completed_seen && record.status != RunStatus::Running {
            let at = SystemTime::now();
            self.run_finished(ctx, record.status, at);
        }
        let summary = SecflowSummary::from_record(record);
        self.m
            .findings_per_second
            .with(&[])
            .set(summary.findings_per_second);
        self.m
            .avg_node_duration
            .with(&[])
            .set(summary.avg_node_duration_ms as f64 / 1000.0);
        if let Some(cpu) = system::self_cpu_seconds() {
            self.m.process_cpu.with(&[]).raise_to(cpu);
        }
        if record.self_usage.is_none()
            && let Some((user, sys, rss)) = system::self_usage()
        {
            record.self_usage = Some(SelfUsage {
                cpu_user_ms: user,
                cpu_system_ms: sys,
                peak_rss_bytes: rss,
            });
        }
        let meta = self.meta.clone().unwrap_or_else(|| Meta {
            run_id: ctx.run_id.clone(),
            workflow: ctx.plan.name.clone(),
            started_at: ctx.started_at,
        });
        let snapshot = meta.snapshot(&self.registry, true, Some(summary));
        let mut line = serde_json::to_string(&snapshot)?;
        let jsonl = append_line(&ctx.run_dir.join(METRICS_JSONL_FILE), &line);
        line.push('\n');
        write_atomic(&ctx.run_dir.join(METRICS_FILE), line.as_bytes())
            .with_context(|| format!("cannot write {}", METRICS_FILE))?;
        drop(line);
        let _ = self.final_snapshot.set(snapshot);
        periodic.map_err(anyhow::Error::msg)?;
        jsonl.with_context(|| format!("cannot append to {}", METRICS_JSONL_FILE))
    }
}

impl Drop for MetricsSink {
    fn drop(&mut self) {
        let _ = self.stop_periodic();
    }
}

/// Hands freed heap pages back to the OS (glibc keeps them per malloc arena otherwise): after
/// each periodic snapshot here, and after parsing a recipe before a run.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free heap pages; no pointer is invalidated.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn append_line(path: &Path, line: &str) -> std::io::Result<()> {
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    write_line(&mut file, line)
}

/// One `write` per line, so a crash leaves whole lines only (or one torn last line).
fn write_line(file: &mut File, line: &str) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(line.len() + 1);
    buf.extend_from_slice(line.as_bytes());
    buf.push(b'\n');
    file.write_all(&buf)
}

fn spawn_periodic(
    registry: Arc<Registry>,
    m: SecflowMetrics,
    meta: Meta,
    jsonl: PathBuf,
    interval: Duration,
    disk: Option<PathBuf>,
) -> Result<Periodic, String> {
    let (stop, rx) = mpsc::channel::<()>();
    let interval = interval.max(Duration::from_millis(10));
    let handle = std::thread::Builder::new()
        .name("secflow-metrics".into())
        .spawn(move || {
            let mut sampler = disk.as_deref().map(SystemSampler::new);
            let mut file: Option<File> = None;
            let mut error = None;
            let mut first = true;
            loop {
                let stopping = match rx.recv_timeout(interval) {
                    Err(RecvTimeoutError::Timeout) => false,
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => true,
                };
                if let Some(s) = sampler.as_mut() {
                    record_sample(&m, s);
                }
                if let Some(cpu) = system::thread_cpu_seconds() {
                    m.sampler_cpu.with(&[]).raise_to(cpu);
                }
                if stopping {
                    break;
                }
                // The first line is complete; later ones list what changed (see `partial`).
                let mut snap = meta.snapshot_with(registry.snapshot_changed(), false, None);
                snap.partial = !first;
                first = false;
                let line = match serde_json::to_string(&snap) {
                    Ok(line) => line,
                    Err(e) => {
                        error.get_or_insert(format!("cannot serialise metrics snapshot: {e}"));
                        continue;
                    }
                };
                if file.is_none() {
                    match OpenOptions::new().create(true).append(true).open(&jsonl) {
                        Ok(f) => file = Some(f),
                        Err(e) => {
                            error.get_or_insert(format!("cannot open {}: {e}", jsonl.display()));
                            continue;
                        }
                    }
                }
                if let Some(f) = file.as_mut()
                    && let Err(e) = write_line(f, &line)
                {
                    error.get_or_insert(format!("cannot append to {}: {e}", jsonl.display()));
                }
                drop((snap, line));
                release_free_memory();
            }
            error.map_or(Ok(()), Err)
        });
    handle
        .map(|handle| Periodic { stop, handle })
        .map_err(|e| format!("cannot start the metrics sampler thread: {e}"))
}

fn record_sample(m: &SecflowMetrics, sampler: &mut SystemSampler) {
    let s = sampler.sample();
    let set = |g: Gauge, v: Option<f64>| {
        if let Some(v) = v {
            g.set(v);
        }
    };
    set(m.system_cpu.with(&[]), s.cpu_percent);
    set(
        m.system_memory.with(&[]),
        s.memory_used_bytes.map(|b| b as f64),
    );
    set(m.system_memory_percent.with(&[]), s.memory_percent);
    set(m.system_disk_percent.with(&[]), s.disk_percent);
    set(
        m.process_memory.with(&[]),
        s.self_rss_bytes.map(|b| b as f64),
    );
    set(m.process_cpu_percent.with(&[]), s.self_cpu_percent);
    if let Some(cpu) = s.self_cpu_seconds {
        m.process_cpu.with(&[]).raise_to(cpu);
    }
}
