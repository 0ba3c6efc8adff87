//! `--format html`: one self-contained file — inline CSS and SVG, no script, no network —
//! with a Gantt timeline of attempts coloured by status, per-node duration/CPU/RSS bars and
//! system CPU/memory over time. All text is HTML-escaped.

use std::fmt::Write as _;

use super::sections::sections;
use super::{Render, ReportError, fmt_bytes, fmt_ms, headline};
use crate::analysis::{AnalysisReport, NodeReport};

pub struct Html;

const WIDTH: f64 = 960.0;
const LABEL: f64 = 180.0;
/// Room right of the plot for the last axis label.
const SVG_WIDTH: f64 = WIDTH + 40.0;
const ROW: f64 = 18.0;
/// Rows drawn in the Gantt chart and bar charts; the rest are summarised.
const MAX_ROWS: usize = 300;
const MAX_BARS: usize = 30;

pub(crate) fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}

fn colour(status: &str) -> &'static str {
    match status {
        "succeeded" => "#2e9d4f",
        "failed" => "#d64541",
        "timed_out" => "#e67e22",
        "cancelled" => "#8e8e8e",
        "skipped" => "#c8c8c8",
        "cached" => "#3fa7d6",
        "running" => "#3568c4",
        _ => "#555555",
    }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:24px;color:#222}\
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;\
text-align:right;font-size:13px}td:first-child,th:first-child,td.t{text-align:left}\
h1{font-size:20px}h2{font-size:16px;margin-top:28px}svg{display:block;margin:8px 0}\
svg text{font-size:11px;font-family:system-ui,sans-serif}.legend span{display:inline-block;\
margin-right:12px;font-size:12px}.legend i{display:inline-block;width:10px;height:10px;\
margin-right:4px}";

impl Render for Html {
    fn render(&self, r: &AnalysisReport) -> Result<Vec<u8>, ReportError> {
        let mut h = String::new();
        let title = format!("secflow — {} — {}", r.run.workflow, r.run.run_id);
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1>\n",
            esc(&title),
            esc(&headline(r))
        );
        for (i, s) in sections(r).into_iter().enumerate() {
            if i == 1 {
                gantt(&mut h, r);
                bars(&mut h, r);
                system(&mut h, r);
                trends(&mut h, r);
            }
            let _ = writeln!(h, "<h2>{}</h2>", esc(&s.title));
            if !s.headers.is_empty() {
                h.push_str("<table><tr>");
                for c in &s.headers {
                    let _ = write!(h, "<th>{}</th>", esc(c));
                }
                h.push_str("</tr>\n");
                let text: Vec<bool> = (0..s.headers.len()).map(|i| !s.is_numeric(i)).collect();
                for row in &s.rows {
                    h.push_str("<tr>");
                    for (i, c) in row.iter().enumerate() {
                        let class = if text.get(i) == Some(&true) {
                            " class=\"t\""
                        } else {
                            ""
                        };
                        let _ = write!(h, "<td{class}>{}</td>", esc(c));
                    }
                    h.push_str("</tr>\n");
                }
                h.push_str("</table>\n");
            }
            for l in &s.lines {
                let _ = writeln!(h, "<p>{}</p>", esc(l));
            }
        }
        h.push_str("</body></html>\n");
        Ok(h.into_bytes())
    }
}

fn axis(h: &mut String, wall: u64, y: f64, height: f64) {
    for i in 0..=5u64 {
        let x = LABEL + (WIDTH - LABEL) * i as f64 / 5.0;
        let _ = write!(
            h,
            "<line x1=\"{x:.1}\" y1=\"0\" x2=\"{x:.1}\" y2=\"{height:.1}\" stroke=\"#eee\"/>\
             <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            y + 12.0,
            esc(&fmt_ms(wall * i / 5))
        );
    }
}

fn gantt(h: &mut String, r: &AnalysisReport) {
    let wall = r.summary.total_duration_ms.max(1);
    let rows: Vec<&NodeReport> = r.nodes.iter().take(MAX_ROWS).collect();
    let height = rows.len() as f64 * ROW + 24.0;
    let scale = (WIDTH - LABEL) / wall as f64;
    h.push_str("<h2>Timeline</h2>\n<div class=\"legend\">");
    for s in [
        "succeeded",
        "failed",
        "timed_out",
        "cancelled",
        "cached",
        "running",
    ] {
        let _ = write!(
            h,
            "<span><i style=\"background:{}\"></i>{s}</span>",
            colour(s)
        );
    }
    let _ = write!(
        h,
        "</div>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{SVG_WIDTH}\" height=\"{height:.0}\" \
         role=\"img\" aria-label=\"Gantt timeline of attempts\">"
    );
    axis(h, wall, rows.len() as f64 * ROW, height);
    for (i, n) in rows.iter().enumerate() {
        let y = i as f64 * ROW;
        let weight = if n.on_critical_path { "bold" } else { "normal" };
        let _ = write!(
            h,
            "<text x=\"4\" y=\"{:.1}\" font-weight=\"{weight}\">{}</text>",
            y + 13.0,
            esc(&n.node_id)
        );
        for a in &n.attempt_details {
            let Some(start) = a.start_offset_ms else {
                continue;
            };
            let x = LABEL + start as f64 * scale;
            let w = (a.duration_ms as f64 * scale).max(1.0);
            let _ = write!(
                h,
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{:.1}\" fill=\"{}\">\
                 <title>{} attempt {}: {} — {}, cpu {}, rss {}</title></rect>",
                y + 3.0,
                ROW - 6.0,
                colour(&a.status),
                esc(&n.node_id),
                a.attempt,
                esc(&a.status),
                esc(&fmt_ms(a.duration_ms)),
                esc(&fmt_ms(a.cpu_ms)),
                esc(&fmt_bytes(a.peak_rss_bytes))
            );
        }
    }
    h.push_str("</svg>\n");
    if r.nodes.len() > MAX_ROWS {
        let _ = writeln!(
            h,
            "<p>{} more nodes not drawn.</p>",
            r.nodes.len() - MAX_ROWS
        );
    }
}

fn bar_chart(h: &mut String, title: &str, nodes: &[&NodeReport], value: fn(&NodeReport) -> u64) {
    let max = nodes.iter().map(|n| value(n)).max().unwrap_or(0).max(1);
    let height = nodes.len() as f64 * ROW + 4.0;
    let label: fn(&str, u64) -> String = if title.contains("RSS") {
        |_, v| fmt_bytes(v)
    } else {
        |_, v| fmt_ms(v)
    };
    let _ = write!(
        h,
        "<h2>{}</h2>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{SVG_WIDTH}\" \
         height=\"{height:.0}\" role=\"img\" aria-label=\"{}\">",
        esc(title),
        esc(title)
    );
    for (i, n) in nodes.iter().enumerate() {
        let v = value(n);
        let y = i as f64 * ROW;
        let w = (WIDTH - LABEL - 90.0) * v as f64 / max as f64;
        let _ = write!(
            h,
            "<text x=\"4\" y=\"{:.1}\">{}</text><rect x=\"{LABEL}\" y=\"{:.1}\" \
             width=\"{w:.1}\" height=\"{:.1}\" fill=\"#4a78c2\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            y + 13.0,
            esc(&n.node_id),
            y + 3.0,
            ROW - 6.0,
            LABEL + w + 4.0,
            y + 13.0,
            esc(&label(&n.node_id, v))
        );
    }
    h.push_str("</svg>\n");
}

fn bars(h: &mut String, r: &AnalysisReport) {
    let mut nodes: Vec<&NodeReport> = r.nodes.iter().collect();
    nodes.sort_by(|a, b| {
        b.duration_ms
            .cmp(&a.duration_ms)
            .then(a.node_id.cmp(&b.node_id))
    });
    nodes.truncate(MAX_BARS);
    bar_chart(h, "Duration per node", &nodes, |n| n.duration_ms);
    bar_chart(h, "CPU time per node", &nodes, |n| n.cpu_ms);
    bar_chart(h, "Peak RSS per node", &nodes, |n| n.peak_rss_bytes);
}

fn system(h: &mut String, r: &AnalysisReport) {
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
    let plot_h = 160.0;
    let scale = (WIDTH - LABEL) / wall as f64;
    let mem_max = sys.memory_bytes.max.max(1.0);
    let line = |get: &dyn Fn(&crate::analysis::SystemPoint) -> Option<f64>| {
        sys.points
            .iter()
            .filter_map(|p| {
                get(p).map(|v| {
                    format!(
                        "{:.1},{:.1}",
                        LABEL + p.offset_ms as f64 * scale,
                        plot_h - v.clamp(0.0, 1.0) * plot_h
                    )
                })
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let cpu = line(&|p| p.cpu_percent.map(|c| c / 100.0));
    let mem = line(&|p| p.memory_bytes.map(|m| m / mem_max));
    let _ = write!(
        h,
        "<div class=\"legend\"><span><i style=\"background:#d64541\"></i>CPU % (0–100)</span>\
         <span><i style=\"background:#3568c4\"></i>memory (0–{})</span></div>\n\
         <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{SVG_WIDTH}\" height=\"{:.0}\" role=\"img\" \
         aria-label=\"System CPU and memory over time\">\
         <rect x=\"{LABEL}\" y=\"0\" width=\"{:.1}\" height=\"{plot_h}\" fill=\"none\" stroke=\"#ccc\"/>",
        esc(&fmt_bytes(mem_max as u64)),
        plot_h + 20.0,
        WIDTH - LABEL
    );
    axis(h, wall, plot_h, plot_h);
    let _ = writeln!(
        h,
        "<polyline points=\"{cpu}\" fill=\"none\" stroke=\"#d64541\" stroke-width=\"1.5\"/>\
         <polyline points=\"{mem}\" fill=\"none\" stroke=\"#3568c4\" stroke-width=\"1.5\"/>\
         <text x=\"4\" y=\"14\">cpu max {:.1} %</text><text x=\"4\" y=\"30\">mem max {}</text>\
         </svg>",
        sys.cpu_percent.max,
        esc(&fmt_bytes(sys.memory_bytes.max as u64))
    );
}

/// Duration of each node across the compared runs, one sparkline a node, regressions red.
fn trends(h: &mut String, r: &AnalysisReport) {
    let Some(across) = &r.across_runs else {
        return;
    };
    let nodes: Vec<_> = across.nodes.iter().take(MAX_BARS).collect();
    let runs = across.runs.len().max(2);
    let height = nodes.len() as f64 * ROW + 4.0;
    let spark = 300.0;
    let _ = writeln!(
        h,
        "<h2>Duration across {} runs (oldest → newest)</h2>\n<svg xmlns=\"http://www.w3.org/2000/svg\" \
         width=\"{SVG_WIDTH}\" height=\"{height:.0}\" role=\"img\" aria-label=\"Duration trends\">",
        across.runs.len()
    );
    for (i, n) in nodes.iter().enumerate() {
        let y = i as f64 * ROW;
        let max = n.trend_ms.iter().copied().max().unwrap_or(0).max(1) as f64;
        let flagged = r.regressions.iter().any(|g| g.node_id == n.node_id);
        let points: Vec<String> = n
            .trend_ms
            .iter()
            .enumerate()
            .map(|(k, &v)| {
                format!(
                    "{:.1},{:.1}",
                    LABEL + spark * k as f64 / (runs - 1) as f64,
                    y + ROW - 3.0 - (ROW - 6.0) * v as f64 / max
                )
            })
            .collect();
        let _ = write!(
            h,
            "<text x=\"4\" y=\"{:.1}\">{}</text><polyline points=\"{}\" fill=\"none\" \
             stroke=\"{}\" stroke-width=\"1.5\"/><text x=\"{:.1}\" y=\"{:.1}\">p50 {} · p95 {}{}</text>",
            y + 13.0,
            esc(&n.node_id),
            points.join(" "),
            if flagged { "#d64541" } else { "#4a78c2" },
            LABEL + spark + 12.0,
            y + 13.0,
            esc(&fmt_ms(n.duration_ms.p50)),
            esc(&fmt_ms(n.duration_ms.p95)),
            if flagged { " · regression" } else { "" }
        );
    }
    h.push_str("</svg>\n");
}
