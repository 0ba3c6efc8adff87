//! secflow's records in OpenTelemetry form: the metrics snapshot as OTLP sums, gauges and
//! histograms (names in OTel form, UCUM units), spans and log records as recorded.
//!
//! OTel form of a Prometheus name: `_total` and the unit suffix dropped, `_` turned into `.`
//! (`secflow_node_duration_seconds` → `secflow.node.duration`, unit `s`).

use std::collections::BTreeMap;

use serde_json::Value;

use super::model::{
    self, AnyValue, HistogramPoint, KeyValue, Metric, MetricData, Number, NumberPoint, StatusCode,
};
use crate::metrics::{MetricKind, MetricsSnapshot, Series};
use crate::telemetry::{LogRecord, SpanRecord, span};

/// A JSON attribute value in OTLP form (objects and arrays as their JSON text).
fn any(v: &Value) -> AnyValue {
    match v {
        Value::String(s) => AnyValue::Str(s.clone()),
        Value::Bool(b) => AnyValue::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => AnyValue::Int(i),
            None => AnyValue::Double(n.as_f64().unwrap_or(0.0)),
        },
        other => AnyValue::Str(other.to_string()),
    }
}

fn attributes<'a>(map: impl IntoIterator<Item = (&'a String, &'a Value)>) -> Vec<KeyValue> {
    map.into_iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| KeyValue::new(k.clone(), any(v)))
        .collect()
}

/// A recorded span, with the same ids.
pub fn span(r: &SpanRecord) -> model::Span {
    model::Span {
        trace_id: r.trace_id.clone(),
        span_id: r.span_id.clone(),
        parent_span_id: r.parent_span_id.clone(),
        name: r.name.clone(),
        start_time_unix_nano: r.start_time_unix_nano,
        end_time_unix_nano: r.end_time_unix_nano,
        attributes: attributes(&r.attributes),
        events: r
            .events
            .iter()
            .map(|e| model::SpanEvent {
                time_unix_nano: e.time_unix_nano,
                name: e.name.clone(),
                attributes: attributes(&e.attributes),
            })
            .collect(),
        status: match r.status.code {
            span::StatusCode::Unset => StatusCode::Unset,
            span::StatusCode::Ok => StatusCode::Ok,
            span::StatusCode::Error => StatusCode::Error,
        },
        status_message: r.status.message.clone().unwrap_or_default(),
    }
}

/// A recorded log line: the message as body, every other field as an attribute.
pub fn log(r: &LogRecord) -> model::LogRecord {
    let time =
        time::OffsetDateTime::parse(&r.timestamp, &time::format_description::well_known::Rfc3339)
            .map_or(0, |t| t.unix_timestamp_nanos().max(0) as u64);
    let mut attrs = vec![KeyValue::str("logger", r.logger.clone())];
    let mut opt = |key: &str, value: Option<AnyValue>| {
        if let Some(v) = value {
            attrs.push(KeyValue::new(key, v));
        }
    };
    opt("secflow.run.id", r.run_id.clone().map(AnyValue::Str));
    opt(
        "secflow.workflow.id",
        r.workflow_id.clone().map(AnyValue::Str),
    );
    opt("secflow.node.id", r.node_id.clone().map(AnyValue::Str));
    opt(
        "secflow.plugin.name",
        r.plugin_name.clone().map(AnyValue::Str),
    );
    opt(
        "secflow.attempt",
        r.attempt.map(|a| AnyValue::Int(i64::from(a))),
    );
    opt(
        "secflow.duration_ms",
        r.duration_ms.map(|d| AnyValue::Int(d as i64)),
    );
    opt(
        "secflow.findings_count",
        r.findings_count.map(|d| AnyValue::Int(d as i64)),
    );
    opt("secflow.success", r.success.map(AnyValue::Bool));
    if let Some(e) = &r.error {
        attrs.push(KeyValue::str("error.type", e.kind.clone()));
        attrs.push(KeyValue::str("error.message", e.message.clone()));
    }
    for (k, v) in &r.metadata {
        if !v.is_null() {
            attrs.push(KeyValue::new(format!("secflow.{k}"), any(v)));
        }
    }
    let level = r.level.as_str();
    model::LogRecord {
        time_unix_nano: time,
        observed_time_unix_nano: time,
        severity_number: model::severity_number(level),
        severity_text: level.to_string(),
        body: r.message.clone(),
        attributes: attrs,
        trace_id: r.trace_id.clone(),
        span_id: r.span_id.clone(),
    }
}

/// The OTel name and UCUM unit of a Prometheus series name and secflow unit.
pub fn otel_name(name: &str, unit: &str) -> (String, &'static str) {
    let mut base = name.strip_suffix("_total").unwrap_or(name);
    let ucum = match unit {
        "seconds" => "s",
        "bytes" => "By",
        "percent" => "%",
        _ => "1",
    };
    for suffix in ["_seconds", "_bytes", "_percent"] {
        if let Some(stripped) = base.strip_suffix(suffix) {
            base = stripped;
        }
    }
    (base.replace('_', "."), ucum)
}

/// The snapshot's series as OTLP metrics; `start`/`time` are the run's start and the
/// snapshot's time in Unix nanoseconds.
pub fn metrics(snapshot: &MetricsSnapshot, start: u64, time: u64) -> Vec<Metric> {
    let mut by_name: BTreeMap<&str, Vec<&Series>> = BTreeMap::new();
    for s in &snapshot.series {
        by_name.entry(s.name.as_str()).or_default().push(s);
    }
    by_name
        .into_iter()
        .map(|(name, series)| {
            let first = series[0];
            let (otel, unit) = otel_name(name, &first.unit);
            let labels = |s: &Series| -> Vec<KeyValue> {
                s.labels
                    .iter()
                    .map(|(k, v)| KeyValue::str(k.clone(), v.clone()))
                    .collect()
            };
            let number = |s: &Series| {
                let v = s.value.unwrap_or(0.0);
                let value = if unit == "1" && v.fract() == 0.0 && v.abs() < 9e15 {
                    Number::Int(v as i64)
                } else {
                    Number::Double(v)
                };
                NumberPoint {
                    attributes: labels(s),
                    start_time_unix_nano: start,
                    time_unix_nano: time,
                    value,
                }
            };
            let data = match first.kind {
                MetricKind::Counter => MetricData::Sum {
                    monotonic: true,
                    points: series.iter().map(|s| number(s)).collect(),
                },
                MetricKind::Gauge => MetricData::Gauge {
                    points: series.iter().map(|s| number(s)).collect(),
                },
                MetricKind::Histogram => MetricData::Histogram {
                    points: series
                        .iter()
                        .map(|s| {
                            let buckets = s.buckets.as_deref().unwrap_or_default();
                            let finite: Vec<_> =
                                buckets.iter().filter(|b| b.le.is_finite()).collect();
                            let count = s.count.unwrap_or(0);
                            let mut previous = 0;
                            let mut bucket_counts: Vec<u64> = finite
                                .iter()
                                .map(|b| {
                                    let n = b.count.saturating_sub(previous);
                                    previous = b.count;
                                    n
                                })
                                .collect();
                            bucket_counts.push(count.saturating_sub(previous));
                            HistogramPoint {
                                attributes: labels(s),
                                start_time_unix_nano: start,
                                time_unix_nano: time,
                                count,
                                sum: s.sum.unwrap_or(0.0),
                                bucket_counts,
                                explicit_bounds: finite.iter().map(|b| b.le).collect(),
                            }
                        })
                        .collect(),
                },
            };
            Metric {
                name: otel,
                description: first.help.clone(),
                unit: unit.to_string(),
                data,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_otel_form() {
        assert_eq!(
            otel_name("secflow_node_duration_seconds", "seconds"),
            ("secflow.node.duration".into(), "s")
        );
        assert_eq!(
            otel_name("secflow_nodes_executed_total", ""),
            ("secflow.nodes.executed".into(), "1")
        );
        assert_eq!(
            otel_name("secflow_plugin_cpu_seconds_total", "seconds"),
            ("secflow.plugin.cpu".into(), "s")
        );
        assert_eq!(
            otel_name("secflow_plugin_memory_bytes", "bytes"),
            ("secflow.plugin.memory".into(), "By")
        );
    }
}
