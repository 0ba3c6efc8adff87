//! Chain heads and outside witnesses (SPEC §10 "The audit key is out of the nodes' reach").
//!
//! A [`ChainHead`] (`run_id`, `seq`, `last_hash`, `key_id`) names how far a chain went. At
//! the end of a run it is sent to every configured collector; `audit head RUN` prints it as
//! one JSON line; `audit verify RUN --witness FILE` checks the chain against every head of
//! the run in FILE: a chain shorter than a head, or one whose event at a head's `seq` has
//! another hash, was cut or rewritten after the witness saw it — tampered, even when whoever
//! did it held the key.

use std::io::BufReader;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::verify::{Tamper, TamperKind};

/// Version of a head line.
pub const HEAD_SCHEMA_VERSION: u32 = 1;

/// How far a chain went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    #[serde(default = "head_version")]
    pub schema_version: u32,
    pub run_id: String,
    /// The last event's `seq` (0: no event).
    pub seq: u64,
    /// The last event's hash (64 zeros: no event).
    pub last_hash: String,
    pub key_id: String,
    /// The last event is the run's terminal event.
    #[serde(default)]
    pub finished: bool,
    /// The last event's time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
}

fn head_version() -> u32 {
    HEAD_SCHEMA_VERSION
}

/// The fields of an event a head needs.
#[derive(Deserialize)]
struct EventHead {
    seq: u64,
    hash: String,
    key_id: String,
    correlation_id: String,
    event_type: String,
    timestamp: String,
}

/// Reads `audit` line by line, handing each parseable event to `f` (torn or foreign lines
/// are skipped: verification is what judges them).
fn each_event(audit: &Path, mut f: impl FnMut(EventHead)) -> Result<(), String> {
    let file = crate::store::open::open_regular(audit)
        .map_err(|e| format!("cannot read {}: {e}", audit.display()))?;
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let mut line = Vec::new();
    use crate::store::jsonl::{LineRead, MAX_LINE, read_line};
    loop {
        match read_line(&mut reader, &mut line, MAX_LINE) {
            Ok(LineRead::Eof) => return Ok(()),
            Ok(LineRead::TooLong { .. }) => {}
            Ok(LineRead::Line) => {
                if let Ok(event) = serde_json::from_slice::<EventHead>(&line) {
                    f(event);
                }
            }
            Err(e) => return Err(format!("cannot read {}: {e}", audit.display())),
        }
    }
}

/// The head of the chain in `audit`: its last event. `None`: no event at all.
pub fn head_of(audit: &Path) -> Result<Option<ChainHead>, String> {
    let mut last = None;
    each_event(audit, |e| last = Some(e))?;
    Ok(last.map(|e| ChainHead {
        schema_version: HEAD_SCHEMA_VERSION,
        finished: super::event::is_terminal_type(&e.event_type),
        run_id: e.correlation_id,
        seq: e.seq,
        last_hash: e.hash,
        key_id: e.key_id,
        timestamp: Some(e.timestamp),
    }))
}

/// The heads of run `run_id` in a witness file (JSON lines; other runs' lines and blank
/// lines are skipped). A line that is not a head is an error naming file and line.
pub fn read_witness(path: &Path, run_id: &str) -> Result<Vec<ChainHead>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read witness file {}: {e}", path.display()))?;
    let mut heads = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let head: ChainHead = serde_json::from_str(line).map_err(|e| {
            format!(
                "{}:{}: not a chain head ({e}); `secflow audit head RUN` prints one",
                path.display(),
                i + 1
            )
        })?;
        if head.run_id == run_id {
            heads.push(head);
        }
    }
    Ok(heads)
}

/// Checks a chain that verified intact up to `events` against `heads`: the first head it
/// falls short of or differs from, as tampering.
pub fn check(audit: &Path, events: u64, heads: &[ChainHead]) -> Result<Option<Tamper>, String> {
    let mut wanted: Vec<&ChainHead> = heads.iter().filter(|h| h.seq > 0).collect();
    wanted.sort_by_key(|h| h.seq);
    if let Some(h) = wanted.iter().find(|h| h.seq > events) {
        return Ok(Some(Tamper {
            seq: events + 1,
            kind: TamperKind::Truncated,
            line: 0,
            message: format!(
                "the chain ends at seq {events} but a witness saw seq {} (hash {})",
                h.seq, h.last_hash
            ),
        }));
    }
    let mut differs = None;
    each_event(audit, |e| {
        if differs.is_none()
            && let Some(h) = wanted.iter().find(|h| h.seq == e.seq)
            && h.last_hash != e.hash
        {
            differs = Some(Tamper {
                seq: e.seq,
                kind: TamperKind::Edited,
                line: e.seq,
                message: format!(
                    "seq {} has hash {} but a witness saw {}: the chain was rewritten",
                    e.seq, e.hash, h.last_hash
                ),
            });
        }
    })?;
    Ok(differs)
}
