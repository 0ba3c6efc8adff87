//! `--format json`: the [`AnalysisReport`] as pretty JSON, one trailing newline. The shape is
//! the schema `secflow schema --record analysis` prints.

use super::{Render, ReportError};
use crate::analysis::AnalysisReport;

pub struct Json;

impl Render for Json {
    fn render(&self, report: &AnalysisReport) -> Result<Vec<u8>, ReportError> {
        let mut out = serde_json::to_vec_pretty(report)?;
        out.push(b'\n');
        Ok(out)
    }
}
