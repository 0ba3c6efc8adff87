//! The run history `serve` shows, cached by run id, and its Prometheus series (SPEC §11).
//!
//! Each run directory is read once, `run.json` parsed once through
//! [`crate::store::history::read_run_as`] with its nodes as [`NodeRecord`]s, each read on
//! its own so an odd one is only left out (their
//! durations and the audit event count come from the same parse); a finished run's summary
//! stays in memory, so a scrape only lists `runs/` and re-reads new, running or corrupt runs:
//! a state directory with 10 000 runs costs a directory listing per scrape. History series
//! carry `workflow`, `status` and `node_id` (the template id) only — never a run id or
//! instance — so their count is bounded by workflows × nodes, not by runs. The live series of
//! each running run come from its `metrics.json` / `metrics.jsonl`, labelled with its
//! `run_id` and `workflow` (bounded by the runs running at once).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::http::Response;
use super::router::State;
use crate::metrics::{Bucket, DURATION_BUCKETS, MetricKind, MetricsSnapshot, Series};
use crate::plan::foreach::template_id;
use crate::store::NodeRecord;
use crate::store::history::{self, Effective, Lenient};

/// One run as `serve` shows it.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub run_id: String,
    pub dir: PathBuf,
    /// `None` when run.json could not be read.
    pub workflow: Option<String>,
    /// `succeeded`, `failed`, `cancelled`, `running`, `died` or `corrupt`.
    pub status: &'static str,
    /// Why a corrupt run is corrupt.
    pub reason: Option<String>,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub duration_ms: Option<u64>,
    pub findings_count: Option<u64>,
    pub exit_code: Option<i32>,
    pub started: SystemTime,
    /// Each node's template id and time (its attempts' durations summed), in seconds.
    pub nodes: Vec<(String, f64)>,
    pub audit_events: u64,
}

impl RunInfo {
    /// Recorded as running and not known dead.
    pub fn live(&self) -> bool {
        self.status == "running"
    }

    /// Whether the record can still change (running, or not readable yet).
    fn may_change(&self) -> bool {
        self.live() || self.status == "corrupt"
    }

    /// The `/api/runs` element (SPEC §11), fields in the SPEC's order.
    pub fn to_api(&self) -> ApiRun<'_> {
        ApiRun {
            run_id: &self.run_id,
            workflow: self.workflow.as_deref(),
            status: self.status,
            started_at: self.started_at.as_deref(),
            ended_at: self.ended_at.as_deref(),
            duration_ms: self.duration_ms,
            findings_count: self.findings_count,
            exit_code: self.exit_code,
        }
    }
}

/// One element of `/api/runs`.
#[derive(Debug, serde::Serialize)]
pub struct ApiRun<'a> {
    pub run_id: &'a str,
    pub workflow: Option<&'a str>,
    pub status: &'a str,
    pub started_at: Option<&'a str>,
    pub ended_at: Option<&'a str>,
    pub duration_ms: Option<u64>,
    pub findings_count: Option<u64>,
    pub exit_code: Option<i32>,
}

/// Reads one run directory; never fails.
pub fn read(dir: &Path) -> RunInfo {
    // One parse of run.json, its nodes as the store's records; a node that does not read
    // as one is left out of the node series, never makes the run `corrupt`.
    let entry = history::read_run_as::<Lenient<NodeRecord>>(dir);
    let status = entry.effective.as_str();
    let reason = match &entry.effective {
        Effective::Corrupt(why) => Some(why.clone()),
        _ => None,
    };
    let s = entry.summary.as_ref();
    let mut info = RunInfo {
        run_id: entry.run_id.clone(),
        dir: dir.to_path_buf(),
        workflow: s.map(|s| s.workflow.name.clone()),
        status,
        reason,
        started_at: s.map(|s| s.started_at.clone()),
        ended_at: s.and_then(|s| s.ended_at.clone()),
        duration_ms: s.and_then(|s| s.duration_ms),
        findings_count: s.map(|s| s.findings_count),
        exit_code: s.and_then(|s| s.exit_code),
        started: entry.started,
        nodes: Vec::new(),
        audit_events: 0,
    };
    if let Some(s) = s {
        info.nodes = s
            .nodes
            .items
            .iter()
            .filter(|n| n.attempts.iter().any(|a| a.duration_ms.is_some()))
            .map(|n| {
                let ms: u64 = n.attempts.iter().filter_map(|a| a.duration_ms).sum();
                (template_id(&n.node_id).to_string(), ms as f64 / 1000.0)
            })
            .collect();
        info.audit_events = s.audit.as_ref().map_or(0, |a| a.events);
    }
    info
}

/// How long a listing (and the history exposition built from it) is reused: concurrent
/// scrapes and page loads within this window share one directory listing.
pub const REFRESH_AFTER: Duration = Duration::from_millis(500);

/// One listing of the runs, newest first, with its expositions built on first use (so the
/// requests of one [`REFRESH_AFTER`] window share them).
pub struct Listing {
    pub runs: Vec<Arc<RunInfo>>,
    history_text: OnceLock<String>,
    /// The running runs' series, read from their snapshots once per listing.
    live_text: OnceLock<String>,
}

impl Listing {
    /// The history series' exposition (built once per listing).
    pub fn history_text(&self) -> &str {
        self.history_text
            .get_or_init(|| render(history_series(&self.runs)))
    }
}

/// The runs of a state directory, cached by run id.
pub struct Cache {
    state_dir: PathBuf,
    runs: HashMap<String, Arc<RunInfo>>,
    last: Option<(Instant, Arc<Listing>)>,
}

impl Cache {
    pub fn new(state_dir: PathBuf) -> Self {
        Cache {
            state_dir,
            runs: HashMap::new(),
            last: None,
        }
    }

    /// The current listing: the last one if younger than [`REFRESH_AFTER`], else a new one.
    pub fn listing(&mut self) -> Arc<Listing> {
        if let Some((at, listing)) = &self.last
            && at.elapsed() < REFRESH_AFTER
        {
            return listing.clone();
        }
        let listing = Arc::new(Listing {
            runs: self.refresh(),
            history_text: OnceLock::new(),
            live_text: OnceLock::new(),
        });
        self.last = Some((Instant::now(), listing.clone()));
        listing
    }

    /// Every run, newest first; re-reads only new runs and those that may still change.
    fn refresh(&mut self) -> Vec<Arc<RunInfo>> {
        let runs_dir = history::runs_dir(&self.state_dir);
        let mut seen: Vec<Arc<RunInfo>> = Vec::with_capacity(self.runs.len());
        if let Ok(listing) = std::fs::read_dir(&runs_dir) {
            for item in listing.flatten() {
                let name = item.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') || !item.file_type().is_ok_and(|t| t.is_dir()) {
                    continue;
                }
                let info = match self.runs.get(&name) {
                    Some(cached) if !cached.may_change() => cached.clone(),
                    _ => {
                        let fresh = Arc::new(read(&item.path()));
                        self.runs.insert(name, fresh.clone());
                        fresh
                    }
                };
                seen.push(info);
            }
        }
        if seen.len() != self.runs.len() {
            let present: std::collections::HashSet<&str> =
                seen.iter().map(|r| r.run_id.as_str()).collect();
            self.runs.retain(|id, _| present.contains(id.as_str()));
        }
        seen.sort_by(|a, b| (b.started, &b.run_id).cmp(&(a.started, &a.run_id)));
        seen
    }
}

/// A cumulative histogram over [`DURATION_BUCKETS`].
#[derive(Default, Clone)]
struct Hist {
    counts: Vec<u64>,
    count: u64,
    sum: f64,
}

impl Hist {
    fn observe(&mut self, v: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; DURATION_BUCKETS.len()];
        }
        for (i, le) in DURATION_BUCKETS.iter().enumerate() {
            if v <= *le {
                self.counts[i] += 1;
            }
        }
        self.count += 1;
        self.sum += v;
    }

    fn series(&self, name: &str, help: &str, labels: BTreeMap<String, String>) -> Series {
        let mut s = Series::new(name, MetricKind::Histogram, help, "seconds", labels);
        s.count = Some(self.count);
        s.sum = Some(self.sum);
        s.buckets = Some(
            DURATION_BUCKETS
                .iter()
                .zip(self.counts.iter())
                .map(|(le, count)| Bucket {
                    le: *le,
                    count: *count,
                })
                .collect(),
        );
        s
    }
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

fn epoch_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The history series of SPEC §11 over `runs`.
pub fn history_series(runs: &[Arc<RunInfo>]) -> Vec<Series> {
    let mut totals: BTreeMap<(String, &str), u64> = BTreeMap::new();
    let mut last: BTreeMap<(String, &str), f64> = BTreeMap::new();
    let mut durations: BTreeMap<String, Hist> = BTreeMap::new();
    let mut nodes: BTreeMap<(String, String), Hist> = BTreeMap::new();
    let mut findings: BTreeMap<String, u64> = BTreeMap::new();
    let mut audit: BTreeMap<String, u64> = BTreeMap::new();
    let mut corrupt = 0u64;
    for run in runs {
        let Some(workflow) = &run.workflow else {
            corrupt += 1;
            continue;
        };
        *totals.entry((workflow.clone(), run.status)).or_default() += 1;
        let at = run
            .ended_at
            .as_deref()
            .and_then(history::parse_time)
            .unwrap_or(run.started);
        let slot = last.entry((workflow.clone(), run.status)).or_default();
        *slot = slot.max(epoch_seconds(at));
        *findings.entry(workflow.clone()).or_default() += run.findings_count.unwrap_or(0);
        *audit.entry(workflow.clone()).or_default() += run.audit_events;
        if run.live() {
            continue;
        }
        let hist = durations.entry(workflow.clone()).or_default();
        if let Some(ms) = run.duration_ms {
            hist.observe(ms as f64 / 1000.0);
        }
        for (node, secs) in &run.nodes {
            nodes
                .entry((workflow.clone(), node.clone()))
                .or_default()
                .observe(*secs);
        }
    }
    let mut out = Vec::new();
    for ((w, status), n) in &totals {
        let mut s = Series::new(
            "secflow_runs_total",
            MetricKind::Counter,
            "Recorded runs by workflow and status.",
            "",
            labels(&[("workflow", w), ("status", status)]),
        );
        s.value = Some(*n as f64);
        out.push(s);
    }
    for (w, hist) in &durations {
        out.push(hist.series(
            "secflow_run_duration_seconds",
            "Duration of finished recorded runs.",
            labels(&[("workflow", w)]),
        ));
    }
    for ((w, node), hist) in &nodes {
        out.push(hist.series(
            "secflow_history_node_duration_seconds",
            "Time of each node (by template id) over recorded runs, attempts summed.",
            labels(&[("workflow", w), ("node_id", node)]),
        ));
    }
    for (w, n) in &findings {
        let mut s = Series::new(
            "secflow_findings_total",
            MetricKind::Counter,
            "Findings over recorded runs.",
            "",
            labels(&[("workflow", w)]),
        );
        s.value = Some(*n as f64);
        out.push(s);
    }
    for ((w, status), t) in &last {
        let mut s = Series::new(
            "secflow_last_run_timestamp_seconds",
            MetricKind::Gauge,
            "When the newest recorded run of the workflow with this status ended (or started).",
            "seconds",
            labels(&[("workflow", w), ("status", status)]),
        );
        s.value = Some(*t);
        out.push(s);
    }
    for (w, n) in &audit {
        let mut s = Series::new(
            "secflow_audit_chain_events_total",
            MetricKind::Counter,
            "Audit chain events recorded over recorded runs.",
            "",
            labels(&[("workflow", w)]),
        );
        s.value = Some(*n as f64);
        out.push(s);
    }
    let mut s = Series::new(
        "secflow_history_corrupt_runs",
        MetricKind::Gauge,
        "Run directories whose run.json cannot be read.",
        "",
        BTreeMap::new(),
    );
    s.value = Some(corrupt as f64);
    out.push(s);
    out
}

/// The §4 series of each running run, from its snapshots, labelled with its run id and
/// workflow so that runs never collide.
fn live_series(runs: &[Arc<RunInfo>]) -> Vec<Series> {
    let mut out = Vec::new();
    for run in runs.iter().filter(|r| r.live()) {
        let Ok(snapshot) = crate::metrics::load_snapshot(&run.dir) else {
            continue;
        };
        let workflow = run.workflow.clone().unwrap_or_default();
        for mut s in snapshot.series {
            s.labels
                .entry("run_id".into())
                .or_insert_with(|| run.run_id.clone());
            s.labels
                .entry("workflow".into())
                .or_insert_with(|| workflow.clone());
            out.push(s);
        }
    }
    out
}

fn render(series: Vec<Series>) -> String {
    let snapshot = MetricsSnapshot {
        schema_version: crate::metrics::METRICS_SCHEMA_VERSION,
        run_id: String::new(),
        workflow: String::new(),
        timestamp: String::new(),
        elapsed_ms: 0,
        is_final: false,
        partial: false,
        summary: None,
        series,
    };
    crate::metrics::render(&snapshot)
}

/// The whole `/metrics` text: the history series (names disjoint from the §4 live ones, so
/// the two expositions concatenate) and the live series of running runs.
pub fn exposition(listing: &Listing) -> String {
    let mut text = listing.history_text().to_string();
    text.push_str(listing.live_text.get_or_init(|| {
        let live = live_series(&listing.runs);
        if live.is_empty() {
            String::new()
        } else {
            render(live)
        }
    }));
    text
}

/// The current listing (a poisoned lock is taken over: the cache holds no invariant a panic
/// could break).
pub fn listing(state: &State) -> Arc<Listing> {
    let mut cache = state
        .history
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    cache.listing()
}

/// `GET /metrics`.
pub fn metrics(state: &State) -> Response {
    Response::new(
        200,
        "text/plain; version=0.0.4; charset=utf-8",
        exposition(&listing(state)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ids_become_template_ids() {
        // Instances are `ID@i` (plan::foreach::instance_id); the history series label them
        // by template, so one fan-out is one node however wide it ran.
        let instance = crate::plan::foreach::instance_id("scan", 3);
        assert_eq!(template_id(&instance), "scan");
        assert_eq!(template_id("scan"), "scan");
    }
}
