//! The records' tests, one binary: the log and span sinks, the audit chain and its verifier,
//! and performance-analysis on recorded and real runs.

#[path = "../support/mod.rs"]
pub mod support;

mod analysis_cli;
mod analysis_html;
mod analysis_real_run;
mod analysis_schema;
mod audit_interop;
mod audit_keys;
mod audit_support;
mod audit_verify;
mod telemetry_crash;
mod telemetry_debug;
mod telemetry_schema;
mod telemetry_sinks;
