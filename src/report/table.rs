//! `--format table` (the default): a headline, then each section as a comfy-table, with no
//! colour and no dependence on the terminal's width. Every cell is escaped and capped
//! ([`crate::escape::cell`]) before comfy-table sees it, so a hostile or huge name neither
//! reaches the terminal raw nor slows the layout.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, ContentArrangement};

use super::sections::sections;
use super::{Render, ReportError, headline};
use crate::analysis::AnalysisReport;
use crate::escape::{cell, escape};

pub struct Table;

impl Render for Table {
    fn render(&self, report: &AnalysisReport) -> Result<Vec<u8>, ReportError> {
        let mut out = String::new();
        out.push_str(&escape(&headline(report)));
        out.push('\n');
        for s in sections(report) {
            out.push('\n');
            out.push_str(&s.title);
            out.push('\n');
            if !s.headers.is_empty() {
                let mut t = comfy_table::Table::new();
                t.load_preset(UTF8_FULL_CONDENSED)
                    .set_content_arrangement(ContentArrangement::Disabled)
                    .set_header(s.headers.clone());
                for row in &s.rows {
                    t.add_row(row.iter().map(|c| cell(c)).collect::<Vec<_>>());
                }
                for i in (1..s.headers.len()).filter(|&i| s.is_numeric(i)) {
                    if let Some(col) = t.column_mut(i) {
                        col.set_cell_alignment(CellAlignment::Right);
                    }
                }
                out.push_str(&t.to_string());
                out.push('\n');
            }
            for l in &s.lines {
                out.push_str(&escape(l));
                out.push('\n');
            }
        }
        Ok(out.into_bytes())
    }
}
