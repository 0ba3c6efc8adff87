//! [`SinkThread`]: runs a group of sinks on a thread of their own, so that what they do per
//! event (formatting, hashing, the audit HMAC, metrics bookkeeping, writes) never delays the
//! scheduler between a process exiting and its dependants starting.
//!
//! The scheduler hands events over a channel, in batches whenever it is about to wait, and
//! goes on; the thread calls every sink in order, exactly as if they were called inline.
//! [`Sink::finish`] sends the final record to the thread, which finishes each sink in order
//! and hands the completed record back, so sinks that add to the record (the audit anchor)
//! and the one that writes it (`run.json`) keep their order. A sink that panics is dropped
//! and reported as an error from `finish`; the other sinks carry on and are finished as
//! usual.

use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;

use crate::store::RunRecord;

use super::{Event, RunContext, Sink};

// Events are the hot path and `Finish` is sent once: boxing every event would cost an
// allocation per event to save channel space nobody needs.
#[allow(clippy::large_enum_variant)]
enum Msg {
    Events(Vec<Event>),
    Finish(Box<RunRecord>),
}

/// Events handed over at once at most (bounds the delay in a burst of events).
const MAX_BATCH: usize = 256;

/// What the thread hands back when it finishes.
type Finished = (Option<Box<RunRecord>>, Vec<anyhow::Error>);

/// Sinks moved onto a background thread, seen by the scheduler as one sink.
pub struct SinkThread {
    /// Events not handed over yet: sent as one batch when the engine goes idle (or the
    /// batch is full), so a node's events cost one wake-up of the thread, not one each.
    batch: Vec<Event>,
    tx: Option<mpsc::Sender<Msg>>,
    thread: Option<JoinHandle<Finished>>,
}

impl SinkThread {
    /// Starts the thread. `sinks` receive every event in order, with `ctx`.
    pub fn spawn(ctx: Arc<RunContext>, mut sinks: Vec<Box<dyn Sink>>) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<Msg>();
        let thread = std::thread::Builder::new()
            .name("sinks".into())
            .spawn(move || {
                let mut errors = Vec::new();
                // A sink that panicked is dropped from the group (its error is kept).
                let mut live: Vec<Option<Box<dyn Sink>>> = sinks.drain(..).map(Some).collect();
                while let Ok(msg) = rx.recv() {
                    match msg {
                        Msg::Events(events) => {
                            for event in &events {
                                for slot in &mut live {
                                    guarded(slot, &mut errors, |s| {
                                        s.event(&ctx, event);
                                        Ok(())
                                    });
                                }
                            }
                            // The batch is done: the sinks may write what it produced at once.
                            for slot in &mut live {
                                guarded(slot, &mut errors, |s| {
                                    s.idle();
                                    Ok(())
                                });
                            }
                        }
                        Msg::Finish(mut record) => {
                            for slot in &mut live {
                                guarded(slot, &mut errors, |s| s.finish(&ctx, &mut record));
                            }
                            return (Some(record), errors);
                        }
                    }
                }
                // The scheduler went away without finishing: nothing to hand back.
                (None, errors)
            })?;
        Ok(SinkThread {
            batch: Vec::new(),
            tx: Some(tx),
            thread: Some(thread),
        })
    }
}

impl Sink for SinkThread {
    fn event(&mut self, _ctx: &RunContext, event: &Event) {
        self.batch.push(event.clone());
        if self.batch.len() >= MAX_BATCH {
            self.idle();
        }
    }

    fn idle(&mut self) {
        if let (Some(tx), false) = (&self.tx, self.batch.is_empty()) {
            // A closed channel means the thread died; `finish` reports it.
            let _ = tx.send(Msg::Events(std::mem::take(&mut self.batch)));
        }
    }

    fn finish(&mut self, _ctx: &RunContext, record: &mut RunRecord) -> anyhow::Result<()> {
        self.idle();
        let (Some(tx), Some(thread)) = (self.tx.take(), self.thread.take()) else {
            return Ok(());
        };
        // Hand the record over without copying its nodes (the bulk of a big run's record).
        let nodes = std::mem::take(&mut record.nodes);
        let mut moved = Box::new(record.clone());
        moved.nodes = nodes;
        if let Err(mpsc::SendError(Msg::Finish(back))) = tx.send(Msg::Finish(moved)) {
            *record = *back;
            return Err(anyhow::anyhow!(
                "the telemetry thread died; records may be short"
            ));
        }
        drop(tx);
        let (finished, mut errors) = thread
            .join()
            .map_err(|_| anyhow::anyhow!("the telemetry thread died; records may be short"))?;
        if let Some(finished) = finished {
            *record = *finished;
        }
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            _ => {
                let all: Vec<String> = errors.iter().map(|e| format!("{e:#}")).collect();
                Err(anyhow::anyhow!("{}", all.join("; ")))
            }
        }
    }
}

/// Runs `f` on the sink in `slot` unless an earlier call panicked; a panic empties the slot.
fn guarded(
    slot: &mut Option<Box<dyn Sink>>,
    errors: &mut Vec<anyhow::Error>,
    f: impl FnOnce(&mut dyn Sink) -> anyhow::Result<()>,
) {
    let Some(sink) = slot else { return };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(sink.as_mut()))) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => errors.push(e),
        Err(_) => {
            errors.push(anyhow::anyhow!(
                "a telemetry sink panicked; its records stop there"
            ));
            *slot = None;
        }
    }
}

impl Drop for SinkThread {
    fn drop(&mut self) {
        // Close the channel so the thread ends; it is not joined here (a drop must not block).
        self.tx.take();
    }
}
