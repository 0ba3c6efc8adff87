//! Verifying an audit chain: one streaming pass in bounded memory.
//!
//! Every line is re-hashed from its canonical form and linked to the one before. The first
//! problem is named by the `seq` where the chain stops being what the writer wrote, and
//! classified (edited, inserted, deleted, reordered, truncated) by looking at what follows.
//! A torn last line (no newline, not JSON: a kill -9 mid-write) is skipped and counted. The
//! chain's end is checked against `run.json`'s `audit` summary and its signed anchor, so a
//! cut tail is caught even when `run.json` was edited too.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::event::{AuditEvent, GENESIS_HASH, anchor, cut_signature, write_canonical};
use super::key::AuditKey;
use crate::store::{AuditSummary, RunStatus};

/// What kind of tampering was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TamperKind {
    Edited,
    Inserted,
    Deleted,
    Reordered,
    Truncated,
}

impl TamperKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TamperKind::Edited => "edited",
            TamperKind::Inserted => "inserted",
            TamperKind::Deleted => "deleted",
            TamperKind::Reordered => "reordered",
            TamperKind::Truncated => "truncated",
        }
    }
}

/// The first place the chain differs from what was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tamper {
    /// The first `seq` that is not as written.
    pub seq: u64,
    pub kind: TamperKind,
    /// 1-based line of `audit.jsonl` where it shows (0 when it shows in `run.json`).
    pub line: u64,
    pub message: String,
}

/// The verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// Intact and finished.
    Intact,
    Tampered(Tamper),
    /// An intact prefix of a run that never finished.
    Unfinished,
    /// The chain was written with another key.
    WrongKey {
        chain_key_id: String,
    },
}

/// What a verification found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub outcome: Outcome,
    /// Events verified (up to the first problem).
    pub events: u64,
    pub run_id: Option<String>,
    pub first_timestamp: Option<String>,
    pub last_timestamp: Option<String>,
    /// The key id of the key used to verify.
    pub key_id: String,
    pub last_hash: String,
    /// Torn last lines skipped.
    pub torn_lines: u64,
    /// Whether `run.json`'s anchor was present and verified.
    pub anchor_verified: bool,
}

/// The part of `run.json` verification reads.
#[derive(Debug, Clone, Deserialize)]
pub struct RunJsonAudit {
    pub run_id: String,
    pub status: RunStatus,
    #[serde(default)]
    pub audit: Option<AuditSummary>,
}

/// Why a chain could not be verified at all.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {message}")]
    BadRunJson { path: PathBuf, message: String },
    #[error("{path} belongs to run {run_json}, but the audit chain to run {chain}")]
    RunMismatch {
        path: PathBuf,
        run_json: String,
        chain: String,
    },
}

/// Reads the audit part of a `run.json`.
pub fn read_run_json(path: &Path) -> Result<RunJsonAudit, VerifyError> {
    let text = crate::store::open::read_regular(path).map_err(|source| VerifyError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_slice(&text).map_err(|e| VerifyError::BadRunJson {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// One line of the file, read.
enum Line {
    /// A well-formed event; `hash_ok` says whether its hash matches its content.
    Event {
        event: Box<AuditEvent>,
        hash_ok: bool,
    },
    /// Not an event; `torn` when it is the unterminated last line.
    Bad { torn: bool, why: String },
}

struct Lines {
    reader: BufReader<File>,
    path: PathBuf,
    buf: Vec<u8>,
    canon: Vec<u8>,
    number: u64,
    /// A line longer than any event was met: nothing after it is read.
    stopped: bool,
}

/// The longest line read as an event: a written event is a few hundred bytes to a few KiB,
/// so a longer line is no event, and the verifier stops there rather than reading on
/// through it (a sparse tail of terabytes costs this much).
const MAX_EVENT_LINE: usize = 16 << 20;

impl Lines {
    fn next(&mut self, key: &AuditKey) -> Result<Option<Line>, VerifyError> {
        use crate::store::jsonl::{LineRead, read_line_or_stop};
        if self.stopped {
            return Ok(None);
        }
        let read = read_line_or_stop(&mut self.reader, &mut self.buf, MAX_EVENT_LINE).map_err(
            |source| VerifyError::Read {
                path: self.path.clone(),
                source,
            },
        )?;
        if read == LineRead::Eof {
            return Ok(None);
        }
        self.number += 1;
        if let LineRead::TooLong { .. } = read {
            // No event is near this long, torn or not: the chain is not as written there.
            self.stopped = true;
            return Ok(Some(Line::Bad {
                torn: false,
                why: format!("longer than {MAX_EVENT_LINE} bytes"),
            }));
        }
        let terminated = self.buf.last() == Some(&b'\n');
        let line = match parse_line(&self.buf, key, &mut self.canon) {
            Ok((event, hash_ok)) => Line::Event {
                event: Box::new(event),
                hash_ok,
            },
            Err(why) => Line::Bad {
                torn: !terminated,
                why,
            },
        };
        Ok(Some(line))
    }
}

/// Parses one line and checks its hash against its content.
///
/// Fast path: a line as the writer wrote it is canonical, so the signed bytes are the line
/// without its `,"hash":"…"` member; an HMAC match there proves the content authentic.
/// Otherwise (tampered, or re-serialized by another tool) the canonical form is rebuilt
/// from the parsed JSON, exactly as SPEC §4 defines it.
fn parse_line(
    bytes: &[u8],
    key: &AuditKey,
    canon: &mut Vec<u8>,
) -> Result<(AuditEvent, bool), String> {
    let line = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let event: AuditEvent = serde_json::from_slice(line).map_err(|e| e.to_string())?;
    if let Ok(text) = std::str::from_utf8(line) {
        let member = format!(",\"hash\":\"{}\"", event.hash);
        if let Some(at) = text.find(&member) {
            let (head, tail) = (&line[..at], &line[at + member.len()..]);
            if key.hmac_hex(&[event.prev_hash.as_bytes(), head, tail]) == event.hash {
                return Ok((event, true));
            }
        }
    }
    let mut value: Value = serde_json::from_slice(line).map_err(|e| e.to_string())?;
    let Value::Object(map) = &mut value else {
        return Err("not a JSON object".into());
    };
    map.remove("hash");
    canon.clear();
    write_canonical(&value, canon).map_err(|e| e.to_string())?;
    let computed = key.hmac_hex(&[event.prev_hash.as_bytes(), canon]);
    let hash_ok = computed == event.hash;
    Ok((event, hash_ok))
}

/// Verifies `audit_path` with `key`, against `run_json` when there is one.
pub fn verify(
    audit_path: &Path,
    run_json: Option<&RunJsonAudit>,
    run_json_path: Option<&Path>,
    key: &AuditKey,
) -> Result<Report, VerifyError> {
    verify_visiting(audit_path, run_json, run_json_path, key, &mut |_| {})
}

/// [`verify`], handing `visit` each event in chain order once it is verified (authentic and
/// linked to the one before); nothing after the first problem is visited.
pub fn verify_visiting(
    audit_path: &Path,
    run_json: Option<&RunJsonAudit>,
    run_json_path: Option<&Path>,
    key: &AuditKey,
    visit: &mut dyn FnMut(&AuditEvent),
) -> Result<Report, VerifyError> {
    let file =
        crate::store::open::open_regular(audit_path).map_err(|source| VerifyError::Read {
            path: audit_path.to_path_buf(),
            source,
        })?;
    let mut lines = Lines {
        reader: BufReader::with_capacity(256 * 1024, file),
        path: audit_path.to_path_buf(),
        buf: Vec::with_capacity(4096),
        canon: Vec::with_capacity(4096),
        number: 0,
        stopped: false,
    };
    let mut report = Report {
        outcome: Outcome::Unfinished,
        events: 0,
        run_id: None,
        first_timestamp: None,
        last_timestamp: None,
        key_id: key.key_id().to_string(),
        last_hash: GENESIS_HASH.into(),
        torn_lines: 0,
        anchor_verified: false,
    };
    let mut terminal = false;
    while let Some(line) = lines.next(key)? {
        let expected = report.events + 1;
        let at = lines.number;
        let tamper = tamper_at(expected, at);
        let (event, hash_ok) = match line {
            Line::Bad { torn: true, .. } if !terminal => {
                report.torn_lines += 1;
                continue;
            }
            Line::Bad { why, .. } => {
                let kind = if terminal {
                    TamperKind::Inserted
                } else {
                    TamperKind::Edited
                };
                report.outcome = Outcome::Tampered(tamper(
                    kind,
                    format!("line {at} is not an audit event ({why})"),
                ));
                return Ok(report);
            }
            Line::Event { event, hash_ok } => (event, hash_ok),
        };
        if report.events == 0 && event.key_id != key.key_id() {
            report.outcome = Outcome::WrongKey {
                chain_key_id: event.key_id.clone(),
            };
            return Ok(report);
        }
        let problem = if hash_ok {
            link_problem(
                &mut lines,
                key,
                &report.last_hash,
                terminal,
                expected,
                &event,
            )?
        } else {
            Some(tamper(
                TamperKind::Edited,
                format!("line {at}: the hash does not match the event's content"),
            ))
        };
        if let Some(t) = problem {
            report.outcome = Outcome::Tampered(t);
            return Ok(report);
        }
        visit(&event);
        report.events = event.seq;
        if report.first_timestamp.is_none() {
            report.first_timestamp = Some(event.timestamp.clone());
            report.run_id = Some(event.correlation_id.clone());
        }
        terminal = event.is_terminal();
        report.last_timestamp = Some(event.timestamp);
        report.last_hash = event.hash;
    }
    report.outcome = check_end(&report, terminal, run_json, run_json_path, key)?;
    report.anchor_verified = run_json
        .and_then(|r| r.audit.as_ref())
        .and_then(|a| a.anchor.as_ref())
        .is_some()
        && report.outcome == Outcome::Intact;
    Ok(report)
}

/// Makes the [`Tamper`] of `seq`, shown at line `line`, from its kind and message.
fn tamper_at(seq: u64, line: u64) -> impl Fn(TamperKind, String) -> Tamper {
    move |kind, message| Tamper {
        seq,
        kind,
        line,
        message,
    }
}

/// Whether the authentic event `event` at line `lines.number` breaks the chain: after the
/// terminal event, a repeated or skipped `seq`, or a `prev_hash` that does not link to
/// `last_hash` (the event before).
fn link_problem(
    lines: &mut Lines,
    key: &AuditKey,
    last_hash: &str,
    terminal: bool,
    expected: u64,
    event: &AuditEvent,
) -> Result<Option<Tamper>, VerifyError> {
    let at = lines.number;
    let tamper = tamper_at(expected, at);
    Ok(if terminal {
        Some(tamper(
            TamperKind::Inserted,
            format!("line {at}: an event after the run's terminal event"),
        ))
    } else if event.seq == expected && event.prev_hash == last_hash {
        None
    } else if event.seq < expected {
        Some(tamper(
            TamperKind::Inserted,
            format!(
                "line {at}: an event repeating seq {} where seq {expected} belongs",
                event.seq
            ),
        ))
    } else if event.seq > expected {
        Some(classify_gap(lines, key, last_hash, expected, event)?)
    } else {
        Some(tamper(
            TamperKind::Edited,
            format!("line {at}: prev_hash does not link to the event before"),
        ))
    })
}

/// At line `lines.number` the event has `seq` beyond `expected`: an insertion (the chain goes
/// on without it), a reordering (the missing event comes later) or a deletion.
fn classify_gap(
    lines: &mut Lines,
    key: &AuditKey,
    prev_hash: &str,
    expected: u64,
    seen: &AuditEvent,
) -> Result<Tamper, VerifyError> {
    let at = lines.number;
    let mut following = Vec::with_capacity(2);
    let mut missing_found = false;
    while let Some(line) = lines.next(key)? {
        let Line::Event {
            event,
            hash_ok: true,
        } = line
        else {
            continue;
        };
        if event.seq == expected {
            missing_found = true;
        }
        if following.len() < 2 {
            following.push(event);
        } else if missing_found {
            break;
        }
    }
    let links = |e: &AuditEvent, seq: u64, prev: &str| e.seq == seq && e.prev_hash == prev;
    let (kind, message) = match following.as_slice() {
        [first, second, ..]
            if links(first, expected, prev_hash) && links(second, expected + 1, &first.hash) =>
        {
            (
                TamperKind::Inserted,
                format!(
                    "line {at}: an event (a copy of seq {}) inserted before seq {expected}",
                    seen.seq
                ),
            )
        }
        _ if missing_found => (
            TamperKind::Reordered,
            format!(
                "line {at}: seq {} appears where seq {expected} belongs; seq {expected} comes later",
                seen.seq
            ),
        ),
        _ => {
            let last_missing = seen.seq - 1;
            let which = if last_missing == expected {
                format!("seq {expected} is")
            } else {
                format!("seqs {expected}..={last_missing} are")
            };
            (
                TamperKind::Deleted,
                format!("line {at}: {which} missing before seq {}", seen.seq),
            )
        }
    };
    Ok(Tamper {
        seq: expected,
        kind,
        line: at,
        message,
    })
}

/// The verdict on a chain read to its end without a problem, against `run.json`.
fn check_end(
    report: &Report,
    terminal: bool,
    run_json: Option<&RunJsonAudit>,
    run_json_path: Option<&Path>,
    key: &AuditKey,
) -> Result<Outcome, VerifyError> {
    let n = report.events;
    let truncated = |message: String| {
        Outcome::Tampered(Tamper {
            seq: n + 1,
            kind: TamperKind::Truncated,
            line: 0,
            message,
        })
    };
    let Some(rj) = run_json else {
        return Ok(if terminal {
            Outcome::Intact
        } else {
            Outcome::Unfinished
        });
    };
    let run_id = match &report.run_id {
        Some(chain) if *chain != rj.run_id => {
            return Err(VerifyError::RunMismatch {
                path: run_json_path.map(Path::to_path_buf).unwrap_or_default(),
                run_json: rj.run_id.clone(),
                chain: chain.clone(),
            });
        }
        _ => rj.run_id.as_str(),
    };
    let summary = rj.audit.as_ref();
    if let Some(signed) = summary.and_then(|a| a.anchor.as_deref()) {
        if signed == anchor(key, run_id, n, &report.last_hash) {
            let consistent =
                summary.is_some_and(|a| a.events == n && a.last_hash == report.last_hash);
            return Ok(if consistent {
                Outcome::Intact
            } else {
                Outcome::Tampered(Tamper {
                    seq: n,
                    kind: TamperKind::Edited,
                    line: 0,
                    message: "run.json's audit events or last_hash were changed".into(),
                })
            });
        }
        let recorded = summary.map_or(0, |a| a.events);
        if !terminal || recorded > n {
            return Ok(truncated(format!(
                "the chain ends at seq {n} but run.json's signed anchor covers more \
                 (run.json records {recorded} events)"
            )));
        }
        return Ok(Outcome::Tampered(Tamper {
            seq: n,
            kind: TamperKind::Edited,
            line: 0,
            message: "run.json's audit anchor does not match the chain".into(),
        }));
    }
    if let Some(a) = summary.filter(|a| a.events > n) {
        return Ok(truncated(format!(
            "the chain ends at seq {n} but run.json records {} events",
            a.events
        )));
    }
    if terminal {
        return Ok(Outcome::Intact);
    }
    // A chain a record write error stopped (SPEC §10): an unfinished prefix, provided the
    // signed cut names exactly this end.
    if let Some(signed) = summary.and_then(|a| a.cut.as_deref()) {
        let here = signed == cut_signature(key, run_id, n, &report.last_hash);
        let consistent = summary.is_some_and(|a| a.events == n && a.last_hash == report.last_hash);
        return Ok(if here && consistent {
            Outcome::Unfinished
        } else {
            Outcome::Tampered(Tamper {
                seq: n,
                kind: TamperKind::Edited,
                line: 0,
                message: "run.json's audit cut does not match the chain".into(),
            })
        });
    }
    if rj.status != RunStatus::Running {
        return Ok(truncated(format!(
            "run.json says the run {} but the chain has no terminal event after seq {n}",
            rj.status.as_str()
        )));
    }
    Ok(Outcome::Unfinished)
}
