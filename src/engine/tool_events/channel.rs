//! The pipe behind `SECFLOW_EVENTS` and the task that reads it.
//!
//! A FIFO rather than an inherited descriptor: the spawner hands tools descriptors 0–2 and
//! nothing else, and a path works from any shell (`echo … >"$SECFLOW_EVENTS"`). Each
//! attempt's FIFO is new (never reused: a descriptor to an earlier attempt's pipe never feeds
//! a later one) and goes when its reader ends; the FIFOs of one run share a fresh directory
//! ([`RunDir`], mode `0700`, under `$XDG_RUNTIME_DIR` when set, else `/dev/shm`, else the
//! temporary directory, never in the run directory), made for the run's first attempt and
//! removed after its last
//! (a directory per attempt cost ~85 µs of `mkdir`/`rmdir` on ext4, a FIFO alone ~8 µs).
//! secflow opens it read-write (so it never sees end of file between two writers) and
//! close-on-exec; writes of up to `PIPE_BUF` (4 KiB) are atomic, so lines from several
//! processes of the tool never interleave.
//!
//! Off the path between one attempt's end and the next one's start (a chain of short nodes
//! pays it per node): an ended attempt's FIFO is unlinked once the next attempt's tool is
//! starting ([`RunDir::sweep`]), or with the directory (nothing reads it any more: a writer
//! opening it gets `ENXIO` or blocks, and no later attempt ever reads it). A FIFO is never
//! made ahead of its attempt: one waiting with its read end open would take what any tool
//! wrote to its predictable name meanwhile.

use std::collections::HashSet;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe::Receiver;
use tokio::sync::oneshot;

use super::parse::{Bad, parse_line};
use super::{BURST, Item, MAX_DRAIN, MAX_LINE, MAX_SERIES, RATE, SHARED_BURST, SHARED_RATE, Stats};
use crate::event::Redactor;
use crate::sys::dirfd::Dir;

/// The directory holding a run's FIFOs. Removed when the last holder (the run, then each
/// channel still draining) lets go of it.
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
    /// The next FIFO's number.
    next: AtomicU64,
    /// FIFOs of ended attempts, unlinked off the critical path.
    ended: Mutex<Vec<PathBuf>>,
    /// The directory, held open and `flock`ed while the run lives: the mark that tells a
    /// later run's [`sweep_orphans`] it is not an orphan.
    _live: Dir,
}

/// The prefix of every run's FIFO directory. Directories named `secflow-events-*` come from
/// builds that did not lock theirs: never swept (one could be a live run's).
const PREFIX: &str = "secflow-run-events-";

/// At most this many candidates are looked at per sweep (another user can fill a shared
/// `/dev/shm` with names; a run start must not pay for all of them).
const SWEEP_MAX: usize = 64;

/// How old (last change) an unlocked FIFO directory must be before it is taken for an
/// orphan: a run that just made its directory has not locked it yet.
const ORPHAN_AGE: Duration = Duration::from_secs(60);

impl RunDir {
    /// Makes a fresh directory (mode `0700`), after removing those that runs killed before
    /// their end left next to it.
    pub fn create() -> io::Result<Arc<RunDir>> {
        // A memory file system when there is one: a FIFO's `mknod` on ext4 waits for the
        // journal (~100 µs a node while the records are being written), on tmpfs it does not.
        let base = std::env::var_os("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute() && p.is_dir())
            .or_else(|| Some(PathBuf::from("/dev/shm")).filter(|p| p.is_dir()))
            .unwrap_or_else(std::env::temp_dir);
        sweep_orphans(&base);
        let path = base.join(format!("{PREFIX}{}", ulid::Ulid::new()));
        // A fresh name made here: `create` fails rather than reuse anything in the way.
        std::fs::DirBuilder::new().mode(0o700).create(&path)?;
        let live = match Dir::open(&path) {
            Ok(d) => d,
            Err(e) => {
                let _ = std::fs::remove_dir(&path);
                return Err(e);
            }
        };
        // A file system without `flock` (ENOLCK): the directory stays unlocked, and no sweep
        // can lock it either, so none removes it while the run lives.
        let _ = live.try_lock();
        Ok(Arc::new(RunDir {
            path,
            next: AtomicU64::new(0),
            ended: Mutex::new(Vec::new()),
            _live: live,
        }))
    }

    /// A new FIFO in the directory, its read end open (read-write: never end of file
    /// between two writers). Needs a Tokio runtime.
    fn make_fifo(&self) -> io::Result<(PathBuf, Receiver)> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        // Unpredictable: a tool cannot plant a file (or take a FIFO) under the name the next
        // attempt's FIFO will have.
        let path = self.path.join(format!("events-{n}-{}", ulid::Ulid::new()));
        // `mkfifo` fails rather than use anything already at the path.
        crate::sys::fifo::mkfifo(&path, 0o600)?;
        match tokio::net::unix::pipe::OpenOptions::new()
            .read_write(true)
            .open_receiver(&path)
        {
            Ok(rx) => Ok((path, rx)),
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                Err(e)
            }
        }
    }

    /// Unlinks the FIFOs of ended attempts. Called once an attempt is starting.
    pub fn sweep(&self) {
        for path in std::mem::take(&mut *lock(&self.ended)) {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Removes the FIFO directories in `base` that runs killed before their end (SIGKILL, a
/// crash, a power cut of a tmpfs-less host) left behind: this user's, unchanged for
/// [`ORPHAN_AGE`] and locked by no live run (at most [`SWEEP_MAX`] looked at). Every step
/// goes by descriptor beneath `base` and never through a symlink; only what is not a
/// directory is unlinked inside. Best effort: what cannot be removed stays.
fn sweep_orphans(base: &Path) {
    // Resolved first: `/dev/shm` is a symlink to `/run/shm` on some systems.
    let Ok(base_dir) = base.canonicalize().and_then(|b| Dir::open(&b)) else {
        return;
    };
    let Ok(entries) = base_dir.entries() else {
        return;
    };
    let uid = crate::sys::process_guard::effective_uid();
    let old_enough = |m: &std::fs::Metadata| {
        let age = m.modified().ok().and_then(|t| t.elapsed().ok());
        age.is_some_and(|a| a >= ORPHAN_AGE)
    };
    let candidates = entries.flatten().filter(|e| {
        use std::os::unix::fs::MetadataExt as _;
        // `lstat` first: only this user's directories old enough to be orphans are opened
        // (and only they count towards the cap).
        e.file_name().to_string_lossy().starts_with(PREFIX)
            && e.metadata()
                .is_ok_and(|m| m.is_dir() && m.uid() == uid && old_enough(&m))
    });
    for entry in candidates.take(SWEEP_MAX) {
        let name = entry.file_name();
        let Ok(dir) = base_dir.open_child_dir(&name) else {
            continue;
        };
        // Checked again on what was opened (the name may have been replaced meanwhile).
        let orphan = dir.metadata().is_ok_and(|m| {
            use std::os::unix::fs::MetadataExt as _;
            m.uid() == uid && old_enough(&m)
        });
        if !orphan || !matches!(dir.try_lock(), Ok(true)) {
            continue;
        }
        if let Ok(inside) = dir.entries() {
            for f in inside.flatten() {
                if f.file_type().is_ok_and(|t| !t.is_dir()) {
                    let _ = dir.remove_file(Path::new(&f.file_name()));
                }
            }
        }
        let _ = base_dir.remove_child_dir(&name);
    }
}

/// The guard of `m`, poisoned or not (what it holds stays consistent: one assignment).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Drop for RunDir {
    fn drop(&mut self) {
        self.sweep();
        let _ = std::fs::remove_dir(&self.path);
    }
}

/// An open channel: the FIFO's path and secflow's read end. Dropping it removes both.
#[derive(Debug)]
pub struct Channel {
    path: PathBuf,
    rx: Option<Receiver>,
    /// Kept until the FIFO is gone (dropped after it, see `Drop`).
    _dir: Arc<RunDir>,
}

impl Channel {
    /// Creates a new FIFO in `dir` and opens the read end. Needs a Tokio runtime.
    pub fn open(dir: &Arc<RunDir>) -> io::Result<Channel> {
        let (path, rx) = dir.make_fifo()?;
        Ok(Channel {
            path,
            rx: Some(rx),
            _dir: Arc::clone(dir),
        })
    }

    /// The value of `SECFLOW_EVENTS`.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        self.rx = None;
        // Unlinked by the next `sweep` or with the directory, which goes with its last
        // holder (`self._dir`, dropped after this).
        lock(&self._dir.ended).push(std::mem::take(&mut self.path));
    }
}

/// The reading task of one attempt.
#[derive(Debug)]
pub struct Reader {
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Reader {
    /// The attempt ended: reads what is left (up to [`MAX_DRAIN`] bytes), sends the
    /// [`Item::Summary`], removes the pipe. Returns when all that is done.
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

/// Opens a channel for an attempt in `dir`, sets `SECFLOW_EVENTS` in `env` and starts its
/// reader, which hands every accepted line (then the summary) to `send`.
pub fn attach(
    dir: &Arc<RunDir>,
    env: &mut Vec<(std::ffi::OsString, std::ffi::OsString)>,
    secrets: &[Vec<u8>],
    send: Arc<dyn Fn(Item) + Send + Sync>,
) -> io::Result<Reader> {
    let ch = Channel::open(dir)?;
    env.retain(|(k, _)| k != super::ENV_VAR);
    env.push((super::ENV_VAR.into(), ch.path().as_os_str().to_owned()));
    let redactor = Redactor::new(secrets.iter().map(|s| String::from_utf8_lossy(s)));
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(read(ch, stopped, redactor, send));
    Ok(Reader {
        stop: Some(stop),
        task: Some(task),
    })
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

async fn read(
    mut ch: Channel,
    mut stopped: oneshot::Receiver<()>,
    redactor: Redactor,
    send: Arc<dyn Fn(Item) + Send + Sync>,
) {
    let Some(mut rx) = ch.rx.take() else {
        return;
    };
    // The attempt is starting (this task first runs once the engine awaits its start):
    // the ended attempts' FIFOs go now, off the path between two attempts.
    ch._dir.sweep();
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
    drop(ch);
    let stats = std::mem::take(&mut lines.stats);
    (lines.send)(Item::Summary(stats));
}
