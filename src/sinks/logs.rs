//! [`LogSink`]: the engine's events as `logs.jsonl` records, one per meaningful event, each
//! stamped with the W3C ids of the span it happened in (the workflow span for run events,
//! the node span for node events, the attempt span for attempt events).
//!
//! Writing goes through the shared background [`JsonlWriter`]: the engine never waits on
//! disk and nothing is dropped; [`Sink::finish`] flushes and joins on every exit path.
//! Records below the file level are never built. Every free-text field is redacted.

use std::io;
use std::time::SystemTime;

use crate::event::Redactor;
use crate::event::{Event, Level, RunContext, Sink};
use crate::store::clock::millis_between;
use crate::store::writer::{JsonlWriter, WriteStats};
use crate::store::{NodeStatus, RunRecord, RunStatus};
use crate::telemetry::filter::{ENGINE_LOGGER, LogSettings};
use crate::telemetry::layer;
use crate::telemetry::log::{LogError, LogRecord, messages};
use crate::telemetry::pretty;

/// The file name under the run directory.
pub const LOGS_FILE: &str = "logs.jsonl";

#[derive(Debug, Clone, Default)]
struct NodeState {
    node_span: Option<String>,
    attempt_span: Option<String>,
    attempt: u32,
    first_start: Option<SystemTime>,
}

/// Writes `logs.jsonl`.
pub struct LogSink {
    writer: JsonlWriter<LogRecord>,
    settings: LogSettings,
    redactor: Redactor,
    nodes: Vec<NodeState>,
    echo_console: bool,
    routed: bool,
    stats: Option<WriteStats>,
}

impl LogSink {
    /// Opens `<run_dir>/logs.jsonl` (appending: a resumed run adds to it) with the file
    /// filter of `settings`.
    pub fn open(ctx: &RunContext, settings: &LogSettings) -> io::Result<Self> {
        let writer = JsonlWriter::open_reporting(
            &ctx.run_dir.join(LOGS_FILE),
            Some(std::sync::Arc::clone(&ctx.records)),
        )?;
        Ok(LogSink {
            writer,
            settings: settings.clone(),
            redactor: Redactor::new(&ctx.secret_values),
            nodes: vec![NodeState::default(); ctx.plan.nodes.len()],
            echo_console: false,
            routed: false,
            stats: None,
        })
    }

    /// Also sends `tracing` events (the engine's `tracing::debug!` and friends, through the
    /// layer [`layer::install`] set up) to this file until [`Sink::finish`].
    pub fn capture_tracing(mut self, ctx: &RunContext) -> Self {
        layer::route_to(ctx, self.writer.handle());
        self.routed = true;
        self
    }

    /// Also prints records that pass the console filter on stderr (debug mode).
    pub fn echo_console(mut self, on: bool) -> Self {
        self.echo_console = on;
        self
    }

    /// Also hands every record written to `observer` (on the writer thread).
    pub fn observe(self, observer: crate::store::writer::Observer<LogRecord>) -> Self {
        self.writer.observe(observer);
        self
    }

    /// Lines and bytes written, once finished.
    pub fn stats(&self) -> Option<WriteStats> {
        self.stats
    }

    fn emit(
        &self,
        ctx: &RunContext,
        level: Level,
        build: impl FnOnce(LogRecord) -> LogRecord,
        at: SystemTime,
        message: &str,
    ) {
        let to_file = self.settings.file_enabled(ENGINE_LOGGER, level);
        let to_console = self.echo_console && self.settings.console_enabled(ENGINE_LOGGER, level);
        if !to_file && !to_console {
            return;
        }
        let mut record = LogRecord::new(at, level.into(), ENGINE_LOGGER, message);
        record.trace_id = Some(ctx.trace.trace_id.clone());
        record.span_id = Some(ctx.trace.root_span_id.clone());
        record.run_id = Some(ctx.run_id.clone());
        record.workflow_id = Some(ctx.plan.name.clone());
        let mut record = build(record);
        record.redact(&self.redactor);
        if to_console {
            eprintln!(
                "{}",
                pretty::render(&record, crate::telemetry::format::stderr_colour())
            );
        }
        if to_file {
            self.writer.send(record);
        }
    }

    fn node_fields(
        &self,
        ctx: &RunContext,
        node: usize,
        span: Option<&String>,
        mut r: LogRecord,
    ) -> LogRecord {
        if let Some(n) = ctx.plan.nodes.get(node) {
            r.node_id = Some(n.id.clone());
            r.plugin_name = Some(n.plugin_name.clone());
        }
        if let Some(span) = span {
            r.span_id = Some(span.clone());
        }
        r
    }
}

/// The logger of records a node's tool wrote on `SECFLOW_EVENTS`.
pub const TOOL_LOGGER: &str = "secflow::tool";

impl LogSink {
    /// A line from a node's telemetry channel as a record of [`TOOL_LOGGER`], stamped with the
    /// attempt's span: a log line with its level, message and fields (as metadata); a finding
    /// (`message` "finding", the finding under `metadata.finding`); progress and the channel's
    /// summary at debug level. Masked again like every record.
    fn tool_event(
        &self,
        ctx: &RunContext,
        node: usize,
        attempt: u32,
        item: &crate::event::tool::Item,
        at: SystemTime,
    ) {
        use crate::event::tool::Item;
        let (level, message, metadata): (Level, &str, Vec<(&str, serde_json::Value)>) = match item {
            Item::Log(l) => (l.level, l.message.as_str(), Vec::new()),
            Item::Finding(f) => (
                Level::Info,
                "finding",
                vec![("finding", serde_json::Value::Object(f.clone()))],
            ),
            Item::Progress(p) => (Level::Debug, "progress", vec![("progress", (*p).into())]),
            Item::Metric(_) => return,
            // Problems are also said as a warning by the engine (an engine record).
            Item::Summary(s) => (
                Level::Debug,
                "telemetry channel closed",
                vec![
                    ("lines", s.lines.into()),
                    ("accepted", s.accepted.into()),
                    ("bad", serde_json::json!(s.bad)),
                    ("dropped", s.dropped.into()),
                    ("bytes", s.bytes.into()),
                ],
            ),
        };
        if !self.settings.file_enabled(TOOL_LOGGER, level) {
            return;
        }
        let mut r = LogRecord::new(at, level.into(), TOOL_LOGGER, message);
        r.trace_id = Some(ctx.trace.trace_id.clone());
        r.run_id = Some(ctx.run_id.clone());
        r.workflow_id = Some(ctx.plan.name.clone());
        let span = self
            .nodes
            .get(node)
            .filter(|s| s.attempt == attempt)
            .and_then(|s| s.attempt_span.clone());
        let mut r = self.node_fields(ctx, node, span.as_ref(), r);
        r.attempt = Some(attempt);
        if let Item::Log(l) = item {
            r.metadata = l.fields.clone();
        }
        for (k, v) in metadata {
            r.metadata.insert(k.to_string(), v);
        }
        r.redact(&self.redactor);
        self.writer.send(r);
    }
}

fn status_level(status: NodeStatus) -> Level {
    match status {
        NodeStatus::Failed | NodeStatus::TimedOut => Level::Error,
        NodeStatus::Cancelled => Level::Warn,
        _ => Level::Info,
    }
}

impl LogSink {
    /// The "attempt finished" record: status, exit, resources; an error for a failed one.
    fn attempt_finished(
        &mut self,
        ctx: &RunContext,
        node: usize,
        a: &crate::store::AttemptRecord,
        at: SystemTime,
    ) {
        let span = self.nodes.get(node).and_then(|s| s.attempt_span.clone());
        let ok = a.status.is_success();
        let level = if ok { Level::Info } else { Level::Warn };
        self.emit(
            ctx,
            level,
            |r| {
                let mut r = self.node_fields(ctx, node, span.as_ref(), r);
                r.attempt = Some(a.attempt);
                r.duration_ms = a.duration_ms;
                r.success = Some(ok);
                if !ok {
                    r.error = Some(LogError {
                        kind: a.status.as_str().to_string(),
                        message: a
                            .error
                            .clone()
                            .unwrap_or_else(|| a.status.as_str().replace('_', " ")),
                    });
                }
                r.meta("status", a.status.as_str())
                    .meta("exit_code", a.exit_code)
                    .meta("signal", a.signal)
                    .meta("queue_wait_ms", a.queue_wait_ms)
                    .meta("cpu_user_ms", a.cpu_user_ms)
                    .meta("cpu_system_ms", a.cpu_system_ms)
                    .meta("peak_rss_bytes", a.peak_rss_bytes)
            },
            at,
            messages::ATTEMPT_FINISHED,
        );
    }

    /// The node's final record, its message by status (none for a non-final status).
    fn node_finished(
        &mut self,
        ctx: &RunContext,
        node: usize,
        status: NodeStatus,
        reason: Option<&str>,
        findings_count: u64,
        at: SystemTime,
    ) {
        let state = self.nodes.get(node).cloned().unwrap_or_default();
        let message = match status {
            NodeStatus::Succeeded => messages::NODE_COMPLETED,
            NodeStatus::Failed | NodeStatus::TimedOut => messages::NODE_FAILED,
            NodeStatus::Skipped => messages::NODE_SKIPPED,
            NodeStatus::Cancelled => messages::NODE_CANCELLED,
            NodeStatus::Cached => messages::NODE_CACHED,
            NodeStatus::Pending | NodeStatus::Running => return,
        };
        self.emit(
            ctx,
            status_level(status),
            |r| {
                let mut r = self.node_fields(ctx, node, state.node_span.as_ref(), r);
                if state.attempt > 0 {
                    r.attempt = Some(state.attempt);
                }
                r.duration_ms = state.first_start.map(|s| millis_between(s, at));
                r.success = Some(status.is_success());
                if status.is_success() {
                    r.findings_count = Some(findings_count);
                }
                if matches!(status, NodeStatus::Failed | NodeStatus::TimedOut) {
                    r.error = Some(LogError {
                        kind: status.as_str().to_string(),
                        message: reason
                            .map(str::to_string)
                            .unwrap_or_else(|| status.as_str().replace('_', " ")),
                    });
                    r
                } else {
                    r.meta("status", status.as_str())
                        .meta("reason", reason.map(str::to_string))
                }
            },
            at,
            message,
        );
    }
}

impl Sink for LogSink {
    /// Long because: one arm per event kind, each the log record of that event.
    fn event(&mut self, ctx: &RunContext, event: &Event) {
        match event {
            Event::RunStarted { at } => self.emit(
                ctx,
                Level::Info,
                |r| {
                    r.meta("executor", ctx.executor.as_str())
                        .meta("concurrency", ctx.concurrency)
                        .meta("nodes", ctx.plan.nodes.len())
                        .meta("resumed_from", ctx.resumed_from.clone())
                        .meta("parent_span_id", ctx.trace.parent_span_id.clone())
                },
                *at,
                messages::RUN_STARTED,
            ),
            Event::NodeQueued { node, attempt, at } => {
                let state = self.nodes.get(*node).cloned().unwrap_or_default();
                self.emit(
                    ctx,
                    Level::Debug,
                    |r| {
                        let mut r = self.node_fields(ctx, *node, state.node_span.as_ref(), r);
                        r.attempt = Some(*attempt);
                        r
                    },
                    *at,
                    messages::NODE_QUEUED,
                );
            }
            Event::AttemptStarted {
                node,
                attempt,
                node_span_id,
                span_id,
                pid,
                executor_job_id,
                at,
            } => {
                if let Some(state) = self.nodes.get_mut(*node) {
                    state.node_span = Some(node_span_id.clone());
                    state.attempt_span = Some(span_id.clone());
                    state.attempt = *attempt;
                    state.first_start.get_or_insert(*at);
                }
                self.emit(
                    ctx,
                    Level::Info,
                    |r| {
                        let mut r = self.node_fields(ctx, *node, Some(span_id), r);
                        r.attempt = Some(*attempt);
                        r.meta("pid", *pid)
                            .meta("executor_job_id", executor_job_id.clone())
                    },
                    *at,
                    messages::NODE_STARTED,
                );
            }
            Event::AttemptFinished {
                node,
                record: a,
                at,
            } => self.attempt_finished(ctx, *node, a, *at),
            Event::NodeRetrying {
                node,
                next_attempt,
                delay,
                error,
                at,
            } => {
                let span = self.nodes.get(*node).and_then(|s| s.node_span.clone());
                self.emit(
                    ctx,
                    Level::Warn,
                    |r| {
                        let mut r = self.node_fields(ctx, *node, span.as_ref(), r);
                        r.attempt = Some(next_attempt.saturating_sub(1));
                        r.error = Some(LogError {
                            kind: "failed".into(),
                            message: error.clone(),
                        });
                        r.meta("next_attempt", *next_attempt).meta(
                            "delay_ms",
                            u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        )
                    },
                    *at,
                    messages::NODE_RETRYING,
                );
            }
            Event::NodeFinished {
                node,
                status,
                reason,
                findings_count,
                at,
            } => self.node_finished(ctx, *node, *status, reason.as_deref(), *findings_count, *at),
            Event::NodeCacheKey { .. } => {}
            Event::NodeOutputs { node, outputs, at } => {
                let span = self.nodes.get(*node).and_then(|s| s.node_span.clone());
                self.emit(
                    ctx,
                    Level::Debug,
                    |r| {
                        let r = self.node_fields(ctx, *node, span.as_ref(), r);
                        let outputs: serde_json::Map<String, serde_json::Value> = outputs
                            .iter()
                            .map(|(name, o)| {
                                (
                                    name.clone(),
                                    serde_json::json!({"path": o.path, "records": o.records}),
                                )
                            })
                            .collect();
                        r.meta("outputs", serde_json::Value::Object(outputs))
                    },
                    *at,
                    messages::NODE_OUTPUTS,
                );
            }
            // The instances of a fan-out: each logs as a node of its own.
            Event::InstancesAdded { plan, .. } => {
                self.nodes.resize(plan.nodes.len(), NodeState::default());
            }
            Event::Message {
                level,
                node,
                text,
                at,
            } => {
                let span = node
                    .and_then(|n| self.nodes.get(n))
                    .and_then(|s| s.attempt_span.clone().or(s.node_span.clone()));
                self.emit(
                    ctx,
                    *level,
                    |r| match node {
                        Some(n) => self.node_fields(ctx, *n, span.as_ref(), r),
                        None => r,
                    },
                    *at,
                    text,
                );
            }
            Event::ToolEvent {
                node,
                attempt,
                item,
                at,
            } => self.tool_event(ctx, *node, *attempt, item, *at),
            Event::RunFinished {
                status,
                exit_code,
                at,
            } => {
                let level = match status {
                    RunStatus::Failed => Level::Error,
                    RunStatus::Cancelled => Level::Warn,
                    _ => Level::Info,
                };
                self.emit(
                    ctx,
                    level,
                    |mut r| {
                        r.duration_ms = Some(millis_between(ctx.started_at, *at));
                        r.success = Some(*status == RunStatus::Succeeded);
                        r.meta("status", status.as_str())
                            .meta("exit_code", *exit_code)
                    },
                    *at,
                    messages::RUN_FINISHED,
                );
            }
        }
    }

    fn finish(&mut self, _ctx: &RunContext, _record: &mut RunRecord) -> anyhow::Result<()> {
        if self.routed {
            layer::unroute();
            self.routed = false;
        }
        let stats = self.writer.finish()?;
        if self.stats.is_none() {
            self.stats = Some(stats);
        }
        Ok(())
    }
}
