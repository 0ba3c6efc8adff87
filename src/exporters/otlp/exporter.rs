//! The background exporter: batches spans, logs and metrics and posts them to the collector
//! on a thread of its own, so the engine never waits on the network.
//!
//! Guarantees: [`Exporter::send_span`] and friends never block (a full queue drops the item
//! and counts it as undelivered); [`Exporter::finish`] returns within its bound whatever the
//! collector does (refuses, errors, hangs), with the number of items not delivered and the
//! first reason.
//!
//! Retries follow the OTLP exporter specification: a request answered 429, 502, 503 or 504
//! (over gRPC: `UNAVAILABLE` and the other retryable codes), or whose connection was refused
//! or reset, is retried with exponential backoff and
//! jitter (0.5 s doubling to 5 s), or after the server's `Retry-After` (seconds), for at most
//! the export timeout per batch and never past [`Exporter::finish`]'s bound; items keep
//! queueing meanwhile (the queue stays bounded). Any other failure, or a batch whose retries
//! run out, stops the exporter: the rest is counted as undelivered, so a dead collector costs
//! one retry budget, not one per batch. Only items never acknowledged are undelivered (a
//! 2xx with a large body is delivered).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::config::{OtlpConfig, Signal};
use super::model::{Batch, LogRecord, Metric, Span};
use super::transport::{Failure, Transport};

/// Items waiting for the background thread at most.
const QUEUE: usize = 16 * 1024;
/// Items per request at most.
const BATCH: usize = 512;
/// How long items may wait before they are sent.
const LINGER: Duration = Duration::from_millis(200);

enum Item {
    Span(Span),
    Log(LogRecord),
    Metrics(Vec<Metric>),
}

#[derive(Default)]
struct Shared {
    queued: AtomicU64,
    delivered: AtomicU64,
    broken: AtomicBool,
    first_error: Mutex<Option<String>>,
    /// Set by [`Exporter::finish`]: no request or retry wait goes past it.
    deadline: Mutex<Option<Instant>>,
}

impl Shared {
    fn deadline(&self) -> Option<Instant> {
        self.deadline.lock().map_or(None, |d| *d)
    }
}

/// First retry delay; doubled after each retry up to [`MAX_BACKOFF`].
const INITIAL_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The least wait before a retry, whatever `Retry-After` says.
const MIN_WAIT: Duration = Duration::from_millis(100);

/// What the export achieved, for `run.json` and the one warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub delivered: u64,
    pub undelivered: u64,
    /// The first failure, e.g. "POST http://…/v1/traces: connection refused".
    pub error: Option<String>,
}

/// A running exporter.
pub struct Exporter {
    tx: Mutex<Option<SyncSender<Item>>>,
    shared: Arc<Shared>,
    done: Mutex<Receiver<()>>,
    timeout: Duration,
}

impl Exporter {
    /// Starts the background thread.
    pub fn start(config: OtlpConfig) -> std::io::Result<Exporter> {
        let (tx, rx) = sync_channel(QUEUE);
        let (done_tx, done) = sync_channel(1);
        let shared = Arc::new(Shared::default());
        let worker_shared = Arc::clone(&shared);
        let timeout = config.timeout;
        std::thread::Builder::new()
            .name("secflow-otlp".into())
            .spawn(move || {
                // Off the run's path like the record threads: below the tools under load.
                crate::sys::priority::below_tools();
                worker(&config, &rx, &worker_shared);
                let _ = done_tx.send(());
            })?;
        Ok(Exporter {
            tx: Mutex::new(Some(tx)),
            shared,
            done: Mutex::new(done),
            timeout,
        })
    }

    fn push(&self, item: Item, count: u64) {
        self.shared.queued.fetch_add(count, Ordering::Relaxed);
        if self.shared.broken.load(Ordering::Relaxed) {
            return;
        }
        if let Ok(tx) = self.tx.lock()
            && let Some(tx) = tx.as_ref()
            && let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = tx.try_send(item)
        {
            // Counted as queued, never delivered: it shows up as undelivered.
        }
    }

    pub fn send_span(&self, span: Span) {
        self.push(Item::Span(span), 1);
    }

    pub fn send_log(&self, log: LogRecord) {
        self.push(Item::Log(log), 1);
    }

    pub fn send_metrics(&self, metrics: Vec<Metric>) {
        let n = metrics.len() as u64;
        self.push(Item::Metrics(metrics), n);
    }

    /// Flushes what is queued and stops, waiting at most the configured timeout. Items sent
    /// afterwards are counted as undelivered.
    pub fn finish(&self) -> Outcome {
        if let Ok(mut deadline) = self.shared.deadline.lock() {
            *deadline = Some(Instant::now() + self.timeout);
        }
        // Closing the queue makes the worker send what it has and stop.
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        let waited = match self.done.lock() {
            Ok(done) => done.recv_timeout(self.timeout).map_err(|_| ()),
            Err(_) => Err(()),
        };
        let queued = self.shared.queued.load(Ordering::Relaxed);
        let delivered = self.shared.delivered.load(Ordering::Relaxed);
        let mut error = self
            .shared
            .first_error
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default();
        if waited.is_err() && error.is_none() {
            error = Some(format!(
                "collector did not accept everything within {} ms",
                self.timeout.as_millis()
            ));
        }
        Outcome {
            delivered,
            undelivered: queued.saturating_sub(delivered),
            error,
        }
    }
}

fn worker(config: &OtlpConfig, rx: &Receiver<Item>, shared: &Shared) {
    let transport = match Transport::new(config) {
        Ok(t) => t,
        Err(reason) => {
            // Nothing can be sent: everything queued is undelivered, said once at the end.
            shared.broken.store(true, Ordering::Relaxed);
            if let Ok(mut e) = shared.first_error.lock() {
                e.get_or_insert(reason);
            }
            return;
        }
    };
    let mut batch = Batch {
        resource: config.resource.clone(),
        ..Batch::default()
    };
    let mut pending = 0usize;
    let mut oldest: Option<Instant> = None;
    loop {
        let wait = oldest.map_or(LINGER, |t| LINGER.saturating_sub(t.elapsed()));
        let closed = match rx.recv_timeout(wait) {
            Ok(item) => {
                oldest.get_or_insert_with(Instant::now);
                match item {
                    Item::Span(s) => batch.spans.push(s),
                    Item::Log(l) => batch.logs.push(l),
                    Item::Metrics(m) => batch.metrics.extend(m),
                }
                pending += 1;
                false
            }
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => true,
        };
        let due = oldest.is_some_and(|t| t.elapsed() >= LINGER);
        if pending > 0 && (closed || due || pending >= BATCH) {
            flush(&transport, config, &mut batch, shared);
            pending = 0;
            oldest = None;
        }
        if closed || shared.broken.load(Ordering::Relaxed) {
            return;
        }
    }
}

/// Posts each non-empty signal of `batch`, then empties it.
fn flush(transport: &Transport, config: &OtlpConfig, batch: &mut Batch, shared: &Shared) {
    let (delivered, error) = post_batch_until(transport, config, batch, &|| shared.deadline());
    shared.delivered.fetch_add(delivered, Ordering::Relaxed);
    if let Some(reason) = error {
        shared.broken.store(true, Ordering::Relaxed);
        if let Ok(mut e) = shared.first_error.lock() {
            e.get_or_insert(reason);
        }
    }
    batch.spans.clear();
    batch.logs.clear();
    batch.metrics.clear();
}

/// Posts each non-empty signal of `batch` in turn (each retried as the module doc says),
/// stopping at the first failure. Returns the items delivered and the failure, if any. The
/// clients are built once per configuration and kept for the next call.
pub fn post_batch(config: &OtlpConfig, batch: &Batch) -> (u64, Option<String>) {
    static CACHE: Mutex<Option<(OtlpConfig, Arc<Transport>)>> = Mutex::new(None);
    let cached = CACHE.lock().ok().and_then(|c| {
        c.as_ref()
            .filter(|(c, _)| c == config)
            .map(|(_, t)| Arc::clone(t))
    });
    let transport = match cached {
        Some(t) => t,
        None => match Transport::new(config) {
            Ok(t) => {
                let t = Arc::new(t);
                if let Ok(mut c) = CACHE.lock() {
                    *c = Some((config.clone(), Arc::clone(&t)));
                }
                t
            }
            Err(reason) => return (0, Some(reason)),
        },
    };
    post_batch_until(&transport, config, batch, &|| None)
}

/// [`post_batch`], never waiting past what `deadline` says.
fn post_batch_until(
    transport: &Transport,
    config: &OtlpConfig,
    batch: &Batch,
    deadline: &dyn Fn() -> Option<Instant>,
) -> (u64, Option<String>) {
    let mut delivered = 0;
    for signal in Signal::ALL {
        let count = match signal {
            Signal::Traces => batch.spans.len(),
            Signal::Logs => batch.logs.len(),
            Signal::Metrics => batch.metrics.len(),
        };
        if count == 0 {
            continue;
        }
        if let Err(reason) = post_retrying(transport, config, signal, batch, deadline) {
            return (delivered, Some(reason));
        }
        delivered += count as u64;
    }
    (delivered, None)
}

/// Sends `signal`'s part of `batch`, retrying transient failures with backoff until the
/// batch's budget (the signal's timeout) or `deadline` runs out.
fn post_retrying(
    transport: &Transport,
    config: &OtlpConfig,
    signal: Signal,
    batch: &Batch,
    deadline: &dyn Fn() -> Option<Instant>,
) -> Result<(), String> {
    let timeout = config.signal(signal).timeout;
    let url = &config.signal(signal).endpoint;
    let budget_end = Instant::now() + timeout;
    let mut backoff = INITIAL_BACKOFF;
    let mut attempt = 1u32;
    loop {
        let end = deadline().map_or(budget_end, |d| d.min(budget_end));
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("{url}: no time left to send"));
        }
        let failure: Failure = match transport.send(signal, batch, left.min(timeout)) {
            Ok(()) => return Ok(()),
            Err(f) if !f.retryable => return Err(f.reason),
            Err(f) => f,
        };
        // A `Retry-After: 0` still waits a little: never a tight loop against the server.
        let wait = failure
            .retry_after
            .map_or_else(|| jittered(backoff), |d| d.max(MIN_WAIT));
        let end = deadline().map_or(budget_end, |d| d.min(budget_end));
        if Instant::now() + wait >= end {
            return Err(format!(
                "{} (gave up after {attempt} attempt{})",
                failure.reason,
                if attempt == 1 { "" } else { "s" }
            ));
        }
        sleep_until(Instant::now() + wait, deadline);
        backoff = (backoff * 2).min(MAX_BACKOFF);
        attempt += 1;
    }
}

/// `d` scaled by a factor in [0.75, 1.25) (jitter, so many exporters do not retry in step).
fn jittered(d: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |t| t.subsec_nanos());
    d.mul_f64(0.75 + f64::from(nanos % 1000) / 2000.0)
}

/// Sleeps until `until`, waking early when `deadline` (which may be set meanwhile) passes.
fn sleep_until(until: Instant, deadline: &dyn Fn() -> Option<Instant>) {
    const SLICE: Duration = Duration::from_millis(50);
    loop {
        let now = Instant::now();
        if now >= until || deadline().is_some_and(|d| now >= d) {
            return;
        }
        std::thread::sleep(SLICE.min(until - now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The nice value of this process's thread named `name`, from `/proc/self/task/*/stat`.
    fn nice_of_thread(name: &str) -> Option<i32> {
        for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            if comm.trim_end() != name {
                continue;
            }
            let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
            // Fields after the parenthesised command: state is field 3, nice field 19.
            let rest = &stat[stat.rfind(')')? + 2..];
            return rest.split(' ').nth(16)?.parse().ok();
        }
        None
    }

    #[test]
    fn the_export_thread_runs_below_the_tools() {
        let env =
            |k: &str| (k == "OTEL_EXPORTER_OTLP_ENDPOINT").then(|| "http://127.0.0.1:9".into());
        let config = crate::exporters::otlp::config::from_env(None, env)
            .unwrap()
            .unwrap();
        let exporter = Exporter::start(config).unwrap();
        let mut nice = None;
        for _ in 0..200 {
            nice = nice_of_thread("secflow-otlp");
            if nice.is_some_and(|n| n > 0) {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let ours = crate::sys::misc::thread_nice();
        exporter.finish();
        assert_eq!(nice, Some((ours + crate::sys::priority::NICE).min(19)));
    }
}
