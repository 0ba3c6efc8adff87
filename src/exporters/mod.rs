//! Exporters: sinks that ship a run's records elsewhere once they exist, each doing its work
//! in [`Sink::finish`](crate::event::Sink::finish) and reporting failure there (the error
//! becomes one warning; the run's exit code is unchanged), with what was not delivered
//! recorded in run.json's `telemetry.export`.
//!
//! - [`otlp`]: OpenTelemetry export of logs and spans as they are written, the final metrics
//!   and the audit chain's head (its transport lives beside it).
//! - [`pushgateway`]: the final metrics PUT to a Prometheus Pushgateway.
//! - [`textfile`]: the final metrics written for node_exporter's textfile collector.
//!
//! Put them after the metrics and audit sinks (they read the final snapshot and the audit
//! head) and before the run.json sink (which writes what they recorded).

pub mod http;
pub mod otlp;
pub mod pushgateway;
pub mod textfile;

pub use otlp::OtlpSink;
pub use pushgateway::PushgatewaySink;
pub use textfile::TextfileSink;

/// `record.telemetry.export`, created on first use.
fn export_record(record: &mut crate::store::RunRecord) -> &mut crate::store::ExportSummary {
    record
        .telemetry
        .get_or_insert_with(Default::default)
        .export
        .get_or_insert_with(Default::default)
}
