//! [`AuditSink`]: turns the engine's events into the run's HMAC-chained `audit.jsonl`.
//!
//! Each event becomes one complete canonical line appended through a buffered writer that is
//! flushed after each batch of events (see [`Sink::idle`]). A kill -9 loses the events not
//! yet written (the batch being handled and those queued for the sinks thread, a bounded
//! queue), never a line in the middle: the chain then verifies as unfinished (exit 3), and a
//! line cut short is skipped by readers as torn. The file is flushed and fsynced at once at
//! failure, cancel and terminal events. In [`Sink::finish`] the sink writes the terminal
//! event if the engine did not, and fills `run.json`'s `audit` summary with the signed
//! anchor. A write error stops the chain (a gap would read as tampering) and is returned
//! from `finish`.
//!
//! Records fail closed (SPEC §10): the first events are fsynced (file and directory) before
//! the engine starts a node; on a write error here — or any record write error reported to
//! the run's [`RecordHealth`](crate::store::RecordHealth) — nothing more is appended, a torn
//! line is cut back to the last complete one, and `finish` signs the durable head as a `cut`
//! instead of an anchor, so the chain verifies as an unfinished prefix, never as tampered.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::SystemTime;

use crate::event::{Event, RunContext, Sink};
use crate::store::append::LineFile;
use crate::store::clock::rfc3339_ms;
use crate::store::{AttemptRecord, AuditSummary, NodeStatus, RunRecord, RunStatus};

use crate::audit::DatasetDigest;
use crate::audit::event::{
    AUDIT_SCHEMA_VERSION, Actor, AuditData, AuditEvent, AuditMetadata, EVENT_VERSION, GENESIS_HASH,
    TraceContext, anchor, cut_signature,
};
use crate::audit::key::AuditKey;
use crate::audit::origin::Origin;

/// The audit file's name inside a run directory.
pub const AUDIT_FILE_NAME: &str = "audit.jsonl";

/// Why the audit trail could not be written.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("cannot write audit trail {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot encode audit event: {0}")]
    Encode(#[from] crate::audit::event::CanonicalError),
}

/// Buffered bytes that trigger a write before the batch ends.
const BUFFER_BYTES: usize = 64 * 1024;

/// Writes a run's audit chain.
pub struct AuditSink {
    key: AuditKey,
    path: PathBuf,
    file: LineFile,
    /// Complete lines not written yet.
    buf: Vec<u8>,
    /// The seq and hash the file ends at after the last complete write.
    committed: (u64, String),
    records: std::sync::Arc<crate::store::RecordHealth>,
    run_id: String,
    trace_id: String,
    root_span_id: String,
    actor: Actor,
    metadata: AuditMetadata,
    seq: u64,
    last_hash: String,
    terminal_written: bool,
    /// Node span ids by node index, from `AttemptStarted`.
    node_spans: HashMap<usize, String>,
    /// The last finished attempt by node index.
    last_attempt: HashMap<usize, AttemptRecord>,
    /// Dataset digests by node index, from `NodeOutputs`, for the node's final event.
    outputs: HashMap<usize, BTreeMap<String, DatasetDigest>>,
    /// Cache keys by node index, from `NodeCacheKey`, for the node's final event.
    cache_keys: HashMap<usize, String>,
    /// Secret values to mask in free text (longest first).
    secrets: Vec<String>,
    error: Option<AuditError>,
}

impl AuditSink {
    /// Creates `<run_dir>/audit.jsonl` (which must not exist yet) for the run `ctx`.
    pub fn create(ctx: &RunContext, key: &AuditKey, origin: &Origin) -> Result<Self, AuditError> {
        let path = ctx.run_dir.join(AUDIT_FILE_NAME);
        let io = |source| AuditError::Io {
            path: path.clone(),
            source,
        };
        let file = LineFile::create(
            &path,
            crate::sys::dirfd::Mode::CreateNew,
            Some(std::sync::Arc::clone(&ctx.records)),
        )
        .map_err(io)?;
        Ok(AuditSink {
            key: key.clone(),
            file,
            buf: Vec::with_capacity(BUFFER_BYTES),
            committed: (0, GENESIS_HASH.into()),
            records: std::sync::Arc::clone(&ctx.records),
            path,
            run_id: ctx.run_id.clone(),
            trace_id: ctx.trace.trace_id.clone(),
            root_span_id: ctx.trace.root_span_id.clone(),
            actor: Actor {
                kind: "user".into(),
                id: origin.user.clone(),
                host: origin.host.clone(),
            },
            metadata: AuditMetadata {
                working_directory: origin.working_directory.clone(),
                git_commit: origin.git_commit.clone(),
                git_branch: origin.git_branch.clone(),
                recipe_sha256: ctx.plan.recipe_sha256.clone(),
            },
            seq: 0,
            last_hash: GENESIS_HASH.into(),
            terminal_written: false,
            node_spans: HashMap::new(),
            last_attempt: HashMap::new(),
            outputs: HashMap::new(),
            cache_keys: HashMap::new(),
            secrets: {
                let mut s: Vec<String> = ctx
                    .secret_values
                    .iter()
                    .filter(|v| !v.is_empty())
                    .cloned()
                    .collect();
                s.sort_by_key(|v| std::cmp::Reverse(v.len()));
                s
            },
            error: None,
        })
    }

    /// Events written so far.
    pub fn events(&self) -> u64 {
        self.seq
    }

    /// The hash of the last event written (64 zeros before the first).
    pub fn last_hash(&self) -> &str {
        &self.last_hash
    }

    /// The chain is stopped: this sink failed to write, or another record did.
    fn stopped(&self) -> bool {
        self.error.is_some() || self.records.is_failed()
    }

    /// The head of the chain as written to the file: `(seq, last_hash)`.
    pub fn durable_head(&self) -> (u64, &str) {
        (self.committed.0, &self.committed.1)
    }

    /// Appends one event to the buffer.
    fn append(&mut self, event_type: &str, span_id: Option<&str>, data: AuditData, at: SystemTime) {
        if self.stopped() {
            return;
        }
        let mut event = AuditEvent {
            schema_version: AUDIT_SCHEMA_VERSION,
            event_id: ulid::Ulid::from_datetime(at).to_string(),
            event_type: event_type.into(),
            event_version: EVENT_VERSION,
            timestamp: rfc3339_ms(at),
            source: "secflow".into(),
            source_version: env!("CARGO_PKG_VERSION").into(),
            correlation_id: self.run_id.clone(),
            trace_context: TraceContext {
                trace_id: self.trace_id.clone(),
                span_id: span_id.unwrap_or(&self.root_span_id).to_string(),
            },
            actor: self.actor.clone(),
            data,
            metadata: self.metadata.clone(),
            key_id: self.key.key_id().to_string(),
            seq: self.seq + 1,
            prev_hash: self.last_hash.clone(),
            hash: String::new(),
        };
        match event.seal(&self.key) {
            Ok(line) => {
                self.buf.extend_from_slice(&line);
                self.seq = event.seq;
                self.terminal_written |= event.is_terminal();
                self.last_hash = event.hash;
            }
            Err(e) => self.fail(e.into()),
        }
        if self.buf.len() >= BUFFER_BYTES {
            self.flush(false);
        }
    }

    /// Stops the chain at its last complete write and tells the run.
    fn fail(&mut self, e: AuditError) {
        self.buf.clear();
        self.records.fail(e.to_string());
        self.error = Some(e);
    }

    /// Writes the buffer to the file, and with `durable` to the disk (the first time with
    /// the directory entry too). Once the chain is stopped, the buffer is dropped instead.
    fn flush(&mut self, durable: bool) {
        if self.stopped() {
            self.buf.clear();
            return;
        }
        if !self.buf.is_empty() {
            // A failed write is cut back to the last whole line (a torn line would read as
            // tampering) and reported to the run by the file.
            if let Err(source) = self.file.append(&self.buf) {
                let path = self.path.clone();
                return self.fail(AuditError::Io { path, source });
            }
            self.committed = (self.seq, self.last_hash.clone());
            self.buf.clear();
        }
        if !durable {
            return;
        }
        if let Err(source) = self.file.sync(true) {
            let path = self.path.clone();
            self.fail(AuditError::Io { path, source });
        }
    }

    fn node_data(&self, ctx: &RunContext, node: usize) -> AuditData {
        let n = ctx.plan.nodes.get(node);
        let inst = n.and_then(|n| n.instance.as_ref());
        AuditData {
            node_id: n.map(|n| n.id.clone()),
            plugin_name: n.map(|n| n.plugin_name.clone()),
            index: inst.map(|i| i.index as u64),
            item_sha256: inst.map(|i| i.item_sha256()),
            ..AuditData::default()
        }
    }

    fn node_span(&self, node: usize) -> Option<String> {
        self.node_spans.get(&node).cloned()
    }

    fn run_started(&mut self, ctx: &RunContext, at: SystemTime) {
        let plan = &ctx.plan;
        let data = AuditData {
            workflow: Some(plan.name.clone()),
            recipe_path: Some(plan.recipe_path.clone()),
            executor: Some(ctx.executor.clone()),
            concurrency: Some(ctx.concurrency as u64),
            node_count: Some(plan.nodes.len() as u64),
            pid: Some(u64::from(std::process::id())),
            ..AuditData::default()
        };
        self.append("workflow.run.started", None, data, at);
        if let Some(from) = &ctx.resumed_from {
            let data = AuditData {
                resumed_from: Some(from.clone()),
                ..AuditData::default()
            };
            self.append("workflow.run.resumed", None, data, at);
        }
        let plugins: BTreeSet<(&str, &str)> = plan
            .nodes
            .iter()
            .map(|n| (n.plugin_name.as_str(), n.plugin_version.as_str()))
            .collect();
        for (name, version) in plugins {
            let data = AuditData {
                plugin_name: Some(name.into()),
                plugin_version: Some(version.into()),
                ..AuditData::default()
            };
            self.append("plugin.loaded", None, data, at);
        }
        for secret in &plan.secrets {
            let data = AuditData {
                secret_name: Some(secret.clone()),
                ..AuditData::default()
            };
            self.append("secret.accessed", None, data, at);
        }
    }

    fn terminal(
        &mut self,
        status: RunStatus,
        exit_code: Option<i32>,
        ctx: &RunContext,
        at: SystemTime,
    ) {
        let event_type = match status {
            RunStatus::Succeeded => "workflow.run.completed",
            RunStatus::Cancelled => "workflow.run.cancelled",
            RunStatus::Failed | RunStatus::Running => "workflow.run.failed",
        };
        let data = AuditData {
            workflow: Some(ctx.plan.name.clone()),
            status: Some(status.as_str().into()),
            exit_code: exit_code.map(i64::from),
            duration_ms: Some(millis_between(ctx.started_at, at)),
            ..AuditData::default()
        };
        self.append(event_type, None, data, at);
        self.flush(true);
    }
}

impl AuditSink {
    /// A node's final event: its status, and for a node that succeeded (or was reused)
    /// its cache key and datasets, signed for a later `--resume`.
    fn node_finished(
        &mut self,
        ctx: &RunContext,
        node: usize,
        status: NodeStatus,
        reason: Option<&str>,
        findings_count: u64,
        at: SystemTime,
    ) {
        let event_type = match status {
            NodeStatus::Succeeded => "node.completed",
            NodeStatus::TimedOut => "node.timed_out",
            NodeStatus::Skipped => "node.skipped",
            NodeStatus::Cached => "node.cached",
            _ => "node.failed",
        };
        let outputs = self
            .outputs
            .remove(&node)
            .filter(|o| status.is_success() && !o.is_empty());
        let cache_key = self
            .cache_keys
            .remove(&node)
            .filter(|_| status.is_success());
        let data = AuditData {
            status: Some(status.as_str().into()),
            reason: reason.map(|r| self.redact(r)),
            findings_count: Some(findings_count),
            outputs,
            cache_key,
            ..self.attempt_data(ctx, node)
        };
        // The node is done: what was kept for its events can go (a 10 000-node run must not
        // keep 10 000 attempt records here).
        let span = self.node_spans.remove(&node);
        self.last_attempt.remove(&node);
        self.append(event_type, span.as_deref(), data, at);
    }
}

impl Sink for AuditSink {
    fn event(&mut self, ctx: &RunContext, event: &Event) {
        if self.terminal_written {
            return;
        }
        let mut durable = false;
        match event {
            Event::RunStarted { at } => {
                // On disk, with its directory entry, before any node starts.
                self.run_started(ctx, *at);
                durable = true;
            }
            Event::AttemptStarted {
                node,
                attempt,
                node_span_id,
                executor_job_id,
                at,
                ..
            } => {
                self.node_spans.insert(*node, node_span_id.clone());
                let data = AuditData {
                    attempt: Some(u64::from(*attempt)),
                    executor_job_id: executor_job_id.clone(),
                    ..self.node_data(ctx, *node)
                };
                self.append("node.started", Some(node_span_id), data, *at);
            }
            Event::AttemptFinished { node, record, .. } => {
                self.last_attempt.insert(*node, record.clone());
            }
            Event::NodeOutputs { node, outputs, .. } => {
                let digests = outputs
                    .iter()
                    .filter_map(|(name, o)| {
                        let d = DatasetDigest {
                            bytes: o.bytes?,
                            sha256: o.sha256.clone()?,
                        };
                        Some((name.clone(), d))
                    })
                    .collect();
                self.outputs.insert(*node, digests);
                return;
            }
            Event::NodeCacheKey { node, key } => {
                self.cache_keys.insert(*node, key.clone());
                return;
            }
            Event::NodeRetrying {
                node,
                next_attempt,
                delay,
                error,
                at,
            } => {
                let data = AuditData {
                    next_attempt: Some(u64::from(*next_attempt)),
                    delay_ms: Some(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX)),
                    error: Some(self.redact(error)),
                    ..self.attempt_data(ctx, *node)
                };
                let span = self.node_span(*node);
                self.append("node.retried", span.as_deref(), data, *at);
            }
            Event::NodeFinished {
                node,
                status,
                reason,
                findings_count,
                at,
            } => {
                durable = matches!(
                    status,
                    NodeStatus::Failed | NodeStatus::TimedOut | NodeStatus::Cancelled
                );
                self.node_finished(ctx, *node, *status, reason.as_deref(), *findings_count, *at);
            }
            Event::RunFinished {
                status,
                exit_code,
                at,
            } => {
                self.terminal(*status, Some(*exit_code), ctx, *at);
                return;
            }
            Event::NodeQueued { .. }
            | Event::InstancesAdded { .. }
            | Event::Message { .. }
            | Event::ToolEvent { .. } => {
                return;
            }
        }
        if durable {
            self.flush(true);
        }
    }

    fn idle(&mut self) {
        if !self.buf.is_empty() {
            self.flush(false);
        }
    }

    fn finish(&mut self, ctx: &RunContext, record: &mut RunRecord) -> anyhow::Result<()> {
        if !self.terminal_written && record.status != RunStatus::Running {
            self.terminal(record.status, record.exit_code, ctx, SystemTime::now());
        }
        self.flush(true);
        let (events, last_hash) = (self.committed.0, self.committed.1.clone());
        // A chain stopped by a write error: the durable head, signed as a cut (the chain
        // then verifies as an unfinished prefix, and a shorter one as tampered).
        let stopped = self.stopped();
        record.audit = Some(AuditSummary {
            anchor: (self.terminal_written && !stopped)
                .then(|| anchor(&self.key, &self.run_id, events, &last_hash)),
            cut: stopped.then(|| cut_signature(&self.key, &self.run_id, events, &last_hash)),
            key_id: Some(self.key.key_id().to_string()),
            events,
            last_hash,
        });
        if let Some(e) = self.error.take() {
            return Err(e.into());
        }
        Ok(())
    }
}

impl AuditSink {
    /// A node's data with the figures of its last finished attempt.
    fn attempt_data(&self, ctx: &RunContext, node: usize) -> AuditData {
        let base = self.node_data(ctx, node);
        let Some(a) = self.last_attempt.get(&node) else {
            return base;
        };
        AuditData {
            attempt: Some(u64::from(a.attempt)),
            exit_code: a.exit_code.map(i64::from),
            signal: a.signal.map(i64::from),
            duration_ms: a.duration_ms,
            queue_wait_ms: a.queue_wait_ms,
            cpu_user_ms: a.cpu_user_ms,
            cpu_system_ms: a.cpu_system_ms,
            peak_rss_bytes: a.peak_rss_bytes,
            executor_job_id: a.executor_job_id.clone(),
            error: a.error.as_deref().map(|e| self.redact(e)),
            ..base
        }
    }
}

impl AuditSink {
    /// `text` with every secret value replaced by `[REDACTED]`.
    fn redact(&self, text: &str) -> String {
        self.secrets.iter().fold(text.to_string(), |t, secret| {
            t.replace(secret.as_str(), "[REDACTED]")
        })
    }
}

impl Drop for AuditSink {
    /// Dropped without `finish` (an abandoned run): what is buffered is still written, as
    /// whole lines, so the chain verifies as an unfinished prefix.
    fn drop(&mut self) {
        self.flush(false);
    }
}

/// Whole milliseconds from `from` to `to` (0 if `to` is earlier).
fn millis_between(from: SystemTime, to: SystemTime) -> u64 {
    to.duration_since(from)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
