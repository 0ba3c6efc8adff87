//! The engine: schedules a [`Plan`](crate::plan::Plan)'s nodes onto an executor, supervises
//! attempts (retries, timeouts, cancellation) and emits [`Event`]s. It never prints.
//!
//! - [`executor`]: the contract every executor meets (start, watch, stop, usage).
//! - [`local`]: local processes started by the spawner, contained by a shim per attempt.
//! - [`scheduler`]: dependency order, concurrency, retries, failure policy, cancellation.
//! - [`prepare`]: environment, paths and command line of an attempt (also `--dry-run`).
//! - [`capture`]: stdout/stderr into log files with secrets masked.
//! - [`datasets`]: output promotion and record counts.
//! - [`dir_output`]: directory outputs (`dir: true`), walked without following symlinks.
//! - [`fanout`]: `foreach`/`matrix` instances at run time, and gathering their outputs.
//! - [`sources`]: the files a node's `sources:` globs cover (cache key, resume check).
//! - [`reuse`], [`resume`]: the node cache and `--resume` (the latter as the earlier run's
//!   audit chain vouches for it).
//! - [`tool_events`]: the node telemetry channel (`SECFLOW_EVENTS`).
//! - [`Interrupt`]: a signal seen while the engine's thread is busy.

pub mod cache_key;
pub mod capture;
pub mod datasets;
pub mod dir_output;
pub mod executor;
pub mod fanout;
mod interrupt;
pub mod local;
mod outcome;
pub mod prepare;
pub mod resume;
pub mod reuse;
pub mod scheduler;
pub mod sources;
mod supervise;
#[cfg(test)]
mod tests;
pub mod tool_events;

// The event types are the engine's vocabulary; they live in the leaf module `event`.
pub use crate::event::{Event, Level, RunContext, RunEnd, Sink, TraceIds};
pub use executor::{AttemptSpec, Executor, ExitInfo, RunningAttempt};
pub use interrupt::Interrupt;
pub use local::LocalExecutor;
pub use prepare::{Environment, RunPaths};
pub use scheduler::{Control, EngineConfig, FailurePolicy, Outcome, execute};
