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

// The fields of this type and of every type inside it are declared in the byte order of
// their JSON names, and hold only strings, integers and omitted options: so serde_json's
// compact output of an event *is* its canonical JSON, written without an intermediate
// `Value` (a test and a debug assertion in `seal` hold the writer to `write_canonical`).
/// One audit event, exactly as written (one compact canonical JSON object a line).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "secflow audit event (audit.jsonl)")]
pub struct AuditEvent {
    pub actor: Actor,
    /// The run id.
    pub correlation_id: String,
    pub data: AuditData,
    /// ULID.
    pub event_id: String,
    /// `workflow.run.started|completed|failed|cancelled|resumed`,
    /// `node.started|completed|failed|retried|timed_out|skipped|cached`, `plugin.loaded`,
    /// `secret.accessed`.
    pub event_type: String,
    pub event_version: u32,
    /// Lowercase hex HMAC-SHA256 over `prev_hash` and the canonical event without `hash`.
    pub hash: String,
    /// First 16 hex of SHA-256 of the key.
    pub key_id: String,
    pub metadata: AuditMetadata,
    /// The previous event's `hash`; 64 zeros for the first event.
    pub prev_hash: String,
    pub schema_version: u32,
    /// 1-based position in the chain.
    pub seq: u64,
    /// Always `secflow`.
    pub source: String,
    pub source_version: String,
    /// RFC 3339 UTC with milliseconds.
    pub timestamp: String,
    pub trace_context: TraceContext,
}

/// A dataset as a node's final event vouches for it (fields in byte order of their names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DatasetDigest {
    /// Size of the file.
    pub bytes: u64,
    /// Lowercase hex SHA-256 of the file.
    pub sha256: String,
}

/// W3C ids of the span the event belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TraceContext {
    pub span_id: String,
    pub trace_id: String,
}

/// Who caused the event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Actor {
    pub host: String,
    pub id: String,
    /// `user`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// What the event is about. Absent values are omitted; numbers are integers (durations in
/// milliseconds), never floats.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AuditData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u64>,
    /// A succeeded or reused node's cache key (what `--resume` compares the node to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_system_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_user_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor_job_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub findings_count: Option<u64>,
    /// An instance's index (SPEC §9).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
    /// SHA-256 of an instance's item (never the item itself: it may hold anything).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    /// A succeeded or reused node's file datasets by name (directory outputs have none):
    /// what `--resume` checks a dataset against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<std::collections::BTreeMap<String, DatasetDigest>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_rss_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_wait_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipe_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumed_from: Option<String>,
    /// The name of a declared secret (never its value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
}

/// Where the run happened.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AuditMetadata {
    /// Absent outside a git repository or on a detached HEAD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_branch: Option<String>,
    /// Absent outside a git repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_commit: Option<String>,
    pub recipe_sha256: String,
    pub working_directory: String,
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

/// HMAC(key, "cut" ‖ run_id ‖ events ‖ last_hash): run.json's `audit.cut` when a record
/// write error stopped the chain at `events` (SPEC §10). Only the key's holder can say where
/// a chain was cut, so a cut tail still reads as tampering.
pub fn cut_signature(key: &AuditKey, run_id: &str, events: u64, last_hash: &str) -> String {
    key.hmac_hex(&[
        b"cut",
        run_id.as_bytes(),
        events.to_string().as_bytes(),
        last_hash.as_bytes(),
    ])
}

impl AuditEvent {
    /// Sets `hash` from the other fields and returns the event's line (canonical JSON with
    /// `hash`, newline-terminated).
    pub fn seal(&mut self, key: &AuditKey) -> Result<Vec<u8>, CanonicalError> {
        let encode = |e: serde_json::Error| CanonicalError::Serialize(e.to_string());
        let mut body = Vec::with_capacity(1024);
        serde_json::to_writer(&mut body, &WithoutHash(self)).map_err(encode)?;
        debug_assert_eq!(
            String::from_utf8_lossy(&body),
            String::from_utf8_lossy(&self.canonical_via_value(false)?),
            "AuditEvent's fields must stay in canonical (byte) order"
        );
        self.hash = key.hmac_hex(&[self.prev_hash.as_bytes(), &body]);
        body.clear();
        serde_json::to_writer(&mut body, &*self).map_err(encode)?;
        debug_assert_eq!(
            String::from_utf8_lossy(&body),
            String::from_utf8_lossy(&self.canonical_via_value(true)?)
        );
        body.push(b'\n');
        Ok(body)
    }

    /// The canonical JSON of the event through a [`Value`], the slow and obviously right way
    /// (what a verifier in any language does).
    fn canonical_via_value(&self, with_hash: bool) -> Result<Vec<u8>, CanonicalError> {
        let mut value =
            serde_json::to_value(self).map_err(|e| CanonicalError::Serialize(e.to_string()))?;
        if let (false, Value::Object(map)) = (with_hash, &mut value) {
            map.remove("hash");
        }
        let mut out = Vec::new();
        write_canonical(&value, &mut out)?;
        Ok(out)
    }

    /// Whether this event ends a finished run's chain.
    pub fn is_terminal(&self) -> bool {
        TERMINAL_TYPES.contains(&self.event_type.as_str())
    }
}

/// Whether an event of this type ends a finished run's chain.
pub fn is_terminal_type(event_type: &str) -> bool {
    TERMINAL_TYPES.contains(&event_type)
}

/// An event serialised without its `hash` member: what the hash covers.
struct WithoutHash<'a>(&'a AuditEvent);

impl Serialize for WithoutHash<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let e = self.0;
        // In canonical order, as AuditEvent declares them, `hash` left out.
        let mut s = serializer.serialize_struct("AuditEvent", 15)?;
        s.serialize_field("actor", &e.actor)?;
        s.serialize_field("correlation_id", &e.correlation_id)?;
        s.serialize_field("data", &e.data)?;
        s.serialize_field("event_id", &e.event_id)?;
        s.serialize_field("event_type", &e.event_type)?;
        s.serialize_field("event_version", &e.event_version)?;
        s.serialize_field("key_id", &e.key_id)?;
        s.serialize_field("metadata", &e.metadata)?;
        s.serialize_field("prev_hash", &e.prev_hash)?;
        s.serialize_field("schema_version", &e.schema_version)?;
        s.serialize_field("seq", &e.seq)?;
        s.serialize_field("source", &e.source)?;
        s.serialize_field("source_version", &e.source_version)?;
        s.serialize_field("timestamp", &e.timestamp)?;
        s.serialize_field("trace_context", &e.trace_context)?;
        s.end()
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

    use crate::audit::key::KeySource;

    /// Every optional member present, strings that need escaping.
    fn full_event() -> AuditEvent {
        let s = |t: &str| Some(t.to_string());
        AuditEvent {
            actor: Actor {
                host: "hôst".into(),
                id: "user \"x\"".into(),
                kind: "user".into(),
            },
            correlation_id: "01RUN".into(),
            data: AuditData {
                attempt: Some(2),
                cache_key: s("cafe"),
                concurrency: Some(4),
                cpu_system_ms: Some(1),
                cpu_user_ms: Some(2),
                delay_ms: Some(3),
                duration_ms: Some(4),
                error: s("exit 1\n\ttab \u{1}"),
                executor: s("local"),
                executor_job_id: s("42"),
                exit_code: Some(-1),
                findings_count: Some(5),
                index: Some(7),
                item_sha256: s("ab12"),
                next_attempt: Some(3),
                node_count: Some(9),
                node_id: s("scan"),
                // Dataset names sort by their bytes, as canonical JSON's keys do.
                outputs: Some(
                    [("urls", "ab"), ("Z", "cd"), ("é", "ef"), ("findings", "01")]
                        .into_iter()
                        .map(|(k, v)| {
                            let d = DatasetDigest {
                                bytes: 12,
                                sha256: v.to_string(),
                            };
                            (k.to_string(), d)
                        })
                        .collect(),
                ),
                peak_rss_bytes: Some(u64::MAX),
                pid: Some(7),
                plugin_name: s("exec"),
                plugin_version: s("1"),
                queue_wait_ms: Some(0),
                reason: s("δ"),
                recipe_path: s("/r.yaml"),
                resumed_from: s("01OLD"),
                secret_name: s("TOKEN"),
                signal: Some(9),
                status: s("failed"),
                workflow: s("w"),
            },
            event_id: "01EV".into(),
            event_type: "node.failed".into(),
            event_version: EVENT_VERSION,
            hash: String::new(),
            key_id: "k".into(),
            metadata: AuditMetadata {
                git_branch: s("main"),
                git_commit: s("abc"),
                recipe_sha256: "0".repeat(64),
                working_directory: "/w".into(),
            },
            prev_hash: GENESIS_HASH.into(),
            schema_version: AUDIT_SCHEMA_VERSION,
            seq: 1,
            source: "secflow".into(),
            source_version: "0.1.0".into(),
            timestamp: "2026-11-23T00:00:00.000Z".into(),
            trace_context: TraceContext {
                span_id: "1".repeat(16),
                trace_id: "2".repeat(32),
            },
        }
    }

    #[test]
    fn sealing_writes_the_same_bytes_and_hash_as_the_canonical_value_path() {
        let key = AuditKey::from_bytes(&[7; 32], KeySource::Env);
        for mut event in [full_event(), {
            let mut e = full_event();
            e.data = AuditData::default();
            e.metadata.git_branch = None;
            e
        }] {
            let line = event.seal(&key).unwrap();
            let value: Value = serde_json::from_slice(&line).unwrap();
            let mut canonical = Vec::new();
            write_canonical(&value, &mut canonical).unwrap();
            canonical.push(b'\n');
            assert_eq!(
                String::from_utf8(line).unwrap(),
                String::from_utf8(canonical).unwrap()
            );
            assert_eq!(
                event.hash,
                event_hash(&key, GENESIS_HASH, &value).unwrap(),
                "the hash a verifier computes from the line"
            );
        }
    }
}
