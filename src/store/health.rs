//! [`RecordHealth`]: whether every record of a run could be written so far (SPEC §10
//! "Records fail closed").
//!
//! Every writer of a run-dir file (run.json, audit.jsonl, logs.jsonl, spans.jsonl, metrics,
//! node logs) reports its first write error here; the engine waits on it, stops scheduling
//! and terminates running attempts, and the run ends `failed` with `reason: records
//! incomplete`. The first failure is kept (it is what the user needs to see); later ones
//! are consequences and are not repeated.

use std::sync::OnceLock;

/// The `reason` a run stopped by a record write failure has in run.json.
pub const RECORDS_INCOMPLETE: &str = "records incomplete";

/// Shared by the engine and every record writer of one run.
#[derive(Debug, Default)]
pub struct RecordHealth {
    failure: OnceLock<String>,
    wake: tokio::sync::Notify,
}

impl RecordHealth {
    /// A record could not be written: `what` names the file and the error. Only the first
    /// report is kept; it wakes whoever waits in [`RecordHealth::failed`].
    pub fn fail(&self, what: impl Into<String>) {
        if self.failure.set(what.into()).is_ok() {
            self.wake.notify_one();
        }
    }

    /// The first failure reported, if any.
    pub fn failure(&self) -> Option<&str> {
        self.failure.get().map(String::as_str)
    }

    pub fn is_failed(&self) -> bool {
        self.failure.get().is_some()
    }

    /// Resolves once a failure has been reported (at once if one was).
    pub async fn failed(&self) {
        while !self.is_failed() {
            self.wake.notified().await;
        }
    }
}
