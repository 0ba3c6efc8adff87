//! Reading a run directory back through the store's record types: run.json as
//! [`crate::store::RunRecord`] (streamed node by node with
//! [`crate::store::run_read::read_run_nodes`]), spans.jsonl as
//! [`crate::telemetry::SpanRecord`] and metrics.jsonl as [`crate::metrics::MetricsSnapshot`],
//! both through [`crate::store::jsonl::JsonlReader`] (a torn last line counted, an
//! unreadable line elsewhere counted and skipped).
//!
//! Memory: a node is kept only as the analysis needs it — its report row
//! ([`NodeReport`], filled as far as run.json alone allows) plus fixed-size timeline and
//! figure entries; the [`NodeRecord`] it came from is dropped at once. Node ids are resolved
//! to indices while loading, so edges cost 4 bytes each.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::AnalysisError;
use super::model::{AttemptReport, NodeReport, Problem};
use crate::store::jsonl::{JsonlError, JsonlReader};
use crate::store::{AttemptRecord, NodeRecord, NodeStatus, RunRecord};

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

/// Calls `each` on every record of type `T` in `path`, counting torn and unreadable lines.
fn for_each_record<T: serde::de::DeserializeOwned>(
    path: &Path,
    mut each: impl FnMut(T),
) -> Result<LineStats, AnalysisError> {
    let mut reader = JsonlReader::<T, _>::open(path).map_err(|e| AnalysisError::io(path, e))?;
    let mut stats = LineStats::default();
    for record in reader.by_ref() {
        match record {
            Ok(r) => {
                stats.lines += 1;
                each(r);
            }
            Err(JsonlError::BadLine { .. }) => stats.invalid += 1,
            Err(JsonlError::Io(e)) => return Err(AnalysisError::io(path, e)),
        }
    }
    stats.torn = reader.torn_lines();
    Ok(stats)
}

/// RFC 3339 → milliseconds since the Unix epoch.
pub fn parse_ms(text: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// One attempt's timeline, ms since the epoch; 32 bytes (an absent time is a sentinel, read
/// back as `None`), since a 100 000-node run keeps one per attempt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AttemptTimes {
    queued: i64,
    start: i64,
    end: i64,
    duration_ms: u64,
}

const NO_TIME: i64 = i64::MIN;
/// An end time was recorded but does not parse.
const ENDED_UNKNOWN: i64 = i64::MIN + 1;
const NO_DURATION: u64 = u64::MAX;

impl AttemptTimes {
    pub fn new(
        queued: Option<i64>,
        start: Option<i64>,
        end: Option<i64>,
        duration_ms: Option<u64>,
    ) -> Self {
        AttemptTimes {
            queued: queued.unwrap_or(NO_TIME),
            start: start.unwrap_or(NO_TIME),
            end: end.unwrap_or(NO_TIME),
            duration_ms: duration_ms.unwrap_or(NO_DURATION),
        }
    }

    fn time(t: i64) -> Option<i64> {
        (t != NO_TIME && t != ENDED_UNKNOWN).then_some(t)
    }

    fn set_ended(&mut self) {
        self.end = ENDED_UNKNOWN;
    }

    /// Whether an end time was recorded (parsed or not).
    pub fn ended(&self) -> bool {
        self.end != NO_TIME
    }

    pub fn queued(&self) -> Option<i64> {
        Self::time(self.queued)
    }

    pub fn start(&self) -> Option<i64> {
        Self::time(self.start)
    }

    pub fn end(&self) -> Option<i64> {
        Self::time(self.end)
    }

    pub fn duration_ms(&self) -> Option<u64> {
        (self.duration_ms != NO_DURATION).then_some(self.duration_ms)
    }
}

/// One node's figures for comparisons across runs (nodes that started and ended).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figures {
    pub duration_ms: u64,
    pub cpu_ms: u64,
    pub peak_rss_bytes: u64,
}

/// The nodes of a run as the analysis keeps them, in run.json (topological) order.
#[derive(Debug, Default)]
pub struct Nodes {
    /// One row per node; `on_critical_path`, `share_of_wall`, `duration_ms` and the
    /// attempts' `slot` are filled by the analysis.
    pub reports: Vec<NodeReport>,
    /// Every attempt's timeline, node after node: node `i`'s are
    /// `times[first_attempt[i]..first_attempt[i + 1]]`.
    pub times: Vec<AttemptTimes>,
    pub first_attempt: Vec<u32>,
    /// Dependency edges as node indices (same layout as `times`), when run.json records
    /// `depends_on` for every node; `None` for records written before the field existed.
    pub deps: Option<(Vec<u32>, Vec<u32>)>,
    /// Retries, timeouts, failures, skipped and cancelled nodes.
    pub problems: Vec<Problem>,
    /// Nodes with a recorded attempt duration, and the sum of those durations.
    pub ran: (u64, u64),
    /// The latest start or end time recorded.
    pub last_time_ms: Option<i64>,
    /// A `depends_on` naming no node of the run (ignored), once.
    pub unknown_dep: Option<String>,
    /// Fan-out (SPEC §9): each template that fanned out and its instances' rows, in the
    /// order of its first instance.
    pub instances: Vec<(String, Vec<u32>)>,
}

impl Nodes {
    pub fn len(&self) -> usize {
        self.reports.len()
    }

    pub fn is_empty(&self) -> bool {
        self.reports.is_empty()
    }

    /// Node `i`'s attempt timelines.
    pub fn times_of(&self, i: usize) -> &[AttemptTimes] {
        &self.times[self.first_attempt[i] as usize..self.first_attempt[i + 1] as usize]
    }

    /// Node `i`'s comparison figures: none when it never started or an attempt is still
    /// running (derived from the rows, not stored: a 100 000-node run keeps no more).
    pub fn figures(&self, i: usize) -> Option<Figures> {
        let started: Vec<(&AttemptTimes, &AttemptReport)> = self
            .times_of(i)
            .iter()
            .zip(&self.reports[i].attempt_details)
            .filter(|(t, _)| t.start().is_some())
            .collect();
        if started.is_empty() || started.iter().any(|(t, _)| !t.ended()) {
            return None;
        }
        let first = started.first().and_then(|(t, _)| t.start());
        let last = started.last().and_then(|(t, _)| t.end());
        let duration_ms = match (first, last) {
            (Some(s), Some(e)) => u64::try_from(e - s).unwrap_or(0),
            _ => started
                .iter()
                .filter_map(|(t, _)| t.duration_ms())
                .fold(0, u64::saturating_add),
        };
        Some(Figures {
            duration_ms,
            cpu_ms: started
                .iter()
                .map(|(_, a)| a.cpu_ms)
                .fold(0, u64::saturating_add),
            peak_rss_bytes: started
                .iter()
                .map(|(_, a)| a.peak_rss_bytes)
                .max()
                .unwrap_or(0),
        })
    }

    /// Node `i`'s dependencies (indices), when recorded.
    pub fn deps_of(&self, i: usize) -> Option<&[u32]> {
        self.deps
            .as_ref()
            .map(|(first, flat)| &flat[first[i] as usize..first[i + 1] as usize])
    }
}

/// Node id → index, keyed by a 64-bit hash of the id (checked against the row's id on
/// lookup), so the ids are not stored twice; the rare id whose hash collides with another's
/// goes to `collided`.
#[derive(Default)]
struct IdIndex {
    hasher: std::hash::RandomState,
    by_hash: HashMap<u64, u32>,
    collided: HashMap<Box<str>, u32>,
}

impl IdIndex {
    fn get(&self, id: &str, rows: &[NodeReport]) -> Option<u32> {
        use std::hash::BuildHasher as _;
        match self.by_hash.get(&self.hasher.hash_one(id)) {
            Some(&i) if rows.get(i as usize).is_some_and(|r| r.node_id == id) => Some(i),
            _ => self.collided.get(id).copied(),
        }
    }

    /// Adds the row `i` (already in `rows`) unless its id is known (the first one wins).
    fn add(&mut self, i: u32, rows: &[NodeReport]) {
        use std::hash::BuildHasher as _;
        let id = rows[i as usize].node_id.as_str();
        if self.get(id, rows).is_some() {
            return;
        }
        match self.by_hash.entry(self.hasher.hash_one(id)) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(i);
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.collided.insert(id.into(), i);
            }
        }
    }
}

/// Builds [`Nodes`] one [`NodeRecord`] at a time.
struct NodesBuilder {
    nodes: Nodes,
    index: IdIndex,
    /// (first, flat) edges, or why not: a node without `depends_on`.
    deps: Option<(Vec<u32>, Vec<u32>)>,
    /// Edges naming a node not seen yet: (position in `flat`, id).
    pending: Vec<(usize, String)>,
    /// Template id → its entry in `nodes.instances`.
    templates: HashMap<String, usize>,
}

impl NodesBuilder {
    fn new() -> Self {
        let mut nodes = Nodes::default();
        nodes.first_attempt.push(0);
        NodesBuilder {
            nodes,
            index: IdIndex::default(),
            deps: Some((vec![0], Vec::new())),
            pending: Vec::new(),
            templates: HashMap::new(),
        }
    }

    /// Appends the next row's dependencies (row indexes; an id not seen yet is resolved in
    /// `finish`). One row without `depends_on` (an older record) drops the edges of all.
    fn add_deps(&mut self, depends_on: Option<&[String]>) {
        match (&mut self.deps, depends_on) {
            (Some((first, flat)), Some(ids)) => {
                for id in ids {
                    // A fanned-out template has no row of its own: depending on it is
                    // depending on each of its instances (recorded before their dependants).
                    let template = self.templates.get(id.as_str());
                    match self.index.get(id, &self.nodes.reports) {
                        Some(d) => flat.push(d),
                        None if template.is_some() => {
                            let rows = template.map(|&g| &self.nodes.instances[g].1);
                            flat.extend(rows.into_iter().flatten());
                        }
                        None => {
                            self.pending.push((flat.len(), id.clone()));
                            flat.push(u32::MAX);
                        }
                    }
                }
                first.push(u32::try_from(flat.len()).unwrap_or(u32::MAX));
            }
            (deps, None) => *deps = None,
            (None, Some(_)) => {}
        }
    }

    fn add(&mut self, node: NodeRecord) {
        let i = u32::try_from(self.nodes.reports.len()).unwrap_or(u32::MAX);
        self.add_deps(node.depends_on.as_deref());
        let mut details = Vec::with_capacity(node.attempts.len());
        for (ai, a) in node.attempts.iter().enumerate() {
            let start = a.started_at.as_deref().and_then(parse_ms);
            let end = a.ended_at.as_deref().and_then(parse_ms);
            for t in [start, end].into_iter().flatten() {
                let last = &mut self.nodes.last_time_ms;
                *last = Some(last.map_or(t, |l| l.max(t)));
            }
            self.nodes.times.push(AttemptTimes::new(
                parse_ms(&a.queued_at),
                start,
                end,
                a.duration_ms,
            ));
            if end.is_none() && a.ended_at.is_some() {
                // An end that does not parse still says the attempt ended.
                if let Some(t) = self.nodes.times.last_mut() {
                    t.set_ended();
                }
            }
            let cpu = a
                .cpu_user_ms
                .unwrap_or(0)
                .saturating_add(a.cpu_system_ms.unwrap_or(0));
            details.push(AttemptReport {
                attempt: a.attempt,
                status: Cow::Borrowed(a.status.as_str()),
                start_offset_ms: None,
                duration_ms: a
                    .duration_ms
                    .or_else(|| u64::try_from(end? - start?).ok())
                    .unwrap_or(0),
                queue_wait_ms: a.queue_wait_ms.unwrap_or(0),
                cpu_ms: cpu,
                peak_rss_bytes: a.peak_rss_bytes.unwrap_or(0),
                exit_code: a.exit_code,
                error: a.error.clone(),
                slot: 0,
            });
            if matches!(a.status, NodeStatus::Failed | NodeStatus::TimedOut) {
                let kind = match (ai + 1 == node.attempts.len(), a.status) {
                    (false, _) => "retried",
                    (true, NodeStatus::TimedOut) => "timed_out",
                    (true, _) => "failed",
                };
                self.nodes.problems.push(Problem {
                    node_id: node.node_id.clone(),
                    attempt: a.attempt,
                    kind: kind.to_string(),
                    message: attempt_message(a, node.reason.as_deref()),
                });
            }
        }
        if matches!(node.status, NodeStatus::Skipped | NodeStatus::Cancelled) {
            self.nodes.problems.push(Problem {
                node_id: node.node_id.clone(),
                attempt: node.attempts.last().map_or(0, |a| a.attempt),
                kind: node.status.as_str().to_string(),
                message: node.reason.clone().unwrap_or_default(),
            });
        }
        let durations = node.attempts.iter().filter_map(|a| a.duration_ms);
        if node.attempts.iter().any(|a| a.duration_ms.is_some()) {
            self.nodes.ran.0 += 1;
            self.nodes.ran.1 = self
                .nodes
                .ran
                .1
                .saturating_add(durations.fold(0, u64::saturating_add));
        }
        self.nodes
            .first_attempt
            .push(u32::try_from(self.nodes.times.len()).unwrap_or(u32::MAX));
        self.nodes.reports.push(NodeReport {
            queue_wait_ms: details
                .iter()
                .map(|a| a.queue_wait_ms)
                .fold(0, u64::saturating_add),
            cpu_ms: details
                .iter()
                .map(|a| a.cpu_ms)
                .fold(0, u64::saturating_add),
            peak_rss_bytes: details.iter().map(|a| a.peak_rss_bytes).max().unwrap_or(0),
            node_id: node.node_id,
            plugin_name: node.plugin_name,
            status: Cow::Borrowed(node.status.as_str()),
            attempts: u32::try_from(details.len()).unwrap_or(u32::MAX),
            duration_ms: 0,
            findings_count: node.findings_count,
            share_of_wall: 0.0,
            on_critical_path: false,
            attempt_details: details,
        });
        self.index.add(i, &self.nodes.reports);
        if let Some(inst) = node.instance {
            let next = self.nodes.instances.len();
            let g = *self.templates.entry(inst.template.clone()).or_insert(next);
            if g == next {
                self.nodes.instances.push((inst.template, Vec::new()));
            }
            self.nodes.instances[g].1.push(i);
        }
    }

    fn finish(mut self) -> Nodes {
        if let Some((_, flat)) = &mut self.deps {
            for (at, id) in self.pending {
                match self.index.get(&id, &self.nodes.reports) {
                    Some(d) => flat[at] = d,
                    None => {
                        self.nodes.unknown_dep.get_or_insert(id);
                    }
                }
            }
            flat.retain(|&d| d != u32::MAX);
        }
        // Unknown ids were dropped above: rebuild offsets only then (rare).
        if self.nodes.unknown_dep.is_some() {
            self.deps = None;
        }
        self.nodes.deps = self.deps;
        self.nodes.reports.shrink_to_fit();
        self.nodes.times.shrink_to_fit();
        self.nodes
    }
}

fn attempt_message(a: &AttemptRecord, reason: Option<&str>) -> String {
    if let Some(e) = &a.error {
        return e.clone();
    }
    match (a.exit_code, a.signal) {
        (_, Some(sig)) => format!("killed by signal {sig}"),
        (Some(code), None) => format!("exit code {code}"),
        (None, None) => reason.unwrap_or("").to_string(),
    }
}

/// Reads `run.json` of a run directory: the record without its nodes, and the nodes.
pub fn read_run(dir: &Path) -> Result<(RunRecord, Nodes), AnalysisError> {
    let path = dir.join("run.json");
    let mut builder = NodesBuilder::new();
    let record =
        crate::store::run_read::read_run_nodes(&path, |n| builder.add(n)).map_err(|e| match e {
            crate::store::run_read::RunReadError::Io(source) => AnalysisError::io(&path, source),
            crate::store::run_read::RunReadError::Parse(message) => AnalysisError::Parse {
                path: path.clone(),
                message,
            },
        })?;
    let nodes = builder.finish();
    Ok((record, nodes))
}

/// What spans.jsonl tells the analysis.
#[derive(Debug, Default)]
pub struct SpanData {
    pub spans: u64,
    pub error_spans: u64,
    pub validate_ms: u64,
    pub plugin_load_ms: u64,
    /// End of the latest span, ms since the epoch (for runs that never finished).
    pub last_end_ms: Option<i64>,
    pub stats: LineStats,
}

/// Streams spans.jsonl.
pub fn read_spans(path: &Path) -> Result<SpanData, AnalysisError> {
    use crate::telemetry::SpanRecord;
    use crate::telemetry::span::StatusCode;
    let mut data = SpanData::default();
    let stats = for_each_record(path, |span: SpanRecord| {
        data.spans += 1;
        if span.status.code == StatusCode::Error {
            data.error_spans += 1;
        }
        let ms = span.duration_nanos() / 1_000_000;
        if span.name == "validate" {
            data.validate_ms = data.validate_ms.saturating_add(ms);
        } else if span.name.starts_with("plugin.load") {
            data.plugin_load_ms = data.plugin_load_ms.saturating_add(ms);
        }
        if span.end_time_unix_nano > 0 {
            let end = i64::try_from(span.end_time_unix_nano / 1_000_000).unwrap_or(i64::MAX);
            data.last_end_ms = Some(data.last_end_ms.map_or(end, |m| m.max(end)));
        }
    })?;
    data.stats = stats;
    Ok(data)
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
    for_each_record(path, |snap: crate::metrics::MetricsSnapshot| {
        let Some(at_ms) = parse_ms(&snap.timestamp) else {
            return;
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
        std::fs::symlink_metadata(&p).is_ok().then_some(p)
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
        let stats = for_each_record(&p, |_: serde_json::Value| seen += 1).unwrap();
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
    fn spans_are_read_as_span_records() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("spans.jsonl");
        let span = |name: &str, start: u64, end: u64, code: &str| {
            format!(
                r#"{{"schema_version":1,"trace_id":"{t}","span_id":"a000000000000001","name":"{name}","kind":"internal","start_time_unix_nano":{start},"end_time_unix_nano":{end},"attributes":{{}},"events":[],"status":{{"code":"{code}"}},"resource":{{}}}}"#,
                t = "4bf92f3577b34da6a3ce929d0e0e4736"
            )
        };
        let text = [
            span("node b", 1_000_000, 3_000_000, "error"),
            span("validate", 0, 2_000_000, "ok"),
            // Not a span record (no schema_version): counted, not read.
            r#"{"name":"validate","start_time_unix_nano":0,"end_time_unix_nano":9000000}"#.into(),
            span("plugin.load x", 0, 1_000_000, "ok"),
        ]
        .join("\n");
        std::fs::write(&p, text + "\n").unwrap();
        let d = read_spans(&p).unwrap();
        assert_eq!(d.spans, 3);
        assert_eq!(d.error_spans, 1);
        assert_eq!(d.validate_ms, 2);
        assert_eq!(d.plugin_load_ms, 1);
        assert_eq!(d.last_end_ms, Some(3));
        assert_eq!(d.stats.invalid, 1);
    }

    #[test]
    fn rfc3339_millis() {
        assert_eq!(parse_ms("1970-01-01T00:00:01.250Z"), Some(1250));
        assert_eq!(parse_ms("nonsense"), None);
    }
}
