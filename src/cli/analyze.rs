//! `secflow performance-analysis [RUN...]` (alias `analyze`): selects runs (RUN arguments,
//! `--workflow`, `--last`, `--baseline`), reads them through [`crate::analysis`], renders
//! the report through [`crate::report`], and exits 3 with `--fail-on-regression` when a
//! regression is flagged. `--node ID` restricts the node sections to one node, instance or
//! fan-out template of the described run (an unknown one exits 2 naming the run).
//!
//! RUN is resolved as SPEC §4 says: an exact run id, else a unique id prefix (an ambiguous
//! one is an error listing the matches), else `last` (newest by start time), else a path
//! containing `/` (a run directory copied from elsewhere). This resolver is self-contained
//! and can be replaced by the shared one.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::Deserialize;

use super::AnalyzeArgs;
use crate::analysis::{self, CompareOptions, LoadOptions, RunInput, parse_ms};
use crate::exit;
use crate::report::{ReportError, renderer};

/// What listing needs from run.json (unknown fields ignored).
#[derive(Debug, Deserialize)]
struct Head {
    run_id: String,
    started_at: String,
    workflow: HeadWorkflow,
}

#[derive(Debug, Deserialize)]
struct HeadWorkflow {
    name: String,
}

/// A recorded run directory, as listed.
#[derive(Debug, Clone)]
struct Listed {
    dir: PathBuf,
    id: String,
    workflow: String,
    started_ms: i64,
}

fn read_head(dir: &Path) -> Result<Head, String> {
    let f = crate::store::open::open_regular(&dir.join("run.json"))
        .map_err(|e| format!("cannot read run.json: {e}"))?;
    serde_json::from_reader(BufReader::new(f)).map_err(|e| format!("run.json: {e}"))
}

/// Every run under `<state-dir>/runs/`, oldest first; a run whose run.json cannot be read is
/// left out with a note on stderr naming it and why.
fn list_runs(state: &Path) -> anyhow::Result<Vec<Listed>> {
    let root = state.join("runs");
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(&root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e).with_context(|| format!("cannot list {}", root.display())),
    };
    for e in entries.flatten() {
        let dir = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        match read_head(&dir) {
            Ok(h) => out.push(Listed {
                started_ms: parse_ms(&h.started_at).unwrap_or(0),
                id: if h.run_id.is_empty() { name } else { h.run_id },
                workflow: h.workflow.name,
                dir,
            }),
            Err(why) => eprintln!(
                "note: skipped run {}: {}",
                crate::escape::escape(&name),
                crate::escape::escape(&why)
            ),
        }
    }
    out.sort_by(|a, b| (a.started_ms, &a.id).cmp(&(b.started_ms, &b.id)));
    Ok(out)
}

/// The state directory's runs, listed only when a RUN argument needs them.
struct Listing<'a> {
    state: &'a Path,
    runs: Option<Vec<Listed>>,
}

impl<'a> Listing<'a> {
    fn new(state: &'a Path) -> Self {
        Listing { state, runs: None }
    }

    fn runs(&mut self) -> anyhow::Result<&[Listed]> {
        if self.runs.is_none() {
            self.runs = Some(list_runs(self.state)?);
        }
        Ok(self.runs.as_deref().unwrap_or_default())
    }
}

/// Resolves one RUN argument to a run directory, as every command does.
fn resolve(arg: &str, listing: &mut Listing) -> anyhow::Result<PathBuf> {
    Ok(crate::store::resolve::resolve_run(listing.state, arg)?)
}

fn broken_pipe(e: &ReportError) -> bool {
    match e {
        ReportError::Io(io) => io.kind() == std::io::ErrorKind::BrokenPipe,
        ReportError::Json(j) => j.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe),
    }
}

/// Accepts `10`, `10%` or `10 %`.
pub fn parse_percent(s: &str) -> Result<f64, String> {
    let t = s.trim().trim_end_matches('%').trim();
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("`{s}` is not a percentage")),
    }
}

/// The run directories the arguments select, deduplicated, in argument/time order.
fn select(args: &AnalyzeArgs, listing: &mut Listing) -> anyhow::Result<Vec<PathBuf>> {
    let state = &args.state.state_dir;
    let mut chosen: Vec<PathBuf> = Vec::new();
    if !args.runs.is_empty() {
        for a in &args.runs {
            chosen.push(resolve(a, listing)?);
        }
    } else if args.workflow.is_none() && args.last.is_none() {
        chosen.push(resolve("last", listing)?);
    } else {
        let runs = listing.runs()?;
        let pool: Vec<&Listed> = runs
            .iter()
            .filter(|r| args.workflow.as_ref().is_none_or(|w| &r.workflow == w))
            .collect();
        let n = args.last.unwrap_or(pool.len());
        if pool.is_empty() {
            match &args.workflow {
                Some(w) => bail!(
                    "no recorded runs of workflow `{w}` under {}",
                    state.display()
                ),
                None => bail!("no recorded runs under {}", state.display()),
            }
        }
        chosen.extend(
            pool[pool.len().saturating_sub(n)..]
                .iter()
                .map(|r| r.dir.clone()),
        );
    }
    let mut seen = BTreeSet::new();
    chosen.retain(|d| seen.insert(d.clone()));
    Ok(chosen)
}

pub fn run(args: &AnalyzeArgs) -> anyhow::Result<i32> {
    if let Some(node) = &args.node
        && !super::logs::valid_node_arg(node)
    {
        eprintln!(
            "error: --node takes a node id, an instance id (`scan@3`) or a fan-out template id, not `{}`",
            crate::escape::escape(node)
        );
        return Ok(exit::INVALID);
    }
    let mut listing = Listing::new(&args.state.state_dir);
    let dirs = select(args, &mut listing)?;
    let baseline_dir = match &args.baseline {
        Some(b) => Some(resolve(b, &mut listing)?),
        None => None,
    };
    let mut inputs: Vec<RunInput> = Vec::with_capacity(dirs.len());
    for d in dirs
        .iter()
        .filter(|d| Some(*d) != baseline_dir.as_ref() || dirs.len() == 1)
    {
        inputs.push(analysis::load_run(d, LoadOptions::record_only())?);
    }
    if let Some(w) = &args.workflow {
        inputs.retain(|r| &r.record.workflow.name == w);
        if inputs.is_empty() {
            bail!("none of the selected runs is of workflow `{w}`");
        }
    }
    let baseline = match &baseline_dir {
        Some(d) => Some(analysis::load_run(d, LoadOptions::record_only())?),
        None => None,
    };
    // The newest selected run is described in detail: read its other files.
    let newest = inputs
        .iter_mut()
        .max_by_key(|r| (parse_ms(&r.record.started_at), r.record.run_id.clone()))
        .context("no run selected")?;
    let mut full = LoadOptions::full();
    if let Some(t) = args.threads {
        full.threads = t.max(1);
    }
    analysis::load_extras(newest, full)?;
    let options = CompareOptions {
        threshold_percent: args.threshold,
        noise_ms: args.noise_ms,
        noise_bytes: args.noise_mib.saturating_mul(1024 * 1024),
    };
    let mut report =
        analysis::analyze(inputs, baseline.as_ref(), &options).context("no run selected")?;
    drop(baseline);
    if let Some(node) = &args.node
        && let Err(known) = analysis::restrict_to_node(&mut report, node)
    {
        // Like `logs --node`: the run that lacks the node, and the ones it has.
        eprintln!(
            "error: run {} has no node `{}`; {}",
            crate::escape::escape(&report.run.run_id),
            crate::escape::escape(node),
            crate::escape::escape(&known)
        );
        return Ok(exit::INVALID);
    }
    let render = renderer(report_format(
        args.format.map(ReportFormatArg::format),
        args.output.as_deref(),
    ));
    match &args.output {
        Some(path) => {
            let file =
                File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
            let mut w = BufWriter::with_capacity(1 << 16, file);
            render.write(&report, &mut w)?;
            w.flush()
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        None => {
            let mut w = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
            let written = render.write(&report, &mut w).and_then(|()| Ok(w.flush()?));
            match written {
                // `| head` closed the pipe: the reader has what it wanted.
                Err(e) if broken_pipe(&e) => {}
                other => other?,
            }
        }
    }
    if !report.regressions.is_empty() {
        eprintln!(
            "{} regression{} flagged",
            report.regressions.len(),
            if report.regressions.len() == 1 {
                ""
            } else {
                "s"
            }
        );
        if args.fail_on_regression {
            return Ok(exit::REGRESSION);
        }
    }
    Ok(exit::SUCCESS)
}

/// `--format` of `performance-analysis` (the report module knows no command line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormatArg {
    /// Tables for a terminal (comfy-table).
    Table,
    /// Stable JSON with `schema_version` (`secflow schema --record analysis`).
    Json,
    /// Markdown for a pull-request comment.
    Markdown,
    /// One self-contained HTML file: Gantt timeline, per-node bars, system charts.
    Html,
    /// Trace Event JSON for Perfetto / chrome://tracing.
    ChromeTrace,
}

impl ReportFormatArg {
    pub fn format(self) -> crate::report::ReportFormat {
        use crate::report::ReportFormat;
        match self {
            ReportFormatArg::Table => ReportFormat::Table,
            ReportFormatArg::Json => ReportFormat::Json,
            ReportFormatArg::Markdown => ReportFormat::Markdown,
            ReportFormatArg::Html => ReportFormat::Html,
            ReportFormatArg::ChromeTrace => ReportFormat::ChromeTrace,
        }
    }
}

/// `--format`, else the format `--output`'s extension names (`x.html` is never a text table),
/// else a table.
fn report_format(
    given: Option<crate::report::ReportFormat>,
    output: Option<&Path>,
) -> crate::report::ReportFormat {
    use crate::report::ReportFormat;
    given
        .or_else(|| {
            let ext = output?.extension()?.to_str()?.to_ascii_lowercase();
            match ext.as_str() {
                "html" | "htm" => Some(ReportFormat::Html),
                "md" | "markdown" => Some(ReportFormat::Markdown),
                "json" => Some(ReportFormat::Json),
                _ => None,
            }
        })
        .unwrap_or(ReportFormat::Table)
}
