//! One line of the telemetry channel into an [`Item`], or the reason it is refused.
//!
//! Everything a tool writes is hostile: a line is JSON of exactly one of the four shapes,
//! every name is checked against Prometheus' rules before it can become a series, label
//! values and messages are capped, secrets are masked (object keys included) before
//! anything is checked or kept. Pure, never panics, linear in the line.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{Item, LogItem, MetricItem, MetricType};
use crate::event::Level as LogLevel;
use crate::event::Redactor;

/// Labels secflow adds to every tool series; a tool cannot set them.
pub const RESERVED_LABELS: [&str; 2] = ["node_id", "plugin_name"];
/// Most labels a tool series may carry besides [`RESERVED_LABELS`].
pub const MAX_TOOL_LABELS: usize = 6;
/// Longest metric or label name, in bytes.
pub const MAX_NAME: usize = 128;
/// Longest label value, in characters (longer is refused, not cut: a cut value could merge
/// two series).
pub const MAX_LABEL_VALUE: usize = 256;
/// Most fields of a log line besides `level` and `message`.
pub const MAX_LOG_FIELDS: usize = 32;

/// Why a line was refused (the key the summary counts it under).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Bad {
    /// Not JSON (invalid UTF-8 included) or not an object of one known key.
    Json,
    /// Longer than [`super::MAX_LINE`].
    TooLong,
    Log,
    MetricName,
    MetricType,
    MetricValue,
    Label,
    Progress,
    Finding,
    /// A new series beyond [`super::MAX_SERIES`] for the attempt.
    SeriesLimit,
}

impl Bad {
    pub fn as_str(self) -> &'static str {
        match self {
            Bad::Json => "not_json",
            Bad::TooLong => "too_long",
            Bad::Log => "bad_log",
            Bad::MetricName => "bad_metric_name",
            Bad::MetricType => "bad_metric_type",
            Bad::MetricValue => "bad_metric_value",
            Bad::Label => "bad_label",
            Bad::Progress => "bad_progress",
            Bad::Finding => "bad_finding",
            Bad::SeriesLimit => "series_limit",
        }
    }
}

/// Snake case: `[a-z_][a-z0-9_]*`, at most [`MAX_NAME`] bytes, not `__…` (a subset of
/// Prometheus' names: no `:`, kept for recording rules, and no camelCase, which promtool flags).
fn snake_case(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_NAME
        && (b[0].is_ascii_lowercase() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
        && !name.starts_with("__")
}

/// Abbreviated units (`_ms`, `_kb`, …), non-base units (`minutes`, `bits`, …) and prefixed
/// units (`milliseconds`, `kilobytes`, …): Prometheus names use base units, spelled out.
fn non_base_unit(word: &str) -> bool {
    const ABBREVIATED: [&str; 14] = [
        "s", "ms", "us", "ns", "sec", "b", "kb", "mb", "gb", "tb", "pb", "m", "h", "d",
    ];
    const NON_BASE: [&str; 14] = [
        "minutes",
        "hours",
        "days",
        "weeks",
        "kelvins",
        "fahrenheit",
        "rankine",
        "inches",
        "yards",
        "miles",
        "bits",
        "calories",
        "pounds",
        "ounces",
    ];
    const BASE: [&str; 10] = [
        "amperes", "bytes", "celsius", "grams", "joules", "kelvin", "meters", "metres", "seconds",
        "volts",
    ];
    const PREFIXES: [&str; 18] = [
        "pico", "nano", "micro", "milli", "centi", "deci", "deca", "hecto", "kilo", "kibi", "mega",
        "mibi", "giga", "gibi", "tera", "tebi", "peta", "pebi",
    ];
    ABBREVIATED.contains(&word)
        || NON_BASE.contains(&word)
        || PREFIXES.iter().any(|p| {
            word.strip_prefix(p)
                .is_some_and(|unit| BASE.contains(&unit) || NON_BASE.contains(&unit))
        })
}

/// A tool's metric name: [`snake_case`], not secflow's own namespace (`secflow_`), with no
/// metric type in it (`…gauge…`) and units as Prometheus wants them — what `promtool check
/// metrics` accepts, so `secflow metrics --format prometheus` stays clean.
pub fn valid_metric_name(name: &str) -> bool {
    snake_case(name)
        && !name.starts_with("secflow_")
        && !["counter", "gauge", "histogram", "summary"]
            .iter()
            .any(|t| name.contains(t))
        && !name.split('_').any(non_base_unit)
}

/// A tool's label name: [`snake_case`], not one of [`RESERVED_LABELS`] nor `le` / `quantile`
/// (the histogram's and summary's own).
pub fn valid_label_name(name: &str) -> bool {
    snake_case(name) && !RESERVED_LABELS.contains(&name) && !["le", "quantile"].contains(&name)
}

/// Parses one line (without its newline). Secrets are masked first, so a secret can
/// neither be kept nor smuggled into a name (a masked name is no longer valid).
pub fn parse_line(line: &[u8], redactor: &Redactor) -> Result<Item, Bad> {
    let mut value: Value = serde_json::from_slice(line).map_err(|_| Bad::Json)?;
    redactor.redact_tool_json(&mut value);
    let Value::Object(mut map) = value else {
        return Err(Bad::Json);
    };
    if map.len() != 1 {
        return Err(Bad::Json);
    }
    let (key, body) = map.iter_mut().next().ok_or(Bad::Json)?;
    let body = std::mem::take(body);
    match key.as_str() {
        "log" => log(body),
        "metric" => metric(body),
        "progress" => match body.as_f64() {
            Some(f) if (0.0..=1.0).contains(&f) => Ok(Item::Progress(f)),
            _ => Err(Bad::Progress),
        },
        "finding" => match body {
            Value::Object(m) if !m.is_empty() => Ok(Item::Finding(m)),
            _ => Err(Bad::Finding),
        },
        _ => Err(Bad::Json),
    }
}

fn log(body: Value) -> Result<Item, Bad> {
    let Value::Object(mut m) = body else {
        return Err(Bad::Log);
    };
    let level = match m.remove("level") {
        None => LogLevel::Info,
        Some(Value::String(s)) => LogLevel::parse(&s).ok_or(Bad::Log)?,
        Some(_) => return Err(Bad::Log),
    };
    let Some(Value::String(message)) = m.remove("message") else {
        return Err(Bad::Log);
    };
    if m.len() > MAX_LOG_FIELDS {
        return Err(Bad::Log);
    }
    Ok(Item::Log(LogItem {
        level,
        message,
        fields: m.into_iter().collect(),
    }))
}

fn metric(body: Value) -> Result<Item, Bad> {
    let Value::Object(mut m) = body else {
        return Err(Bad::MetricName);
    };
    let Some(Value::String(name)) = m.remove("name") else {
        return Err(Bad::MetricName);
    };
    let kind = match m.remove("type").as_ref().and_then(Value::as_str) {
        Some("counter") => MetricType::Counter,
        Some("gauge") => MetricType::Gauge,
        Some("histogram") => MetricType::Histogram,
        _ => return Err(Bad::MetricType),
    };
    let name = normalise_name(name, kind).ok_or(Bad::MetricName)?;
    let value = m
        .remove("value")
        .as_ref()
        .and_then(Value::as_f64)
        .filter(|v| v.is_finite())
        .ok_or(Bad::MetricValue)?;
    if kind == MetricType::Counter && value < 0.0 {
        return Err(Bad::MetricValue);
    }
    let labels = match m.remove("labels") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(l)) => labels(l)?,
        Some(_) => return Err(Bad::Label),
    };
    if !m.is_empty() {
        return Err(Bad::MetricName);
    }
    Ok(Item::Metric(MetricItem {
        name,
        kind,
        value,
        labels,
    }))
}

/// The series name for `name`: counters end in `_total` (added when missing); no name may
/// end like a histogram's own series (`_bucket`, `_count`, `_sum`), nor a gauge or histogram
/// in `_total`.
fn normalise_name(name: String, kind: MetricType) -> Option<String> {
    if !valid_metric_name(&name)
        || ["_bucket", "_count", "_sum"]
            .iter()
            .any(|s| name.ends_with(s))
    {
        return None;
    }
    match kind {
        MetricType::Counter if !name.ends_with("_total") => {
            let n = format!("{name}_total");
            valid_metric_name(&n).then_some(n)
        }
        MetricType::Counter => Some(name),
        _ if name.ends_with("_total") => None,
        _ => Some(name),
    }
}

fn labels(l: Map<String, Value>) -> Result<BTreeMap<String, String>, Bad> {
    if l.len() > MAX_TOOL_LABELS {
        return Err(Bad::Label);
    }
    l.into_iter()
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => return Err(Bad::Label),
            };
            // Control characters would reach a terminal raw: the exposition escapes only
            // `\`, `"` and newline (tab is harmless).
            if !valid_label_name(&k)
                || v.chars().count() > MAX_LABEL_VALUE
                || v.chars().any(|c| c.is_control() && c != '\n' && c != '\t')
            {
                return Err(Bad::Label);
            }
            Ok((k, v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(line: &str) -> Result<Item, Bad> {
        parse_line(line.as_bytes(), &Redactor::new(["hunter2"]))
    }

    #[test]
    fn the_four_shapes_parse() {
        assert!(matches!(p(r#"{"progress":0.5}"#), Ok(Item::Progress(f)) if f == 0.5));
        let Ok(Item::Log(l)) = p(r#"{"log":{"level":"warn","message":"m","k":1}}"#) else {
            panic!()
        };
        assert_eq!((l.level, l.message.as_str()), (LogLevel::Warn, "m"));
        assert_eq!(l.fields.get("k"), Some(&Value::from(1)));
        let Ok(Item::Metric(m)) =
            p(r#"{"metric":{"name":"reqs","type":"counter","value":2,"labels":{"a":"b"}}}"#)
        else {
            panic!()
        };
        assert_eq!(m.name, "reqs_total");
        assert_eq!(m.labels.get("a").map(String::as_str), Some("b"));
        assert!(matches!(p(r#"{"finding":{"id":1}}"#), Ok(Item::Finding(_))));
    }

    #[test]
    fn hostile_lines_are_refused_with_a_reason() {
        let cases = [
            ("not json", Bad::Json),
            (r#"{"progress":1.5}"#, Bad::Progress),
            (r#"{"progress":0.1,"log":{}}"#, Bad::Json),
            (
                r#"{"metric":{"name":"a b","type":"gauge","value":1}}"#,
                Bad::MetricName,
            ),
            (
                r#"{"metric":{"name":"secflow_x","type":"gauge","value":1}}"#,
                Bad::MetricName,
            ),
            (
                r#"{"metric":{"name":"x","type":"summary","value":1}}"#,
                Bad::MetricType,
            ),
            (
                r#"{"metric":{"name":"ok_gauge","type":"gauge","value":1}}"#,
                Bad::MetricName,
            ),
            (
                r#"{"metric":{"name":"latency_ms","type":"gauge","value":1}}"#,
                Bad::MetricName,
            ),
            (
                r#"{"metric":{"name":"took_milliseconds","type":"gauge","value":1}}"#,
                Bad::MetricName,
            ),
            (
                r#"{"metric":{"name":"fooBar","type":"gauge","value":1}}"#,
                Bad::MetricName,
            ),
            (
                r#"{"metric":{"name":"a:b","type":"gauge","value":1}}"#,
                Bad::MetricName,
            ),
            (
                r#"{"metric":{"name":"x","type":"histogram","value":1,"labels":{"le":"1"}}}"#,
                Bad::Label,
            ),
            (
                r#"{"metric":{"name":"x","type":"counter","value":-1}}"#,
                Bad::MetricValue,
            ),
            (
                r#"{"metric":{"name":"x","type":"gauge","value":1,"labels":{"node_id":"evil"}}}"#,
                Bad::Label,
            ),
            (
                r#"{"metric":{"name":"x","type":"gauge","value":1,"labels":{"a\"} 1\nevil{":"v"}}}"#,
                Bad::Label,
            ),
            // A secret in a name is masked, and the masked name is invalid.
            (
                r#"{"metric":{"name":"hunter2","type":"gauge","value":1}}"#,
                Bad::MetricName,
            ),
            (r#"{"finding":[]}"#, Bad::Finding),
            (r#"{"log":{"level":"loud","message":"m"}}"#, Bad::Log),
        ];
        for (line, want) in cases {
            assert_eq!(p(line).err(), Some(want), "{line}");
        }
        assert_eq!(
            parse_line(b"{\"log\":{\"message\":\"\xff\"}}", &Redactor::default()).err(),
            Some(Bad::Json)
        );
    }

    #[test]
    fn secrets_are_masked_and_label_values_kept_verbatim() {
        let Ok(Item::Log(l)) = p(r#"{"log":{"message":"pw hunter2","hunter2":"hunter2"}}"#) else {
            panic!()
        };
        assert_eq!(l.message, "pw [REDACTED]");
        assert_eq!(l.fields.get("[REDACTED]"), Some(&Value::from("[REDACTED]")));
        let Ok(Item::Metric(m)) =
            p(r#"{"metric":{"name":"x","type":"gauge","value":1,"labels":{"a":"a\"} 1\nevil{"}}}"#)
        else {
            panic!()
        };
        assert_eq!(m.labels["a"], "a\"} 1\nevil{");
    }

    #[test]
    fn a_number_showing_a_secret_is_masked_and_a_metric_valued_so_refused() {
        let r = Redactor::new(["98765432101"]);
        let line = br#"{"log":{"message":"m","n":98765432101}}"#;
        let Ok(Item::Log(l)) = parse_line(line, &r) else {
            panic!()
        };
        assert_eq!(l.fields.get("n"), Some(&Value::from("[REDACTED]")));
        let line = br#"{"metric":{"name":"leak","type":"gauge","value":98765432101}}"#;
        assert_eq!(parse_line(line, &r).err(), Some(Bad::MetricValue));
        let line = br#"{"progress":0.98765432101}"#;
        assert!(parse_line(line, &r).is_err());
    }
}
