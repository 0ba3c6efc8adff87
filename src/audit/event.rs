//! The audit event record (one line of `audit.jsonl`), its canonical JSON form and its hash.
//!
//! SPEC §4 pins the definition so that any language can verify a chain:
//! `hash = hex(HMAC-SHA256(key, ascii(prev_hash) || canonical_json(event without "hash")))`,
//! where canonical JSON is compact UTF-8 with object keys sorted by their bytes and integers
//! only. The writer ([`super::AuditSink`]) and the verifier ([`super::verify`]) share this
//! type and these functions, so they can never disagree.

use std::io::Write as _;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::key::AuditKey;

/// The current audit record schema version.
pub const AUDIT_SCHEMA_VERSION: u32 = 1;
/// The version of every event type's `data` shape.
pub const EVENT_VERSION: u32 = 1;
/// `prev_hash` of the first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// Event types that end a finished run's chain.
pub const TERMINAL_TYPES: [&str; 3] = [
    "workflow.run.completed",
    "workflow.run.failed",
    "workflow.run.cancelled",
];

/// One audit event, exactly as written (one compact canonical JSON object a line).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "secflow audit event (audit.jsonl)")]
pub struct AuditEvent {
    pub schema_version: u32,
    /// ULID.
    pub event_id: String,
    /// `workflow.run.started|completed|failed|cancelled|resumed`,
    /// `node.started|completed|failed|retried|timed_out|skipped|cached`, `plugin.loaded`,
    /// `secret.accessed`.
    pub event_type: String,
    pub event_version: u32,
    /// RFC 3339 UTC with milliseconds.
    pub timestamp: String,
    /// Always `secflow`.
    pub source: String,
    pub source_version: String,
    /// The run id.
    pub correlation_id: String,
    pub trace_context: TraceContext,
    pub actor: Actor,
    pub data: AuditData,
    pub metadata: AuditMetadata,
    /// First 16 hex of SHA-256 of the key.
    pub key_id: String,
    /// 1-based position in the chain.
    pub seq: u64,
    /// The previous event's `hash`; 64 zeros for the first event.
    pub prev_hash: String,
    /// Lowercase hex HMAC-SHA256 over `prev_hash` and the canonical event without `hash`.
    pub hash: String,
}

/// W3C ids of the span the event belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TraceContext {
    pub trace_id: String,
    pub span_id: String,
}

/// Who caused the event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Actor {
    /// `user`.
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    pub host: String,
}

/// What the event is about. Absent values are omitted; numbers are integers (durations in
/// milliseconds), never floats.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AuditData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipe_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumed_from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_version: Option<String>,
    /// The name of a declared secret (never its value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_wait_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_user_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_system_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_rss_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub findings_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor_job_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Where the run happened.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AuditMetadata {
    pub working_directory: String,
    /// Absent outside a git repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_commit: Option<String>,
    /// Absent outside a git repository or on a detached HEAD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_branch: Option<String>,
    pub recipe_sha256: String,
}

/// Why a value has no canonical form.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CanonicalError {
    #[error("audit events hold integers only, found the number {0}")]
    Float(String),
    #[error("cannot serialize the event: {0}")]
    Serialize(String),
}

/// Appends the canonical JSON of `value` to `out`: compact, object keys sorted by their
/// UTF-8 bytes, strings escaped as serde_json (and Python's `json` with
/// `ensure_ascii=False`) escape them. Floats are refused.
pub fn write_canonical(value: &Value, out: &mut Vec<u8>) -> Result<(), CanonicalError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => {
            if n.is_f64() {
                return Err(CanonicalError::Float(n.to_string()));
            }
            let _ = write!(out, "{n}");
        }
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(k, out);
                out.push(b':');
                write_canonical(v, out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    // Writing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// The hash of an event whose JSON object (without or with a `hash` member, which is left
/// out) is `event`, chained to `prev_hash`.
pub fn event_hash(
    key: &AuditKey,
    prev_hash: &str,
    event: &Value,
) -> Result<String, CanonicalError> {
    let mut buf = Vec::with_capacity(1024);
    match event {
        Value::Object(map) if map.contains_key("hash") => {
            let mut without = map.clone();
            without.remove("hash");
            write_canonical(&Value::Object(without), &mut buf)?;
        }
        other => write_canonical(other, &mut buf)?,
    }
    Ok(key.hmac_hex(&[prev_hash.as_bytes(), &buf]))
}

/// The anchor `run.json` holds for a finished run:
/// `hex(HMAC(key, "anchor" || run_id || decimal(events) || last_hash))`.
pub fn anchor(key: &AuditKey, run_id: &str, events: u64, last_hash: &str) -> String {
    key.hmac_hex(&[
        b"anchor",
        run_id.as_bytes(),
        events.to_string().as_bytes(),
        last_hash.as_bytes(),
    ])
}

impl AuditEvent {
    /// Sets `hash` from the other fields and returns the event's line (canonical JSON with
    /// `hash`, newline-terminated).
    pub fn seal(&mut self, key: &AuditKey) -> Result<Vec<u8>, CanonicalError> {
        let mut value =
            serde_json::to_value(&*self).map_err(|e| CanonicalError::Serialize(e.to_string()))?;
        let Value::Object(map) = &mut value else {
            return Err(CanonicalError::Serialize("not a JSON object".into()));
        };
        map.remove("hash");
        let hash = event_hash(key, &self.prev_hash, &value)?;
        if let Value::Object(map) = &mut value {
            map.insert("hash".into(), Value::String(hash.clone()));
        }
        self.hash = hash;
        let mut line = Vec::with_capacity(1024);
        write_canonical(&value, &mut line)?;
        line.push(b'\n');
        Ok(line)
    }

    /// Whether this event ends a finished run's chain.
    pub fn is_terminal(&self) -> bool {
        TERMINAL_TYPES.contains(&self.event_type.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_sorts_keys_by_bytes_and_refuses_floats() {
        let v: Value =
            serde_json::from_str(r#"{"b":1,"a":{"z":[1,"x\n\"é"],"B":null},"_":true}"#).unwrap();
        let mut out = Vec::new();
        write_canonical(&v, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"_":true,"a":{"B":null,"z":[1,"x\n\"é"]},"b":1}"#
        );
        let f: Value = serde_json::from_str(r#"{"a":1.5}"#).unwrap();
        assert!(write_canonical(&f, &mut Vec::new()).is_err());
    }
}
