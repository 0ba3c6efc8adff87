//! The run directory: its layout and the record types written there.
//!
//! One serde type per record kind, shared by the writer (the engine's sinks) and every
//! reader (`runs`, `performance-analysis`), so the two can never drift apart. Readers go
//! through [`jsonl::JsonlReader`] (torn-line tolerant) and find runs with
//! [`resolve::resolve_run`].

pub mod append;
pub mod cache;
pub mod clock;
pub mod health;
pub mod history;
pub mod jsonl;
pub mod layout;
pub mod open;
pub mod resolve;
pub mod run_read;
mod run_record;
pub mod trust;
pub mod writer;

pub use health::{RECORDS_INCOMPLETE, RecordHealth};
pub use run_record::*;
