//! Sinks: what subscribes to the engine's [`Event`](crate::event::Event)s and writes the
//! run's records, one file each: logs, spans, audit, metrics, run.json, and the console.
//!
//! - [`thread`]: every record-writing sink behind one queue on a thread of its own.
//! - [`enabled`]: `SECFLOW_SINKS`, which sinks a run enables.

pub mod audit;
pub mod console;
pub mod enabled;
pub mod logs;
pub mod metrics;
pub mod run_json;
pub mod spans;
pub mod thread;

pub use audit::AuditSink;
pub use enabled::SinkSet;
pub use logs::LogSink;
pub use metrics::MetricsSink;
pub use run_json::RunJsonSink;
pub use spans::SpanSink;
pub use thread::SinkThread;
