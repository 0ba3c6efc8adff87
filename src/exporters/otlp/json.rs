//! OTLP/JSON encoding (`http/json`) per the OTLP specification's JSON mapping: lowerCamelCase
//! field names, trace and span ids as lowercase hex, enums as integers, and 64-bit integers
//! (times, counts, `intValue`, `asInt`) as decimal strings.

use serde_json::{Map, Value, json};

use super::model::{
    AnyValue, Batch, CUMULATIVE, HistogramPoint, KeyValue, LogRecord, Metric, MetricData, Number,
    NumberPoint, SCOPE_NAME, SPAN_KIND_INTERNAL, Span,
};

fn any_value(v: &AnyValue) -> Value {
    match v {
        AnyValue::Str(s) => json!({ "stringValue": s }),
        AnyValue::Int(i) => json!({ "intValue": i.to_string() }),
        AnyValue::Double(d) => json!({ "doubleValue": d }),
        AnyValue::Bool(b) => json!({ "boolValue": b }),
    }
}

fn attributes(kvs: &[KeyValue]) -> Value {
    Value::Array(
        kvs.iter()
            .map(|kv| json!({ "key": kv.key, "value": any_value(&kv.value) }))
            .collect(),
    )
}

fn scope() -> Value {
    json!({ "name": SCOPE_NAME, "version": env!("CARGO_PKG_VERSION") })
}

fn wrap(batch: &Batch, outer: &str, inner: &str, items_key: &str, items: Vec<Value>) -> Vec<u8> {
    let mut scoped = Map::new();
    scoped.insert("scope".into(), scope());
    scoped.insert(items_key.into(), Value::Array(items));
    let body = json!({
        outer: [{
            "resource": { "attributes": attributes(&batch.resource) },
            inner: [Value::Object(scoped)],
        }]
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

/// `ExportTraceServiceRequest` as JSON.
pub fn traces(batch: &Batch) -> Vec<u8> {
    let spans = batch.spans.iter().map(span).collect();
    wrap(batch, "resourceSpans", "scopeSpans", "spans", spans)
}

fn span(s: &Span) -> Value {
    let mut v = json!({
        "traceId": s.trace_id,
        "spanId": s.span_id,
        "name": s.name,
        "kind": SPAN_KIND_INTERNAL,
        "startTimeUnixNano": s.start_time_unix_nano.to_string(),
        "endTimeUnixNano": s.end_time_unix_nano.to_string(),
        "attributes": attributes(&s.attributes),
        "events": s.events.iter().map(|e| json!({
            "timeUnixNano": e.time_unix_nano.to_string(),
            "name": e.name,
            "attributes": attributes(&e.attributes),
        })).collect::<Vec<_>>(),
        "status": { "code": s.status as i32, "message": s.status_message },
    });
    if let Some(p) = &s.parent_span_id {
        v["parentSpanId"] = json!(p);
    }
    v
}

/// `ExportLogsServiceRequest` as JSON.
pub fn logs(batch: &Batch) -> Vec<u8> {
    let records = batch.logs.iter().map(log).collect();
    wrap(batch, "resourceLogs", "scopeLogs", "logRecords", records)
}

fn log(l: &LogRecord) -> Value {
    let mut v = json!({
        "timeUnixNano": l.time_unix_nano.to_string(),
        "observedTimeUnixNano": l.observed_time_unix_nano.to_string(),
        "severityNumber": l.severity_number,
        "severityText": l.severity_text,
        "body": { "stringValue": l.body },
        "attributes": attributes(&l.attributes),
    });
    if let Some(t) = &l.trace_id {
        v["traceId"] = json!(t);
    }
    if let Some(s) = &l.span_id {
        v["spanId"] = json!(s);
    }
    v
}

/// `ExportMetricsServiceRequest` as JSON.
pub fn metrics(batch: &Batch) -> Vec<u8> {
    let metrics = batch.metrics.iter().map(metric).collect();
    wrap(batch, "resourceMetrics", "scopeMetrics", "metrics", metrics)
}

fn metric(m: &Metric) -> Value {
    let mut v = json!({ "name": m.name, "description": m.description, "unit": m.unit });
    match &m.data {
        MetricData::Gauge { points } => {
            v["gauge"] =
                json!({ "dataPoints": points.iter().map(number_point).collect::<Vec<_>>() });
        }
        MetricData::Sum { monotonic, points } => {
            v["sum"] = json!({
                "dataPoints": points.iter().map(number_point).collect::<Vec<_>>(),
                "aggregationTemporality": CUMULATIVE,
                "isMonotonic": monotonic,
            });
        }
        MetricData::Histogram { points } => {
            v["histogram"] = json!({
                "dataPoints": points.iter().map(histogram_point).collect::<Vec<_>>(),
                "aggregationTemporality": CUMULATIVE,
            });
        }
    }
    v
}

fn number_point(p: &NumberPoint) -> Value {
    let mut v = json!({
        "attributes": attributes(&p.attributes),
        "startTimeUnixNano": p.start_time_unix_nano.to_string(),
        "timeUnixNano": p.time_unix_nano.to_string(),
    });
    match p.value {
        Number::Int(i) => v["asInt"] = json!(i.to_string()),
        Number::Double(d) => v["asDouble"] = json!(d),
    }
    v
}

fn histogram_point(p: &HistogramPoint) -> Value {
    json!({
        "attributes": attributes(&p.attributes),
        "startTimeUnixNano": p.start_time_unix_nano.to_string(),
        "timeUnixNano": p.time_unix_nano.to_string(),
        "count": p.count.to_string(),
        "sum": p.sum,
        "bucketCounts": p.bucket_counts.iter().map(u64::to_string).collect::<Vec<_>>(),
        "explicitBounds": p.explicit_bounds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exporters::otlp::model::StatusCode;

    #[test]
    fn spans_follow_the_json_mapping() {
        let batch = Batch {
            resource: vec![KeyValue::str("service.name", "secflow")],
            spans: vec![Span {
                trace_id: "ab".repeat(16),
                span_id: "cd".repeat(8),
                parent_span_id: Some("ef".repeat(8)),
                name: "node scan".into(),
                start_time_unix_nano: 1_700_000_000_000_000_000,
                end_time_unix_nano: 1_700_000_001_000_000_000,
                attributes: vec![KeyValue::int("secflow.attempt", 2)],
                events: vec![],
                status: StatusCode::Error,
                status_message: "exit 3".into(),
            }],
            ..Batch::default()
        };
        let v: Value = serde_json::from_slice(&traces(&batch)).unwrap();
        let s = &v["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        assert_eq!(s["startTimeUnixNano"], "1700000000000000000");
        assert_eq!(s["kind"], 1);
        assert_eq!(s["status"]["code"], 2);
        assert_eq!(s["parentSpanId"], "ef".repeat(8));
        assert_eq!(s["attributes"][0]["value"]["intValue"], "2");
        assert_eq!(
            v["resourceSpans"][0]["scopeSpans"][0]["scope"]["name"],
            "secflow"
        );
    }
}
