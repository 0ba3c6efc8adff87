//! What a tool reports on its telemetry channel (SPEC §11), as the engine hands it to the
//! sinks: one accepted line of `SECFLOW_EVENTS` ([`Item`]), or the channel's [`Stats`] when
//! the attempt ended. The channel itself (the pipe, the parser, the limits) is the engine's
//! (`engine::tool_events`).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::Level;

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
    pub level: Level,
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
    /// Refused lines by reason (the parser's reason names).
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
