//! The HTML report's charts: concurrency over the run against the configured limit, queue
//! wait against run time, CPU per node and per template, system CPU/memory and trends across
//! runs. Bars are HTML (widths in percent), curves SVG with a `viewBox`, so all of it scales
//! to the viewport. Every text is escaped.

use std::fmt::Write as _;

use super::html::esc;
use super::html_timeline::groups;
use super::{fmt_bytes, fmt_ms};
use crate::analysis::{AnalysisReport, NodeReport};

/// Bars drawn per chart (the longest first); the tables below hold every node.
pub const MAX_BARS: usize = 30;
/// Rows of the per-template table (the most CPU first).
const MAX_TEMPLATE_ROWS: usize = 200;
/// Columns of the concurrency chart: each shows the most attempts running during it, so
/// the peak survives any number of attempts.
const COLUMNS: usize = 600;

/// Running attempts over the run: the peak, and per column of `columns` equal slices of
/// `wall` the most running at any moment in it. Attempts are half-open intervals (one ending
/// when another starts do not overlap), as the analysis counts them.
pub(crate) fn concurrency(
    attempts: impl Iterator<Item = (u64, u64)>,
    wall: u64,
    columns: usize,
) -> (u32, Vec<u32>) {
    let columns = columns.max(1);
    let mut events: Vec<(u64, i32)> = Vec::new();
    for (s, d) in attempts {
        events.push((s, 1));
        events.push((s.saturating_add(d), -1));
    }
    // Ends before starts at the same instant; all events of an instant apply together.
    events.sort_unstable();
    let mut cols = vec![0u32; columns];
    let col =
        |t: u64| ((t as u128 * columns as u128 / wall.max(1) as u128) as usize).min(columns - 1);
    let (mut level, mut peak) = (0i64, 0u32);
    let mut i = 0;
    while i < events.len() {
        let t = events[i].0;
        while i < events.len() && events[i].0 == t {
            level += i64::from(events[i].1);
            i += 1;
        }
        let next = events.get(i).map_or(t, |e| e.0);
        let l = u32::try_from(level.max(0)).unwrap_or(u32::MAX);
        if l > 0 && next > t {
            peak = peak.max(l);
            for c in &mut cols[col(t)..=col(next.saturating_sub(1)).max(col(t))] {
                *c = (*c).max(l);
            }
        }
    }
    (peak, cols)
}

pub(crate) fn concurrency_chart(h: &mut String, r: &AnalysisReport) {
    let wall = r.summary.total_duration_ms.max(1);
    let attempts = r.nodes.iter().flat_map(|n| {
        n.attempt_details
            .iter()
            .filter_map(|a| a.start_offset_ms.map(|s| (s, a.duration_ms)))
    });
    let (peak, cols) = concurrency(attempts, wall, COLUMNS);
    let limit = r.run.concurrency;
    let top = peak.max(limit).max(1) as f64;
    let (w, ht) = (1000.0, 160.0);
    let y = |v: f64| ht - v / top * (ht - 10.0);
    let cw = w / cols.len() as f64;
    let mut path = format!("M0,{ht}");
    for (i, &c) in cols.iter().enumerate() {
        let _ = write!(
            path,
            " L{:.1},{:.1} L{:.1},{:.1}",
            i as f64 * cw,
            y(c as f64),
            (i + 1) as f64 * cw,
            y(c as f64)
        );
    }
    let _ = write!(path, " L{w},{ht} Z");
    let _ = write!(
        h,
        "<h2>Concurrency over the run</h2>\n<div class=\"legend\">\
         <span><i style=\"background:#4a78c2\"></i>running attempts (peak {peak})</span>\
         <span><i style=\"background:#d64541\"></i>concurrency limit ({limit})</span>\
         <span>average {:.2}, efficiency {:.0} %</span></div>\n\
         <svg id=\"concurrency\" class=\"chart\" data-peak=\"{peak}\" data-limit=\"{limit}\" \
         viewBox=\"0 0 {w} {}\" preserveAspectRatio=\"none\" role=\"img\" \
         aria-label=\"Running attempts over the run: peak {peak}, limit {limit}\" height=\"180\">\
         <rect x=\"0\" y=\"0\" width=\"{w}\" height=\"{ht}\" fill=\"#fafafa\" stroke=\"#ccc\"/>\
         <path d=\"{path}\" fill=\"#4a78c2\" fill-opacity=\".75\"/>\
         <line x1=\"0\" x2=\"{w}\" y1=\"{ly:.1}\" y2=\"{ly:.1}\" stroke=\"#d64541\" stroke-dasharray=\"6 4\" \
         vector-effect=\"non-scaling-stroke\"/></svg>\n<p>0 → {} (wall time); height 0 → {}.</p>\n",
        r.parallelism.average,
        100.0 * r.parallelism.efficiency,
        ht + 2.0,
        esc(&fmt_ms(wall)),
        top,
        ly = y(limit as f64),
    );
}

/// One row of horizontal bars: `parts` are (value, class); `max` is the full width.
fn hbar(h: &mut String, label: &str, parts: &[(u64, &str)], max: u64, text: &str) {
    let _ = write!(
        h,
        "<div class=\"hb\"><span class=\"lbl\" title=\"{}\">{}</span><span class=\"bars\">",
        esc(label),
        esc(label)
    );
    for (v, class) in parts {
        let _ = write!(
            h,
            "<span class=\"{class}\" style=\"width:{:.2}%\"></span>",
            100.0 * *v as f64 / max.max(1) as f64 * 0.85
        );
    }
    let _ = writeln!(h, "<span class=\"v\">{}</span></span></div>", esc(text));
}

fn top(r: &AnalysisReport, key: impl Fn(&NodeReport) -> u64) -> Vec<&NodeReport> {
    let mut nodes: Vec<&NodeReport> = r.nodes.iter().collect();
    nodes.sort_by(|a, b| key(b).cmp(&key(a)).then(a.node_id.cmp(&b.node_id)));
    nodes.truncate(MAX_BARS);
    nodes
}

/// Queue wait (waiting for a slot) against run time, per node: the slowest to finish first.
pub(crate) fn queue_vs_run(h: &mut String, r: &AnalysisReport) {
    let nodes = top(r, |n| n.queue_wait_ms + n.duration_ms);
    let max = nodes.first().map_or(1, |n| n.queue_wait_ms + n.duration_ms);
    h.push_str(
        "<h2>Queue wait and run time per node</h2>\n<div class=\"legend\">\
         <span><i class=\"c-q\"></i>queue wait</span><span><i class=\"c-r\"></i>run time</span></div>\n",
    );
    for n in &nodes {
        let text = format!(
            "{} wait · {} run",
            fmt_ms(n.queue_wait_ms),
            fmt_ms(n.duration_ms)
        );
        hbar(
            h,
            &n.node_id,
            &[(n.queue_wait_ms, "c-q"), (n.duration_ms, "c-r")],
            max,
            &text,
        );
    }
    more(h, r.nodes.len(), nodes.len());
}

fn more(h: &mut String, all: usize, drawn: usize) {
    if all > drawn {
        let _ = writeln!(
            h,
            "<p>{} more nodes in the Nodes table below.</p>",
            all - drawn
        );
    }
}

/// Per-node bars of one figure (duration, CPU time or peak RSS), the largest first.
pub(crate) fn node_bars(
    h: &mut String,
    title: &str,
    r: &AnalysisReport,
    value: fn(&NodeReport) -> u64,
    bytes: bool,
) {
    let nodes = top(r, value);
    let max = nodes.first().map_or(1, |n| value(n));
    let _ = writeln!(h, "<h2>{}</h2>", esc(title));
    for n in &nodes {
        let v = value(n);
        let text = if bytes { fmt_bytes(v) } else { fmt_ms(v) };
        hbar(h, &n.node_id, &[(v, "c-r")], max, &text);
    }
    more(h, r.nodes.len(), nodes.len());
}

/// CPU time summed per template (fan-out instances together): bars and a sortable table.
pub(crate) fn cpu_per_template(h: &mut String, r: &AnalysisReport) {
    let mut rows: Vec<(&str, usize, u64, u64, u64)> = groups(r)
        .into_iter()
        .map(|(t, nodes)| {
            let cpu = nodes.iter().map(|n| n.cpu_ms).fold(0, u64::saturating_add);
            let dur = nodes
                .iter()
                .map(|n| n.duration_ms)
                .fold(0, u64::saturating_add);
            let wait = nodes
                .iter()
                .map(|n| n.queue_wait_ms)
                .fold(0, u64::saturating_add);
            (t, nodes.len(), cpu, dur, wait)
        })
        .collect();
    rows.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(b.0)));
    let total: u64 = rows.iter().map(|r| r.2).fold(0, u64::saturating_add);
    let max = rows.first().map_or(1, |r| r.2);
    h.push_str("<h2>Cumulative CPU time per template</h2>\n");
    for (t, count, cpu, ..) in rows.iter().take(MAX_BARS) {
        let label = if *count > 1 {
            format!("{t} ×{count}")
        } else {
            t.to_string()
        };
        hbar(h, &label, &[(*cpu, "c-cpu")], max, &fmt_ms(*cpu));
    }
    h.push_str(
        "<table id=\"cpu-templates\"><tr><th>template</th><th>instances</th><th>cpu</th>\
         <th>cpu %</th><th>duration (sum)</th><th>queue wait (sum)</th></tr>\n",
    );
    let mut cum = 0u64;
    for (t, count, cpu, dur, wait) in rows.iter().take(MAX_TEMPLATE_ROWS) {
        cum = cum.saturating_add(*cpu);
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td data-v=\"{count}\">{count}</td><td data-v=\"{cpu}\">{}</td>\
             <td data-v=\"{:.3}\" title=\"cumulative {:.1} %\">{:.1} %</td><td data-v=\"{dur}\">{}</td>\
             <td data-v=\"{wait}\">{}</td></tr>",
            esc(t),
            esc(&fmt_ms(*cpu)),
            share(*cpu, total),
            share(cum, total),
            share(*cpu, total),
            esc(&fmt_ms(*dur)),
            esc(&fmt_ms(*wait))
        );
    }
    h.push_str("</table>\n");
    if rows.len() > MAX_TEMPLATE_ROWS {
        let _ = writeln!(
            h,
            "<p>{} more templates with less CPU time (--format json has every node).</p>",
            rows.len() - MAX_TEMPLATE_ROWS
        );
    }
}

fn share(v: u64, total: u64) -> f64 {
    100.0 * v as f64 / total.max(1) as f64
}

/// System CPU and memory sampled during the run.
pub(crate) fn system(h: &mut String, r: &AnalysisReport) {
    h.push_str("<h2>System CPU and memory</h2>\n");
    let Some(sys) = &r.system else {
        h.push_str("<p>No system samples recorded (metrics.jsonl absent).</p>\n");
        return;
    };
    let wall = r
        .summary
        .total_duration_ms
        .max(sys.points.last().map_or(1, |p| p.offset_ms))
        .max(1);
    let (w, ht) = (1000.0, 160.0);
    let mem_max = sys.memory_bytes.max.max(1.0);
    let line = |get: &dyn Fn(&crate::analysis::SystemPoint) -> Option<f64>| {
        sys.points
            .iter()
            .filter_map(|p| {
                get(p).map(|v| {
                    format!(
                        "{:.1},{:.1}",
                        p.offset_ms as f64 / wall as f64 * w,
                        ht - v.clamp(0.0, 1.0) * ht
                    )
                })
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let cpu = line(&|p| p.cpu_percent.map(|c| c / 100.0));
    let mem = line(&|p| p.memory_bytes.map(|m| m / mem_max));
    let _ = writeln!(
        h,
        "<div class=\"legend\"><span><i style=\"background:#d64541\"></i>CPU % (0–100, max {:.1} %)</span>\
         <span><i style=\"background:#3568c4\"></i>memory (0–{})</span></div>\n\
         <svg class=\"chart\" viewBox=\"0 0 {w} {ht}\" preserveAspectRatio=\"none\" height=\"160\" role=\"img\" \
         aria-label=\"System CPU and memory over time\">\
         <rect x=\"0\" y=\"0\" width=\"{w}\" height=\"{ht}\" fill=\"none\" stroke=\"#ccc\"/>\
         <polyline points=\"{cpu}\" fill=\"none\" stroke=\"#d64541\" stroke-width=\"1.5\" vector-effect=\"non-scaling-stroke\"/>\
         <polyline points=\"{mem}\" fill=\"none\" stroke=\"#3568c4\" stroke-width=\"1.5\" vector-effect=\"non-scaling-stroke\"/>\
         </svg>\n<p>0 → {}.</p>",
        sys.cpu_percent.max,
        esc(&fmt_bytes(mem_max as u64)),
        esc(&fmt_ms(wall))
    );
}

/// Duration of each node across the compared runs: a sparkline a node, regressions red.
pub(crate) fn trends(h: &mut String, r: &AnalysisReport) {
    let Some(across) = &r.across_runs else {
        return;
    };
    let runs = across.runs.len().max(2);
    let _ = writeln!(
        h,
        "<h2>Duration across {} runs (oldest → newest)</h2>",
        across.runs.len()
    );
    for n in across.nodes.iter().take(MAX_BARS) {
        let max = n.trend_ms.iter().copied().max().unwrap_or(0).max(1) as f64;
        let flagged = r.regressions.iter().any(|g| g.node_id == n.node_id);
        let points: Vec<String> = n
            .trend_ms
            .iter()
            .enumerate()
            .map(|(k, &v)| {
                format!(
                    "{:.1},{:.1}",
                    200.0 * k as f64 / (runs - 1) as f64,
                    14.0 - 12.0 * v as f64 / max
                )
            })
            .collect();
        let _ = writeln!(
            h,
            "<div class=\"hb\"><span class=\"lbl\" title=\"{}\">{}</span>\
             <svg viewBox=\"0 0 200 16\" width=\"200\" height=\"16\" style=\"margin:0\">\
             <polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\"/></svg>\
             <span class=\"v\">p50 {} · p95 {}{}</span></div>",
            esc(&n.node_id),
            esc(&n.node_id),
            points.join(" "),
            if flagged { "#d64541" } else { "#4a78c2" },
            esc(&fmt_ms(n.duration_ms.p50)),
            esc(&fmt_ms(n.duration_ms.p95)),
            if flagged { " · regression" } else { "" }
        );
    }
}

/// `--baseline`: every node's duration against the baseline run — new and removed nodes
/// marked, regressions highlighted — slowest change first.
pub(crate) fn compare(h: &mut String, r: &AnalysisReport) {
    let Some(across) = &r.across_runs else {
        return;
    };
    let (Some(base), false) = (&across.baseline, across.compare.is_empty()) else {
        return;
    };
    let count = |c: &str| across.compare.iter().filter(|d| d.change == c).count();
    let regressed = across.compare.iter().filter(|d| d.regression).count();
    let _ = writeln!(
        h,
        "<h2>Compared with baseline {}</h2>\n<p id=\"compare-summary\" data-regressions=\"{regressed}\" \
         data-new=\"{}\" data-removed=\"{}\">{regressed} regression{}, {} slower, {} faster, {} new, {} removed \
         (current: the median over the selected runs).</p>",
        esc(base),
        count("new"),
        count("removed"),
        if regressed == 1 { "" } else { "s" },
        count("slower"),
        count("faster"),
        count("new"),
        count("removed")
    );
    let mut rows: Vec<_> = across.compare.iter().collect();
    rows.sort_by(|a, b| {
        b.regression
            .cmp(&a.regression)
            .then(
                b.delta_ms
                    .unwrap_or(i64::MIN)
                    .cmp(&a.delta_ms.unwrap_or(i64::MIN)),
            )
            .then(a.node_id.cmp(&b.node_id))
    });
    h.push_str(
        "<table id=\"compare\"><tr><th>node</th><th>change</th><th>baseline</th><th>current</th>\
         <th>delta</th><th>delta %</th></tr>\n",
    );
    let ms = |v: Option<u64>| v.map_or_else(|| "—".to_string(), fmt_ms);
    for d in rows {
        let class = if d.regression {
            " class=\"reg\""
        } else if d.change == "new" {
            " class=\"new\""
        } else if d.change == "removed" {
            " class=\"removed\""
        } else {
            ""
        };
        let delta = d.delta_ms.map_or_else(
            || "—".to_string(),
            |v| {
                let sign = if v > 0 {
                    "+"
                } else if v < 0 {
                    "−"
                } else {
                    ""
                };
                format!("{sign}{}", fmt_ms(v.unsigned_abs()))
            },
        );
        let _ = writeln!(
            h,
            "<tr{class}><td>{}</td><td class=\"t\">{}{}</td><td data-v=\"{}\">{}</td><td data-v=\"{}\">{}</td>\
             <td data-v=\"{}\">{}</td><td data-v=\"{}\">{}</td></tr>",
            esc(&d.node_id),
            esc(&d.change),
            if d.regression { " · regression" } else { "" },
            d.baseline_ms.map_or(String::new(), |v| v.to_string()),
            esc(&ms(d.baseline_ms)),
            d.current_ms.map_or(String::new(), |v| v.to_string()),
            esc(&ms(d.current_ms)),
            d.delta_ms.map_or(String::new(), |v| v.to_string()),
            esc(&delta),
            d.delta_percent.map_or(String::new(), |v| v.to_string()),
            d.delta_percent
                .map_or_else(|| "—".to_string(), |v| format!("{v:+.1} %"))
        );
    }
    h.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrency_peak_counts_half_open_intervals_and_survives_binning() {
        let attempts = [(0, 100), (50, 100), (100, 50), (120, 10)];
        // 0-50: 1, 50-100: 2, 100-120: 2 (the first ended as the third started), 120-130: 3,
        // 130-150: 2, then none.
        let (peak, cols) = concurrency(attempts.into_iter(), 200, 4);
        assert_eq!((peak, cols), (3, vec![1, 2, 3, 0]));
        let (peak, cols) = concurrency(attempts.into_iter(), 200, 1);
        assert_eq!((peak, cols), (3, vec![3]));
        // Back to back is never overlap.
        let (peak, _) = concurrency([(0, 10), (10, 10), (20, 10)].into_iter(), 30, 3);
        assert_eq!(peak, 1);
    }
}
