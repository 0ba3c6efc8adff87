//! OTLP protobuf encoding (`http/protobuf`), written by hand over the wire format.
//!
//! Only encoding is needed and only a dozen message types, so a small writer (varints,
//! length-delimited fields, fixed64) replaces generated code and its build cost. Field
//! numbers follow opentelemetry-proto's `trace/v1`, `logs/v1`, `metrics/v1`, `common/v1`
//! and `resource/v1`; a test pins a known encoding.

use super::model::{
    AnyValue, Batch, CUMULATIVE, HistogramPoint, KeyValue, LogRecord, Metric, MetricData, Number,
    NumberPoint, SCOPE_NAME, SPAN_KIND_INTERNAL, Span,
};

/// A protobuf message being written.
#[derive(Default)]
struct Msg {
    buf: Vec<u8>,
}

impl Msg {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    fn tag(&mut self, field: u32, wire: u8) {
        self.varint((u64::from(field) << 3) | u64::from(wire));
    }

    fn uint(&mut self, field: u32, v: u64) {
        if v != 0 {
            self.tag(field, 0);
            self.varint(v);
        }
    }

    fn boolean(&mut self, field: u32, v: bool) {
        if v {
            self.tag(field, 0);
            self.varint(1);
        }
    }

    fn fixed64(&mut self, field: u32, v: u64) {
        if v != 0 {
            self.tag(field, 1);
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
    }

    /// A `double` or `sfixed64` inside a oneof: written even when zero.
    fn fixed64_always(&mut self, field: u32, bytes: [u8; 8]) {
        self.tag(field, 1);
        self.buf.extend_from_slice(&bytes);
    }

    fn bytes(&mut self, field: u32, v: &[u8]) {
        if !v.is_empty() {
            self.tag(field, 2);
            self.varint(v.len() as u64);
            self.buf.extend_from_slice(v);
        }
    }

    fn string(&mut self, field: u32, v: &str) {
        self.bytes(field, v.as_bytes());
    }

    /// An embedded message, written even when empty (presence matters for oneofs). A large
    /// child much bigger than what is written so far keeps its buffer (what precedes it is
    /// spliced in front), so a 100 MB log body is not held twice per nesting level.
    fn message(&mut self, field: u32, m: Msg) {
        let mut head = Msg::default();
        head.tag(field, 2);
        head.varint(m.buf.len() as u64);
        if m.buf.len() > (64 << 10) && m.buf.len() > 4 * self.buf.len() {
            let mut prefix = std::mem::take(&mut self.buf);
            prefix.extend_from_slice(&head.buf);
            let mut body = m.buf;
            // Exact: splice's own reserve would double the capacity.
            body.reserve_exact(prefix.len());
            body.splice(0..0, prefix);
            self.buf = body;
        } else {
            self.buf.extend_from_slice(&head.buf);
            self.buf.extend_from_slice(&m.buf);
        }
    }

    fn packed_fixed64(&mut self, field: u32, values: impl Iterator<Item = [u8; 8]>) {
        let data: Vec<u8> = values.flatten().collect();
        self.bytes(field, &data);
    }
}

/// Lowercase hex to bytes; an invalid id becomes empty (and is then omitted).
fn id_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2).unwrap_or("zz"), 16))
        .collect::<Result<Vec<u8>, _>>()
        .unwrap_or_default()
}

fn any_value(v: &AnyValue) -> Msg {
    let mut m = Msg::default();
    match v {
        AnyValue::Str(s) => {
            m.tag(1, 2);
            m.varint(s.len() as u64);
            m.buf.extend_from_slice(s.as_bytes());
        }
        AnyValue::Bool(b) => {
            m.tag(2, 0);
            m.varint(u64::from(*b));
        }
        AnyValue::Int(i) => {
            m.tag(3, 0);
            m.varint(*i as u64);
        }
        AnyValue::Double(d) => m.fixed64_always(4, d.to_le_bytes()),
    }
    m
}

fn key_values(m: &mut Msg, field: u32, kvs: &[KeyValue]) {
    for kv in kvs {
        let mut e = Msg::default();
        e.string(1, &kv.key);
        e.message(2, any_value(&kv.value));
        m.message(field, e);
    }
}

fn resource(attrs: &[KeyValue]) -> Msg {
    let mut r = Msg::default();
    key_values(&mut r, 1, attrs);
    r
}

fn scope() -> Msg {
    let mut s = Msg::default();
    s.string(1, SCOPE_NAME);
    s.string(2, env!("CARGO_PKG_VERSION"));
    s
}

/// `ExportTraceServiceRequest` with the batch's spans.
pub fn traces(batch: &Batch) -> Vec<u8> {
    let mut scope_spans = Msg::default();
    scope_spans.message(1, scope());
    for s in &batch.spans {
        scope_spans.message(2, span(s));
    }
    wrap(batch, scope_spans)
}

fn span(s: &Span) -> Msg {
    let mut m = Msg::default();
    m.bytes(1, &id_bytes(&s.trace_id));
    m.bytes(2, &id_bytes(&s.span_id));
    if let Some(p) = &s.parent_span_id {
        m.bytes(4, &id_bytes(p));
    }
    m.string(5, &s.name);
    m.uint(6, SPAN_KIND_INTERNAL as u64);
    m.fixed64(7, s.start_time_unix_nano);
    m.fixed64(8, s.end_time_unix_nano);
    key_values(&mut m, 9, &s.attributes);
    for e in &s.events {
        let mut ev = Msg::default();
        ev.fixed64(1, e.time_unix_nano);
        ev.string(2, &e.name);
        key_values(&mut ev, 3, &e.attributes);
        m.message(11, ev);
    }
    let mut status = Msg::default();
    status.string(2, &s.status_message);
    status.uint(3, s.status as u64);
    m.message(15, status);
    m
}

/// `ExportLogsServiceRequest` with the batch's log records.
pub fn logs(batch: &Batch) -> Vec<u8> {
    let mut scope_logs = Msg::default();
    scope_logs.message(1, scope());
    for l in &batch.logs {
        scope_logs.message(2, log(l));
    }
    wrap(batch, scope_logs)
}

fn log(l: &LogRecord) -> Msg {
    let mut m = Msg::default();
    m.fixed64(1, l.time_unix_nano);
    m.uint(2, l.severity_number as u64);
    m.string(3, &l.severity_text);
    m.message(5, any_value(&AnyValue::Str(l.body.clone())));
    key_values(&mut m, 6, &l.attributes);
    if let Some(t) = &l.trace_id {
        m.bytes(9, &id_bytes(t));
    }
    if let Some(s) = &l.span_id {
        m.bytes(10, &id_bytes(s));
    }
    m.fixed64(11, l.observed_time_unix_nano);
    m
}

/// `ExportMetricsServiceRequest` with the batch's metrics.
pub fn metrics(batch: &Batch) -> Vec<u8> {
    let mut scope_metrics = Msg::default();
    scope_metrics.message(1, scope());
    for m in &batch.metrics {
        scope_metrics.message(2, metric(m));
    }
    wrap(batch, scope_metrics)
}

fn metric(metric: &Metric) -> Msg {
    let mut m = Msg::default();
    m.string(1, &metric.name);
    m.string(2, &metric.description);
    m.string(3, &metric.unit);
    match &metric.data {
        MetricData::Gauge { points } => {
            let mut g = Msg::default();
            for p in points {
                g.message(1, number_point(p));
            }
            m.message(5, g);
        }
        MetricData::Sum { monotonic, points } => {
            let mut s = Msg::default();
            for p in points {
                s.message(1, number_point(p));
            }
            s.uint(2, CUMULATIVE as u64);
            s.boolean(3, *monotonic);
            m.message(7, s);
        }
        MetricData::Histogram { points } => {
            let mut h = Msg::default();
            for p in points {
                h.message(1, histogram_point(p));
            }
            h.uint(2, CUMULATIVE as u64);
            m.message(9, h);
        }
    }
    m
}

fn number_point(p: &NumberPoint) -> Msg {
    let mut m = Msg::default();
    m.fixed64(2, p.start_time_unix_nano);
    m.fixed64(3, p.time_unix_nano);
    match p.value {
        Number::Double(d) => m.fixed64_always(4, d.to_le_bytes()),
        Number::Int(i) => m.fixed64_always(6, i.to_le_bytes()),
    }
    key_values(&mut m, 7, &p.attributes);
    m
}

fn histogram_point(p: &HistogramPoint) -> Msg {
    let mut m = Msg::default();
    m.fixed64(2, p.start_time_unix_nano);
    m.fixed64(3, p.time_unix_nano);
    m.fixed64(4, p.count);
    m.fixed64_always(5, p.sum.to_le_bytes());
    m.packed_fixed64(6, p.bucket_counts.iter().map(|c| c.to_le_bytes()));
    m.packed_fixed64(7, p.explicit_bounds.iter().map(|b| b.to_le_bytes()));
    key_values(&mut m, 9, &p.attributes);
    m
}

/// `Export*ServiceRequest { Resource* { resource = 1; Scope* = 2 } = 1 }`.
fn wrap(batch: &Batch, scoped: Msg) -> Vec<u8> {
    let mut r = Msg::default();
    r.message(1, resource(&batch.resource));
    r.message(2, scoped);
    let mut req = Msg::default();
    req.message(1, r);
    req.buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_ids() {
        let mut m = Msg::default();
        m.uint(1, 300);
        assert_eq!(m.buf, [0x08, 0xac, 0x02]);
        assert_eq!(
            id_bytes("00f067aa0ba902b7"),
            [0, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]
        );
        assert!(id_bytes("zz").is_empty());
    }

    #[test]
    fn span_encoding_is_stable() {
        let s = Span {
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
        };
        let m = span(&s);
        let mut expected = vec![0x0a, 16];
        expected.extend([1u8; 16]);
        expected.extend([0x12, 8]);
        expected.extend([2u8; 8]);
        expected.extend([0x2a, 1, b'n', 0x30, 1]);
        expected.extend([0x39, 1, 0, 0, 0, 0, 0, 0, 0, 0x41, 2, 0, 0, 0, 0, 0, 0, 0]);
        // attributes: KeyValue { key "k", value AnyValue { int_value 3 } }
        expected.extend([0x4a, 7, 0x0a, 1, b'k', 0x12, 2, 0x18, 3]);
        // status { code 1 }
        expected.extend([0x7a, 2, 0x18, 1]);
        assert_eq!(m.buf, expected);
    }
}
