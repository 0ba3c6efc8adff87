//! `--push-metrics URL`: the final metrics PUT to a Prometheus Pushgateway once the run
//! ended, bounded by `--push-timeout`; the outcome (and the series not delivered) goes into
//! run.json so a failed push leaves a trace beside the run.

use std::time::Duration;

use crate::event::{RunContext, Sink};
use crate::sinks::metrics::FinalSnapshot;
use crate::store::RunRecord;

pub mod push;

pub use push::{DEFAULT_PUSH_TIMEOUT, JOB, PushError, PushGrouping, push, push_path};

/// Where and how to push.
#[derive(Debug, Clone)]
pub struct PushTarget {
    pub url: String,
    pub grouping: PushGrouping,
    pub timeout: Duration,
}

/// Pushes the final snapshot in `finish`.
pub struct PushgatewaySink {
    target: PushTarget,
    snapshot: FinalSnapshot,
}

impl PushgatewaySink {
    /// `snapshot` is the metrics sink's final snapshot (that sink must finish first).
    pub fn new(target: PushTarget, snapshot: FinalSnapshot) -> Self {
        PushgatewaySink { target, snapshot }
    }
}

impl Sink for PushgatewaySink {
    fn event(&mut self, _ctx: &RunContext, _event: &crate::event::Event) {}

    fn finish(&mut self, _ctx: &RunContext, record: &mut RunRecord) -> anyhow::Result<()> {
        let Some(snapshot) = self.snapshot.get() else {
            return Ok(());
        };
        let t = &self.target;
        let result = push(
            &t.url,
            snapshot,
            &snapshot.workflow,
            &snapshot.run_id,
            t.grouping,
            t.timeout,
        );
        let error = result.err().map(|e| e.to_string());
        let export = super::export_record(record);
        export.pushgateway = Some(t.url.clone());
        if error.is_some() {
            export.undelivered = export
                .undelivered
                .saturating_add(snapshot.series.len() as u64);
        }
        if export.error.is_none() {
            export.error.clone_from(&error);
        }
        match error {
            Some(e) => Err(anyhow::anyhow!("{e}")),
            None => Ok(()),
        }
    }
}
