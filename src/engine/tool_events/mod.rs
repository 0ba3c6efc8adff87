//! The node telemetry channel (SPEC §11): every local attempt gets `SECFLOW_EVENTS`, the
//! path of a named pipe secflow reads, where the tool (or `secflow emit`) writes JSON lines —
//! `{"log":{…}}`, `{"metric":{…}}`, `{"progress":F}`, `{"finding":{…}}`.
//!
//! - [`channel`]: the pipe (a new FIFO per attempt, removed with it, in the run's private
//!   `0700` directory outside the run directory) and the task that reads it.
//! - [`parse`]: one line into an [`Item`], validated and masked.
//!
//! Guarantees: a tool cannot make secflow's memory grow or stall the run — lines are capped at
//! [`MAX_LINE`] bytes (longer ones are skipped without being held), accepted lines are rate
//! limited ([`RATE`] a second after a burst of [`BURST`] per attempt, [`SHARED_RATE`] over
//! all; the rest are read and counted as dropped, never parsed), and each attempt may create at most [`MAX_SERIES`] metric series.
//! Bad lines are counted by reason and reported in the attempt's [`Stats`], never fatal.
//! secflow's read end is close-on-exec; only the tool (and what it starts) opens the path.

pub mod channel;
pub mod parse;

pub use crate::event::tool::{Item, LogItem, MAX_DRAIN, MetricItem, MetricType, Stats};

pub use channel::{Channel, Reader, RunDir, attach};

/// The environment variable naming the pipe.
pub const ENV_VAR: &str = "SECFLOW_EVENTS";
/// Longest line kept, in bytes (newline excluded).
pub const MAX_LINE: usize = 64 * 1024;
/// Lines accepted at once before the rate limit applies.
pub const BURST: f64 = 2000.0;
/// Lines accepted a second, sustained, per attempt.
pub const RATE: f64 = 1000.0;
/// Lines accepted a second over all attempts of the process, after a burst of
/// [`SHARED_BURST`]: many attempts flooding at once stay within what the record writers take.
pub const SHARED_RATE: f64 = 10_000.0;
pub const SHARED_BURST: f64 = 20_000.0;
/// Distinct metric series (name and labels) one attempt may report.
pub const MAX_SERIES: usize = 100;
