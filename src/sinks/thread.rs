//! [`SinkThread`]: runs a group of sinks on a thread of their own, so that what they do per
//! event (formatting, hashing, the audit HMAC, metrics bookkeeping, writes) never delays the
//! scheduler between a process exiting and its dependants starting.
//!
//! The scheduler appends its events to a shared queue whenever it is about to wait, and goes
//! on; the thread takes the whole queue at most [`FLUSH_INTERVAL`] after the first event
//! arrived and calls every sink in order, exactly as if they were called inline. The thread
//! is woken at once only when it matters: an urgent event (a failure, a cancellation, the
//! end of the run: see [`Event::is_urgent`]) or a full batch. So a wide level of short nodes
//! costs the scheduler no wake-up of another thread per node, and the sinks write once per
//! batch rather than once per node.
//!
//! [`Sink::finish`] hands the final record to the thread, which finishes each sink in order
//! and hands the completed record back, so sinks that add to the record (the audit anchor)
//! and the one that writes it (`run.json`) keep their order. A sink that panics is dropped
//! and reported as an error from `finish`; the other sinks carry on and are finished as
//! usual. The queue is bounded ([`MAX_QUEUED_EVENTS`]): a thread that falls behind slows
//! the scheduler rather than growing without limit. Dropped without `finish` (an abandoned
//! run), it still delivers the pending events and waits for every sink to be dropped.

use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::store::RunRecord;

use crate::event::{Event, RunContext, Sink};

/// How long an event may wait in the queue before the thread takes it (unless it is urgent
/// or the batch is full). Bounds how far the record files lag behind the run.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(50);

/// Queued events that wake the thread at once (bounds the delay in a burst of events).
const MAX_BATCH: usize = 256;

/// Queued events at most: beyond this the scheduler waits for the thread, which bounds both
/// the memory a slow disk can make the queue take and what a `kill -9` can lose.
pub const MAX_QUEUED_EVENTS: usize = 16 * 1024;

/// What the thread hands back when it has finished every sink.
type Finished = (Box<RunRecord>, Vec<anyhow::Error>);

/// What the scheduler and the thread share.
#[derive(Default)]
struct Queue {
    events: Vec<Event>,
    /// Take the queue now: it holds an urgent event or a full batch.
    now: bool,
    /// The final record: finish every sink after the queued events.
    finish: Option<Box<RunRecord>>,
    /// No more events will come: deliver the queue, drop the sinks, end.
    closed: bool,
    /// The thread has ended: nothing takes events any more.
    gone: bool,
    /// Events queued so far, and handled by the sinks so far.
    queued: u64,
    handled: u64,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    /// The thread waits on it for events.
    wake: Condvar,
    /// The scheduler waits on it for room in a full queue, or for a batch to be handled.
    room: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // The queue stays consistent whatever panicked while holding the lock.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Sinks moved onto a background thread, seen by the scheduler as one sink.
pub struct SinkThread {
    /// Events not queued yet: queued as one batch when the engine goes idle (or the batch
    /// is full), so a node's events cost one lock, not one each.
    batch: Vec<Event>,
    /// The batch holds an urgent event.
    urgent: bool,
    /// The batch holds the run's start: wait until the sinks have handled it, so that
    /// `run.json` and the first records exist before any node starts.
    barrier: bool,
    shared: Arc<Shared>,
    done: mpsc::Receiver<Finished>,
    thread: Option<JoinHandle<()>>,
}

impl SinkThread {
    /// Starts the thread. `sinks` receive every event in order, with `ctx`.
    pub fn spawn(ctx: Arc<RunContext>, sinks: Vec<Box<dyn Sink>>) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let (done_tx, done) = mpsc::channel::<Finished>();
        let theirs = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("sinks".into())
            .spawn(move || {
                crate::sys::priority::below_tools();
                let _gone = Gone(&theirs);
                run(&ctx, sinks, &theirs, &done_tx);
            })?;
        Ok(SinkThread {
            batch: Vec::new(),
            urgent: false,
            barrier: false,
            shared,
            done,
            thread: Some(thread),
        })
    }

    /// Queues the pending batch, closes the queue and waits for the thread: every sink has
    /// then finished or been dropped (dropping flushes what it holds).
    fn close(&mut self) -> std::thread::Result<()> {
        self.idle();
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
        self.thread.take().map_or(Ok(()), JoinHandle::join)
    }
}

/// Marks the queue as gone when the thread ends, however it ends, so that a scheduler
/// waiting for room never waits for a thread that is no more.
struct Gone<'a>(&'a Shared);

impl Drop for Gone<'_> {
    fn drop(&mut self) {
        let mut queue = self.0.lock();
        queue.gone = true;
        queue.events = Vec::new();
        drop(queue);
        self.0.room.notify_all();
    }
}

/// The thread: every event to every live sink, in order; at the final record, every sink's
/// `finish`, and the record handed back before any sink is dropped.
fn run(
    ctx: &RunContext,
    sinks: Vec<Box<dyn Sink>>,
    shared: &Shared,
    done: &mpsc::Sender<Finished>,
) {
    let mut errors = Vec::new();
    // A sink that panicked is dropped from the group (its error is kept).
    let mut live: Vec<Option<Box<dyn Sink>>> = sinks.into_iter().map(Some).collect();
    // Swapped with the queue's vector, so that both keep their capacity.
    let mut events = Vec::new();
    // The run's context with the plan grown by fan-outs, once one has.
    let mut grown: Option<RunContext> = None;
    loop {
        let (finish, closed) = {
            let mut queue = shared.lock();
            let settled = |q: &Queue| q.now || q.finish.is_some() || q.closed;
            if !settled(&queue) {
                // Wait for the first event, then at most FLUSH_INTERVAL for more.
                while queue.events.is_empty() && !settled(&queue) {
                    queue = shared
                        .wake
                        .wait(queue)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                if !settled(&queue) {
                    queue = shared
                        .wake
                        .wait_timeout_while(queue, FLUSH_INTERVAL, |q| !settled(q))
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
            }
            std::mem::swap(&mut events, &mut queue.events);
            queue.now = false;
            (queue.finish.take(), queue.closed)
        };
        shared.room.notify_all();
        if !events.is_empty() {
            for event in &events {
                // A fan-out grew the plan: the sinks see the grown one from this event on.
                if let Event::InstancesAdded { plan, .. } = event {
                    grown = Some(RunContext {
                        plan: Arc::clone(plan),
                        ..ctx.clone()
                    });
                }
                let ctx = grown.as_ref().unwrap_or(ctx);
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
            shared.lock().handled += events.len() as u64;
            shared.room.notify_all();
            events.clear();
        }
        if let Some(mut record) = finish {
            for slot in &mut live {
                let ctx = grown.as_ref().unwrap_or(ctx);
                guarded(slot, &mut errors, |s| s.finish(ctx, &mut record));
            }
            let _ = done.send((record, std::mem::take(&mut errors)));
            break;
        }
        if closed {
            break;
        }
    }
    // Drop the sinks one by one, so that one panicking in its drop spares the others.
    for slot in &mut live {
        drop_quietly(slot.take());
    }
}

impl Sink for SinkThread {
    fn event(&mut self, _ctx: &RunContext, event: &Event) {
        self.urgent |= event.is_urgent();
        self.barrier |= matches!(event, Event::RunStarted { .. });
        self.batch.push(event.clone());
        if self.batch.len() >= MAX_BATCH {
            self.idle();
        }
    }

    fn idle(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let mut queue = self.shared.lock();
        while queue.events.len() >= MAX_QUEUED_EVENTS && !queue.gone {
            queue = self
                .shared
                .room
                .wait(queue)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if queue.gone {
            // The thread died; `finish` reports it.
            self.batch.clear();
            return;
        }
        let first = queue.events.is_empty();
        queue.queued += self.batch.len() as u64;
        queue.events.append(&mut self.batch);
        let barrier = std::mem::take(&mut self.barrier);
        let now = std::mem::take(&mut self.urgent) || barrier || queue.events.len() >= MAX_BATCH;
        queue.now |= now;
        // A thread asleep on an empty queue needs a wake-up to start its interval; one
        // already in its interval is woken only for what cannot wait.
        if first || now {
            self.shared.wake.notify_one();
        }
        if barrier {
            let target = queue.queued;
            while queue.handled < target && !queue.gone {
                queue = self
                    .shared
                    .room
                    .wait(queue)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        }
    }

    fn finish(&mut self, _ctx: &RunContext, record: &mut RunRecord) -> anyhow::Result<()> {
        self.idle();
        let died = || anyhow::anyhow!("the telemetry thread died; records may be short");
        if self.thread.is_none() {
            return Ok(());
        }
        // Hand the record over without copying its nodes (the bulk of a big run's record).
        let nodes = std::mem::take(&mut record.nodes);
        let mut moved = Box::new(record.clone());
        moved.nodes = nodes;
        {
            let mut queue = self.shared.lock();
            if queue.gone {
                record.nodes = moved.nodes;
                return Err(died());
            }
            queue.finish = Some(moved);
        }
        self.shared.wake.notify_one();
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
            _ => Err(crate::event::SinkErrors(errors).into()),
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
