//! OTLP export as a sink: logs and spans go out as the log and span sinks write them
//! (through their observers, so they are redacted exactly as on disk); `finish` sends the
//! final metrics and the audit chain's head, flushes within the exporter's bound, records the
//! outcome in run.json and reports what was not delivered. Transport: [`crate::exporters::otlp`].

use std::sync::Arc;
use std::time::SystemTime;

use serde_json::json;

use crate::event::{RunContext, Sink};
use crate::exporters::otlp::config::OtlpConfig;
use crate::exporters::otlp::exporter::Exporter;
use crate::sinks::metrics::FinalSnapshot;
use crate::store::RunRecord;
use crate::store::writer::Observer;
use crate::telemetry::{LogLevel, LogRecord, SpanRecord};

/// The run's OTLP exporter.
pub struct OtlpSink {
    exporter: Arc<Exporter>,
    config: OtlpConfig,
    metrics: Option<FinalSnapshot>,
}

impl OtlpSink {
    /// Starts the exporter's background thread.
    pub fn start(config: OtlpConfig) -> std::io::Result<Self> {
        let exporter = Arc::new(Exporter::start(config.clone())?);
        Ok(OtlpSink {
            exporter,
            config,
            metrics: None,
        })
    }

    /// Also exports the metrics sink's final snapshot (that sink must finish first).
    pub fn with_metrics(mut self, snapshot: FinalSnapshot) -> Self {
        self.metrics = Some(snapshot);
        self
    }

    /// For [`LogSink::observe`](crate::sinks::LogSink::observe): every log record written.
    pub fn log_observer(&self) -> Observer<LogRecord> {
        let exporter = Arc::clone(&self.exporter);
        Box::new(move |r| exporter.send_log(crate::exporters::otlp::convert::log(r)))
    }

    /// For [`SpanSink::observe`](crate::sinks::SpanSink::observe): every span written.
    pub fn span_observer(&self) -> Observer<SpanRecord> {
        let exporter = Arc::clone(&self.exporter);
        Box::new(move |r| exporter.send_span(crate::exporters::otlp::convert::span(r)))
    }
}

impl Sink for OtlpSink {
    fn event(&mut self, _ctx: &RunContext, _event: &crate::event::Event) {}

    fn finish(&mut self, ctx: &RunContext, record: &mut RunRecord) -> anyhow::Result<()> {
        if let Some(snapshot) = self.metrics.as_ref().and_then(FinalSnapshot::get) {
            let metrics = crate::exporters::otlp::convert::metrics(
                snapshot,
                crate::store::clock::unix_nanos(ctx.started_at),
                crate::store::clock::unix_nanos(SystemTime::now()),
            );
            self.exporter.send_metrics(metrics);
        }
        if let Some(head) = audit_head_log(ctx, record) {
            self.exporter
                .send_log(crate::exporters::otlp::convert::log(&head));
        }
        let result = self.exporter.finish();
        let export = crate::exporters::export_record(record);
        export.otlp = Some(self.config.traces.clone());
        export.undelivered = export.undelivered.saturating_add(result.undelivered);
        // The OTLP failure first: it concerns the most data.
        if result.error.is_some() {
            export.error.clone_from(&result.error);
        }
        match result.error {
            Some(error) => Err(anyhow::anyhow!(
                "OTLP export: {error}; {} item{} not delivered",
                result.undelivered,
                if result.undelivered == 1 { "" } else { "s" }
            )),
            None => Ok(()),
        }
    }
}

/// The audit chain's head as a log record (`audit chain head`, with `secflow.audit.seq`,
/// `.last_hash`, `.key_id`, `.finished`): the collector keeps it as an outside witness
/// (SPEC §10). The head is the last event written to disk.
fn audit_head_log(ctx: &RunContext, record: &RunRecord) -> Option<LogRecord> {
    let audit = record.audit.as_ref()?;
    let mut r = LogRecord::new(
        SystemTime::now(),
        LogLevel::Info,
        "secflow::audit",
        "audit chain head",
    );
    r.trace_id = Some(ctx.trace.trace_id.clone());
    r.span_id = Some(ctx.trace.root_span_id.clone());
    r.run_id = Some(ctx.run_id.clone());
    r.workflow_id = Some(ctx.plan.name.clone());
    r.metadata.insert("audit.seq".into(), json!(audit.events));
    r.metadata
        .insert("audit.last_hash".into(), json!(audit.last_hash));
    r.metadata
        .insert("audit.key_id".into(), json!(audit.key_id));
    r.metadata
        .insert("audit.finished".into(), json!(audit.anchor.is_some()));
    Some(r)
}
