//! [`SpanSink`]: finished spans to `spans.jsonl` — `attempt <id>#<n>` at `AttemptFinished`
//! (parent: the node span), `node <id>` at `NodeFinished` (parent: the workflow span),
//! `workflow <name>` at `RunFinished` (parent: the inbound `TRACEPARENT` span, if any), and
//! the CLI's `validate` and `plugin.load <name>` phases through [`SpanSink::phase`].
//!
//! Spans still open at [`Sink::finish`] (a failure, an interrupt) are closed then with
//! status `error`, so the trace is always complete. Same asynchronous lossless writer as
//! the logs; every string is redacted.

use std::collections::BTreeMap;
use std::io;
use std::time::SystemTime;

use serde_json::Value;

use crate::event::Redactor;
use crate::event::trace::new_span_id;
use crate::event::{Event, RunContext, Sink};
use crate::store::clock::{parse_rfc3339, unix_nanos};
use crate::store::writer::{JsonlWriter, WriteStats};
use crate::store::{NodeStatus, RunRecord, RunStatus};
use crate::telemetry::span::{
    SPAN_SCHEMA_VERSION, SpanEvent, SpanKind, SpanRecord, SpanStatus, StatusCode, resource,
};

/// The file name under the run directory.
pub const SPANS_FILE: &str = "spans.jsonl";

#[derive(Debug, Clone)]
struct OpenAttempt {
    span_id: String,
    attempt: u32,
    pid: Option<u32>,
    job_id: Option<String>,
    start: SystemTime,
}

#[derive(Debug, Clone, Default)]
struct NodeSpans {
    span_id: Option<String>,
    start: Option<SystemTime>,
    attempts: u32,
    events: Vec<SpanEvent>,
    outputs: Attrs,
    open: Option<OpenAttempt>,
    done: bool,
}

/// Writes `spans.jsonl`.
pub struct SpanSink {
    writer: JsonlWriter<SpanRecord>,
    redactor: Redactor,
    nodes: Vec<NodeSpans>,
    workflow_done: bool,
    stats: Option<WriteStats>,
}

type Attrs = BTreeMap<String, Value>;

/// A span about to be written.
struct Span {
    span_id: String,
    parent: Option<String>,
    name: String,
    start: SystemTime,
    end: SystemTime,
    attributes: Attrs,
    events: Vec<SpanEvent>,
    status: SpanStatus,
}

fn put(attrs: &mut Attrs, key: &str, value: impl Into<Value>) {
    let value = value.into();
    if !value.is_null() {
        attrs.insert(key.to_string(), value);
    }
}

fn status(code: StatusCode, message: Option<String>) -> SpanStatus {
    SpanStatus { code, message }
}

impl SpanSink {
    /// Opens `<run_dir>/spans.jsonl` (appending).
    pub fn open(ctx: &RunContext) -> io::Result<Self> {
        Ok(SpanSink {
            writer: JsonlWriter::open_reporting(
                &ctx.run_dir.join(SPANS_FILE),
                Some(std::sync::Arc::clone(&ctx.records)),
            )?,
            redactor: Redactor::new(&ctx.secret_values),
            nodes: vec![NodeSpans::default(); ctx.plan.nodes.len()],
            workflow_done: false,
            stats: None,
        })
    }

    /// Also hands every record written to `observer` (on the writer thread).
    pub fn observe(self, observer: crate::store::writer::Observer<SpanRecord>) -> Self {
        self.writer.observe(observer);
        self
    }

    /// Lines and bytes written, once finished.
    pub fn stats(&self) -> Option<WriteStats> {
        self.stats
    }

    /// Records a phase the CLI timed before the engine started — `validate`, or
    /// `plugin.load <name>` — as a child of the workflow span. `error` makes its status
    /// `error` with that message.
    pub fn phase(
        &self,
        ctx: &RunContext,
        name: &str,
        start: SystemTime,
        end: SystemTime,
        attributes: Attrs,
        error: Option<&str>,
    ) {
        let st = match error {
            Some(e) => status(StatusCode::Error, Some(e.to_string())),
            None => status(StatusCode::Ok, None),
        };
        self.write(
            ctx,
            Span {
                span_id: new_span_id(),
                parent: Some(ctx.trace.root_span_id.clone()),
                name: name.to_string(),
                start,
                end,
                attributes,
                events: Vec::new(),
                status: st,
            },
        );
    }

    /// The `plugin.load <plugin>` span.
    pub fn plugin_load(
        &self,
        ctx: &RunContext,
        plugin: &str,
        version: &str,
        start: SystemTime,
        end: SystemTime,
        error: Option<&str>,
    ) {
        let mut attrs = Attrs::new();
        put(&mut attrs, "secflow.plugin.name", plugin);
        put(&mut attrs, "secflow.plugin.version", version);
        self.phase(
            ctx,
            &format!("plugin.load {plugin}"),
            start,
            end,
            attrs,
            error,
        );
    }

    /// Stamps, redacts and queues a finished span.
    fn write(&self, ctx: &RunContext, span: Span) {
        let mut record = SpanRecord {
            schema_version: SPAN_SCHEMA_VERSION,
            trace_id: ctx.trace.trace_id.clone(),
            span_id: span.span_id,
            parent_span_id: span.parent,
            name: span.name,
            kind: SpanKind::Internal,
            start_time_unix_nano: unix_nanos(span.start),
            end_time_unix_nano: unix_nanos(span.end.max(span.start)),
            attributes: span.attributes,
            events: span.events,
            status: span.status,
            resource: resource(),
        };
        record.redact(&self.redactor);
        self.writer.send(record);
    }

    fn node_attrs(ctx: &RunContext, node: usize) -> Attrs {
        let mut attrs = Attrs::new();
        if let Some(n) = ctx.plan.nodes.get(node) {
            put(&mut attrs, "secflow.node.id", n.id.as_str());
            put(&mut attrs, "secflow.node.type", n.kind.as_str());
            put(&mut attrs, "secflow.plugin.name", n.plugin_name.as_str());
            if let Some(inst) = &n.instance {
                put(&mut attrs, "secflow.node.template", inst.template.as_str());
                put(&mut attrs, "secflow.node.index", inst.index);
            }
        }
        attrs
    }

    fn node_span_id(&mut self, node: usize) -> String {
        match self.nodes.get_mut(node) {
            Some(state) => state.span_id.get_or_insert_with(new_span_id).clone(),
            None => new_span_id(),
        }
    }

    fn node_id(ctx: &RunContext, node: usize) -> &str {
        ctx.plan.nodes.get(node).map_or("?", |n| n.id.as_str())
    }

    fn close_attempt(
        &mut self,
        ctx: &RunContext,
        node: usize,
        open: OpenAttempt,
        end: SystemTime,
        record: Option<&crate::store::AttemptRecord>,
    ) {
        let mut attrs = Self::node_attrs(ctx, node);
        put(&mut attrs, "secflow.attempt", open.attempt);
        put(&mut attrs, "process.pid", open.pid);
        put(&mut attrs, "secflow.executor.job_id", open.job_id.clone());
        let st = match record {
            Some(a) => {
                put(&mut attrs, "secflow.attempt.status", a.status.as_str());
                put(&mut attrs, "process.exit_code", a.exit_code);
                put(&mut attrs, "process.signal", a.signal);
                put(&mut attrs, "secflow.queue_wait_ms", a.queue_wait_ms);
                put(&mut attrs, "process.cpu.user_ms", a.cpu_user_ms);
                put(&mut attrs, "process.cpu.system_ms", a.cpu_system_ms);
                put(
                    &mut attrs,
                    "process.memory.peak_rss_bytes",
                    a.peak_rss_bytes,
                );
                put(&mut attrs, "secflow.retry_delay_ms", a.retry_delay_ms);
                if a.status.is_success() {
                    status(StatusCode::Ok, None)
                } else {
                    status(
                        StatusCode::Error,
                        Some(
                            a.error
                                .clone()
                                .unwrap_or_else(|| a.status.as_str().replace('_', " ")),
                        ),
                    )
                }
            }
            None => status(
                StatusCode::Error,
                Some("the run ended before the attempt finished".into()),
            ),
        };
        let parent = self.node_span_id(node);
        let name = format!("attempt {}#{}", Self::node_id(ctx, node), open.attempt);
        self.write(
            ctx,
            Span {
                span_id: open.span_id,
                parent: Some(parent),
                name,
                start: open.start,
                end,
                attributes: attrs,
                events: Vec::new(),
                status: st,
            },
        );
    }

    fn close_node(
        &mut self,
        ctx: &RunContext,
        node: usize,
        end: SystemTime,
        node_status: Option<NodeStatus>,
        reason: Option<&str>,
        findings: u64,
    ) {
        let span_id = self.node_span_id(node);
        let Some(state) = self.nodes.get_mut(node) else {
            return;
        };
        state.done = true;
        let start = state.start.unwrap_or(end);
        let events = std::mem::take(&mut state.events);
        let attempts = state.attempts;
        let mut attrs = Self::node_attrs(ctx, node);
        attrs.append(&mut state.outputs);
        put(&mut attrs, "secflow.node.attempts", attempts);
        let st = match node_status {
            Some(s) => {
                put(&mut attrs, "secflow.node.status", s.as_str());
                put(&mut attrs, "secflow.node.reason", reason);
                if s.is_success() {
                    put(&mut attrs, "secflow.findings_count", findings);
                    status(StatusCode::Ok, None)
                } else if matches!(s, NodeStatus::Skipped) {
                    status(StatusCode::Unset, reason.map(str::to_string))
                } else {
                    status(
                        StatusCode::Error,
                        Some(reason.map_or_else(|| s.as_str().replace('_', " "), str::to_string)),
                    )
                }
            }
            None => status(
                StatusCode::Error,
                Some("the run ended before the node finished".into()),
            ),
        };
        let name = format!("node {}", Self::node_id(ctx, node));
        self.write(
            ctx,
            Span {
                span_id,
                parent: Some(ctx.trace.root_span_id.clone()),
                name,
                start,
                end,
                attributes: attrs,
                events,
                status: st,
            },
        );
    }

    fn close_workflow(
        &mut self,
        ctx: &RunContext,
        end: SystemTime,
        run_status: RunStatus,
        exit_code: Option<i32>,
        reason: Option<&str>,
    ) {
        self.workflow_done = true;
        let mut attrs = Attrs::new();
        put(&mut attrs, "secflow.run.id", ctx.run_id.as_str());
        put(&mut attrs, "secflow.workflow.name", ctx.plan.name.as_str());
        put(
            &mut attrs,
            "secflow.recipe.sha256",
            ctx.plan.recipe_sha256.as_str(),
        );
        put(&mut attrs, "secflow.run.status", run_status.as_str());
        put(&mut attrs, "secflow.exit_code", exit_code);
        put(&mut attrs, "secflow.executor", ctx.executor.as_str());
        put(&mut attrs, "secflow.concurrency", ctx.concurrency);
        put(&mut attrs, "secflow.node.count", ctx.plan.nodes.len());
        put(&mut attrs, "secflow.resumed_from", ctx.resumed_from.clone());
        let st = match run_status {
            RunStatus::Succeeded => status(StatusCode::Ok, None),
            RunStatus::Running => status(StatusCode::Error, Some("the run did not finish".into())),
            other => status(
                StatusCode::Error,
                Some(reason.map_or_else(|| other.as_str().to_string(), str::to_string)),
            ),
        };
        let name = format!("workflow {}", ctx.plan.name);
        self.write(
            ctx,
            Span {
                span_id: ctx.trace.root_span_id.clone(),
                parent: ctx.trace.parent_span_id.clone(),
                name,
                start: ctx.started_at,
                end,
                attributes: attrs,
                events: Vec::new(),
                status: st,
            },
        );
    }
}

impl Sink for SpanSink {
    /// Long because: one arm per event kind, each opening or closing its span.
    fn event(&mut self, ctx: &RunContext, event: &Event) {
        match event {
            Event::AttemptStarted {
                node,
                attempt,
                node_span_id,
                span_id,
                pid,
                executor_job_id,
                at,
            } => {
                let Some(state) = self.nodes.get_mut(*node) else {
                    return;
                };
                state.span_id.get_or_insert_with(|| node_span_id.clone());
                state.start.get_or_insert(*at);
                state.attempts = state.attempts.max(*attempt);
                state.open = Some(OpenAttempt {
                    span_id: span_id.clone(),
                    attempt: *attempt,
                    pid: *pid,
                    job_id: executor_job_id.clone(),
                    start: *at,
                });
            }
            Event::AttemptFinished { node, record, at } => {
                let open = self
                    .nodes
                    .get_mut(*node)
                    .and_then(|s| s.open.take())
                    .unwrap_or_else(|| {
                        let start = record
                            .started_at
                            .as_deref()
                            .and_then(parse_rfc3339)
                            .unwrap_or(*at);
                        OpenAttempt {
                            span_id: new_span_id(),
                            attempt: record.attempt,
                            pid: None,
                            job_id: record.executor_job_id.clone(),
                            start,
                        }
                    });
                if let Some(state) = self.nodes.get_mut(*node) {
                    state.attempts = state.attempts.max(record.attempt);
                    state.start.get_or_insert(open.start);
                }
                self.close_attempt(ctx, *node, open, *at, Some(record));
            }
            Event::NodeRetrying {
                node,
                next_attempt,
                delay,
                error,
                at,
            } => {
                if let Some(state) = self.nodes.get_mut(*node) {
                    let mut attributes = Attrs::new();
                    put(&mut attributes, "secflow.attempt.next", *next_attempt);
                    put(
                        &mut attributes,
                        "secflow.retry.delay_ms",
                        u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    );
                    put(&mut attributes, "exception.message", error.as_str());
                    state.events.push(SpanEvent {
                        name: "retry".into(),
                        time_unix_nano: unix_nanos(*at),
                        attributes,
                    });
                }
            }
            Event::NodeFinished {
                node,
                status,
                reason,
                findings_count,
                at,
            } => {
                if let Some(open) = self.nodes.get_mut(*node).and_then(|s| s.open.take()) {
                    self.close_attempt(ctx, *node, open, *at, None);
                }
                self.close_node(
                    ctx,
                    *node,
                    *at,
                    Some(*status),
                    reason.as_deref(),
                    *findings_count,
                );
            }
            Event::RunFinished {
                status,
                exit_code,
                at,
            } => {
                self.close_workflow(ctx, *at, *status, Some(*exit_code), None);
            }
            Event::NodeOutputs { node, outputs, .. } => {
                if let Some(state) = self.nodes.get_mut(*node) {
                    for (name, o) in outputs {
                        put(
                            &mut state.outputs,
                            &format!("secflow.output.{name}.records"),
                            o.records,
                        );
                    }
                }
            }
            // The instances of a fan-out: one node span each.
            Event::InstancesAdded { plan, .. } => {
                self.nodes.resize(plan.nodes.len(), NodeSpans::default());
            }
            Event::RunStarted { .. }
            | Event::NodeQueued { .. }
            | Event::NodeCacheKey { .. }
            | Event::Message { .. }
            | Event::ToolEvent { .. } => {}
        }
    }

    fn finish(&mut self, ctx: &RunContext, record: &mut RunRecord) -> anyhow::Result<()> {
        let now = SystemTime::now();
        for node in 0..self.nodes.len() {
            if let Some(open) = self.nodes[node].open.take() {
                self.close_attempt(ctx, node, open, now, None);
            }
            if self.nodes[node].span_id.is_some() && !self.nodes[node].done {
                self.close_node(ctx, node, now, None, None, 0);
            }
        }
        if !self.workflow_done {
            self.close_workflow(
                ctx,
                now,
                record.status,
                record.exit_code,
                record.reason.as_deref(),
            );
        }
        let stats = self.writer.finish()?;
        if self.stats.is_none() {
            self.stats = Some(stats);
        }
        Ok(())
    }
}
