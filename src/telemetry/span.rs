//! The span record (`spans.jsonl`, SPEC §4): OpenTelemetry's span data model with ids as
//! lowercase hex, `kind` and `status.code` as lowercase strings, times as integer Unix
//! nanoseconds and `attributes` a flat JSON object. One serde type for writer and readers.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::event::Redactor;

/// The current span record schema version.
pub const SPAN_SCHEMA_VERSION: u32 = 1;

/// Span kind; secflow's own spans are all `internal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SpanKind {
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

/// Outcome of a span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StatusCode {
    Unset,
    Ok,
    Error,
}

/// `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SpanStatus {
    pub code: StatusCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Something that happened at a point in a span (e.g. a retry being scheduled).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SpanEvent {
    pub name: String,
    pub time_unix_nano: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, Value>,
}

/// One line of `spans.jsonl`: a finished span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "secflow span record (spans.jsonl)")]
pub struct SpanRecord {
    pub schema_version: u32,
    /// 32 lowercase hex.
    pub trace_id: String,
    /// 16 lowercase hex.
    pub span_id: String,
    /// 16 lowercase hex; absent for a root span.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_span_id: Option<String>,
    /// `workflow <name>`, `node <id>`, `attempt <id>#<n>`, `validate`, `plugin.load <name>`.
    pub name: String,
    pub kind: SpanKind,
    pub start_time_unix_nano: u64,
    pub end_time_unix_nano: u64,
    /// Flat: strings, numbers and booleans only.
    pub attributes: BTreeMap<String, Value>,
    pub events: Vec<SpanEvent>,
    pub status: SpanStatus,
    /// `service.name`, `service.version`, `host.name`, `process.pid`.
    pub resource: BTreeMap<String, Value>,
}

impl SpanRecord {
    /// Masks secret values in the name, attributes, events and status message.
    pub fn redact(&mut self, redactor: &Redactor) {
        if redactor.is_empty() {
            return;
        }
        redactor.redact_string(&mut self.name);
        redactor.redact_map(&mut self.attributes);
        for e in &mut self.events {
            redactor.redact_string(&mut e.name);
            redactor.redact_map(&mut e.attributes);
        }
        if let Some(m) = &mut self.status.message {
            redactor.redact_string(m);
        }
    }

    /// Duration in nanoseconds (0 if the end precedes the start).
    pub fn duration_nanos(&self) -> u64 {
        self.end_time_unix_nano
            .saturating_sub(self.start_time_unix_nano)
    }
}

/// The resource every span of this process carries.
pub fn resource() -> BTreeMap<String, Value> {
    static RESOURCE: OnceLock<BTreeMap<String, Value>> = OnceLock::new();
    RESOURCE
        .get_or_init(|| {
            BTreeMap::from([
                ("service.name".to_string(), Value::from("secflow")),
                (
                    "service.version".to_string(),
                    Value::from(env!("CARGO_PKG_VERSION")),
                ),
                (
                    "host.name".to_string(),
                    Value::from(crate::store::layout::host_name()),
                ),
                ("process.pid".to_string(), Value::from(std::process::id())),
            ])
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_lowercase_codes() {
        let r = SpanRecord {
            schema_version: SPAN_SCHEMA_VERSION,
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
            span_id: "00f067aa0ba902b7".into(),
            parent_span_id: None,
            name: "validate".into(),
            kind: SpanKind::Internal,
            start_time_unix_nano: 1,
            end_time_unix_nano: 3,
            attributes: BTreeMap::new(),
            events: vec![],
            status: SpanStatus {
                code: StatusCode::Ok,
                message: None,
            },
            resource: resource(),
        };
        let line = serde_json::to_string(&r).unwrap();
        assert!(line.contains(r#""kind":"internal""#) && line.contains(r#""code":"ok""#));
        assert!(line.contains(r#""service.name":"secflow""#));
        assert_eq!(serde_json::from_str::<SpanRecord>(&line).unwrap(), r);
        assert_eq!(r.duration_nanos(), 2);
    }
}
