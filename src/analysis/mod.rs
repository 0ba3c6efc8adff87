//! Performance analysis (SPEC §5): reads recorded run directories back and computes the
//! [`AnalysisReport`] — pure functions over records; it never runs anything and never prints.
//!
//! [`load_run`] reads one run directory (streaming, bounded memory, tolerant of torn last
//! lines and of runs that never finished); [`analyze`] turns one or several loaded runs
//! into a report, with cross-run statistics and regressions when there are several.

mod input;
mod instances;
mod logagg;
mod model;
mod multi;
mod single;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use input::{LineStats, Sample, SpanData, parse_ms};
pub use logagg::{Histogram, NODE_COMPLETED, aggregate_logs};
pub use model::*;
pub use multi::{CompareOptions, analyze};
pub use single::analyze_run;

use crate::store::RunRecord;

/// What can stop an analysis.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a run record: {message}", path.display())]
    Parse { path: PathBuf, message: String },
}

impl AnalysisError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        AnalysisError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Which files to read besides run.json.
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions {
    /// Aggregate logs.jsonl (the fast path).
    pub logs: bool,
    /// Read spans.jsonl and metrics.jsonl.
    pub spans_and_metrics: bool,
    /// Load the recipe (if unchanged) for exact dependency edges.
    pub recipe_edges: bool,
    /// Threads for the logs aggregate.
    pub threads: usize,
}

impl LoadOptions {
    /// Everything.
    pub fn full() -> Self {
        LoadOptions {
            logs: true,
            spans_and_metrics: true,
            recipe_edges: true,
            threads: std::thread::available_parallelism().map_or(2, |n| n.get().min(4)),
        }
    }

    /// run.json only (for runs only compared across).
    pub fn record_only() -> Self {
        LoadOptions {
            logs: false,
            spans_and_metrics: false,
            recipe_edges: false,
            threads: 1,
        }
    }
}

/// One run directory, read.
#[derive(Debug)]
pub struct RunInput {
    pub dir: PathBuf,
    pub record: RunRecord,
    pub spans: Option<SpanData>,
    pub system: Option<SystemUsage>,
    pub system_lines: LineStats,
    pub last_sample_ms: Option<i64>,
    pub logs: Option<LogAggregate>,
    /// Node id → dependency ids, from the unchanged recipe file.
    pub recipe_deps: Option<BTreeMap<String, Vec<String>>>,
    pub warnings: Vec<String>,
}

impl RunInput {
    /// (torn, invalid) lines over every file read.
    pub fn torn_lines(&self) -> (u64, u64) {
        let mut torn = self.system_lines.torn;
        let mut invalid = self.system_lines.invalid;
        if let Some(s) = &self.spans {
            torn += s.stats.torn;
            invalid += s.stats.invalid;
        }
        if let Some(l) = &self.logs {
            torn += l.torn_lines;
            invalid += l.invalid_lines;
        }
        (torn, invalid)
    }

    pub fn span_summary(&self) -> Option<SpanSummary> {
        self.spans.as_ref().map(|s| SpanSummary {
            spans: s.spans,
            error_spans: s.error_spans,
            validate_ms: s.validate_ms,
            plugin_load_ms: s.plugin_load_ms,
            torn_lines: s.stats.torn,
            invalid_lines: s.stats.invalid,
        })
    }
}

/// At most this many system points are kept for charts (older ones are decimated).
const MAX_POINTS: usize = 1024;

/// Reads a run directory: run.json, then what `options` asks for.
pub fn load_run(dir: &Path, options: LoadOptions) -> Result<RunInput, AnalysisError> {
    let record = input::read_run_record(dir)?;
    let mut run = RunInput {
        dir: dir.to_path_buf(),
        record,
        spans: None,
        system: None,
        system_lines: LineStats::default(),
        last_sample_ms: None,
        logs: None,
        recipe_deps: None,
        warnings: Vec::new(),
    };
    load_extras(&mut run, options)?;
    Ok(run)
}

/// Reads the files beside run.json that `options` asks for (and were not read yet).
pub fn load_extras(run: &mut RunInput, options: LoadOptions) -> Result<(), AnalysisError> {
    let files = input::RunFiles::new(&run.dir);
    let start = parse_ms(&run.record.started_at).unwrap_or(0);
    if options.logs
        && run.logs.is_none()
        && let Some(p) = files.existing("logs.jsonl")
    {
        run.logs = Some(aggregate_logs(&p, options.threads)?);
    }
    if options.spans_and_metrics {
        if run.spans.is_none()
            && let Some(p) = files.existing("spans.jsonl")
        {
            run.spans = Some(input::read_spans(&p)?);
        }
        if run.system.is_none()
            && let Some(p) = files.existing("metrics.jsonl")
        {
            let mut acc = SystemAcc::default();
            run.system_lines = input::read_system_samples(&p, |s| acc.add(s, start))?;
            run.last_sample_ms = acc.last;
            run.system = acc.finish();
        }
    }
    if options.recipe_edges && run.recipe_deps.is_none() {
        match recipe_deps(&run.record) {
            Ok(d) => run.recipe_deps = Some(d),
            Err(why) => run.warnings.push(why),
        }
    }
    Ok(())
}

/// Exact edges from the recipe, if it is still there unchanged.
fn recipe_deps(rec: &RunRecord) -> Result<BTreeMap<String, Vec<String>>, String> {
    let path = Path::new(&rec.workflow.recipe_path);
    let limits = crate::recipe::Limits::default();
    let infer = "critical path inferred from timing";
    let source = crate::recipe::read_source(path, &limits)
        .map_err(|_| format!("recipe {} not found: {infer}", path.display()))?;
    if source.sha256 != rec.workflow.recipe_sha256 {
        return Err(format!(
            "recipe {} changed since the run: {infer}",
            path.display()
        ));
    }
    let bad = || format!("recipe {} no longer validates: {infer}", path.display());
    let raw = crate::recipe::parse(&source, &limits).map_err(|_| bad())?;
    let options = crate::plan::BuildOptions {
        max_instances: None,
        vars: rec
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        plugins: crate::plan::plugins::Registry::load(&crate::plan::plugins::search_dirs(
            path,
            None,
            &[],
        ))
        .map(|(registry, _)| registry)
        .unwrap_or_default(),
    };
    let (plan, _) = crate::plan::build(&source, &raw, &options).map_err(|_| bad())?;
    Ok(plan
        .nodes
        .iter()
        .map(|n| {
            let deps = n.deps.iter().map(|&d| plan.nodes[d].id.clone()).collect();
            (n.id.clone(), deps)
        })
        .collect())
}

/// Streaming min/avg/max of system samples plus a decimated series for charts.
#[derive(Debug, Default)]
struct SystemAcc {
    n: u64,
    cpu: Stat,
    mem: Stat,
    points: Vec<SystemPoint>,
    stride: u64,
    last: Option<i64>,
}

#[derive(Debug, Default)]
struct Stat {
    n: u64,
    min: f64,
    max: f64,
    sum: f64,
}

impl Stat {
    fn add(&mut self, v: f64) {
        if self.n == 0 || v < self.min {
            self.min = v;
        }
        if self.n == 0 || v > self.max {
            self.max = v;
        }
        self.n += 1;
        self.sum += v;
    }

    fn finish(&self) -> MinAvgMax {
        MinAvgMax {
            min: self.min,
            avg: if self.n == 0 {
                0.0
            } else {
                self.sum / self.n as f64
            },
            max: self.max,
        }
    }
}

impl SystemAcc {
    fn add(&mut self, s: Sample, start: i64) {
        if let Some(c) = s.cpu_percent {
            self.cpu.add(c);
        }
        if let Some(m) = s.memory_bytes {
            self.mem.add(m);
        }
        self.last = Some(self.last.map_or(s.at_ms, |l| l.max(s.at_ms)));
        let stride = self.stride.max(1);
        if self.n.is_multiple_of(stride) {
            self.points.push(SystemPoint {
                offset_ms: u64::try_from(s.at_ms - start).unwrap_or(0),
                cpu_percent: s.cpu_percent,
                memory_bytes: s.memory_bytes,
            });
            if self.points.len() >= MAX_POINTS {
                let kept: Vec<SystemPoint> = self.points.iter().step_by(2).cloned().collect();
                self.points = kept;
                self.stride = stride * 2;
            }
        }
        self.n += 1;
    }

    fn finish(self) -> Option<SystemUsage> {
        (self.n > 0).then(|| SystemUsage {
            samples: self.n,
            cpu_percent: self.cpu.finish(),
            memory_bytes: self.mem.finish(),
            points: self.points,
        })
    }
}
