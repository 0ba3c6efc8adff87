//! The `run.json` sink: writes the run record atomically (temp file + rename) when the run
//! starts, when it ends, and in between at most once per `state.checkpoint_interval` — from
//! a background thread, only when something changed, never once per node. A 10 000-node
//! run costs a handful of writes, and a long-running node still shows as `running`.
//!
//! The record is the engine's one fold ([`SharedRecord`], published in `RunContext::record`):
//! checkpoints serialize it (in memory, under its lock, then write outside it), the final
//! write is the record handed to `finish`. The sink folds nothing itself.
//!
//! The first and the last write are fsynced (file, then directory): the engine starts no
//! node before the first is on disk. A failed write leaves no temporary file behind and is
//! reported to the run's [`RecordHealth`](RecordHealth) once, which stops the run
//! (SPEC §10 "Records fail closed").

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use crate::event::SharedRecord;
use crate::event::{Event, RunContext, Sink};
use crate::store::{RecordHealth, RunRecord};

struct Shared {
    record: SharedRecord,
    records: Arc<RecordHealth>,
    /// The version of the record last written.
    written: Option<u64>,
    done: bool,
    error: Option<std::io::Error>,
}

type SharedState = Arc<(Mutex<Shared>, Condvar)>;

/// Keeps `<run-dir>/run.json` current. Put it last among the sinks: its `finish` writes the
/// record as the sinks before it completed it (audit anchor, telemetry).
pub struct RunJsonSink {
    shared: SharedState,
    path: PathBuf,
    checkpointer: Option<JoinHandle<()>>,
}

impl RunJsonSink {
    pub fn new(ctx: &RunContext) -> Self {
        let path = ctx.run_dir.join("run.json");
        let shared: SharedState = Arc::new((
            Mutex::new(Shared {
                record: ctx.record.clone(),
                records: Arc::clone(&ctx.records),
                written: None,
                done: false,
                error: None,
            }),
            Condvar::new(),
        ));
        let interval = ctx.plan.state.checkpoint_interval;
        let checkpointer = {
            let shared = Arc::clone(&shared);
            let path = path.clone();
            std::thread::Builder::new()
                .name("run.json".into())
                .spawn(move || {
                    crate::sys::priority::below_tools();
                    let (lock, wake) = &*shared;
                    let mut state = lock_ignoring_poison(lock);
                    while !state.done {
                        state = match wake.wait_timeout(state, interval) {
                            Ok((s, _)) => s,
                            Err(poisoned) => poisoned.into_inner().0,
                        };
                        if !state.done {
                            checkpoint(&mut state, &path, false);
                        }
                    }
                })
                .ok()
        };
        RunJsonSink {
            shared,
            path,
            checkpointer,
        }
    }
}

fn lock_ignoring_poison(lock: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Writes the shared record if it changed since the last write (`durable`: fsynced).
fn checkpoint(state: &mut Shared, path: &Path, durable: bool) {
    let Some((version, bytes)) = state.record.snapshot_json(state.written) else {
        return;
    };
    let result = state
        .records
        .write_atomic(path, durable, |file| file.write_all(&bytes));
    state.written = Some(version);
    record_result(state, path, result);
}

fn record_result(state: &mut Shared, path: &Path, result: std::io::Result<()>) {
    if let Err(e) = result
        && state.error.is_none()
    {
        state
            .records
            .fail(format!("cannot write {}: {e}", path.display()));
        state.error = Some(e);
    }
}

/// Streams `record` as pretty JSON into a temporary file, then renames it over `path`;
/// `durable`: the file and then the directory are fsynced. On failure the temporary file
/// is removed.
fn write_record(
    records: &RecordHealth,
    path: &Path,
    record: &RunRecord,
    durable: bool,
) -> std::io::Result<()> {
    records.write_atomic(path, durable, |file| {
        let mut out = std::io::BufWriter::new(file);
        serde_json::to_writer_pretty(&mut out, record).map_err(std::io::Error::other)?;
        out.write_all(b"\n")?;
        out.flush()
    })
}

impl Sink for RunJsonSink {
    fn event(&mut self, _ctx: &RunContext, event: &Event) {
        // The engine folded the event already; the start's record is written (fsynced) at
        // once, the rest at the next checkpoint.
        if matches!(event, Event::RunStarted { .. }) {
            let mut state = lock_ignoring_poison(&self.shared.0);
            state.written = None;
            checkpoint(&mut state, &self.path, true);
        }
    }

    fn finish(&mut self, ctx: &RunContext, record: &mut RunRecord) -> anyhow::Result<()> {
        // SPEC §10 "Records fail closed": a record that failed as the sinks before this one
        // finished makes the run `failed` with exit 4, unless a signal ended it (128 + n wins).
        if ctx.records.is_failed() && record.exit_code.is_none_or(|c| c <= 128) {
            mark_records_incomplete(record);
        }
        lock_ignoring_poison(&self.shared.0).done = true;
        self.shared.1.notify_all();
        if let Some(thread) = self.checkpointer.take() {
            let _ = thread.join();
        }
        let mut state = lock_ignoring_poison(&self.shared.0);
        let mut result = write_record(&state.records, &self.path, record, true);
        // The last word on the run: a full disk is often transient (the failure that stopped
        // the run ended the attempt that filled it, but on a loaded machine its clean-up may
        // lag), so a few more tries, as the run's last record deserves, before it is given up.
        for pause in FINAL_RETRY_PAUSES {
            if result.is_ok() {
                break;
            }
            std::thread::sleep(pause);
            result = write_record(&state.records, &self.path, record, true);
        }
        record_result(&mut state, &self.path, result);
        match state.error.take() {
            Some(e) => Err(anyhow::anyhow!("cannot write {}: {e}", self.path.display())),
            None => Ok(()),
        }
    }
}

/// The pauses before each retry of a failed final write (1.5 s in all).
const FINAL_RETRY_PAUSES: [std::time::Duration; 4] = [
    std::time::Duration::from_millis(100),
    std::time::Duration::from_millis(200),
    std::time::Duration::from_millis(400),
    std::time::Duration::from_millis(800),
];

/// Marks `record` as a run whose records are incomplete: `failed`, exit 4, reason `records
/// incomplete` (unchanged when it says so already).
pub fn mark_records_incomplete(record: &mut RunRecord) {
    if record.reason.as_deref() != Some(crate::store::RECORDS_INCOMPLETE) {
        record.status = crate::store::RunStatus::Failed;
        record.exit_code = Some(crate::exit::RECORDS_INCOMPLETE);
        record.reason = Some(crate::store::RECORDS_INCOMPLETE.into());
    }
}

impl Drop for RunJsonSink {
    fn drop(&mut self) {
        lock_ignoring_poison(&self.shared.0).done = true;
        self.shared.1.notify_all();
        if let Some(thread) = self.checkpointer.take() {
            let _ = thread.join();
        }
    }
}
