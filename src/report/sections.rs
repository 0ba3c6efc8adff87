//! The report laid out as titled sections of rows — what the table and markdown formats
//! both print, so the two never disagree on content.

use super::{fmt_bytes, fmt_metric, fmt_ms, fmt_pct};
use crate::analysis::{AcrossRuns, AnalysisReport};

/// A titled block: free lines, then an optional table.
pub struct Section {
    pub title: String,
    pub lines: Vec<String>,
    pub headers: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

impl Section {
    /// Whether column `i` holds figures (right-aligned): every cell starts with a digit or
    /// a sign.
    pub fn is_numeric(&self, i: usize) -> bool {
        self.rows.iter().all(|r| {
            r.get(i)
                .and_then(|c| c.chars().next())
                .is_none_or(|c| c.is_ascii_digit() || c == '+' || c == '-')
        })
    }

    fn new(title: impl Into<String>) -> Self {
        Section {
            title: title.into(),
            lines: Vec::new(),
            headers: Vec::new(),
            rows: Vec::new(),
        }
    }
}

/// Rows of the node table are capped so a 100 000-node run stays readable.
const MAX_NODE_ROWS: usize = 200;

pub fn sections(r: &AnalysisReport) -> Vec<Section> {
    let mut out = Vec::new();
    out.push(summary_section(r));

    out.push(nodes_section(r));
    if !r.fanouts.is_empty() {
        out.push(fanouts(r));
    }

    if !r.problems.is_empty() {
        let mut pr = Section::new("Retries, timeouts and failures");
        pr.headers = vec!["node", "attempt", "kind", "message"];
        for p in &r.problems {
            pr.rows.push(vec![
                p.node_id.clone(),
                p.attempt.to_string(),
                p.kind.clone(),
                p.message.clone(),
            ]);
        }
        out.push(pr);
    }
    out.extend(system_section(r));
    out.extend(logs_section(r));
    if let Some(a) = &r.across_runs {
        out.push(across_section(a));
        out.push(regressions_section(r));
    }
    if !r.warnings.is_empty() {
        let mut w = Section::new("Notes");
        w.lines.clone_from(&r.warnings);
        out.push(w);
    }
    out
}

/// The summary: totals, parallelism, critical path, slowest nodes, skipped lines.
fn summary_section(r: &AnalysisReport) -> Section {
    let s = &r.summary;
    let mut sum = Section::new("Summary");
    sum.headers = vec![
        "total_duration",
        "node_count",
        "findings_count",
        "avg_node_duration",
        "findings_per_second",
    ];
    sum.rows.push(vec![
        fmt_ms(s.total_duration_ms),
        s.node_count.to_string(),
        s.findings_count.to_string(),
        fmt_ms(s.avg_node_duration_ms),
        format!("{:.2}", s.findings_per_second),
    ]);
    let p = &r.parallelism;
    sum.lines.push(format!(
        "Parallelism: average {:.2} of {} slots, efficiency {}, peak {} (busy {} over wall {})",
        p.average,
        p.concurrency,
        fmt_pct(p.efficiency),
        p.peak,
        fmt_ms(p.busy_ms),
        fmt_ms(p.wall_ms)
    ));
    let c = &r.critical_path;
    sum.lines.push(format!(
        "Critical path ({}): {} — {} = {} of wall time",
        c.method,
        chain(&c.nodes),
        fmt_ms(c.duration_ms),
        fmt_pct(c.share)
    ));
    if !r.slowest_nodes.is_empty() {
        sum.lines
            .push(format!("Slowest nodes: {}", r.slowest_nodes.join(", ")));
    }
    if r.run.torn_lines.saturating_add(r.run.invalid_lines) > 0 {
        sum.lines.push(format!(
            "Skipped lines: {} torn, {} invalid",
            r.run.torn_lines, r.run.invalid_lines
        ));
    }
    if let Some(node) = &r.node {
        sum.lines.push(format!(
            "Node sections restricted to `{node}`: {} of {} nodes",
            r.nodes.len(),
            r.summary.node_count
        ));
    }
    sum
}

/// One row per node (at most [`MAX_NODE_ROWS`]).
fn nodes_section(r: &AnalysisReport) -> Section {
    let mut nodes = Section::new("Nodes");
    nodes.headers = vec![
        "node", "status", "attempts", "queue", "duration", "cpu", "peak_rss", "findings", "wall %",
        "crit",
    ];
    for n in r.nodes.iter().take(MAX_NODE_ROWS) {
        nodes.rows.push(vec![
            n.node_id.clone(),
            n.status.to_string(),
            n.attempts.to_string(),
            fmt_ms(n.queue_wait_ms),
            fmt_ms(n.duration_ms),
            fmt_ms(n.cpu_ms),
            fmt_bytes(n.peak_rss_bytes),
            n.findings_count.to_string(),
            fmt_pct(n.share_of_wall),
            if n.on_critical_path { "*" } else { "" }.to_string(),
        ]);
    }
    if r.nodes.len() > MAX_NODE_ROWS {
        nodes.lines.push(format!(
            "({} more nodes; --format json has them all)",
            r.nodes.len() - MAX_NODE_ROWS
        ));
    }
    nodes
}

/// CPU and memory of the host over the run, when sampled.
fn system_section(r: &AnalysisReport) -> Option<Section> {
    let sys = r.system.as_ref()?;
    let mut sy = Section::new("System");
    sy.headers = vec!["measure", "min", "avg", "max"];
    let c = &sys.cpu_percent;
    sy.rows.push(vec![
        "cpu %".into(),
        format!("{:.1}", c.min),
        format!("{:.1}", c.avg),
        format!("{:.1}", c.max),
    ]);
    let m = &sys.memory_bytes;
    sy.rows.push(vec![
        "memory".into(),
        fmt_bytes(m.min as u64),
        fmt_bytes(m.avg as u64),
        fmt_bytes(m.max as u64),
    ]);
    sy.lines.push(format!("{} samples", sys.samples));
    Some(sy)
}

/// The "node completed" log records per node, when read.
fn logs_section(r: &AnalysisReport) -> Option<Section> {
    let l = r.logs.as_ref()?;
    let mut lg = Section::new("Logs: \"node completed\" records");
    lg.lines.push(format!(
        "{} records in {}, p95 duration {}",
        l.records,
        fmt_bytes(l.bytes_read),
        fmt_ms(l.p95_duration_ms)
    ));
    lg.headers = vec!["node", "count", "sum", "avg", "max", "findings"];
    for n in l.nodes.iter().take(MAX_NODE_ROWS) {
        lg.rows.push(vec![
            n.node_id.clone(),
            n.count.to_string(),
            fmt_ms(n.sum_duration_ms),
            format!("{:.1} ms", n.avg_duration_ms),
            fmt_ms(n.max_duration_ms),
            n.sum_findings.to_string(),
        ]);
    }
    Some(lg)
}

/// Per-node distributions over several runs.
fn across_section(a: &AcrossRuns) -> Section {
    let mut ac = Section::new(format!("Across {} runs", a.runs.len()));
    ac.lines.push(format!(
        "Runs: {}{}",
        a.runs
            .iter()
            .map(|p| p.run_id.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        a.baseline
            .as_ref()
            .map(|b| format!("; baseline {b}"))
            .unwrap_or_default()
    ));
    ac.headers = vec![
        "node",
        "runs",
        "p50",
        "p95",
        "p99",
        "stddev",
        "cpu p50",
        "rss p50",
        "trend/run",
    ];
    for n in a.nodes.iter().take(MAX_NODE_ROWS) {
        ac.rows.push(vec![
            n.node_id.clone(),
            n.runs.to_string(),
            fmt_ms(n.duration_ms.p50),
            fmt_ms(n.duration_ms.p95),
            fmt_ms(n.duration_ms.p99),
            format!("{:.1} ms", n.duration_ms.stddev),
            fmt_ms(n.cpu_ms.p50),
            fmt_bytes(n.peak_rss_bytes.p50),
            format!("{:+.1} ms", n.trend_slope_ms),
        ]);
    }
    ac
}

/// The regressions flagged against the baseline.
fn regressions_section(r: &AnalysisReport) -> Section {
    let mut rg = Section::new("Regressions");
    if r.regressions.is_empty() {
        rg.lines.push("None flagged.".into());
    } else {
        rg.headers = vec!["node", "metric", "baseline", "current", "change"];
        for g in &r.regressions {
            rg.rows.push(vec![
                g.node_id.clone(),
                g.metric.clone(),
                fmt_metric(&g.metric, g.baseline),
                fmt_metric(&g.metric, g.current),
                format!(
                    "+{} (+{:.1} %, threshold {:.0} %)",
                    fmt_metric(&g.metric, g.delta),
                    g.delta_percent,
                    g.threshold_percent
                ),
            ]);
        }
    }
    rg
}

/// Fan-out (SPEC §9): one row per template — instances, duration percentiles, the slowest
/// instances and the failed ones (a long list shows its first few and how many more).
fn fanouts(r: &AnalysisReport) -> Section {
    const SHOWN: usize = 5;
    let list = |ids: &[String]| match ids.len() {
        0 => "-".to_string(),
        n if n <= SHOWN => ids.join(", "),
        n => format!("{}, … ({} more)", ids[..SHOWN].join(", "), n - SHOWN),
    };
    let mut f = Section::new("Fan-out");
    f.headers = vec![
        "template",
        "instances",
        "p50",
        "p95",
        "max",
        "slowest",
        "failed",
    ];
    for g in &r.fanouts {
        f.rows.push(vec![
            g.template.clone(),
            g.count.to_string(),
            fmt_ms(g.p50_ms),
            fmt_ms(g.p95_ms),
            fmt_ms(g.max_ms),
            list(&g.slowest),
            list(&g.failed),
        ]);
    }
    f
}

/// A chain of ids; a long one shows its ends and how many are between.
fn chain(ids: &[String]) -> String {
    const ENDS: usize = 5;
    match ids.len() {
        0 => "-".to_string(),
        n if n <= 2 * ENDS + 1 => ids.join(" → "),
        n => format!(
            "{} → … ({} more) … → {}",
            ids[..ENDS].join(" → "),
            n - 2 * ENDS,
            ids[n - ENDS..].join(" → ")
        ),
    }
}
