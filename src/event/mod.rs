//! The engine's event stream: everything the engine does, as typed events.
//!
//! The engine never prints or writes records itself; sinks (console, run.json, logs, audit,
//! spans, metrics, exporters) receive each event in order through [`Sink::event`] and the
//! finished run through [`Sink::finish`]. Node indices refer to `RunContext::plan.nodes`.

pub mod record;
pub mod redact;
pub mod tool;
pub mod trace;

pub use record::{RecordBuilder, SharedRecord};
pub use redact::Redactor;

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
    /// The run record as the engine folds it (published at the start; the run.json sink
    /// checkpoints it). Empty until the engine publishes it.
    pub record: SharedRecord,
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
    /// Fan-out (SPEC §9): template node `template` became `count` instances, plan nodes
    /// `first..first + count` of `plan`, which replaces `RunContext::plan` from this event on
    /// (node indices below `first` keep their meaning). The template itself has no record and
    /// no `NodeFinished` from now on; its instances have both.
    InstancesAdded {
        template: usize,
        first: usize,
        count: usize,
        plan: Arc<Plan>,
        at: SystemTime,
    },
    /// A line an attempt's tool wrote to `SECFLOW_EVENTS` (validated and masked), or the
    /// channel's summary when the attempt ended.
    ToolEvent {
        node: usize,
        attempt: u32,
        item: Arc<tool::Item>,
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

/// How a run ended, as the engine saw it. The engine never picks exit codes: the CLI maps a
/// `RunEnd` to one (`crate::exit::for_run`) and hands that mapping to the engine, which
/// records the code in `RunFinished` and run.json.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    Succeeded,
    /// A node failed (also under `--keep-going`) or the run timed out.
    Failed,
    /// A record could not be written (SPEC §10 "Records fail closed").
    RecordsIncomplete,
    /// Cancelled by this signal (`None`: a kill request came first).
    Cancelled {
        signal: Option<i32>,
    },
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

impl Level {
    /// Case-insensitive; `warning` is `Warn`.
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_uppercase().as_str() {
            "TRACE" => Some(Level::Trace),
            "DEBUG" => Some(Level::Debug),
            "INFO" => Some(Level::Info),
            "WARN" | "WARNING" => Some(Level::Warn),
            "ERROR" => Some(Level::Error),
            _ => None,
        }
    }
}

/// The errors of several sinks from one [`Sink::finish`] (a sink that holds others, like the
/// sink thread): the engine reports each on its own.
#[derive(Debug)]
pub struct SinkErrors(pub Vec<anyhow::Error>);

impl std::fmt::Display for SinkErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let all: Vec<String> = self.0.iter().map(|e| format!("{e:#}")).collect();
        f.write_str(&all.join("; "))
    }
}

impl std::error::Error for SinkErrors {}

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
