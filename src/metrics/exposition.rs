//! Prometheus text exposition format 0.0.4 of a [`MetricsSnapshot`]: `# HELP` and `# TYPE`
//! once per name, escaped label values, histograms as `_bucket{le=...}` (ending with `+Inf`),
//! `_sum` and `_count`. The output always ends with a newline (the Pushgateway rejects it
//! otherwise) and passes `promtool check metrics`.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::snapshot::{MetricKind, MetricsSnapshot, Series};

/// Renders every series of `snapshot`, grouped by name in order of first appearance.
pub fn render(snapshot: &MetricsSnapshot) -> String {
    let mut order: Vec<&str> = Vec::new();
    let mut by_name: BTreeMap<&str, Vec<&Series>> = BTreeMap::new();
    for s in &snapshot.series {
        let group = by_name.entry(s.name.as_str()).or_default();
        if group.is_empty() {
            order.push(s.name.as_str());
        }
        group.push(s);
    }
    let mut out = String::new();
    for name in order {
        let group = &by_name[name];
        let first = group[0];
        let name = sanitize_name(name);
        let _ = writeln!(out, "# HELP {name} {}", escape_help(&first.help));
        let _ = writeln!(out, "# TYPE {name} {}", first.kind.as_str());
        for s in group {
            match s.kind {
                MetricKind::Counter | MetricKind::Gauge => {
                    sample(&mut out, &name, "", s, None, s.value.unwrap_or(0.0));
                }
                MetricKind::Histogram => histogram(&mut out, &name, s),
            }
        }
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

fn histogram(out: &mut String, name: &str, s: &Series) {
    let count = s.count.unwrap_or(0);
    for b in s.buckets.iter().flatten() {
        let le = format_value(b.le);
        sample(out, name, "_bucket", s, Some(&le), b.count as f64);
    }
    sample(out, name, "_bucket", s, Some("+Inf"), count as f64);
    sample(out, name, "_sum", s, None, s.sum.unwrap_or(0.0));
    sample(out, name, "_count", s, None, count as f64);
}

fn sample(out: &mut String, name: &str, suffix: &str, s: &Series, le: Option<&str>, v: f64) {
    out.push_str(name);
    out.push_str(suffix);
    let mut labels: Vec<(String, &str)> = s
        .labels
        .iter()
        .map(|(k, v)| (sanitize_name(k), v.as_str()))
        .collect();
    if let Some(le) = le {
        labels.push(("le".to_owned(), le));
    }
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{k}=\"{}\"", escape_label(v));
        }
        out.push('}');
    }
    out.push(' ');
    out.push_str(&format_value(v));
    out.push('\n');
}

/// A sample value as Prometheus parses it (`+Inf`, `-Inf`, `NaN` for the specials).
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A metric or label name with every character outside `[a-zA-Z0-9_:]` (and a leading digit)
/// replaced by `_`, so a hand-edited snapshot cannot break the format.
fn sanitize_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}
