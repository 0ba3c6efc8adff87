//! `secflow export RUN`: sends an already recorded run's spans, logs and metrics to an
//! OpenTelemetry collector, configured exactly like a live export.
//!
//! The ids are the recorded ones, so exporting the same run twice sends the same trace and
//! span ids (a collector deduplicates or shows the same trace). Records are sent in batches
//! synchronously; a torn last line is skipped and counted.

use std::path::PathBuf;
use std::time::SystemTime;

use clap::Args;

use crate::exit;
use crate::metrics::MetricsSnapshot;
use crate::otlp::config::from_env;
use crate::otlp::convert;
use crate::otlp::exporter::post_batch;
use crate::otlp::model::Batch;
use crate::store::jsonl::JsonlReader;
use crate::telemetry::{LogRecord, SpanRecord};

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Run id, unique prefix, `last`, or a run directory path.
    #[arg(value_name = "RUN")]
    pub run: String,
    /// State directory holding `runs/`.
    #[arg(long, value_name = "DIR", env = "SECFLOW_HOME")]
    pub state_dir: Option<PathBuf>,
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
    let state_dir = crate::store::resolve::state_dir(args.state_dir.as_deref());
    let run_dir = match crate::store::resolve::resolve_run(&state_dir, &args.run) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::INVALID);
        }
    };
    let mut sent = Counts::default();
    let empty = || Batch {
        resource: config.resource.clone(),
        ..Batch::default()
    };

    let spans_path = run_dir.join("spans.jsonl");
    if spans_path.is_file() {
        let mut reader = JsonlReader::<SpanRecord, _>::open(&spans_path)?;
        let mut batch = empty();
        for record in reader.by_ref() {
            batch.spans.push(convert::span(&record?));
            if batch.spans.len() >= BATCH {
                sent.post(&config, &mut batch)?;
            }
        }
        sent.post(&config, &mut batch)?;
        sent.torn += reader.torn_lines();
    }
    let logs_path = run_dir.join("logs.jsonl");
    if logs_path.is_file() {
        let mut reader = JsonlReader::<LogRecord, _>::open(&logs_path)?;
        let mut batch = empty();
        for record in reader.by_ref() {
            batch.logs.push(convert::log(&record?));
            if batch.logs.len() >= BATCH {
                sent.post(&config, &mut batch)?;
            }
        }
        sent.post(&config, &mut batch)?;
        sent.torn += reader.torn_lines();
    }
    let metrics_path = run_dir.join("metrics.json");
    if metrics_path.is_file() {
        let snapshot: MetricsSnapshot =
            serde_json::from_slice(&crate::store::open::read_regular(&metrics_path)?)?;
        let time = parse_nanos(&snapshot.timestamp);
        let start = time.saturating_sub(snapshot.elapsed_ms.saturating_mul(1_000_000));
        let mut batch = empty();
        batch.metrics = convert::metrics(&snapshot, start, time);
        sent.post(&config, &mut batch)?;
    }
    eprintln!(
        "exported {}: {} spans, {} log records, {} metrics to {}{}",
        run_dir.display(),
        sent.spans,
        sent.logs,
        sent.metrics,
        config.traces.trim_end_matches("/v1/traces"),
        match sent.torn {
            0 => String::new(),
            n => format!(" ({n} torn line{} skipped)", if n == 1 { "" } else { "s" }),
        }
    );
    Ok(exit::SUCCESS)
}

#[derive(Default)]
struct Counts {
    spans: u64,
    logs: u64,
    metrics: u64,
    torn: u64,
}

impl Counts {
    /// Posts a batch and empties it; a failure ends the export with its reason.
    fn post(
        &mut self,
        config: &crate::otlp::config::OtlpConfig,
        batch: &mut Batch,
    ) -> anyhow::Result<()> {
        let (spans, logs, metrics) = (batch.spans.len(), batch.logs.len(), batch.metrics.len());
        if spans + logs + metrics == 0 {
            return Ok(());
        }
        if let (_, Some(reason)) = post_batch(config, batch) {
            anyhow::bail!(
                "export stopped after {} spans, {} log records, {} metrics: {reason}",
                self.spans,
                self.logs,
                self.metrics
            );
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
