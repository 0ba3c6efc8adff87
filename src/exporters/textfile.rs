//! `--metrics-textfile PATH`: the final metrics written atomically for node_exporter's
//! textfile collector, once the run ended.

use std::path::{Path, PathBuf};

use crate::event::{RunContext, Sink};
use crate::metrics::{MetricsSnapshot, render, write_atomic};
use crate::sinks::metrics::FinalSnapshot;
use crate::store::RunRecord;

/// Writes the final snapshot to `path` in `finish`.
pub struct TextfileSink {
    path: PathBuf,
    snapshot: FinalSnapshot,
}

impl TextfileSink {
    /// `snapshot` is the metrics sink's final snapshot (that sink must finish first).
    pub fn new(path: PathBuf, snapshot: FinalSnapshot) -> Self {
        TextfileSink { path, snapshot }
    }
}

impl Sink for TextfileSink {
    fn event(&mut self, _ctx: &RunContext, _event: &crate::event::Event) {}

    fn finish(&mut self, _ctx: &RunContext, _record: &mut RunRecord) -> anyhow::Result<()> {
        let Some(snapshot) = self.snapshot.get() else {
            return Ok(());
        };
        write_textfile(&self.path, snapshot).map_err(|e| {
            anyhow::anyhow!("cannot write metrics textfile {}: {e}", self.path.display())
        })
    }
}

/// Writes the exposition of `snapshot` to `path` atomically (temp file in the same directory,
/// then rename), as node_exporter's textfile collector requires.
pub fn write_textfile(path: &Path, snapshot: &MetricsSnapshot) -> std::io::Result<()> {
    write_atomic(path, render(snapshot).as_bytes())
}
