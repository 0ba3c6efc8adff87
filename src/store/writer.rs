//! The asynchronous, lossless JSON-lines writer of logs and spans: batching on a thread on
//! top of [`LineFile`], the appender audit and metrics call directly.
//!
//! Producers (the engine's thread, the `tracing` layer) hand records to a background thread
//! through an unbounded channel: sending never blocks on disk and never drops. The thread
//! serialises each record to one line and appends batches of *complete* lines with a single
//! `write_all` each, so a crash or `kill -9` leaves at most a torn last line. A line is on
//! disk at most [`FLUSH_INTERVAL`] after it was handed over (all that `kill -9` can lose);
//! [`JsonlWriter::finish`] — called on every orderly exit path, SIGINT included — drains,
//! syncs and joins, losing nothing.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::store::append::LineFile;

/// Largest batch written with one call.
const BATCH_BYTES: usize = 256 * 1024;

/// Longest a handed-over line waits before it is written (what `kill -9` can lose at most,
/// and how far `logs --follow` lags).
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(100);

enum Msg<T> {
    Record(T),
    Observe(Observer<T>),
    Close,
}

/// Called on the writer thread with every record written after it was installed (e.g. the
/// OTLP exporter's queue): observers never slow the producer.
pub type Observer<T> = Box<dyn FnMut(&T) + Send>;

/// Adds `record` to the batch and shows it to the observer, if any.
fn add_observed<T: Serialize>(b: &mut Batcher, observer: &mut Option<Observer<T>>, record: &T) {
    b.add(record);
    if let Some(o) = observer.as_mut() {
        o(record);
    }
}

/// What a writer wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    pub lines: u64,
    pub bytes: u64,
}

/// A cloneable handle that sends records to a [`JsonlWriter`]'s thread.
pub struct WriterHandle<T> {
    tx: Sender<Msg<T>>,
}

impl<T> Clone for WriterHandle<T> {
    fn clone(&self) -> Self {
        WriterHandle {
            tx: self.tx.clone(),
        }
    }
}

impl<T: Send + 'static> WriterHandle<T> {
    /// Queues one record. Returns false only when the writer has already finished.
    pub fn send(&self, record: T) -> bool {
        self.tx.send(Msg::Record(record)).is_ok()
    }
}

/// Appends records of type `T` as JSON lines to one file from a background thread.
pub struct JsonlWriter<T> {
    path: PathBuf,
    handle: WriterHandle<T>,
    thread: Option<JoinHandle<io::Result<WriteStats>>>,
}

impl<T: Serialize + Send + 'static> JsonlWriter<T> {
    /// Opens (creating, appending) `path` and starts the writer thread.
    pub fn open(path: &Path) -> io::Result<Self> {
        Self::open_reporting(path, None)
    }

    /// [`JsonlWriter::open`] for a run's record file: the first write error is also
    /// reported to `records` at once, which stops the run (SPEC §10 "Records fail closed").
    pub fn open_reporting(
        path: &Path,
        records: Option<std::sync::Arc<crate::store::RecordHealth>>,
    ) -> io::Result<Self> {
        let file = LineFile::create(path, crate::sys::dirfd::Mode::Append, records)?;
        let (tx, rx) = channel();
        let name = format!(
            "secflow-write-{}",
            path.file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        );
        let thread = std::thread::Builder::new().name(name).spawn(move || {
            crate::sys::priority::below_tools();
            write_loop(file, rx)
        })?;
        Ok(JsonlWriter {
            path: path.to_path_buf(),
            handle: WriterHandle { tx },
            thread: Some(thread),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queues one record (never blocks, never drops).
    pub fn send(&self, record: T) {
        // The thread only stops after `finish` or a write error, which `finish` reports.
        let _ = self.handle.send(record);
    }

    /// Hands every record written from now on to `observer` as well, on the writer thread.
    pub fn observe(&self, observer: Observer<T>) {
        let _ = self.handle.tx.send(Msg::Observe(observer));
    }

    /// Another handle on the same file, for producers on other threads.
    pub fn handle(&self) -> WriterHandle<T> {
        self.handle.clone()
    }

    /// Writes out everything queued so far (by every handle), syncs the file and stops the
    /// thread. Records sent afterwards are refused. Idempotent: later calls return zeros.
    pub fn finish(&mut self) -> io::Result<WriteStats> {
        let Some(thread) = self.thread.take() else {
            return Ok(WriteStats::default());
        };
        let _ = self.handle.tx.send(Msg::Close);
        thread.thread().unpark();
        thread
            .join()
            .map_err(|_| io::Error::other("log writer thread panicked"))?
    }
}

impl<T> Drop for JsonlWriter<T> {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = self.handle.tx.send(Msg::Close);
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

/// The writer thread's state: the file, the batch being built, what it wrote.
struct Batcher {
    /// Appends whole lines and reports its first write error to the run.
    file: LineFile,
    buf: Vec<u8>,
    stats: WriteStats,
    error: Option<io::Error>,
}

impl Batcher {
    /// Adds one record as one line; writes the batch out when it is full.
    fn add<T: Serialize>(&mut self, record: &T) {
        let start = self.buf.len();
        if serde_json::to_writer(&mut self.buf, record).is_ok() {
            self.buf.push(b'\n');
            self.stats.lines += 1;
        } else {
            self.buf.truncate(start);
        }
        if self.buf.len() >= BATCH_BYTES {
            self.flush();
        }
    }

    /// Writes the batch (complete lines only) with one `write_all`.
    fn flush(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        if self.error.is_none() {
            match self.file.append(&self.buf) {
                Ok(()) => self.stats.bytes += self.buf.len() as u64,
                Err(e) => self.error = Some(e),
            }
        }
        self.buf.clear();
    }
}

/// Sleeps until the first record of a batch arrives, then gathers for up to
/// [`FLUSH_INTERVAL`] (parked: producers' sends do not wake it, so a burst costs one wake-up
/// and one write per interval, not one per line), writes the batch, and repeats until
/// `Close`, which also unparks it.
fn write_loop<T: Serialize>(file: LineFile, rx: Receiver<Msg<T>>) -> io::Result<WriteStats> {
    let mut b = Batcher {
        file,
        buf: Vec::with_capacity(BATCH_BYTES + 4096),
        stats: WriteStats::default(),
        error: None,
    };
    let mut observer: Option<Observer<T>> = None;
    let mut closing = false;
    while !closing {
        match rx.recv() {
            Ok(Msg::Record(record)) => add_observed(&mut b, &mut observer, &record),
            Ok(Msg::Observe(o)) => observer = Some(o),
            Ok(Msg::Close) | Err(_) => break,
        }
        let deadline = Instant::now() + FLUSH_INTERVAL;
        loop {
            loop {
                match rx.try_recv() {
                    Ok(Msg::Record(record)) => add_observed(&mut b, &mut observer, &record),
                    Ok(Msg::Observe(o)) => observer = Some(o),
                    Ok(Msg::Close) => {
                        closing = true;
                        break;
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        closing = true;
                        break;
                    }
                }
            }
            let now = Instant::now();
            if closing || now >= deadline {
                break;
            }
            std::thread::park_timeout(deadline - now);
        }
        b.flush();
    }
    // Records other handles sent just before `Close`.
    while let Ok(Msg::Record(record)) = rx.try_recv() {
        add_observed(&mut b, &mut observer, &record);
    }
    b.flush();
    if let Some(e) = b.error {
        return Err(e);
    }
    b.file.sync(false)?;
    Ok(b.stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_every_record_from_every_handle() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.jsonl");
        let mut w = JsonlWriter::<u32>::open(&path).unwrap();
        let h = w.handle();
        let t = std::thread::spawn(move || {
            for i in 0..1000 {
                h.send(i);
            }
        });
        for i in 1000..2000 {
            w.send(i);
        }
        t.join().unwrap();
        let stats = w.finish().unwrap();
        assert_eq!(stats.lines, 2000);
        let text = std::fs::read_to_string(&path).unwrap();
        let mut seen: Vec<u32> = text.lines().map(|l| l.parse().unwrap()).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..2000).collect::<Vec<_>>());
        assert_eq!(w.finish().unwrap(), WriteStats::default());
    }
}
