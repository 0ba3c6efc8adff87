//! The audit trail: HMAC-SHA256-chained events in `<run_dir>/audit.jsonl` and their
//! verification (SPEC §4 "Audit event").
//!
//! [`AuditEvent`] is the one record type, shared by the writer ([`AuditSink`](crate::sinks::AuditSink), an engine
//! [`Sink`](crate::event::Sink)) and the reader ([`verify::verify`]); [`event`] defines the
//! canonical JSON and the hash so that a verifier in any language (see
//! `tests/verify_audit.py`) can check a chain. [`key`] finds the key and never reveals it.
//! This module never prints; `secflow audit verify` (in `cli`) renders its reports.

pub mod event;
pub mod key;
pub mod origin;
pub mod verify;
pub mod witness;

pub use event::{
    AuditData, AuditEvent, DatasetDigest, GENESIS_HASH, anchor, event_hash, write_canonical,
};
pub use key::{AuditKey, KEY_ENV, KeyError, KeySource};
pub use origin::Origin;
pub use verify::{Outcome, Report, Tamper, TamperKind, VerifyError};
pub use witness::ChainHead;
