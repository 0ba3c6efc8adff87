//! [`Interrupt`]: the run's first signal as its handler recorded it, readable on the
//! engine's thread at any time. The signal's [`Control`](super::Control) message is read
//! only when the scheduler waits, not during its blocking steps (a `--resume` copy of a big
//! dataset, a cache key over big inputs, a condition counting records). So the scheduler
//! reads this right before it starts an attempt (nothing starts once a signal asked the run
//! to stop: SPEC §10), and the `--resume` copy between its reads (it stops at once).

use std::sync::atomic::{AtomicI32, Ordering};

/// The first signal the run received (none for a run without a signal handler, such as
/// the engine's unit tests, which send [`Control`](super::Control) messages only).
#[derive(Debug, Clone, Copy, Default)]
pub struct Interrupt(Option<&'static AtomicI32>);

impl Interrupt {
    /// Reads `first`: 0 until a signal arrived, then that signal's number.
    pub fn new(first: &'static AtomicI32) -> Self {
        Interrupt(Some(first))
    }

    /// The signal that asked the run to stop, when one arrived.
    pub fn signal(&self) -> Option<i32> {
        self.0
            .map(|first| first.load(Ordering::Relaxed))
            .filter(|&s| s != 0)
    }
}
