//! OTLP export: secflow's spans, logs and metrics to any OpenTelemetry collector over
//! OTLP/HTTP, as protobuf (default) or JSON.
//!
//! [`model`] is the subset of OpenTelemetry's data model secflow fills; [`proto`] and
//! [`json`] encode it without generated code; [`config`] reads the standard
//! `OTEL_EXPORTER_OTLP_*` variables.

pub mod config;
pub mod convert;
pub mod exporter;
pub mod json;
pub mod model;
pub mod proto;
