//! The engine's integration tests, one binary: real processes, real signals, real files.
//! Each test runs the built `secflow` in its own temporary directory.

mod contain;
mod flow;
mod kill;
mod output;
mod records;
mod retry;
mod schema;
mod support;
mod tool_events;
mod trust;
mod values;
