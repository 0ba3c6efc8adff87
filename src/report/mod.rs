//! Output formats of the performance analysis: one small trait, one file per format, one
//! match to choose. Every renderer is a pure function of the [`AnalysisReport`]; output is
//! deterministic (no clock, no terminal width, no colour), so it can be snapshot-tested.

mod chrome_trace;
mod html;
mod html_assets;
mod html_charts;
mod html_timeline;
mod json;
mod markdown;
mod sections;
mod table;

/// HTML escaping of text and attribute values (the HTML report's, shared with `serve`'s pages).
pub(crate) use html::esc as html_escape;

use std::io::Write;

use crate::analysis::AnalysisReport;

/// A report format.
pub trait Render {
    /// The whole document.
    fn render(&self, report: &AnalysisReport) -> Result<Vec<u8>, ReportError>;

    /// Writes the document to `out` (formats that can stream override this).
    fn write(&self, report: &AnalysisReport, out: &mut dyn Write) -> Result<(), ReportError> {
        out.write_all(&self.render(report)?)?;
        Ok(())
    }
}

/// What can go wrong while rendering.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot encode the report: {0}")]
    Json(#[from] serde_json::Error),
    #[error("cannot write the report: {0}")]
    Io(#[from] std::io::Error),
}

/// The formats `performance-analysis --format` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    /// Tables for a terminal (comfy-table).
    Table,
    /// Stable JSON with `schema_version` (`secflow schema --record analysis`).
    Json,
    /// Markdown for a pull-request comment.
    Markdown,
    /// One self-contained HTML file: concurrency, timeline, queue/run, CPU, system charts.
    Html,
    /// Trace Event JSON for Perfetto / chrome://tracing.
    ChromeTrace,
}

/// The renderer of `format`.
pub fn renderer(format: ReportFormat) -> Box<dyn Render> {
    match format {
        ReportFormat::Table => Box::new(table::Table),
        ReportFormat::Json => Box::new(json::Json),
        ReportFormat::Markdown => Box::new(markdown::Markdown),
        ReportFormat::Html => Box::new(html::Html),
        ReportFormat::ChromeTrace => Box::new(chrome_trace::ChromeTrace),
    }
}

/// `1234` → `1.23 s`, `812` → `812 ms`.
pub(crate) fn fmt_ms(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.2} s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{}m{:02}s", ms / 60_000, (ms % 60_000) / 1000),
        _ => format!("{}h{:02}m", ms / 3_600_000, (ms % 3_600_000) / 60_000),
    }
}

/// Bytes in binary units.
pub(crate) fn fmt_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// A ratio as a percentage with one decimal.
pub(crate) fn fmt_pct(r: f64) -> String {
    format!("{:.1} %", r * 100.0)
}

/// The figure of a regression in its unit.
pub(crate) fn fmt_metric(metric: &str, v: u64) -> String {
    if metric == "peak_rss_bytes" {
        fmt_bytes(v)
    } else {
        fmt_ms(v)
    }
}

/// Lines of plain text shared by the table and markdown formats.
pub(crate) fn headline(r: &AnalysisReport) -> String {
    let state = if r.run.finished {
        r.run.status.clone()
    } else {
        "UNFINISHED (still running or crashed)".to_string()
    };
    // Names from the record: escaped and capped (a 50 MiB name costs its cap, not its size).
    let shown = |s: &str| crate::escape::escape_capped(s, crate::escape::LINE_MAX_CHARS);
    format!(
        "Run {} — workflow {} — {} — started {}",
        shown(&r.run.run_id),
        shown(&r.run.workflow),
        state,
        shown(&r.run.started_at)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(fmt_ms(812), "812 ms");
        assert_eq!(fmt_ms(1234), "1.23 s");
        assert_eq!(fmt_ms(61_500), "1m01s");
        assert_eq!(fmt_ms(66_509_000), "18h28m");
        assert_eq!(fmt_bytes(512), "512 B");
        assert_eq!(fmt_bytes(48_234_496), "46.0 MiB");
    }
}
