//! [`MetricsSink`]: turns the engine's events into the SPEC §4 series and writes the run's
//! `metrics.jsonl` (a snapshot every sample interval, from a background thread that also samples
//! the host) and `metrics.json` (the final snapshot with the SecFlow summary) at `finish`.
//!
//! On the engine's thread the sink only does atomic updates: per-node series are rows indexed
//! by the node's index (no lookup, no allocation), per-plugin handles are resolved once per
//! plugin (and status) and kept. Periodic snapshots and system sampling happen on the sampler
//! thread, never on the engine's.
//!
//! Memory stays flat in the number of nodes: the per-node series are a few flat arrays (about
//! 80 bytes a node), label values are read from the plan when a snapshot is written, and every
//! snapshot is streamed to its file series by series — never built as a whole in memory. The
//! final snapshot is materialised only if someone asks for it ([`FinalSnapshot::get`]: push,
//! textfile, OTLP export).

use std::collections::{BTreeSet, HashMap};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use anyhow::Context;

mod lines;

use crate::event::{Event, RunContext, Sink};
use crate::metrics::SecflowMetrics;
use crate::metrics::system::{self, DEFAULT_SAMPLE_INTERVAL, SystemSampler};
use crate::metrics::{Counter, Gauge, Histogram, Registry, RowLabels};
use crate::metrics::{METRICS_FILE, METRICS_JSONL_FILE};
use crate::metrics::{METRICS_SCHEMA_VERSION, MetricsSnapshot, SecflowSummary, SnapshotHead};
use crate::plan::Plan;
use crate::store::clock::rfc3339_ms;
use crate::store::{NodeStatus, RunRecord, RunStatus, SelfUsage};
use lines::LineAppender;

/// Buffer between a snapshot being streamed and its file: lines up to this size go out in one
/// `write`; longer ones in several (a crash can still only tear the last line).
const WRITE_BUFFER: usize = 64 * 1024;

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
/// handed to the engine (for `--push-metrics`, `--metrics-textfile` and OTLP export).
///
/// Holds the registry, not the snapshot: [`get`](Self::get) builds the snapshot on first use,
/// so a run that delivers nothing never has all its series in memory at once.
#[derive(Clone, Default)]
pub struct FinalSnapshot(Arc<FinalInner>);

#[derive(Default)]
struct FinalInner {
    source: OnceLock<(Arc<Registry>, SnapshotHead)>,
    built: OnceLock<MetricsSnapshot>,
}

impl FinalSnapshot {
    /// The final snapshot (equal to `metrics.json`) once `finish` has run; `None` before.
    pub fn get(&self) -> Option<&MetricsSnapshot> {
        let (registry, head) = self.0.source.get()?;
        Some(
            self.0
                .built
                .get_or_init(|| head.to_snapshot(registry.snapshot())),
        )
    }

    fn set(&self, registry: Arc<Registry>, head: SnapshotHead) {
        let _ = self.0.source.set((registry, head));
    }
}

impl std::fmt::Debug for FinalSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FinalSnapshot")
            .field("finished", &self.0.source.get().is_some())
            .finish()
    }
}

/// The plan's nodes as the rows of the per-node families: `node_id`, `plugin_name`.
struct PlanRows(Arc<Plan>);

impl RowLabels for PlanRows {
    fn row_count(&self) -> usize {
        self.0.nodes.len()
    }

    fn label(&self, row: usize, k: usize) -> &str {
        let node = &self.0.nodes[row];
        if k == 0 { &node.id } else { &node.plugin_name }
    }
}

/// What identifies a run in its snapshots.
#[derive(Debug, Clone)]
struct Meta {
    run_id: String,
    workflow: String,
    started_at: SystemTime,
}

impl Meta {
    /// A snapshot's head, timestamped now.
    fn head(&self, is_final: bool, partial: bool, summary: Option<SecflowSummary>) -> SnapshotHead {
        let now = SystemTime::now();
        SnapshotHead {
            schema_version: METRICS_SCHEMA_VERSION,
            run_id: self.run_id.clone(),
            workflow: self.workflow.clone(),
            timestamp: rfc3339_ms(now),
            elapsed_ms: now
                .duration_since(self.started_at)
                .map_or(0, |d| d.as_millis() as u64),
            is_final,
            partial,
            summary,
        }
    }
}

/// Handles resolved once per plugin (the per-node series are rows, not handles).
struct PluginHandles {
    name: String,
    duration: Histogram,
    memory: Gauge,
    cpu: Counter,
    failures: Counter,
    /// `secflow_plugin_executions_total` by attempt status, resolved on first use.
    executions: HashMap<&'static str, Counter>,
}

/// The periodic writer and sampler thread.
struct Periodic {
    stop: mpsc::Sender<()>,
    /// Hands its `metrics.jsonl` appender back, for the final line.
    handle: JoinHandle<(LineAppender, Result<(), String>)>,
}

/// The metrics sink. Create with [`MetricsSink::new`], take [`MetricsSink::final_snapshot`]
/// if the final snapshot is needed after the run, and give the sink to the engine.
pub struct MetricsSink {
    options: MetricsOptions,
    registry: Arc<Registry>,
    m: SecflowMetrics,
    /// Index into `plugins` of each plan node.
    node_plugin: Vec<u32>,
    plugins: Vec<PluginHandles>,
    queue_wait: Histogram,
    audit: HashMap<&'static str, Counter>,
    meta: Option<Meta>,
    periodic: Option<Periodic>,
    completed_seen: bool,
    start_error: Option<String>,
    final_snapshot: FinalSnapshot,
    /// Series the nodes' tools report on `SECFLOW_EVENTS`.
    tool: crate::metrics::tool::ToolMetrics,
}

impl MetricsSink {
    pub fn new(options: MetricsOptions) -> Self {
        let registry = Arc::new(Registry::new());
        let m = SecflowMetrics::register(&registry);
        let queue_wait = m.node_queue_wait.with(&[]);
        MetricsSink {
            options,
            registry,
            m,
            node_plugin: Vec::new(),
            plugins: Vec::new(),
            queue_wait,
            audit: HashMap::new(),
            meta: None,
            periodic: None,
            completed_seen: false,
            start_error: None,
            final_snapshot: FinalSnapshot::default(),
            tool: crate::metrics::tool::ToolMetrics::default(),
        }
    }

    /// A metric line from a node's tool (other telemetry items carry no metric).
    fn tool_event(&mut self, ctx: &RunContext, node: usize, item: &crate::event::tool::Item) {
        if let crate::event::tool::Item::Metric(m) = item
            && let Some(n) = ctx.plan.nodes.get(node)
        {
            self.tool.record(&self.registry, &n.id, &n.plugin_name, m);
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
        m.bind_nodes(Arc::new(PlanRows(ctx.plan.clone())));
        let mut index: HashMap<&str, u32> = HashMap::new();
        let plugins = &mut self.plugins;
        self.node_plugin = ctx
            .plan
            .nodes
            .iter()
            .map(|n| {
                let name = n.plugin_name.as_str();
                *index.entry(name).or_insert_with(|| {
                    let plugin = [name];
                    plugins.push(PluginHandles {
                        name: name.to_owned(),
                        duration: m.plugin_duration.with(&plugin),
                        memory: m.plugin_memory.with(&plugin),
                        cpu: m.plugin_cpu.with(&plugin),
                        failures: m.tool_failures.with(&plugin),
                        executions: HashMap::new(),
                    });
                    (plugins.len() - 1) as u32
                })
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
            Arc::clone(&ctx.records),
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
        let Some(&plugin) = self.node_plugin.get(node) else {
            return;
        };
        let h = &mut self.plugins[plugin as usize];
        if let Some(ms) = record.queue_wait_ms {
            self.queue_wait.observe(ms as f64 / 1000.0);
        }
        if let Some(ms) = record.duration_ms {
            self.m.node_duration.observe(node, ms as f64 / 1000.0);
            h.duration.observe(ms as f64 / 1000.0);
        }
        let cpu_ms = record.cpu_user_ms.unwrap_or(0) + record.cpu_system_ms.unwrap_or(0);
        h.cpu.add(cpu_ms as f64 / 1000.0);
        if let Some(rss) = record.peak_rss_bytes {
            h.memory.set_max(rss as f64);
        }
        if matches!(record.status, NodeStatus::Failed | NodeStatus::TimedOut) {
            h.failures.inc();
        }
        let status = record.status.as_str();
        let family = &self.m.plugin_executions;
        let name = h.name.as_str();
        h.executions
            .entry(status)
            .or_insert_with(|| family.with(&[name, status]))
            .inc();
    }

    fn node_finished(&mut self, node: usize, status: NodeStatus, findings: u64) {
        if node >= self.node_plugin.len() {
            return;
        }
        self.m.nodes_executed.inc_with(node, status.as_str());
        self.m.findings_generated.add(node, findings as f64);
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

    /// Stops the sampler thread; its `metrics.jsonl` appender (if it ran) and its result.
    fn stop_periodic(&mut self) -> (Option<LineAppender>, Result<(), String>) {
        match self.periodic.take() {
            Some(p) => {
                let _ = p.stop.send(());
                match p.handle.join() {
                    Ok((lines, result)) => (Some(lines), result),
                    Err(_) => (None, Err("metrics sampler thread panicked".into())),
                }
            }
            None => (None, Ok(())),
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
            Event::ToolEvent { node, item, .. } => self.tool_event(ctx, *node, item),
            Event::AttemptStarted { .. } => self.audit("node.started"),
            // An instance counts under its template's row (`node_id="scan"`, SPEC §9): the
            // series stay bounded whatever the fan-out.
            Event::AttemptFinished { node, record, .. } => {
                self.attempt_finished(ctx.plan.template_of(*node), record)
            }
            Event::NodeRetrying { node, .. } => {
                self.m.node_retries.inc(ctx.plan.template_of(*node));
                self.audit("node.retried");
            }
            Event::NodeFinished {
                node,
                status,
                findings_count,
                ..
            } => self.node_finished(ctx.plan.template_of(*node), *status, *findings_count),
            Event::InstancesAdded { .. } => {}
            Event::RunFinished { status, at, .. } => self.run_finished(ctx, *status, *at),
        }
    }

    fn finish(&mut self, ctx: &RunContext, record: &mut RunRecord) -> anyhow::Result<()> {
        self.start(ctx);
        let (lines, periodic) = match self.start_error.take() {
            Some(e) => (None, Err(e)),
            None => self.stop_periodic(),
        };
        if !self.completed_seen && record.status != RunStatus::Running {
            let at = SystemTime::now();
            self.run_finished(ctx, record.status, at);
        }
        // The chain's head (the audit sink finished first): a witness for every collector.
        if let Some(a) = &record.audit
            && let Some(key_id) = &a.key_id
        {
            self.m
                .audit_head
                .with(&[&ctx.run_id, key_id, &a.last_hash])
                .set(a.events as f64);
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
        let head = meta.head(true, false, Some(summary));
        // Streamed twice rather than built in memory: metrics.json, then the same snapshot as
        // the last line of metrics.jsonl, through the one appender of the run's line files
        // (the sampler's, so a file it stopped after a failed write takes no final line).
        let path = ctx.run_dir.join(METRICS_FILE);
        ctx.records
            .write_atomic(&path, false, |file| {
                let mut w = BufWriter::with_capacity(WRITE_BUFFER, file);
                head.write_line(&mut w, &self.registry, false)?;
                w.flush()
            })
            .inspect_err(|e| {
                ctx.records
                    .fail(format!("cannot write {}: {e}", path.display()))
            })
            .with_context(|| format!("cannot write {}", METRICS_FILE))?;
        let mut lines = lines.unwrap_or_else(|| {
            LineAppender::for_run(
                &ctx.run_dir.join(METRICS_JSONL_FILE),
                Arc::clone(&ctx.records),
            )
        });
        let appended = lines.append(|w| head.write_line(w, &self.registry, false));
        if let Err(e) = &appended {
            ctx.records.fail(e.clone());
        }
        self.final_snapshot.set(self.registry.clone(), head);
        periodic.map_err(anyhow::Error::msg)?;
        appended.map_err(anyhow::Error::msg)
    }
}

impl Drop for MetricsSink {
    fn drop(&mut self) {
        let _ = self.stop_periodic();
    }
}

/// Hands freed heap pages back to the OS (glibc keeps them per malloc arena otherwise): after
/// parsing a recipe before a run.
pub fn release_free_memory() {
    crate::sys::misc::release_free_memory();
}

fn spawn_periodic(
    registry: Arc<Registry>,
    m: SecflowMetrics,
    meta: Meta,
    jsonl: PathBuf,
    interval: Duration,
    disk: Option<PathBuf>,
    records: Arc<crate::store::RecordHealth>,
) -> Result<Periodic, String> {
    let (stop, rx) = mpsc::channel::<()>();
    let interval = interval.max(Duration::from_millis(10));
    let handle = std::thread::Builder::new()
        .name("secflow-metrics".into())
        .spawn(move || {
            crate::sys::priority::below_tools();
            let mut sampler = disk.as_deref().map(SystemSampler::new);
            let mut lines = LineAppender::for_run(&jsonl, Arc::clone(&records));
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
                // The first line is complete; later ones list what changed (see `partial`),
                // streamed from the registry straight into the file.
                let head = meta.head(false, !first, None);
                match lines.append(|w| head.write_line(w, &registry, true)) {
                    Ok(()) => first = false,
                    Err(e) => {
                        records.fail(e.clone());
                        error.get_or_insert(e);
                    }
                }
            }
            (lines, error.map_or(Ok(()), Err))
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
