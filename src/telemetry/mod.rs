//! Telemetry sinks: what subscribes to the engine's events and writes the run's record
//! (logs, spans, console), plus the W3C trace-context ids they share.

pub mod console;
pub mod format;
pub mod trace;
