//! `--format json`: the [`AnalysisReport`] as pretty JSON, one trailing newline. The shape is
//! the schema `secflow schema --record analysis` prints.

use std::io::Write;

use super::{Render, ReportError};
use crate::analysis::AnalysisReport;

pub struct Json;

impl Render for Json {
    fn render(&self, report: &AnalysisReport) -> Result<Vec<u8>, ReportError> {
        let mut out = serde_json::to_vec_pretty(report)?;
        out.push(b'\n');
        Ok(out)
    }

    fn write(&self, report: &AnalysisReport, out: &mut dyn Write) -> Result<(), ReportError> {
        serde_json::to_writer_pretty(&mut *out, report)?;
        out.write_all(b"\n")?;
        Ok(())
    }
}
