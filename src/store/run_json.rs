//! The `run.json` sink: writes the run record atomically when the run starts, when it ends,
//! and at most once per `state.checkpoint_interval` in between — never once per node, so a
//! 10 000-node run costs a handful of writes, not 10 000.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::RunRecord;
use super::layout::write_atomic;
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

    fn write(&mut self, record: &RunRecord) {
        let result = serde_json::to_vec_pretty(record)
            .map_err(std::io::Error::other)
            .and_then(|bytes| write_atomic(&self.path, &bytes));
        if let Err(e) = result {
            self.error.get_or_insert(e);
        }
        self.last_write = Instant::now();
    }
}

impl Sink for RunJsonSink {
    fn event(&mut self, _ctx: &RunContext, event: &Event) {
        self.builder.apply(event);
        match event {
            Event::RunStarted { .. } => {
                let record = self.builder.record().clone();
                self.write(&record);
            }
            Event::RunFinished { .. } => {}
            _ => {
                if self.last_write.elapsed() >= self.interval {
                    let record = self.builder.record().clone();
                    self.write(&record);
                }
            }
        }
    }

    fn finish(&mut self, _ctx: &RunContext, record: &mut RunRecord) -> anyhow::Result<()> {
        self.write(record);
        match self.error.take() {
            Some(e) => Err(anyhow::anyhow!("cannot write {}: {e}", self.path.display())),
            None => Ok(()),
        }
    }
}
