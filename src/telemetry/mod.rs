//! Telemetry sinks: what subscribes to the engine's events and writes the run's record
//! (logs, spans, console), plus the W3C trace-context ids they share, redaction, debug mode
//! and the `SECFLOW_SINKS` switch.
//!
//! Every file is written by the shared asynchronous, lossless [`writer::JsonlWriter`]: one
//! complete line per record, appended in batches of complete lines, flushed on `finish`.

pub mod debug;
pub mod filter;
pub mod format;
pub mod layer;
pub mod log;
pub mod log_filter;
pub mod pretty;
pub mod span;

pub use filter::{LogSettings, resolve as resolve_log_settings};
pub use log::{LogLevel, LogRecord};
pub use span::SpanRecord;

use std::sync::OnceLock;

static SETTINGS: OnceLock<LogSettings> = OnceLock::new();

/// What the CLI calls first: resolves `SECFLOW_LOG_LEVEL` and `--debug` (an invalid value is
/// an error naming the valid ones: exit 2), installs the `tracing` layer and remembers the
/// settings for [`settings`].
pub fn init(debug_flag: bool) -> Result<LogSettings, filter::FilterError> {
    let resolved = filter::from_env(debug_flag)?;
    layer::install(&resolved);
    let _ = SETTINGS.set(resolved.clone());
    Ok(resolved)
}

/// The settings [`init`] resolved (the defaults if it was not called).
pub fn settings() -> LogSettings {
    SETTINGS.get().cloned().unwrap_or_default()
}
