//! The record threads' CPU priority: below the tools a run starts.
//!
//! Logs, audit, spans, metrics and run.json are written by threads of their own, behind
//! queues, so none of them is on the path from one attempt to the next. When the run's
//! tools keep every CPU busy (64 tools starting at once on two cores), those threads only
//! take CPU away from the tools. Each calls [`below_tools`] first: nice +10 for that thread
//! alone (Linux priorities are per thread), so the scheduler gives it about a tenth of a
//! CPU under contention and all it wants otherwise. Nothing is dropped or reordered; a
//! record is written a little later on a saturated machine, and the end of a run waits for
//! every record as before.

/// How far below the tools the record threads run (nice increment, 0–19).
pub const NICE: i32 = 10;

/// Lowers the calling thread's priority by [`NICE`]. Best effort: a failure (a sandbox that
/// forbids it) leaves the thread as it was.
pub fn below_tools() {
    crate::sys::misc::lower_thread_priority(NICE);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nice_of_this_thread() -> i32 {
        crate::sys::misc::thread_nice()
    }

    #[test]
    fn lowers_the_calling_thread_only() {
        let before = nice_of_this_thread();
        let lowered = std::thread::spawn(|| {
            let before = nice_of_this_thread();
            below_tools();
            (before, nice_of_this_thread())
        })
        .join()
        .unwrap();
        assert_eq!(lowered.1, (lowered.0 + NICE).min(19));
        assert_eq!(nice_of_this_thread(), before, "the caller's thread only");
    }
}
