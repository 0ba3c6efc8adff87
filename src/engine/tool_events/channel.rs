//! The pipe behind `SECFLOW_EVENTS` and the task that reads it.
//!
//! An anonymous pipe per attempt, made by secflow: it keeps the read end (close-on-exec),
//! and the write end goes with the attempt's other descriptors to the process that starts
//! the tool (its shim), which holds it, close-on-exec, until the tool and everything it
//! left are gone, and points `SECFLOW_EVENTS` at it as `/proc/<shim>/fd/<n>`. Any process
//! of the attempt can open that path (`echo … >"$SECFLOW_EVENTS"` from any shell, a child
//! that closed every descriptor above 2), and it names nothing once the attempt is over: an
//! ended attempt's pipe never feeds a later one, nothing is made in a file system (no name
//! to predict or plant, nothing left behind by a run that was killed), and starting an
//! attempt costs a `pipe2` instead of a FIFO's `mknod` and `unlink` (~30 µs a node on a
//! chain, `perf` of the engine thread). secflow drops its copy of the write end once the
//! attempt is handed over, so the reader sees end of file when the shim closes its own;
//! writes of up to `PIPE_BUF` (4 KiB) are atomic, so lines from several processes of the
//! tool never interleave.

use std::collections::HashSet;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Instant;

use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe::Receiver;
use tokio::sync::oneshot;

use super::parse::{Bad, parse_line};
use super::{BURST, Item, MAX_DRAIN, MAX_LINE, MAX_SERIES, RATE, SHARED_BURST, SHARED_RATE, Stats};
use crate::event::Redactor;

/// The reading task of one attempt.
#[derive(Debug)]
pub struct Reader {
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Reader {
    /// The attempt ended: reads what is left (up to [`MAX_DRAIN`] bytes), sends the
    /// [`Item::Summary`], closes the pipe. Returns when all that is done.
    pub async fn finish(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        // Dropped without `finish` (the attempt never started): the task sees the closed
        // stop channel, drains and ends on its own.
        drop(self.stop.take());
    }
}

/// Makes an attempt's pipe, sets `SECFLOW_EVENTS` in `env` (empty: the process that holds
/// the write end for the tool fills it in) and starts its reader, which hands every
/// accepted line (then the summary) to `send`. Returns the reader and the write end, to go
/// with the attempt. Needs a Tokio runtime.
pub fn attach(
    env: &mut Vec<(std::ffi::OsString, std::ffi::OsString)>,
    secrets: &[Vec<u8>],
    send: Arc<dyn Fn(Item) + Send + Sync>,
) -> io::Result<(Reader, OwnedFd)> {
    let (read_end, write_end) = crate::sys::fd::pipe()?;
    let rx = Receiver::from_owned_fd(read_end)?;
    env.retain(|(k, _)| k != super::ENV_VAR);
    env.push((super::ENV_VAR.into(), std::ffi::OsString::new()));
    let redactor = Redactor::new(secrets.iter().map(|s| String::from_utf8_lossy(s)));
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(read(rx, stopped, redactor, send));
    Ok((
        Reader {
            stop: Some(stop),
            task: Some(task),
        },
        write_end,
    ))
}

/// Splits the stream into lines and applies the limits.
struct Lines {
    line: Vec<u8>,
    /// The current line passed [`MAX_LINE`]: skipped up to its newline.
    overlong: bool,
    tokens: f64,
    refilled: Instant,
    series: HashSet<String>,
    stats: Stats,
    redactor: Redactor,
    send: Arc<dyn Fn(Item) + Send + Sync>,
}

impl Lines {
    fn feed(&mut self, mut chunk: &[u8]) {
        self.stats.bytes += chunk.len() as u64;
        let now = Instant::now();
        let elapsed = now.duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * RATE).min(BURST);
        self.refilled = now;
        while !chunk.is_empty() {
            // Over the limit between lines: the rest's whole lines are counted, not looked
            // at (a flood costs secflow a newline search, not a line's bookkeeping each).
            if self.tokens < 1.0
                && !self.overlong
                && self.line.is_empty()
                && let Some(last) = memchr::memrchr(b'\n', chunk)
            {
                let n = memchr::memchr_iter(b'\n', &chunk[..=last]).count() as u64;
                self.stats.lines += n;
                self.stats.dropped += n;
                chunk = &chunk[last + 1..];
                if chunk.is_empty() {
                    break;
                }
            }
            let (part, rest, complete) = match memchr::memchr(b'\n', chunk) {
                Some(i) => (&chunk[..i], &chunk[i + 1..], true),
                None => (chunk, &[][..], false),
            };
            chunk = rest;
            if !self.overlong {
                if self.line.len() + part.len() > MAX_LINE {
                    self.overlong = true;
                    self.line = Vec::new();
                } else {
                    self.line.extend_from_slice(part);
                }
            }
            if complete {
                self.end_line();
            }
        }
    }

    fn end_line(&mut self) {
        let overlong = std::mem::take(&mut self.overlong);
        let line = std::mem::take(&mut self.line);
        if !overlong && line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        self.stats.lines += 1;
        if self.tokens < 1.0 || !take_shared_token() {
            self.stats.dropped += 1;
            return;
        }
        self.tokens -= 1.0;
        let item = if overlong {
            Err(Bad::TooLong)
        } else {
            parse_line(&line, &self.redactor).and_then(|item| self.check_series(item))
        };
        // Keep the buffer's allocation for the next line, within the cap.
        self.line = line;
        self.line.clear();
        match item {
            Ok(item) => {
                self.stats.accepted += 1;
                (self.send)(item);
            }
            Err(bad) => *self.stats.bad.entry(bad.as_str()).or_default() += 1,
        }
    }

    fn check_series(&mut self, item: Item) -> Result<Item, Bad> {
        if let Item::Metric(m) = &item {
            let key = format!("{}{:?}", m.name, m.labels);
            if !self.series.contains(&key) {
                if self.series.len() >= MAX_SERIES {
                    return Err(Bad::SeriesLimit);
                }
                self.series.insert(key);
            }
        }
        Ok(item)
    }
}

/// The limit over every attempt of the process (many attempts flooding at once must not
/// outrun the record writers either): tokens and when they were last refilled.
static SHARED: std::sync::Mutex<Option<(f64, Instant)>> = std::sync::Mutex::new(None);

fn take_shared_token() -> bool {
    let mut bucket = SHARED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let now = Instant::now();
    let (tokens, at) = bucket.get_or_insert((SHARED_BURST, now));
    *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * SHARED_RATE).min(SHARED_BURST);
    *at = now;
    if *tokens < 1.0 {
        return false;
    }
    *tokens -= 1.0;
    true
}

/// Reads the pipe until end of file (every writer gone: the tool's processes, and the shim's
/// and secflow's copies of the write end) or the attempt's end, then drains it.
async fn read(
    mut rx: Receiver,
    mut stopped: oneshot::Receiver<()>,
    redactor: Redactor,
    send: Arc<dyn Fn(Item) + Send + Sync>,
) {
    let mut lines = Lines {
        line: Vec::new(),
        overlong: false,
        tokens: BURST,
        refilled: Instant::now(),
        series: HashSet::new(),
        stats: Stats::default(),
        redactor,
        send,
    };
    // Small until a read fills it (most tools never write here): a 64 KiB buffer allocated
    // and zeroed per attempt showed in callgrind on a chain of `true`.
    let mut buf = vec![0u8; 4 * 1024];
    loop {
        tokio::select! {
            biased;
            r = rx.read(&mut buf) => match r {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    lines.feed(&buf[..n]);
                    if n == buf.len() && buf.len() < 64 * 1024 {
                        buf.resize(64 * 1024, 0);
                    }
                }
            },
            _ = &mut stopped => break,
        }
    }
    // What the attempt's processes wrote before they ended is still in the pipe.
    let mut drained = 0usize;
    loop {
        match rx.try_read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                lines.feed(&buf[..n]);
                drained += n;
                if drained >= MAX_DRAIN {
                    lines.stats.abandoned = true;
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    if !lines.line.is_empty() || lines.overlong {
        lines.end_line();
    }
    drop(rx);
    let stats = std::mem::take(&mut lines.stats);
    (lines.send)(Item::Summary(stats));
}
