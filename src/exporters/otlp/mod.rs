//! OTLP export: secflow's spans, logs and metrics to any OpenTelemetry collector over
//! OTLP/gRPC or OTLP/HTTP (protobuf, the default, or JSON), plain or TLS.
//!
//! [`model`] is the subset of OpenTelemetry's data model secflow fills; [`pb`] maps it onto
//! the request messages `opentelemetry-proto` generates (prost), [`json`] onto the OTLP/JSON
//! mapping; [`transport`] sends them (tonic for gRPC, the shared HTTP client otherwise);
//! [`config`] reads the standard `OTEL_EXPORTER_OTLP_*` variables; [`sink`] is the exporter sink
//! the run wires ([`OtlpSink`]).

pub mod config;
pub mod convert;
pub mod exporter;
pub mod json;
pub mod model;
pub mod pb;
pub mod sink;
pub mod transport;

pub use sink::OtlpSink;
