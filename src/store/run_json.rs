//! The `run.json` sink: writes the run record atomically when the run starts, when it ends,
//! and at most once per `state.checkpoint_interval` in between — never once per node, so a
//! 10 000-node run costs a handful of writes, not 10 000.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::RunRecord;
use std::io::Write as _;

use super::recorder::RecordBuilder;
use crate::engine::{Event, RunContext, Sink};

/// Keeps `<run-dir>/run.json` current. Put it last among the sinks: its `finish` writes the
/// record as the sinks before it completed it (audit anchor, telemetry).
pub struct RunJsonSink {
    builder: RecordBuilder,
    path: PathBuf,
    interval: Duration,
    last_write: Instant,
    error: Option<std::io::Error>,
}

impl RunJsonSink {
    pub fn new(ctx: &RunContext) -> Self {
        RunJsonSink {
            builder: RecordBuilder::new(ctx),
            path: ctx.run_dir.join("run.json"),
            interval: ctx.plan.state.checkpoint_interval,
            last_write: Instant::now(),
            error: None,
        }
    }

    fn checkpoint(&mut self) {
        let result = write_record(&self.path, self.builder.record());
        self.done_writing(result);
    }

    fn done_writing(&mut self, result: std::io::Result<()>) {
        if let Err(e) = result {
            self.error.get_or_insert(e);
        }
        self.last_write = Instant::now();
    }
}

/// Streams `record` as pretty JSON into a temporary file, then renames it over `path`.
fn write_record(path: &std::path::Path, record: &RunRecord) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
    serde_json::to_writer_pretty(&mut out, record).map_err(std::io::Error::other)?;
    out.write_all(b"\n")?;
    out.into_inner().map_err(|e| e.into_error())?;
    std::fs::rename(&tmp, path)
}

impl Sink for RunJsonSink {
    fn event(&mut self, _ctx: &RunContext, event: &Event) {
        self.builder.apply(event);
        match event {
            Event::RunStarted { .. } => self.checkpoint(),
            Event::RunFinished { .. } => {}
            _ => {
                if self.last_write.elapsed() >= self.interval {
                    self.checkpoint();
                }
            }
        }
    }

    fn finish(&mut self, _ctx: &RunContext, record: &mut RunRecord) -> anyhow::Result<()> {
        let result = write_record(&self.path, record);
        self.done_writing(result);
        match self.error.take() {
            Some(e) => Err(anyhow::anyhow!("cannot write {}: {e}", self.path.display())),
            None => Ok(()),
        }
    }
}
