//! The node telemetry channel (SPEC §11): every local attempt gets `SECFLOW_EVENTS`, the
//! path of a named pipe secflow reads, where the tool (or `secflow emit`) writes JSON lines —
//! `{"log":{…}}`, `{"metric":{…}}`, `{"progress":F}`, `{"finding":{…}}`.
//!
//! - [`channel`]: the pipe (a FIFO in a private `0700` directory outside the run directory,
//!   removed with the attempt) and the task that reads it.
//! - [`parse`]: one line into an [`Item`], validated and masked.
//!
//! Guarantees: a tool cannot make secflow's memory grow or stall the run — lines are capped at
//! [`MAX_LINE`] bytes (longer ones are skipped without being held), accepted lines are rate
//! limited ([`RATE`] a second after a burst of [`BURST`] per attempt, [`SHARED_RATE`] over
//! all; the rest are read and counted as dropped, never parsed), and each attempt may create at most [`MAX_SERIES`] metric series.
//! Bad lines are counted by reason and reported in the attempt's [`Stats`], never fatal.
//! secflow's read end is close-on-exec; only the tool (and what it starts) opens the path.

pub mod channel;
pub mod parse;

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::telemetry::log::LogLevel;

pub use channel::{Channel, Reader, attach};

/// The environment variable naming the pipe.
pub const ENV_VAR: &str = "SECFLOW_EVENTS";
/// Longest line kept, in bytes (newline excluded).
pub const MAX_LINE: usize = 64 * 1024;
/// Lines accepted at once before the rate limit applies.
pub const BURST: f64 = 2000.0;
/// Lines accepted a second, sustained, per attempt.
pub const RATE: f64 = 1000.0;
/// Lines accepted a second over all attempts of the process, after a burst of
/// [`SHARED_BURST`]: many attempts flooding at once stay within what the record writers take.
pub const SHARED_RATE: f64 = 10_000.0;
pub const SHARED_BURST: f64 = 20_000.0;
/// Distinct metric series (name and labels) one attempt may report.
pub const MAX_SERIES: usize = 100;
/// Bytes still read after the attempt ended (what its processes wrote before they died);
/// beyond this the rest is abandoned with the pipe.
pub const MAX_DRAIN: usize = 16 * 1024 * 1024;

/// One accepted line (or the closing summary).
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Log(LogItem),
    Metric(MetricItem),
    /// 0.0–1.0.
    Progress(f64),
    Finding(Map<String, Value>),
    /// The last item of an attempt: what its channel saw.
    Summary(Stats),
}

/// `{"log":{"level","message",…}}`: the other keys become the record's metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct LogItem {
    pub level: LogLevel,
    pub message: String,
    pub fields: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
}

impl MetricType {
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
        }
    }
}

/// `{"metric":{"name","type","value","labels"}}`, validated: a counter's `value` is an
/// increment and its name ends in `_total`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricItem {
    pub name: String,
    pub kind: MetricType,
    pub value: f64,
    pub labels: BTreeMap<String, String>,
}

/// What one attempt's channel saw.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// Complete lines read (empty lines not counted).
    pub lines: u64,
    pub accepted: u64,
    /// Refused lines by reason ([`parse::Bad::as_str`]).
    pub bad: BTreeMap<&'static str, u64>,
    /// Lines read but not parsed: over the rate limit.
    pub dropped: u64,
    pub bytes: u64,
    /// Bytes left unread after the attempt ended ([`MAX_DRAIN`] reached).
    pub abandoned: bool,
}

impl Stats {
    pub fn bad_total(&self) -> u64 {
        self.bad.values().sum()
    }

    /// One line for people: `3 bad lines (not_json 2, bad_label 1), 10 dropped by the rate
    /// limit`; `None` when every line was accepted.
    pub fn problems(&self) -> Option<String> {
        let mut parts = Vec::new();
        if self.bad_total() > 0 {
            let reasons: Vec<String> = self.bad.iter().map(|(k, v)| format!("{k} {v}")).collect();
            parts.push(format!(
                "{} bad line{} ({})",
                self.bad_total(),
                if self.bad_total() == 1 { "" } else { "s" },
                reasons.join(", ")
            ));
        }
        if self.dropped > 0 {
            parts.push(format!("{} dropped by the rate limit", self.dropped));
        }
        if self.abandoned {
            parts.push(format!(
                "output past {MAX_DRAIN} bytes after the end abandoned"
            ));
        }
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}
