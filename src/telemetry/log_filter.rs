//! Which log records to show: the one filter of `secflow logs` and of `serve`'s log views
//! (`/api/runs/{id}/logs`, the run page), so both select the same records for the same
//! node and level.

use std::time::SystemTime;

use super::log::{LogLevel, LogRecord};
use crate::store::clock::parse_rfc3339;

/// Which records to keep; an unset field keeps every record.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    /// A node id, or a template id that also selects its instances (`scan` keeps `scan@3`).
    pub node: Option<String>,
    /// The minimum level.
    pub level: Option<LogLevel>,
    /// A trace id, lower case.
    pub trace_id: Option<String>,
    /// Records at or after this time.
    pub since: Option<SystemTime>,
}

impl LogFilter {
    /// Whether `r` passes every set field.
    pub fn keeps(&self, r: &LogRecord) -> bool {
        self.node
            .as_ref()
            .is_none_or(|n| r.node_id.as_deref().is_some_and(|id| node_matches(id, n)))
            && self.level.is_none_or(|l| r.level >= l)
            && self
                .trace_id
                .as_ref()
                .is_none_or(|t| r.trace_id.as_deref() == Some(t.as_str()))
            && self
                .since
                .is_none_or(|since| parse_rfc3339(&r.timestamp).is_some_and(|at| at >= since))
    }
}

/// Whether record node id `id` is selected by node `arg`: the same id, or an instance
/// (`scan@3`) of the template `arg` names (`scan`) (SPEC §9).
pub fn node_matches(id: &str, arg: &str) -> bool {
    id == arg || (!arg.contains('@') && crate::plan::foreach::template_id(id) == arg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(node: Option<&str>, level: LogLevel) -> LogRecord {
        let mut r: LogRecord = serde_json::from_value(serde_json::json!({
            "schema_version": 1, "timestamp": "2026-01-01T00:00:00.000Z", "level": "INFO",
            "logger": "secflow", "message": "m", "run_id": "r", "workflow": "w"
        }))
        .expect("a minimal log record");
        r.node_id = node.map(str::to_string);
        r.level = level;
        r
    }

    #[test]
    fn a_template_selects_its_instances_and_an_instance_only_itself() {
        let f = LogFilter {
            node: Some("scan".into()),
            ..LogFilter::default()
        };
        assert!(f.keeps(&record(Some("scan"), LogLevel::Info)));
        assert!(f.keeps(&record(Some("scan@3"), LogLevel::Info)));
        assert!(!f.keeps(&record(Some("scanner"), LogLevel::Info)));
        assert!(!f.keeps(&record(None, LogLevel::Info)));
        let one = LogFilter {
            node: Some("scan@3".into()),
            level: Some(LogLevel::Warn),
            ..LogFilter::default()
        };
        assert!(one.keeps(&record(Some("scan@3"), LogLevel::Error)));
        assert!(!one.keeps(&record(Some("scan@3"), LogLevel::Info)));
        assert!(!one.keeps(&record(Some("scan@4"), LogLevel::Error)));
    }
}
