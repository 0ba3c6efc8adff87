//! Reading a run directory back: run.json through [`crate::store::RunRecord`], and the
//! JSON-lines files through small private structs that name only the SPEC §4 fields the
//! analysis uses (unknown fields ignored, absent ones defaulted).
//!
//! Every reader streams with a bounded buffer, skips blank lines, and counts (never fails
//! on) a torn last line — the trace a crash or `kill -9` leaves — and other unreadable lines.
//! These structs are stand-ins for the shared record types and can be swapped for them.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::AnalysisError;
use crate::store::RunRecord;
use crate::store::open::open_regular;

/// Lines skipped by a reader.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LineStats {
    /// Complete, parsed lines.
    pub lines: u64,
    /// A last line with no newline that did not parse.
    pub torn: u64,
    /// Complete lines that did not parse.
    pub invalid: u64,
}

/// Calls `each` on every non-blank line of `path`; `each` says whether the line parsed.
pub fn for_each_line(
    path: &Path,
    mut each: impl FnMut(&[u8]) -> bool,
) -> Result<LineStats, AnalysisError> {
    let file = open_regular(path).map_err(|e| AnalysisError::io(path, e))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut buf = Vec::with_capacity(4096);
    let mut stats = LineStats::default();
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| AnalysisError::io(path, e))?;
        if n == 0 {
            return Ok(stats);
        }
        let complete = buf.last() == Some(&b'\n');
        let line = trim(&buf);
        if line.is_empty() {
            continue;
        }
        match (each(line), complete) {
            (true, _) => stats.lines += 1,
            (false, true) => stats.invalid += 1,
            (false, false) => stats.torn += 1,
        }
    }
}

fn trim(mut line: &[u8]) -> &[u8] {
    while let [rest @ .., b'\n' | b'\r' | b' ' | b'\t'] = line {
        line = rest;
    }
    line
}

/// RFC 3339 → milliseconds since the Unix epoch.
pub fn parse_ms(text: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Reads `run.json` of a run directory.
pub fn read_run_record(dir: &Path) -> Result<RunRecord, AnalysisError> {
    let path = dir.join("run.json");
    // Whole, then parsed from the slice: several times faster than a reader on a large record.
    let bytes = crate::store::open::read_regular(&path).map_err(|e| AnalysisError::io(&path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| AnalysisError::Parse {
        path: path.clone(),
        message: e.to_string(),
    })
}

/// The fields of a span record (SPEC §4) the analysis uses.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SpanIn {
    name: String,
    #[serde(deserialize_with = "nanos")]
    start_time_unix_nano: u64,
    #[serde(deserialize_with = "nanos")]
    end_time_unix_nano: u64,
    attributes: SpanAttributes,
    status: SpanStatus,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SpanAttributes {
    #[serde(rename = "secflow.node.id")]
    node_id: Option<String>,
    /// Dependency edges, when the writer records them on node spans: an array of ids or
    /// one comma-separated string (span attributes are often flattened to strings).
    #[serde(rename = "secflow.node.depends_on")]
    depends_on: Option<serde_json::Value>,
}

/// Integer nanoseconds, also accepted as a decimal string (OTLP/JSON writes int64 so).
fn nanos<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        Int(u64),
        Text(String),
    }
    match N::deserialize(d)? {
        N::Int(n) => Ok(n),
        N::Text(t) => t.parse().map_err(serde::de::Error::custom),
    }
}

fn dep_ids(v: serde_json::Value) -> Vec<String> {
    match v {
        serde_json::Value::Array(items) => items
            .into_iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        serde_json::Value::String(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SpanStatus {
    code: String,
}

/// What spans.jsonl tells the analysis.
#[derive(Debug, Default)]
pub struct SpanData {
    pub spans: u64,
    pub error_spans: u64,
    pub validate_ms: u64,
    pub plugin_load_ms: u64,
    /// Node id → the ids it depends on, from node spans that carry them.
    pub deps: BTreeMap<String, Vec<String>>,
    /// End of the latest span, ms since the epoch (for runs that never finished).
    pub last_end_ms: Option<i64>,
    pub stats: LineStats,
}

/// Streams spans.jsonl.
pub fn read_spans(path: &Path) -> Result<SpanData, AnalysisError> {
    let mut data = SpanData::default();
    let stats = for_each_line(path, |line| {
        let Ok(span) = serde_json::from_slice::<SpanIn>(line) else {
            return false;
        };
        data.spans += 1;
        if span.status.code == "error" {
            data.error_spans += 1;
        }
        let ms = span
            .end_time_unix_nano
            .saturating_sub(span.start_time_unix_nano)
            / 1_000_000;
        if span.name == "validate" {
            data.validate_ms = data.validate_ms.saturating_add(ms);
        } else if span.name.starts_with("plugin.load") {
            data.plugin_load_ms = data.plugin_load_ms.saturating_add(ms);
        }
        if span.end_time_unix_nano > 0 {
            let end = i64::try_from(span.end_time_unix_nano / 1_000_000).unwrap_or(i64::MAX);
            data.last_end_ms = Some(data.last_end_ms.map_or(end, |m| m.max(end)));
        }
        if let (Some(id), Some(deps)) = (span.attributes.node_id, span.attributes.depends_on) {
            data.deps.insert(id, dep_ids(deps));
        }
        true
    })?;
    data.stats = stats;
    Ok(data)
}

/// One metrics snapshot line (metrics.jsonl): when it was taken and its series.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SnapshotIn {
    #[serde(alias = "taken_at", alias = "time", alias = "at")]
    timestamp: Option<String>,
    #[serde(alias = "metrics")]
    series: Vec<SeriesIn>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SeriesIn {
    name: String,
    value: Option<f64>,
}

/// One system sample read back.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub at_ms: i64,
    pub cpu_percent: Option<f64>,
    pub memory_bytes: Option<f64>,
}

/// Streams metrics.jsonl, calling `each` with the system gauges of every snapshot.
pub fn read_system_samples(
    path: &Path,
    mut each: impl FnMut(Sample),
) -> Result<LineStats, AnalysisError> {
    for_each_line(path, |line| {
        let Ok(snap) = serde_json::from_slice::<SnapshotIn>(line) else {
            return false;
        };
        let Some(at_ms) = snap.timestamp.as_deref().and_then(parse_ms) else {
            return true;
        };
        let mut sample = Sample {
            at_ms,
            cpu_percent: None,
            memory_bytes: None,
        };
        for s in snap.series {
            match s.name.as_str() {
                "secflow_system_cpu_percent" => sample.cpu_percent = s.value,
                "secflow_system_memory_bytes" => sample.memory_bytes = s.value,
                _ => {}
            }
        }
        if sample.cpu_percent.is_some() || sample.memory_bytes.is_some() {
            each(sample);
        }
        true
    })
}

/// The files of one run directory.
#[derive(Debug, Clone)]
pub struct RunFiles {
    pub dir: PathBuf,
}

impl RunFiles {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        RunFiles { dir: dir.into() }
    }

    /// The path of `name` in the run directory, if something exists there (readers then
    /// refuse anything but a regular file, saying so, rather than skipping it silently).
    pub fn existing(&self, name: &str) -> Option<PathBuf> {
        let p = self.dir.join(name);
        p.exists().then_some(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torn_last_line_is_counted_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.jsonl");
        std::fs::write(&p, "{\"a\":1}\n\nnot json\n{\"a\":2}\n{\"a\":").unwrap();
        let mut seen = 0;
        let stats = for_each_line(&p, |l| {
            let ok = serde_json::from_slice::<serde_json::Value>(l).is_ok();
            seen += usize::from(ok);
            ok
        })
        .unwrap();
        assert_eq!(seen, 2);
        assert_eq!(
            stats,
            LineStats {
                lines: 2,
                torn: 1,
                invalid: 1
            }
        );
    }

    #[test]
    fn spans_tolerate_string_times_and_flattened_edges() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("spans.jsonl");
        std::fs::write(
            &p,
            concat!(
                r#"{"name":"node b","start_time_unix_nano":"1000000","end_time_unix_nano":3000000,"#,
                r#""attributes":{"secflow.node.id":"b","secflow.node.depends_on":"a, c"},"#,
                r#""status":{"code":"error"}}"#,
                "\n",
                r#"{"name":"validate","start_time_unix_nano":0,"end_time_unix_nano":2000000,"#,
                r#""attributes":{"secflow.node.depends_on":7}}"#,
                "\n"
            ),
        )
        .unwrap();
        let d = read_spans(&p).unwrap();
        assert_eq!(d.spans, 2);
        assert_eq!(d.error_spans, 1);
        assert_eq!(d.validate_ms, 2);
        assert_eq!(d.deps["b"], ["a", "c"]);
        assert_eq!(d.stats.invalid, 0);
    }

    #[test]
    fn rfc3339_millis() {
        assert_eq!(parse_ms("1970-01-01T00:00:01.250Z"), Some(1250));
        assert_eq!(parse_ms("nonsense"), None);
    }
}
