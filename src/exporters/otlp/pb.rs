//! secflow's OTLP model as the request messages `opentelemetry-proto` generates (prost), for
//! `http/protobuf` bodies and gRPC calls alike.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1 as common;
use opentelemetry_proto::tonic::logs::v1 as logs;
use opentelemetry_proto::tonic::metrics::v1 as metrics;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1 as trace;
use prost::Message;

use super::config::Signal;
use super::model::{
    AnyValue, Batch, CUMULATIVE, HistogramPoint, KeyValue, LogRecord, Metric, MetricData, Number,
    NumberPoint, SCOPE_NAME, SPAN_KIND_INTERNAL, Span,
};

/// Lowercase hex to bytes; an invalid id becomes empty (and is then omitted).
fn id_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2).unwrap_or("zz"), 16))
        .collect::<Result<Vec<u8>, _>>()
        .unwrap_or_default()
}

fn any_value(v: &AnyValue) -> common::AnyValue {
    use common::any_value::Value;
    common::AnyValue {
        value: Some(match v {
            AnyValue::Str(s) => Value::StringValue(s.clone()),
            AnyValue::Int(i) => Value::IntValue(*i),
            AnyValue::Double(d) => Value::DoubleValue(*d),
            AnyValue::Bool(b) => Value::BoolValue(*b),
        }),
    }
}

fn key_values(kvs: &[KeyValue]) -> Vec<common::KeyValue> {
    kvs.iter()
        .map(|kv| common::KeyValue {
            key: kv.key.clone(),
            value: Some(any_value(&kv.value)),
            ..Default::default()
        })
        .collect()
}

fn resource(batch: &Batch) -> Option<Resource> {
    Some(Resource {
        attributes: key_values(&batch.resource),
        ..Default::default()
    })
}

fn scope() -> Option<common::InstrumentationScope> {
    Some(common::InstrumentationScope {
        name: SCOPE_NAME.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        ..Default::default()
    })
}

/// `ExportTraceServiceRequest` with the batch's spans.
pub fn traces(batch: &Batch) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![trace::ResourceSpans {
            resource: resource(batch),
            scope_spans: vec![trace::ScopeSpans {
                scope: scope(),
                spans: batch.spans.iter().map(span).collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn span(s: &Span) -> trace::Span {
    trace::Span {
        trace_id: id_bytes(&s.trace_id),
        span_id: id_bytes(&s.span_id),
        parent_span_id: s
            .parent_span_id
            .as_deref()
            .map(id_bytes)
            .unwrap_or_default(),
        name: s.name.clone(),
        kind: SPAN_KIND_INTERNAL,
        start_time_unix_nano: s.start_time_unix_nano,
        end_time_unix_nano: s.end_time_unix_nano,
        attributes: key_values(&s.attributes),
        events: s
            .events
            .iter()
            .map(|e| trace::span::Event {
                time_unix_nano: e.time_unix_nano,
                name: e.name.clone(),
                attributes: key_values(&e.attributes),
                ..Default::default()
            })
            .collect(),
        status: Some(trace::Status {
            message: s.status_message.clone(),
            code: s.status as i32,
        }),
        ..Default::default()
    }
}

/// `ExportLogsServiceRequest` with the batch's log records.
pub fn logs(batch: &Batch) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![logs::ResourceLogs {
            resource: resource(batch),
            scope_logs: vec![logs::ScopeLogs {
                scope: scope(),
                log_records: batch.logs.iter().map(log).collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn log(l: &LogRecord) -> logs::LogRecord {
    logs::LogRecord {
        time_unix_nano: l.time_unix_nano,
        observed_time_unix_nano: l.observed_time_unix_nano,
        severity_number: l.severity_number,
        severity_text: l.severity_text.clone(),
        body: Some(any_value(&AnyValue::Str(l.body.clone()))),
        attributes: key_values(&l.attributes),
        trace_id: l.trace_id.as_deref().map(id_bytes).unwrap_or_default(),
        span_id: l.span_id.as_deref().map(id_bytes).unwrap_or_default(),
        ..Default::default()
    }
}

/// `ExportMetricsServiceRequest` with the batch's metrics.
pub fn metrics(batch: &Batch) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![metrics::ResourceMetrics {
            resource: resource(batch),
            scope_metrics: vec![metrics::ScopeMetrics {
                scope: scope(),
                metrics: batch.metrics.iter().map(metric).collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn metric(m: &Metric) -> metrics::Metric {
    use metrics::metric::Data;
    let data = match &m.data {
        MetricData::Gauge { points } => Data::Gauge(metrics::Gauge {
            data_points: points.iter().map(number_point).collect(),
        }),
        MetricData::Sum { monotonic, points } => Data::Sum(metrics::Sum {
            data_points: points.iter().map(number_point).collect(),
            aggregation_temporality: CUMULATIVE,
            is_monotonic: *monotonic,
        }),
        MetricData::Histogram { points } => Data::Histogram(metrics::Histogram {
            data_points: points.iter().map(histogram_point).collect(),
            aggregation_temporality: CUMULATIVE,
        }),
    };
    metrics::Metric {
        name: m.name.clone(),
        description: m.description.clone(),
        unit: m.unit.clone(),
        data: Some(data),
        ..Default::default()
    }
}

fn number_point(p: &NumberPoint) -> metrics::NumberDataPoint {
    use metrics::number_data_point::Value;
    metrics::NumberDataPoint {
        attributes: key_values(&p.attributes),
        start_time_unix_nano: p.start_time_unix_nano,
        time_unix_nano: p.time_unix_nano,
        value: Some(match p.value {
            Number::Int(i) => Value::AsInt(i),
            Number::Double(d) => Value::AsDouble(d),
        }),
        ..Default::default()
    }
}

fn histogram_point(p: &HistogramPoint) -> metrics::HistogramDataPoint {
    metrics::HistogramDataPoint {
        attributes: key_values(&p.attributes),
        start_time_unix_nano: p.start_time_unix_nano,
        time_unix_nano: p.time_unix_nano,
        count: p.count,
        sum: Some(p.sum),
        bucket_counts: p.bucket_counts.clone(),
        explicit_bounds: p.explicit_bounds.clone(),
        ..Default::default()
    }
}

/// The `http/protobuf` body of `signal`'s part of `batch`.
pub fn encode(signal: Signal, batch: &Batch) -> Vec<u8> {
    match signal {
        Signal::Traces => traces(batch).encode_to_vec(),
        Signal::Logs => logs(batch).encode_to_vec(),
        Signal::Metrics => metrics(batch).encode_to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_a_span_round_trip_through_the_generated_types() {
        assert_eq!(
            id_bytes("00f067aa0ba902b7"),
            [0, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]
        );
        assert!(id_bytes("zz").is_empty());
        let batch = Batch {
            spans: vec![Span {
                trace_id: "01".repeat(16),
                span_id: "02".repeat(8),
                parent_span_id: None,
                name: "n".into(),
                start_time_unix_nano: 1,
                end_time_unix_nano: 2,
                attributes: vec![KeyValue::int("k", 3)],
                events: vec![],
                status: super::super::model::StatusCode::Ok,
                status_message: String::new(),
            }],
            ..Batch::default()
        };
        let bytes = encode(Signal::Traces, &batch);
        let back = ExportTraceServiceRequest::decode(bytes.as_slice()).unwrap();
        let s = &back.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(s.trace_id, [1u8; 16]);
        assert!(s.parent_span_id.is_empty());
        assert_eq!(s.kind, SPAN_KIND_INTERNAL);
        assert_eq!(s.status.as_ref().unwrap().code, 1);
        assert_eq!(
            s.attributes[0].value.as_ref().unwrap().value,
            Some(common::any_value::Value::IntValue(3))
        );
    }
}
