//! The engine: schedules a [`Plan`](crate::plan::Plan)'s nodes onto an executor, supervises
//! attempts (retries, timeouts, cancellation) and emits [`Event`]s. It never prints.

pub mod event;

pub use event::{Event, Level, RunContext, Sink, TraceIds};
