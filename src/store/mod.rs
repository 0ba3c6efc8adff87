//! The run directory: its layout and the record types written there.
//!
//! One serde type per record kind, shared by the writer (the engine's sinks) and every
//! reader (`runs`, `performance-analysis`), so the two can never drift apart.

pub mod history;
mod run_record;

pub use run_record::*;
