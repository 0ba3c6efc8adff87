//! `secflow metrics RUN [--format table|json|prometheus]`: a run's metrics snapshot, plus the
//! metrics options of `run-workflow` (`--sample-interval`, `--push-metrics`,
//! `--push-grouping`, `--push-timeout`, `--metrics-textfile`, `--metrics-listen`); what they
//! do after a run is the exporters' (`crate::exporters`).

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use super::StateDirArg;
use clap::{Args, ValueEnum};
use comfy_table::{Cell, CellAlignment, ContentArrangement, Table, presets};

use crate::escape;
use crate::exit;
use crate::metrics::{self, MetricKind, MetricsSnapshot, Series};

/// Output formats of `secflow metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MetricsFormat {
    /// The SecFlow summary and one row per series.
    Table,
    /// `metrics.json` as recorded.
    Json,
    /// Prometheus text exposition format 0.0.4.
    Prometheus,
}

#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// Run id, unique id prefix, `last`, or a run directory path.
    #[arg(value_name = "RUN", add = clap_complete::ArgValueCandidates::new(super::completions::runs))]
    pub run: String,
    #[arg(long, value_enum, default_value_t = MetricsFormat::Table)]
    pub format: MetricsFormat,
    #[command(flatten)]
    pub state: StateDirArg,
}

pub fn run(args: &MetricsArgs) -> anyhow::Result<i32> {
    let run_dir = match crate::store::resolve::resolve_run(&args.state.state_dir, &args.run) {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::INVALID);
        }
    };
    let snapshot = match metrics::load_snapshot(&run_dir) {
        Ok(s) => s,
        Err(e) => {
            // An unreadable or missing record file: 2, as for every reader (README).
            eprintln!("error: {}", escape::escape(&e.to_string()));
            return Ok(exit::INVALID);
        }
    };
    let text = match args.format {
        MetricsFormat::Json => format!("{}\n", serde_json::to_string_pretty(&snapshot)?),
        MetricsFormat::Prometheus => metrics::render(&snapshot),
        MetricsFormat::Table => table(&snapshot),
    };
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        return Err(e.into());
    }
    Ok(exit::SUCCESS)
}

fn table(s: &MetricsSnapshot) -> String {
    let mut out = format!(
        "run {}  workflow {}  {} snapshot at {}\n",
        escape::cell(&s.run_id),
        escape::escape_capped(&s.workflow, escape::LINE_MAX_CHARS),
        if s.is_final {
            "final"
        } else {
            "periodic (run unfinished)"
        },
        escape::cell(&s.timestamp)
    );
    if let Some(sum) = &s.summary {
        out.push_str(&format!(
            "total {} ms · {} nodes · {} findings · avg node {} ms · {:.2} findings/s\n",
            sum.total_duration_ms,
            sum.node_count,
            sum.findings_count,
            sum.avg_node_duration_ms,
            sum.findings_per_second
        ));
    }
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(["metric", "labels", "type", "value"]);
    for series in &s.series {
        let labels = series
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        t.add_row(vec![
            Cell::new(escape::cell(&series.name)),
            Cell::new(escape::escape_capped(&labels, 2 * escape::CELL_MAX_CHARS)),
            Cell::new(series.kind.as_str()),
            Cell::new(value_text(series)).set_alignment(CellAlignment::Right),
        ]);
    }
    out.push_str(&t.to_string());
    out.push('\n');
    out
}

fn value_text(s: &Series) -> String {
    let num = |v: f64| {
        if v.fract() == 0.0 && v.abs() < 1e15 {
            format!("{v:.0}")
        } else {
            format!("{v:.3}")
        }
    };
    match s.kind {
        MetricKind::Counter | MetricKind::Gauge => num(s.value.unwrap_or(0.0)),
        MetricKind::Histogram => {
            let count = s.count.unwrap_or(0);
            let q = |v: Option<f64>| v.map_or_else(|| "-".into(), num);
            if count == 0 {
                "count=0".into()
            } else {
                format!(
                    "count={count} sum={} p50={} p95={} p99={}",
                    num(s.sum.unwrap_or(0.0)),
                    q(s.p50),
                    q(s.p95),
                    q(s.p99)
                )
            }
        }
    }
}

/// `--push-grouping`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum GroupingArg {
    /// `job=secflow, workflow=<name>`.
    #[default]
    Workflow,
    /// `job=secflow, workflow=<name>, run_id=<id>`.
    Run,
}

// The metrics options of `run-workflow`; flatten into its args.
#[derive(Debug, Clone, Args)]
pub struct RunMetricsArgs {
    /// Period of system samples and metrics.jsonl snapshots (e.g. 1s, 500ms).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_interval)]
    pub sample_interval: Duration,
    /// PUT the final metrics to this Prometheus Pushgateway (http:// only).
    #[arg(long, env = "SECFLOW_PUSHGATEWAY_URL", value_name = "URL")]
    pub push_metrics: Option<String>,
    /// Grouping key of the push beyond job=secflow.
    #[arg(long, value_enum, default_value_t = GroupingArg::Workflow)]
    pub push_grouping: GroupingArg,
    /// Bound on the push.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_interval)]
    pub push_timeout: Duration,
    /// Write the final metrics here for node_exporter's textfile collector (atomically).
    #[arg(long, value_name = "PATH")]
    pub metrics_textfile: Option<PathBuf>,
    /// Serve the run's live /metrics and /healthz on this address (HOST:PORT) while it runs.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<String>,
}

/// A Pushgateway URL: never one carrying credentials (`user:password@host`), which would be
/// recorded in run.json (`telemetry.export.pushgateway`) and shown in warnings. The error
/// never repeats the URL.
pub fn check_push_url(text: &str) -> Result<(), String> {
    if crate::exporters::http::authority(text).contains('@') {
        return Err(
            "--push-metrics / SECFLOW_PUSHGATEWAY_URL carries credentials (user@host), which \
             would be recorded in run.json; put an authenticating proxy in front of the \
             Pushgateway instead"
                .into(),
        );
    }
    if text.trim().is_empty() {
        return Err("--push-metrics / SECFLOW_PUSHGATEWAY_URL is empty".into());
    }
    Ok(())
}

fn parse_interval(text: &str) -> Result<Duration, String> {
    let d = crate::recipe::parse_duration(text)?;
    if d < Duration::from_millis(10) {
        return Err("must be at least 10ms".into());
    }
    Ok(d)
}
