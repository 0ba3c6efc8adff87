//! secflow's records in OpenTelemetry form: the metrics snapshot as OTLP sums, gauges and
//! histograms (names in OTel form, UCUM units), spans and log records as recorded.
//!
//! OTel form of a Prometheus name: `_total` and the unit suffix dropped, `_` turned into `.`
//! (`secflow_node_duration_seconds` → `secflow.node.duration`, unit `s`).

use std::collections::BTreeMap;

use super::model::{HistogramPoint, KeyValue, Metric, MetricData, Number, NumberPoint};
use crate::metrics::{MetricKind, MetricsSnapshot, Series};

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
            let attributes = |s: &Series| -> Vec<KeyValue> {
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
                    attributes: attributes(s),
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
                                attributes: attributes(s),
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
