//! `--format markdown`: the same sections as the table format, as GitHub-flavoured
//! Markdown for a pull-request comment. All text from the records is escaped
//! ([`crate::escape::markdown`]: control characters, newlines, HTML `<>&`, `|`).

use super::sections::sections;
use super::{Render, ReportError, headline};
use crate::analysis::AnalysisReport;

pub struct Markdown;

use crate::escape::markdown as cell;

impl Render for Markdown {
    fn render(&self, report: &AnalysisReport) -> Result<Vec<u8>, ReportError> {
        let mut out = format!("## Performance analysis\n\n{}\n", cell(&headline(report)));
        for s in sections(report) {
            out.push_str(&format!("\n### {}\n\n", s.title));
            if !s.headers.is_empty() {
                out.push_str(&format!("| {} |\n", s.headers.join(" | ")));
                let align: Vec<&str> = (0..s.headers.len())
                    .map(|i| {
                        if i > 0 && s.is_numeric(i) {
                            "---:"
                        } else {
                            "---"
                        }
                    })
                    .collect();
                out.push_str(&format!("| {} |\n", align.join(" | ")));
                for row in &s.rows {
                    let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
                    out.push_str(&format!("| {} |\n", cells.join(" | ")));
                }
                if !s.lines.is_empty() {
                    out.push('\n');
                }
            }
            for l in &s.lines {
                out.push_str(&format!("{}\n", cell(l)));
            }
        }
        Ok(out.into_bytes())
    }
}
