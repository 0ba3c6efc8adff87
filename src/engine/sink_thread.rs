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
//! usual. The queue is bounded ([`MAX_QUEUED_BATCHES`]): a thread that falls behind slows
//! the scheduler rather than growing without limit. Dropped without `finish` (an abandoned
//! run), it still delivers the pending events and waits for every sink to be dropped.

use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;

use crate::store::RunRecord;

use super::{Event, RunContext, Sink};

enum Msg {
    Events(Vec<Event>),
    Finish(Box<RunRecord>),
}

/// Events handed over at once at most (bounds the delay in a burst of events).
const MAX_BATCH: usize = 256;

/// Batches in flight at most: beyond this the scheduler waits for the thread, which bounds
/// both the memory a slow disk can make the queue take and what a `kill -9` can lose.
const MAX_QUEUED_BATCHES: usize = 64;

/// What the thread hands back when it has finished every sink.
type Finished = (Box<RunRecord>, Vec<anyhow::Error>);

/// Sinks moved onto a background thread, seen by the scheduler as one sink.
pub struct SinkThread {
    /// Events not handed over yet: sent as one batch when the engine goes idle (or the
    /// batch is full), so a node's events cost one wake-up of the thread, not one each.
    batch: Vec<Event>,
    tx: Option<mpsc::SyncSender<Msg>>,
    done: mpsc::Receiver<Finished>,
    thread: Option<JoinHandle<()>>,
}

impl SinkThread {
    /// Starts the thread. `sinks` receive every event in order, with `ctx`.
    pub fn spawn(ctx: Arc<RunContext>, sinks: Vec<Box<dyn Sink>>) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::sync_channel::<Msg>(MAX_QUEUED_BATCHES);
        let (done_tx, done) = mpsc::channel::<Finished>();
        let thread = std::thread::Builder::new()
            .name("sinks".into())
            .spawn(move || run(&ctx, sinks, &rx, &done_tx))?;
        Ok(SinkThread {
            batch: Vec::new(),
            tx: Some(tx),
            done,
            thread: Some(thread),
        })
    }

    /// Hands the pending batch over, closes the channel and waits for the thread: every
    /// sink has then finished or been dropped (dropping flushes what it holds).
    fn close(&mut self) -> std::thread::Result<()> {
        self.idle();
        self.tx.take();
        self.thread.take().map_or(Ok(()), JoinHandle::join)
    }
}

/// The thread: every event to every live sink, in order; at `Finish`, every sink's
/// `finish`, and the record handed back before any sink is dropped.
fn run(
    ctx: &RunContext,
    sinks: Vec<Box<dyn Sink>>,
    rx: &mpsc::Receiver<Msg>,
    done: &mpsc::Sender<Finished>,
) {
    let mut errors = Vec::new();
    // A sink that panicked is dropped from the group (its error is kept).
    let mut live: Vec<Option<Box<dyn Sink>>> = sinks.into_iter().map(Some).collect();
    while let Ok(msg) = rx.recv() {
        match msg {
            Msg::Events(events) => {
                for event in &events {
                    for slot in &mut live {
                        guarded(slot, &mut errors, |s| {
                            s.event(ctx, event);
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
                    guarded(slot, &mut errors, |s| s.finish(ctx, &mut record));
                }
                let _ = done.send((record, std::mem::take(&mut errors)));
                break;
            }
        }
    }
    // Drop the sinks one by one, so that one panicking in its drop spares the others.
    for slot in &mut live {
        drop_quietly(slot.take());
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
        let Some(tx) = self.tx.take() else {
            return Ok(());
        };
        // Hand the record over without copying its nodes (the bulk of a big run's record).
        let nodes = std::mem::take(&mut record.nodes);
        let mut moved = Box::new(record.clone());
        moved.nodes = nodes;
        let died = || anyhow::anyhow!("the telemetry thread died; records may be short");
        if let Err(mpsc::SendError(Msg::Finish(back))) = tx.send(Msg::Finish(moved)) {
            *record = *back;
            return Err(died());
        }
        drop(tx);
        // The record comes back before the thread drops its sinks.
        let received = self.done.recv();
        let joined = self.close();
        let (finished, mut errors) = received.map_err(|_| died())?;
        *record = *finished;
        if joined.is_err() {
            errors.push(anyhow::anyhow!("a telemetry sink panicked while closing"));
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
            drop_quietly(slot.take());
        }
    }
}

/// Drops a sink; a panic in its drop is contained (the default hook has reported it).
fn drop_quietly(sink: Option<Box<dyn Sink>>) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(sink)));
}

impl Drop for SinkThread {
    /// Reached without `finish` only when the run is abandoned (the scheduler panicked):
    /// the pending events still reach the sinks and every sink is dropped, which flushes
    /// what it holds, before the process can exit.
    fn drop(&mut self) {
        let _ = self.close();
    }
}
