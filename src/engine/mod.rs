//! The engine: schedules a [`Plan`](crate::plan::Plan)'s nodes onto an executor, supervises
//! attempts (retries, timeouts, cancellation) and emits [`Event`]s. It never prints.
//!
//! - [`executor`]: the contract every executor meets (start, watch, stop, usage).
//! - [`local`]: local processes started by the spawner, contained by a shim per attempt.
//! - [`scheduler`]: dependency order, concurrency, retries, failure policy, cancellation.
//! - [`prepare`]: environment, paths and command line of an attempt (also `--dry-run`).
//! - [`capture`]: stdout/stderr into log files with secrets masked.
//! - [`datasets`]: output promotion and record counts.
//! - [`sink_thread`]: sinks moved off the scheduler's thread.
//! - [`sources`]: the files a node's `sources:` globs cover (cache key, resume check).
//! - [`tool_events`]: the node telemetry channel (`SECFLOW_EVENTS`).

pub mod capture;
pub mod datasets;
pub mod event;
pub mod executor;
pub mod local;
mod outcome;
pub mod prepare;
pub mod reuse;
pub mod scheduler;
pub mod sink_thread;
pub mod sources;
mod supervise;
#[cfg(test)]
mod tests;
pub mod tool_events;

pub use event::{Event, Level, RunContext, Sink, TraceIds};
pub use executor::{AttemptSpec, Executor, ExitInfo, RunningAttempt};
pub use local::LocalExecutor;
pub use prepare::{Environment, RunPaths};
pub use scheduler::{Control, EngineConfig, FailurePolicy, Outcome, execute};
pub use sink_thread::SinkThread;
