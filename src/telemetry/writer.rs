//! The asynchronous, lossless JSON-lines writer every sink shares.
//!
//! Producers (the engine's thread, the `tracing` layer) hand records to a background thread
//! through an unbounded channel: sending never blocks on disk and never drops. The thread
//! serialises each record to one line and appends batches of *complete* lines with a single
//! `write_all` each, so a crash or `kill -9` leaves at most a torn last line. It writes out
//! whatever it holds as soon as the channel runs dry (so `kill -9` loses at most the lines
//! not yet handed over), and [`JsonlWriter::finish`] drains, syncs and joins it.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;

use serde::Serialize;

/// Largest batch written with one call.
const BATCH_BYTES: usize = 256 * 1024;

enum Msg<T> {
    Record(T),
    Observe(Observer<T>),
    Close,
}

/// Called on the writer thread with every record written after it was installed (e.g. the
/// OTLP exporter's queue): observers never slow the producer.
pub type Observer<T> = Box<dyn FnMut(&T) + Send>;

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
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let (tx, rx) = channel();
        let name = format!(
            "secflow-write-{}",
            path.file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        );
        let thread = std::thread::Builder::new()
            .name(name)
            .spawn(move || write_loop(file, rx))?;
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
        thread
            .join()
            .map_err(|_| io::Error::other("log writer thread panicked"))?
    }
}

impl<T> Drop for JsonlWriter<T> {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = self.handle.tx.send(Msg::Close);
            let _ = thread.join();
        }
    }
}

fn write_loop<T: Serialize>(mut file: File, rx: Receiver<Msg<T>>) -> io::Result<WriteStats> {
    let mut stats = WriteStats::default();
    let mut buf: Vec<u8> = Vec::with_capacity(BATCH_BYTES + 4096);
    let mut first_error: Option<io::Error> = None;
    let mut observer: Option<Observer<T>> = None;
    let mut flush = |buf: &mut Vec<u8>, file: &mut File, stats: &mut WriteStats| {
        if buf.is_empty() {
            return;
        }
        if first_error.is_none() {
            match file.write_all(buf) {
                Ok(()) => stats.bytes += buf.len() as u64,
                Err(e) => first_error = Some(e),
            }
        }
        buf.clear();
    };
    // Blocks for the first message, then drains what is queued without blocking.
    'outer: while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(msg) = next {
            match msg {
                Msg::Close => break 'outer,
                Msg::Observe(o) => observer = Some(o),
                Msg::Record(record) => {
                    let start = buf.len();
                    if serde_json::to_writer(&mut buf, &record).is_ok() {
                        buf.push(b'\n');
                        stats.lines += 1;
                        if let Some(o) = observer.as_mut() {
                            o(&record);
                        }
                    } else {
                        buf.truncate(start);
                    }
                    if buf.len() >= BATCH_BYTES {
                        flush(&mut buf, &mut file, &mut stats);
                    }
                }
            }
            next = rx.try_recv().ok();
        }
        flush(&mut buf, &mut file, &mut stats);
    }
    // Close: whatever was queued before it has been handled above; write the rest.
    while let Ok(Msg::Record(record)) = rx.try_recv() {
        if serde_json::to_writer(&mut buf, &record).is_ok() {
            buf.push(b'\n');
            stats.lines += 1;
            if let Some(o) = observer.as_mut() {
                o(&record);
            }
        }
    }
    flush(&mut buf, &mut file, &mut stats);
    if let Some(e) = first_error {
        return Err(e);
    }
    file.sync_data()?;
    Ok(stats)
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
