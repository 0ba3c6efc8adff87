//! The engine's integration tests, one binary: real processes, real signals, real files.
//! Each test runs the built `secflow` in its own temporary directory.

mod conditions;
mod contain;
mod fanout;
mod flow;
mod include;
mod kill;
mod output;
mod records;
mod retry;
mod schema;
mod support;
mod trust;
mod values;
