//! The engine's integration tests, one binary: real processes, real signals, real files.
//! Each test runs the built `secflow` in its own temporary directory.

#[path = "../support/mod.rs"]
pub mod support;

mod conditions;
mod contain;
mod dir_output;
mod fanout;
mod flow;
mod include;
mod kill;
mod output;
mod records;
mod retry;
mod reuse;
mod schema;
mod tool_events;
mod trust;
mod values;
