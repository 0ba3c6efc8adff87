//! The command-line tests, one binary: validate-recipe, schema, completions and man pages,
//! plugins, logs, runs, and the console sink.

#[path = "../support/mod.rs"]
pub mod support;

mod completions;
mod console_sink;
mod docs;
mod logs_cli;
mod plugins;
mod runs_history;
mod schema;
mod validate;
