//! The log record (`logs.jsonl`, SPEC §4): one serde type for the writer and every reader,
//! and the fixed messages the engine's events are logged under.
//!
//! Absent values are omitted, never `null`. Fields may be added with `schema_version`
//! unchanged; none are renamed.

use std::collections::BTreeMap;
use std::time::SystemTime;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::event::Level;
use crate::event::Redactor;
use crate::store::clock::rfc3339_ms;

/// The current log record schema version.
pub const LOG_SCHEMA_VERSION: u32 = 1;

/// The fixed `message` of each record derived from an engine event. Readers (e.g.
/// performance analysis, which aggregates over [`NODE_COMPLETED`]) match on these.
pub mod messages {
    /// `RunStarted`: metadata `executor`, `concurrency`, `nodes`, `resumed_from`.
    pub const RUN_STARTED: &str = "run started";
    /// `RunFinished`: `success`, `duration_ms`; metadata `status`, `exit_code`.
    pub const RUN_FINISHED: &str = "run finished";
    /// `NodeQueued` (DEBUG): `attempt`.
    pub const NODE_QUEUED: &str = "node queued";
    /// `AttemptStarted`: `attempt`; metadata `pid`, `executor_job_id`.
    pub const NODE_STARTED: &str = "node started";
    /// `AttemptFinished`: `attempt`, `duration_ms`, `success`, `error`; metadata exit code,
    /// signal, CPU, peak RSS, queue wait.
    pub const ATTEMPT_FINISHED: &str = "attempt finished";
    /// `NodeRetrying` (WARN): metadata `next_attempt`, `delay_ms`; `error`.
    pub const NODE_RETRYING: &str = "node retrying";
    /// `NodeOutputs` (DEBUG): metadata `outputs {name: {path, records}}`.
    pub const NODE_OUTPUTS: &str = "node outputs";
    /// `NodeFinished` succeeded: `duration_ms` (first attempt start to end), `attempt` (the
    /// last), `findings_count`, `success: true`.
    pub const NODE_COMPLETED: &str = "node completed";
    /// `NodeFinished` failed or timed out (ERROR): `error {type: failed|timed_out, message}`.
    pub const NODE_FAILED: &str = "node failed";
    /// `NodeFinished` skipped: metadata `reason`.
    pub const NODE_SKIPPED: &str = "node skipped";
    /// `NodeFinished` cancelled (WARN): metadata `reason`.
    pub const NODE_CANCELLED: &str = "node cancelled";
    /// `NodeFinished` cached: `findings_count`.
    pub const NODE_CACHED: &str = "node cached";
    /// `validate` phase timing (from the CLI).
    pub const VALIDATED: &str = "recipe validated";
}

/// Severity, written in upper case.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    pub const NAMES: [&'static str; 5] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"];

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// Case-insensitive; `warning` is `WARN` (the event level's names).
    pub fn parse(text: &str) -> Option<Self> {
        Level::parse(text).map(Self::from)
    }
}

impl From<Level> for LogLevel {
    fn from(level: Level) -> Self {
        match level {
            Level::Trace => LogLevel::Trace,
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        }
    }
}

impl From<LogLevel> for Level {
    fn from(level: LogLevel) -> Self {
        match level {
            LogLevel::Trace => Level::Trace,
            LogLevel::Debug => Level::Debug,
            LogLevel::Info => Level::Info,
            LogLevel::Warn => Level::Warn,
            LogLevel::Error => Level::Error,
        }
    }
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LogError {
    /// A short kind: `failed`, `timed_out`, `signal`, an error type name.
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
}

/// One line of `logs.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "secflow log record (logs.jsonl)")]
pub struct LogRecord {
    pub schema_version: u32,
    /// RFC 3339, UTC, milliseconds, `Z`.
    pub timestamp: String,
    pub level: LogLevel,
    /// Where the record comes from (a `tracing` target such as `secflow::engine`).
    pub logger: String,
    pub message: String,
    /// W3C trace id, 32 lowercase hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// W3C id (16 lowercase hex) of the span the record happened in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// The workflow's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_name: Option<String>,
    /// 1-based.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub findings_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<LogError>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, Value>,
}

impl LogRecord {
    /// A record with only the required fields set.
    pub fn new(at: SystemTime, level: LogLevel, logger: &str, message: impl Into<String>) -> Self {
        LogRecord {
            schema_version: LOG_SCHEMA_VERSION,
            timestamp: rfc3339_ms(at),
            level,
            logger: logger.to_string(),
            message: message.into(),
            trace_id: None,
            span_id: None,
            run_id: None,
            workflow_id: None,
            node_id: None,
            plugin_name: None,
            attempt: None,
            duration_ms: None,
            findings_count: None,
            success: None,
            error: None,
            metadata: BTreeMap::new(),
        }
    }

    /// Adds a metadata entry (skipped when the value is null).
    pub fn meta(mut self, key: &str, value: impl Into<Value>) -> Self {
        let value = value.into();
        if !value.is_null() {
            self.metadata.insert(key.to_string(), value);
        }
        self
    }

    /// Masks secret values in every free-text field.
    pub fn redact(&mut self, redactor: &Redactor) {
        if redactor.is_empty() {
            return;
        }
        redactor.redact_string(&mut self.message);
        if let Some(e) = &mut self.error {
            redactor.redact_string(&mut e.kind);
            redactor.redact_string(&mut e.message);
        }
        redactor.redact_map(&mut self.metadata);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_omits_absent_values() {
        let mut r = LogRecord::new(
            SystemTime::UNIX_EPOCH,
            LogLevel::Warn,
            "secflow::engine",
            "x",
        )
        .meta("pid", 42)
        .meta("none", Value::Null);
        r.attempt = Some(2);
        let line = serde_json::to_string(&r).unwrap();
        assert!(!line.contains("null"), "{line}");
        assert!(line.contains(r#""level":"WARN""#));
        assert_eq!(serde_json::from_str::<LogRecord>(&line).unwrap(), r);
        assert_eq!(LogLevel::parse("warning"), Some(LogLevel::Warn));
    }
}
