//! The human view of a log record, one line: time, level, node, message, key fields.
//! Colour only when asked (callers pass [`super::format::stderr_colour`] or `stdout_colour`: a TTY and no
//! `NO_COLOR`). Every value from the record is escaped ([`crate::escape`]): a record is
//! hostile input and never reaches the terminal raw.

use std::fmt::Write as _;

use serde_json::Value;

use super::log::{LogLevel, LogRecord};
use crate::escape::escape;

fn level_color(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Trace => "\x1b[2m",
        LogLevel::Debug => "\x1b[34m",
        LogLevel::Info => "\x1b[32m",
        LogLevel::Warn => "\x1b[33m",
        LogLevel::Error => "\x1b[31;1m",
    }
}

/// `12:00:00.123 INFO  scan        node completed  attempt=1 duration_ms=812 findings=12`.
pub fn render(record: &LogRecord, color: bool) -> String {
    let time = escape(record.timestamp.get(11..23).unwrap_or(&record.timestamp));
    let level = record.level.as_str();
    let node = escape(record.node_id.as_deref().unwrap_or("-"));
    let message = escape(&record.message);
    let mut out = String::with_capacity(120);
    if color {
        let _ = write!(
            out,
            "\x1b[2m{time}\x1b[0m {}{level:<5}\x1b[0m \x1b[36m{node:<12}\x1b[0m {}",
            level_color(record.level),
            message
        );
    } else {
        let _ = write!(out, "{time} {level:<5} {node:<12} {message}");
    }
    let mut field = |k: &str, v: String| {
        let _ = write!(out, "  {}={}", escape(k), escape(&v));
    };
    if let Some(a) = record.attempt {
        field("attempt", a.to_string());
    }
    if let Some(d) = record.duration_ms {
        field("duration_ms", d.to_string());
    }
    if let Some(f) = record.findings_count {
        field("findings", f.to_string());
    }
    if record.success == Some(false) {
        field("success", "false".into());
    }
    if let Some(e) = &record.error {
        field("error", format!("{}: {}", e.kind, e.message));
    }
    for (k, v) in &record.metadata {
        let v = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        field(k, v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_plain_without_colour() {
        let mut r = LogRecord::new(std::time::UNIX_EPOCH, LogLevel::Info, "x", "node completed")
            .meta("pid", 7);
        r.node_id = Some("scan".into());
        r.duration_ms = Some(812);
        let line = render(&r, false);
        assert_eq!(
            line,
            "00:00:00.000 INFO  scan         node completed  duration_ms=812  pid=7"
        );
        assert!(render(&r, true).contains("\x1b["));
    }
}
