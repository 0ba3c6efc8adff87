//! Performance analysis (SPEC §5): reads recorded run directories back and computes the
//! [`AnalysisReport`] — pure functions over records; it never runs anything and never prints.
//!
//! [`load_run`] reads one run directory through the store's record types (streaming, one
//! report row per node kept, tolerant of torn last lines and of runs that never finished);
//! [`analyze`] turns one or several loaded runs into a report, with cross-run statistics and
//! regressions when there are several. Dependency edges come from run.json's `depends_on`:
//! the analysis never reads the recipe.

mod input;
mod instances;
mod logagg;
mod model;
mod multi;
mod quickscan;
mod select;
mod single;

use std::path::{Path, PathBuf};

pub use input::{AttemptTimes, Figures, LineStats, Nodes, Sample, SpanData, parse_ms};
pub use logagg::{Histogram, NODE_COMPLETED, aggregate_logs};
pub use model::*;
pub use multi::{CompareOptions, analyze};
pub use select::{restrict as restrict_to_node, selects as node_selects};
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
    /// Threads for the logs aggregate.
    pub threads: usize,
}

impl LoadOptions {
    /// Everything.
    pub fn full() -> Self {
        LoadOptions {
            logs: true,
            spans_and_metrics: true,
            threads: std::thread::available_parallelism().map_or(2, |n| n.get().min(4)),
        }
    }

    /// run.json only (for runs only compared across).
    pub fn record_only() -> Self {
        LoadOptions {
            logs: false,
            spans_and_metrics: false,
            threads: 1,
        }
    }
}

/// One run directory, read.
#[derive(Debug)]
pub struct RunInput {
    pub dir: PathBuf,
    /// run.json without its nodes (they are in `nodes`).
    pub record: RunRecord,
    pub nodes: Nodes,
    pub spans: Option<SpanData>,
    pub system: Option<SystemUsage>,
    pub system_lines: LineStats,
    pub last_sample_ms: Option<i64>,
    pub logs: Option<LogAggregate>,
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
    let (record, nodes) = input::read_run(dir)?;
    let mut warnings = Vec::new();
    if nodes.deps.is_none() && !nodes.is_empty() {
        warnings.push(match &nodes.unknown_dep {
            Some(id) => format!(
                "run.json: depends_on names `{id}`, not a node of the run: critical path inferred from timing"
            ),
            None => "run.json records no depends_on (written before the field existed): \
                     critical path inferred from timing"
                .to_string(),
        });
    }
    let mut run = RunInput {
        dir: dir.to_path_buf(),
        record,
        nodes,
        spans: None,
        system: None,
        system_lines: LineStats::default(),
        last_sample_ms: None,
        logs: None,
        warnings,
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
    Ok(())
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
