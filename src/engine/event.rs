//! The engine's event stream: everything the engine does, as typed events.
//!
//! The engine never prints or writes records itself; sinks (console, run.json, logs, audit,
//! spans, metrics, exporters) receive each event in order through [`Sink::event`] and the
//! finished run through [`Sink::finish`]. Node indices refer to `RunContext::plan.nodes`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::plan::Plan;
use crate::store::{AttemptRecord, NodeStatus, RunRecord, RunStatus};

/// W3C trace context ids, lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceIds {
    /// 32 hex.
    pub trace_id: String,
    /// 16 hex: the workflow (root) span.
    pub root_span_id: String,
    /// 16 hex: the inbound `TRACEPARENT` span this run joined, if any.
    pub parent_span_id: Option<String>,
}

/// What every sink knows about the run, fixed when it starts.
#[derive(Debug, Clone)]
pub struct RunContext {
    pub run_id: String,
    /// `<state-dir>/runs/<run-id>`.
    pub run_dir: std::path::PathBuf,
    pub plan: Arc<Plan>,
    pub trace: TraceIds,
    pub executor: String,
    pub concurrency: usize,
    pub started_at: SystemTime,
    /// Values of declared secrets, to be masked in everything written.
    pub secret_values: Vec<String>,
    pub resumed_from: Option<String>,
    /// Whether every record could be written so far: writers report failures, the engine
    /// stops the run on the first (SPEC §10 "Records fail closed").
    pub records: Arc<crate::store::RecordHealth>,
}

/// One thing that happened.
#[derive(Debug, Clone)]
pub enum Event {
    RunStarted {
        at: SystemTime,
    },
    /// A node's dependencies are done; it waits for a slot.
    NodeQueued {
        node: usize,
        attempt: u32,
        at: SystemTime,
    },
    /// An attempt's process (or job) started. `span_id` is the attempt span, also given to
    /// the process as `TRACEPARENT`; `node_span_id` the node span (the same for every attempt).
    AttemptStarted {
        node: usize,
        attempt: u32,
        node_span_id: String,
        span_id: String,
        pid: Option<u32>,
        executor_job_id: Option<String>,
        at: SystemTime,
    },
    /// An attempt ended; `record` holds its figures (status, exit code, rusage, error).
    AttemptFinished {
        node: usize,
        record: AttemptRecord,
        at: SystemTime,
    },
    /// A failed attempt will be retried after `delay`.
    NodeRetrying {
        node: usize,
        next_attempt: u32,
        delay: Duration,
        error: String,
        at: SystemTime,
    },
    /// A node reached its final status (succeeded, failed, timed_out, skipped, cancelled,
    /// cached).
    NodeFinished {
        node: usize,
        status: NodeStatus,
        reason: Option<String>,
        findings_count: u64,
        at: SystemTime,
    },
    /// A node's datasets are in `datasets/` (promoted on success, or empty files for a failed
    /// `continue_on_error` node). Comes before the node's `NodeFinished`.
    NodeOutputs {
        node: usize,
        outputs: std::collections::BTreeMap<String, crate::store::OutputRecord>,
        at: SystemTime,
    },
    /// The node's cache key, computed as it was about to start; recorded in run.json so that
    /// a later `--resume` can tell whether the node changed.
    NodeCacheKey {
        node: usize,
        key: String,
    },
    /// Free-form diagnostics from the engine (e.g. "terminating 3 process groups").
    Message {
        level: Level,
        node: Option<usize>,
        text: String,
        at: SystemTime,
    },
    RunFinished {
        status: RunStatus,
        exit_code: i32,
        at: SystemTime,
    },
    /// A line an attempt's tool wrote to `SECFLOW_EVENTS` (validated and masked), or the
    /// channel's summary when the attempt ended.
    ToolEvent {
        node: usize,
        attempt: u32,
        item: Arc<super::tool_events::Item>,
        at: SystemTime,
    },
}

impl Event {
    /// An event whose records should reach the disk at once rather than with the next
    /// batch: the start and end of the run, a failure, a warning or error (cancellation,
    /// timeouts).
    pub fn is_urgent(&self) -> bool {
        match self {
            Event::NodeFinished { status, .. } => matches!(
                status,
                NodeStatus::Failed | NodeStatus::TimedOut | NodeStatus::Cancelled
            ),
            Event::Message { level, .. } => *level >= Level::Warn,
            Event::RunStarted { .. } | Event::RunFinished { .. } => true,
            _ => false,
        }
    }
}

/// Severity of an [`Event::Message`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// A subscriber to the event stream. Sinks must not block the engine for long: anything
/// slow (disk, network) belongs on a background thread or task of the sink's own.
pub trait Sink: Send {
    /// Called for every event, in order.
    fn event(&mut self, ctx: &RunContext, event: &Event);
    /// The engine is about to wait for something to happen: a good moment to hand buffered
    /// events to another thread (one wake-up for a batch instead of one per event).
    fn idle(&mut self) {}
    /// Called once at the end, on every exit path, with the final run record (the sink may
    /// add its summary, e.g. the audit anchor). Must flush everything it holds.
    fn finish(&mut self, _ctx: &RunContext, _record: &mut RunRecord) -> anyhow::Result<()> {
        Ok(())
    }
}
