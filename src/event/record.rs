//! Folding the engine's event stream into a [`RunRecord`] (the content of `run.json`).
//!
//! Pure bookkeeping, no I/O. The run has one: the engine publishes it as a
//! [`SharedRecord`], folds every event into it, hands the final record to every sink, and
//! the run.json sink checkpoints it (issue #18: the record is folded once). Nodes stay in plan (topological)
//! order; a running attempt appears with status `running` until it ends.

use std::time::SystemTime;

use super::{Event, RunContext};
use crate::store::clock::rfc3339_ms;
use crate::store::layout::{host_name, ms_between};
use crate::store::{
    AttemptRecord, Counts, NodeRecord, NodeStatus, RUN_SCHEMA_VERSION, RunRecord, RunStatus,
    WorkflowRef,
};

/// Builds a run's record from its events.
#[derive(Debug, Clone)]
pub struct RecordBuilder {
    record: RunRecord,
    queued_at: Vec<Option<SystemTime>>,
    started_at: SystemTime,
    /// Masks secret values in reasons and errors (a message may quote a command or a path).
    redactor: super::Redactor,
    /// Plan node index → position in `record.nodes` (`usize::MAX`: no record, a template
    /// replaced by its instances).
    pos: Vec<usize>,
}

impl RecordBuilder {
    /// The record of a run that just started: every node `pending`.
    pub fn new(ctx: &RunContext) -> Self {
        let redactor = super::Redactor::new(&ctx.secret_values);
        let plan = &ctx.plan;
        let nodes = plan
            .nodes
            .iter()
            .map(|n| NodeRecord {
                node_id: n.id.clone(),
                kind: n.kind.clone(),
                plugin_name: n.plugin_name.clone(),
                depends_on: Some(n.deps.iter().map(|&d| plan.nodes[d].id.clone()).collect()),
                status: NodeStatus::Pending,
                reason: None,
                findings_count: 0,
                outputs: Default::default(),
                cache_key: None,
                attempts: Vec::new(),
                killed_descendants: None,
                instance: None,
            })
            .collect();
        RecordBuilder {
            record: RunRecord {
                schema_version: RUN_SCHEMA_VERSION,
                run_id: ctx.run_id.clone(),
                workflow: WorkflowRef {
                    name: plan.name.clone(),
                    // Absolute, so `analyze` finds the recipe from any working directory.
                    recipe_path: std::fs::canonicalize(&plan.recipe_path)
                        .map_or_else(|_| plan.recipe_path.clone(), |p| p.display().to_string()),
                    recipe_sha256: plan.recipe_sha256.clone(),
                },
                status: RunStatus::Running,
                exit_code: None,
                started_at: rfc3339_ms(ctx.started_at),
                ended_at: None,
                duration_ms: None,
                executor: ctx.executor.clone(),
                concurrency: ctx.concurrency as u32,
                vars: plan
                    .vars
                    .iter()
                    .map(|(k, v)| (k.clone(), redactor.redact(v).into_owned()))
                    .collect(),
                resumed_from: ctx.resumed_from.clone(),
                trace_id: ctx.trace.trace_id.clone(),
                pid: std::process::id(),
                host: host_name(),
                nodes,
                counts: Counts::default(),
                findings_count: 0,
                audit: None,
                telemetry: None,
                reason: None,
                self_usage: None,
            },
            queued_at: vec![None; plan.nodes.len()],
            started_at: ctx.started_at,
            redactor,
            pos: (0..plan.nodes.len()).collect(),
        }
    }

    pub fn record(&self) -> &RunRecord {
        &self.record
    }

    pub fn into_record(self) -> RunRecord {
        self.record
    }

    /// The record of plan node `i`.
    fn node_mut(&mut self, i: usize) -> Option<&mut NodeRecord> {
        let p = *self.pos.get(i)?;
        self.record.nodes.get_mut(p)
    }

    /// Template `template` fanned out into plan nodes `first..`: its record is replaced, in
    /// place, by one record per instance (SPEC §9).
    fn instances_added(&mut self, template: usize, first: usize, plan: &crate::plan::Plan) {
        let Some(&at) = self.pos.get(template).filter(|&&p| p != usize::MAX) else {
            return;
        };
        // An instance depends on what its template depends on.
        let depends_on: Vec<String> = plan.nodes[template]
            .deps
            .iter()
            .map(|&d| plan.nodes[d].id.clone())
            .collect();
        let records: Vec<NodeRecord> = plan.nodes[first..]
            .iter()
            .map(|n| NodeRecord {
                depends_on: Some(depends_on.clone()),
                node_id: n.id.clone(),
                kind: n.kind.clone(),
                plugin_name: n.plugin_name.clone(),
                status: NodeStatus::Pending,
                reason: None,
                findings_count: 0,
                outputs: Default::default(),
                cache_key: None,
                attempts: Vec::new(),
                killed_descendants: None,
                instance: instance_record(n, &self.redactor),
            })
            .collect();
        let added = records.len();
        self.record.nodes.splice(at..=at, records);
        for p in &mut self.pos {
            if *p != usize::MAX && *p > at {
                *p += added - 1;
            }
        }
        self.pos[template] = usize::MAX;
        self.pos.resize(first, usize::MAX);
        self.pos.extend(at..at + added);
        self.queued_at.resize(plan.nodes.len(), None);
        self.recount();
    }

    /// Applies one event.
    ///
    /// Long because: one arm per event kind, each its change to the run record.
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::InstancesAdded {
                template,
                first,
                plan,
                ..
            } => self.instances_added(*template, *first, plan),
            Event::NodeQueued { node, at, .. } => {
                if let Some(q) = self.queued_at.get_mut(*node) {
                    *q = Some(*at);
                }
            }
            Event::AttemptStarted {
                node,
                attempt,
                executor_job_id,
                at,
                ..
            } => {
                let queued = self.queued_at.get(*node).copied().flatten().unwrap_or(*at);
                if let Some(n) = self.node_mut(*node) {
                    n.status = NodeStatus::Running;
                    // Most nodes make one attempt: room for exactly one more, not the four
                    // (over a kilobyte) a first `push` reserves. A retry grows it by one.
                    n.attempts.reserve_exact(1);
                    n.attempts.push(AttemptRecord {
                        attempt: *attempt,
                        status: NodeStatus::Running,
                        exit_code: None,
                        signal: None,
                        queued_at: rfc3339_ms(queued),
                        started_at: Some(rfc3339_ms(*at)),
                        ended_at: None,
                        queue_wait_ms: Some(ms_between(queued, *at)),
                        duration_ms: None,
                        cpu_user_ms: None,
                        cpu_system_ms: None,
                        peak_rss_bytes: None,
                        retry_delay_ms: None,
                        executor_job_id: executor_job_id.clone(),
                        error: None,
                        read_bytes: None,
                        write_bytes: None,
                        killed_descendants: None,
                    });
                }
            }
            Event::AttemptFinished { node, record, .. } => {
                let masked;
                let record = match record.error.as_deref().map(|e| self.redactor.redact(e)) {
                    Some(std::borrow::Cow::Owned(e)) => {
                        masked = AttemptRecord {
                            error: Some(e),
                            ..record.clone()
                        };
                        &masked
                    }
                    _ => record,
                };
                if let Some(n) = self.node_mut(*node) {
                    match n.attempts.iter_mut().find(|a| a.attempt == record.attempt) {
                        Some(a) => a.clone_from(record),
                        None => {
                            n.attempts.reserve_exact(1);
                            n.attempts.push(record.clone());
                        }
                    }
                    let killed = n
                        .attempts
                        .iter()
                        .filter_map(|a| a.killed_descendants.map(u64::from));
                    n.killed_descendants = killed.reduce(|a, b| a + b);
                }
            }
            Event::NodeRetrying { node, .. } => {
                if let Some(n) = self.node_mut(*node) {
                    n.status = NodeStatus::Pending;
                }
            }
            Event::NodeOutputs { node, outputs, .. } => {
                if let Some(n) = self.node_mut(*node) {
                    n.outputs = outputs.clone();
                }
            }
            Event::NodeCacheKey { node, key } => {
                if let Some(n) = self.node_mut(*node) {
                    n.cache_key = Some(key.clone());
                }
            }
            Event::NodeFinished {
                node,
                status,
                reason,
                findings_count,
                ..
            } => {
                let reason = reason
                    .as_deref()
                    .map(|r| self.redactor.redact(r).into_owned());
                if let Some(n) = self.node_mut(*node) {
                    n.status = *status;
                    n.reason = reason;
                    n.findings_count = *findings_count;
                }
                self.recount();
            }
            Event::RunFinished {
                status,
                exit_code,
                at,
            } => {
                self.record.status = *status;
                self.record.exit_code = Some(*exit_code);
                self.record.ended_at = Some(rfc3339_ms(*at));
                self.record.duration_ms = Some(ms_between(self.started_at, *at));
                self.recount();
            }
            Event::RunStarted { .. } | Event::Message { .. } | Event::ToolEvent { .. } => {}
        }
    }

    fn recount(&mut self) {
        let mut c = Counts::default();
        let mut findings = 0;
        for n in &self.record.nodes {
            findings += n.findings_count;
            match n.status {
                NodeStatus::Succeeded => c.succeeded += 1,
                NodeStatus::Failed => c.failed += 1,
                NodeStatus::Skipped => c.skipped += 1,
                NodeStatus::Cached => c.cached += 1,
                NodeStatus::Cancelled => c.cancelled += 1,
                NodeStatus::TimedOut => c.timed_out += 1,
                NodeStatus::Pending | NodeStatus::Running => {}
            }
        }
        self.record.counts = c;
        self.record.findings_count = findings;
    }
}

/// The record fields of instance node `node`, if it is one (SPEC §9: `template`, `index`,
/// `item` cut at 1 KiB with `item_sha256`, `matrix`). Secret values in the item and the
/// matrix values are masked before the cut (SPEC §10), so no prefix of one survives it.
fn instance_record(
    node: &crate::plan::PlanNode,
    redactor: &super::Redactor,
) -> Option<crate::store::InstanceRecord> {
    let inst = node.instance.as_ref()?;
    let (item, item_sha256) = match &inst.item {
        Some(i) => {
            let (text, sha) = i.for_record();
            let masked = redactor.redact(i.text());
            if masked == i.text() {
                (Some(text), sha)
            } else {
                let mut end = masked.len().min(crate::plan::foreach::RECORD_ITEM_BYTES);
                while !masked.is_char_boundary(end) {
                    end -= 1;
                }
                let sha = sha.or_else(|| (end < masked.len()).then(|| i.sha256()));
                (Some(masked[..end].to_string()), sha)
            }
        }
        None => (None, None),
    };
    Some(crate::store::InstanceRecord {
        template: inst.template.clone(),
        index: inst.index as u64,
        item,
        item_sha256,
        matrix: inst
            .matrix
            .iter()
            .map(|(k, v)| (k.clone(), redactor.redact(v).into_owned()))
            .collect(),
    })
}

/// The run's one fold of its record, shared: the engine publishes its [`RecordBuilder`] here
/// at the start and applies every event to it; the run.json sink takes its checkpoints from
/// it (SPEC §6), so the record is folded once. A version counts the events applied, so a
/// reader serializes only when something changed. Cloning the handle is cheap (an `Arc`).
#[derive(Clone, Default)]
pub struct SharedRecord(std::sync::Arc<std::sync::Mutex<Published>>);

#[derive(Default)]
struct Published {
    /// `None` before the engine publishes it and after it took the final record.
    builder: Option<RecordBuilder>,
    version: u64,
}

impl std::fmt::Debug for SharedRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedRecord")
    }
}

impl SharedRecord {
    fn lock(&self) -> std::sync::MutexGuard<'_, Published> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Publishes the run's builder (the engine, once, before its first event).
    pub fn publish(&self, builder: RecordBuilder) {
        let mut p = self.lock();
        p.builder = Some(builder);
        p.version += 1;
    }

    /// Applies one event to the published builder (nothing if none is published).
    pub fn apply(&self, event: &Event) {
        let mut p = self.lock();
        if let Some(b) = p.builder.as_mut() {
            b.apply(event);
            p.version += 1;
        }
    }

    /// Takes the final record out without copying its nodes; nothing is published after.
    pub fn take_record(&self) -> Option<RunRecord> {
        self.lock().builder.take().map(RecordBuilder::into_record)
    }

    /// The record as pretty JSON (with a final newline) and its version, if one is published
    /// and its version is not `seen`. Serialized in memory under the lock (no I/O while the
    /// engine may wait for it); the caller writes the bytes.
    pub fn snapshot_json(&self, seen: Option<u64>) -> Option<(u64, Vec<u8>)> {
        let p = self.lock();
        let builder = p.builder.as_ref()?;
        if seen == Some(p.version) {
            return None;
        }
        let mut bytes = serde_json::to_vec_pretty(builder.record()).ok()?;
        bytes.push(b'\n');
        Some((p.version, bytes))
    }
}
