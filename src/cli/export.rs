//! `secflow export RUN`: sends an already recorded run's spans, logs and metrics to an
//! OpenTelemetry collector, configured exactly like a live export.
//!
//! The ids are the recorded ones, so exporting the same run twice sends the same trace and
//! span ids (a collector deduplicates or shows the same trace). Records are sent in batches
//! synchronously; a torn last line, and any line that is not a record, is skipped and
//! counted (with a warning naming the file and line), as `logs` and `analyze` do. Exit
//! codes: 0 exported; 1 the collector could not be reached or refused (after the exporter's
//! retries); 2 usage, or a record file that cannot be read at all.

use std::path::Path;
use std::time::SystemTime;

use super::StateDirArg;
use clap::Args;

use crate::escape::escape;
use crate::exit;
use crate::exporters::otlp::config::{OtlpConfig, from_env};
use crate::exporters::otlp::convert;
use crate::exporters::otlp::exporter::post_batch;
use crate::exporters::otlp::model::Batch;
use crate::metrics::MetricsSnapshot;
use crate::store::jsonl::{JsonlError, JsonlReader};
use crate::store::open::read_regular;
use crate::telemetry::{LogRecord, SpanRecord};

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Run id, unique prefix, `last`, or a run directory path.
    #[arg(value_name = "RUN", add = clap_complete::ArgValueCandidates::new(super::completions::runs))]
    pub run: String,
    #[command(flatten)]
    pub state: StateDirArg,
    /// Collector base URL (OTLP/HTTP); overrides `OTEL_EXPORTER_OTLP_*ENDPOINT`.
    #[arg(long, value_name = "URL")]
    pub otlp_endpoint: Option<String>,
}

/// Records per request.
const BATCH: usize = 512;

pub fn run(args: &ExportArgs) -> anyhow::Result<i32> {
    let config = match from_env(args.otlp_endpoint.as_deref(), |k| std::env::var(k).ok()) {
        Ok(Some(c)) => c,
        Ok(None) => {
            eprintln!(
                "error: no collector configured: pass --otlp-endpoint URL or set OTEL_EXPORTER_OTLP_ENDPOINT"
            );
            return Ok(exit::INVALID);
        }
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::INVALID);
        }
    };
    let state_dir = args.state.state_dir.clone();
    let run_dir = match crate::store::resolve::resolve_run(&state_dir, &args.run) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::INVALID);
        }
    };
    let mut sent = Counts::default();
    match send_all(&config, &run_dir, &mut sent) {
        Ok(()) => {}
        Err(Stop::Unreadable(message)) => {
            eprintln!("error: {}", escape(&message));
            return Ok(exit::INVALID);
        }
        Err(Stop::Network(reason)) => {
            eprintln!(
                "error: export stopped after {} spans, {} log records, {} metrics: {}",
                sent.spans,
                sent.logs,
                sent.metrics,
                escape(&reason)
            );
            return Ok(exit::FAILURE);
        }
    }
    let mut skipped = Vec::new();
    if sent.torn > 0 {
        skipped.push(format!(
            "{} torn line{}",
            sent.torn,
            if sent.torn == 1 { "" } else { "s" }
        ));
    }
    if sent.invalid > 0 {
        skipped.push(format!(
            "{} invalid line{}",
            sent.invalid,
            if sent.invalid == 1 { "" } else { "s" }
        ));
    }
    eprintln!(
        "exported {}: {} spans, {} log records, {} metrics to {}{}",
        escape(&run_dir.display().to_string()),
        sent.spans,
        sent.logs,
        sent.metrics,
        config.traces.trim_end_matches("/v1/traces"),
        if skipped.is_empty() {
            String::new()
        } else {
            format!(" ({} skipped)", skipped.join(", "))
        }
    );
    Ok(exit::SUCCESS)
}

/// Why an export stopped early.
enum Stop {
    /// A record file could not be read at all (exit 2).
    Unreadable(String),
    /// The collector could not be reached or refused (exit 1).
    Network(String),
}

/// Sends spans, logs and metrics in turn. A line that is not a record is skipped with a
/// warning naming its file and line, and counted, as `logs` and `analyze` do.
fn send_all(config: &OtlpConfig, run_dir: &Path, sent: &mut Counts) -> Result<(), Stop> {
    let empty = || Batch {
        resource: config.resource.clone(),
        ..Batch::default()
    };
    let mut batch = empty();
    let spans_path = run_dir.join("spans.jsonl");
    for_each_record::<SpanRecord>(&spans_path, sent, |record, sent| {
        batch.spans.push(convert::span(&record));
        if batch.spans.len() >= BATCH {
            sent.post(config, &mut batch)?;
        }
        Ok(())
    })?;
    sent.post(config, &mut batch)?;
    let logs_path = run_dir.join("logs.jsonl");
    for_each_record::<LogRecord>(&logs_path, sent, |record, sent| {
        batch.logs.push(convert::log(&record));
        if batch.logs.len() >= BATCH {
            sent.post(config, &mut batch)?;
        }
        Ok(())
    })?;
    sent.post(config, &mut batch)?;
    let metrics_path = run_dir.join("metrics.json");
    if metrics_path.exists() {
        let bytes = read_regular(&metrics_path).map_err(|e| {
            Stop::Unreadable(format!("cannot read {}: {e}", metrics_path.display()))
        })?;
        match serde_json::from_slice::<MetricsSnapshot>(&bytes) {
            Ok(snapshot) => {
                let time = parse_nanos(&snapshot.timestamp);
                let start = time.saturating_sub(snapshot.elapsed_ms.saturating_mul(1_000_000));
                batch.metrics = convert::metrics(&snapshot, start, time);
                sent.post(config, &mut batch)?;
            }
            Err(e) => {
                eprintln!(
                    "warning: {}: not a metrics snapshot, skipped: {}",
                    metrics_path.display(),
                    escape(&e.to_string())
                );
                sent.invalid += 1;
            }
        }
    }
    Ok(())
}

/// Calls `each` with every record of `path` (absent: nothing); skips and counts torn and
/// invalid lines.
fn for_each_record<T: serde::de::DeserializeOwned>(
    path: &Path,
    sent: &mut Counts,
    mut each: impl FnMut(T, &mut Counts) -> Result<(), Stop>,
) -> Result<(), Stop> {
    if !path.exists() {
        return Ok(());
    }
    let shown = || path.display().to_string();
    let mut reader = JsonlReader::<T, _>::open(path)
        .map_err(|e| Stop::Unreadable(format!("cannot read {}: {e}", shown())))?;
    while let Some(item) = reader.next() {
        reader.release_line();
        match item {
            Ok(record) => each(record, sent)?,
            Err(JsonlError::BadLine { line, message }) => {
                // The first few are named; the count says how many in all.
                if sent.invalid < 10 {
                    eprintln!(
                        "warning: {}: line {line}: not a valid record, skipped: {}",
                        shown(),
                        escape(&message)
                    );
                }
                sent.invalid += 1;
            }
            Err(JsonlError::Io(e)) => {
                return Err(Stop::Unreadable(format!(
                    "cannot read {} after line {}: {e}",
                    shown(),
                    reader.lines_read()
                )));
            }
        }
    }
    sent.torn += reader.torn_lines();
    Ok(())
}

#[derive(Default)]
struct Counts {
    spans: u64,
    logs: u64,
    metrics: u64,
    torn: u64,
    invalid: u64,
}

impl Counts {
    /// Posts a batch and empties it; a failure ends the export with its reason.
    fn post(&mut self, config: &OtlpConfig, batch: &mut Batch) -> Result<(), Stop> {
        let (spans, logs, metrics) = (batch.spans.len(), batch.logs.len(), batch.metrics.len());
        if spans + logs + metrics == 0 {
            return Ok(());
        }
        if let (_, Some(reason)) = post_batch(config, batch) {
            return Err(Stop::Network(reason));
        }
        self.spans += spans as u64;
        self.logs += logs as u64;
        self.metrics += metrics as u64;
        batch.spans.clear();
        batch.logs.clear();
        batch.metrics.clear();
        Ok(())
    }
}

fn parse_nanos(timestamp: &str) -> u64 {
    time::OffsetDateTime::parse(timestamp, &time::format_description::well_known::Rfc3339)
        .map_or_else(
            |_| {
                SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64)
            },
            |t| t.unix_timestamp_nanos().max(0) as u64,
        )
}
