//! The part of OpenTelemetry's data model secflow exports: spans, log records and metrics,
//! grouped under one resource and the instrumentation scope `secflow`.
//!
//! These types hold exactly what both encodings ([`super::proto`], [`super::json`]) need;
//! ids are lowercase hex strings as in secflow's own records, times nanoseconds since the
//! Unix epoch.

/// An attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum AnyValue {
    Str(String),
    Int(i64),
    Double(f64),
    Bool(bool),
}

/// One attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyValue {
    pub key: String,
    pub value: AnyValue,
}

impl KeyValue {
    pub fn new(key: impl Into<String>, value: AnyValue) -> Self {
        KeyValue {
            key: key.into(),
            value,
        }
    }

    pub fn str(key: impl Into<String>, value: impl Into<String>) -> Self {
        KeyValue::new(key, AnyValue::Str(value.into()))
    }

    pub fn int(key: impl Into<String>, value: i64) -> Self {
        KeyValue::new(key, AnyValue::Int(value))
    }
}

/// Span status codes (OTLP enum values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusCode {
    Unset = 0,
    Ok = 1,
    Error = 2,
}

/// An event inside a span.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanEvent {
    pub time_unix_nano: u64,
    pub name: String,
    pub attributes: Vec<KeyValue>,
}

/// A finished span (kind internal).
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: Option<String>,
    pub name: String,
    pub start_time_unix_nano: u64,
    pub end_time_unix_nano: u64,
    pub attributes: Vec<KeyValue>,
    pub events: Vec<SpanEvent>,
    pub status: StatusCode,
    pub status_message: String,
}

/// `SPAN_KIND_INTERNAL`: every secflow span is internal work.
pub const SPAN_KIND_INTERNAL: i32 = 1;

/// A log record.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    pub time_unix_nano: u64,
    pub observed_time_unix_nano: u64,
    /// OTLP severity number (TRACE 1, DEBUG 5, INFO 9, WARN 13, ERROR 17).
    pub severity_number: i32,
    pub severity_text: String,
    pub body: String,
    pub attributes: Vec<KeyValue>,
    pub trace_id: Option<String>,
    pub span_id: Option<String>,
}

/// The OTLP severity number of a level name (case-insensitive); 0 when unknown.
pub fn severity_number(level: &str) -> i32 {
    match level.to_ascii_uppercase().as_str() {
        "TRACE" => 1,
        "DEBUG" => 5,
        "INFO" => 9,
        "WARN" | "WARNING" => 13,
        "ERROR" => 17,
        "FATAL" => 21,
        _ => 0,
    }
}

/// A number data point's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    Int(i64),
    Double(f64),
}

/// A point of a sum or gauge.
#[derive(Debug, Clone, PartialEq)]
pub struct NumberPoint {
    pub attributes: Vec<KeyValue>,
    pub start_time_unix_nano: u64,
    pub time_unix_nano: u64,
    pub value: Number,
}

/// A point of an explicit-bucket histogram (`bucket_counts` has one more entry than
/// `explicit_bounds`; counts are per bucket, not cumulative).
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramPoint {
    pub attributes: Vec<KeyValue>,
    pub start_time_unix_nano: u64,
    pub time_unix_nano: u64,
    pub count: u64,
    pub sum: f64,
    pub bucket_counts: Vec<u64>,
    pub explicit_bounds: Vec<f64>,
}

/// What a metric holds. Sums and histograms are cumulative.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricData {
    Sum {
        monotonic: bool,
        points: Vec<NumberPoint>,
    },
    Gauge {
        points: Vec<NumberPoint>,
    },
    Histogram {
        points: Vec<HistogramPoint>,
    },
}

/// `AGGREGATION_TEMPORALITY_CUMULATIVE`.
pub const CUMULATIVE: i32 = 2;

/// One metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub name: String,
    pub description: String,
    /// UCUM unit, e.g. `s`, `By`, `1`.
    pub unit: String,
    pub data: MetricData,
}

/// Everything exported about one run under one resource.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Batch {
    pub resource: Vec<KeyValue>,
    pub spans: Vec<Span>,
    pub logs: Vec<LogRecord>,
    pub metrics: Vec<Metric>,
}

/// The instrumentation scope every signal is reported under.
pub const SCOPE_NAME: &str = "secflow";
