//! `--format html`: one self-contained file — inline CSS, SVG and a small inline script, no
//! network — that answers "where did the time go": concurrency over the run against the
//! limit, a timeline of attempts by status (fan-out templates collapsed into one expandable
//! lane, a filter box, scrolling), queue wait against run time, CPU per node and per
//! template, system CPU/memory, and with `--baseline` a per-node comparison. Sized to the
//! viewport; tables sort on a click of their header. Every value from the records passes
//! through [`crate::escape::html`]; the script holds no record value.

use std::fmt::Write as _;

use super::html_assets::{SCRIPT, STYLE};
use super::html_charts as charts;
use super::sections::sections;
use super::{Render, ReportError, headline};
use crate::analysis::AnalysisReport;

pub struct Html;

/// HTML-escaped text or attribute value (see [`crate::escape::html`]).
pub(crate) fn esc(s: &str) -> String {
    crate::escape::html(s)
}

pub(crate) fn colour(status: &str) -> &'static str {
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

impl Render for Html {
    fn render(&self, r: &AnalysisReport) -> Result<Vec<u8>, ReportError> {
        let mut h = String::new();
        let title = format!("secflow — {} — {}", r.run.workflow, r.run.run_id);
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{}</title><style>{STYLE}{}</style></head><body>\n<h1>{}</h1>\n",
            esc(&title),
            super::html_timeline::status_style(),
            esc(&headline(r))
        );
        for (i, s) in sections(r).into_iter().enumerate() {
            if i == 1 {
                charts::compare(&mut h, r);
                charts::concurrency_chart(&mut h, r);
                super::html_timeline::timeline(&mut h, r);
                charts::queue_vs_run(&mut h, r);
                charts::cpu_per_template(&mut h, r);
                charts::node_bars(&mut h, "CPU time per node", r, |n| n.cpu_ms, false);
                charts::node_bars(&mut h, "Duration per node", r, |n| n.duration_ms, false);
                charts::node_bars(&mut h, "Peak RSS per node", r, |n| n.peak_rss_bytes, true);
                charts::system(&mut h, r);
                charts::trends(&mut h, r);
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
        let _ = write!(h, "<script>{SCRIPT}</script>\n</body></html>\n");
        Ok(h.into_bytes())
    }
}
