//! `secflow schema`: JSON Schema (draft 2020-12) of the recipe format and of each record
//! kind, derived from the same Rust types that read and write them.

use clap::ValueEnum;

use super::SchemaArgs;
use crate::exit;

/// Record kinds with a published schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RecordKind {
    /// run.json
    Run,
    /// audit.jsonl (one event a line)
    Audit,
    /// metrics.json and each line of metrics.jsonl
    Metrics,
    /// a line of logs.jsonl
    Log,
    /// a line of spans.jsonl
    Span,
    /// `performance-analysis --format json`
    Analysis,
}

pub fn run(args: &SchemaArgs) -> anyhow::Result<i32> {
    let schema = match args.record {
        None => schemars::schema_for!(crate::recipe::RawRecipe),
        Some(RecordKind::Run) => schemars::schema_for!(crate::store::RunRecord),
        Some(RecordKind::Audit) => schemars::schema_for!(crate::audit::AuditEvent),
        Some(RecordKind::Metrics) => schemars::schema_for!(crate::metrics::MetricsSnapshot),
        Some(RecordKind::Log) => schemars::schema_for!(crate::telemetry::LogRecord),
        Some(RecordKind::Span) => schemars::schema_for!(crate::telemetry::SpanRecord),
        Some(RecordKind::Analysis) => schemars::schema_for!(crate::analysis::AnalysisReport),
    };
    let mut text = serde_json::to_string_pretty(&schema)?;
    text.push('\n');
    // `secflow schema | head` closes the pipe early: that is the reader's choice, not an error
    // (`println!` would panic on it).
    match std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(exit::SUCCESS),
    }
}
