//! Scheduler tests against a scripted fake executor: no processes, deterministic outcomes.
//! They pin what the executor contract promises a Slurm or Kubernetes executor: the
//! scheduler only starts, waits, stops and reads usage through the trait.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use super::executor::{AttemptSpec, BoxFuture, ExecError, Executor, ExitInfo, RunningAttempt};
use super::{EngineConfig, Environment, Event, FailurePolicy, RunContext, Sink, TraceIds, execute};
use crate::plan::{BuildOptions, Plan, build};
use crate::recipe::{Limits, Source, parse};
use crate::store::{NodeStatus, RunStatus};

/// Exit codes per node id, one per attempt (default 0); records concurrency and order.
#[derive(Default)]
struct Fake {
    script: Mutex<HashMap<String, VecDeque<i32>>>,
    running: Arc<AtomicUsize>,
    max_running: Arc<AtomicUsize>,
    started: Mutex<Vec<String>>,
    /// Called with each node id as its attempt starts (on the scheduler's thread).
    on_start: Mutex<Option<OnStart>>,
}

/// A test's hook into [`Fake`]'s starts.
type OnStart = Box<dyn FnMut(&str) + Send>;

struct FakeAttempt {
    code: i32,
    running: Arc<AtomicUsize>,
    started: (Instant, SystemTime),
}

impl Executor for Fake {
    fn name(&self) -> &'static str {
        "fake"
    }

    fn start(
        &self,
        spec: AttemptSpec,
    ) -> BoxFuture<'_, Result<Box<dyn RunningAttempt>, ExecError>> {
        let code = self
            .script
            .lock()
            .unwrap()
            .get_mut(&spec.node_id)
            .and_then(VecDeque::pop_front)
            .unwrap_or(0);
        self.started
            .lock()
            .unwrap()
            .push(format!("{}#{}", spec.node_id, spec.attempt));
        if let Some(hook) = self.on_start.lock().unwrap().as_mut() {
            hook(&spec.node_id);
        }
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_running.fetch_max(now, Ordering::SeqCst);
        let running = Arc::clone(&self.running);
        Box::pin(async move {
            Ok(Box::new(FakeAttempt {
                code,
                running,
                started: (Instant::now(), SystemTime::now()),
            }) as Box<dyn RunningAttempt>)
        })
    }
}

impl RunningAttempt for FakeAttempt {
    fn pid(&self) -> Option<u32> {
        None
    }
    fn job_id(&self) -> Option<String> {
        Some("job-1".into())
    }
    fn started(&self) -> (Instant, SystemTime) {
        self.started
    }
    fn wait(&mut self) -> BoxFuture<'_, Result<ExitInfo, ExecError>> {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            self.running.fetch_sub(1, Ordering::SeqCst);
            Ok(ExitInfo {
                exit_code: Some(self.code),
                ..ExitInfo::default()
            })
        })
    }
    fn terminate(&mut self) {}
    fn kill(&mut self) {}
}

/// Records event kinds.
struct Recorder(Arc<Mutex<Vec<String>>>);

impl Sink for Recorder {
    fn event(&mut self, ctx: &RunContext, event: &Event) {
        let id = |n: &usize| ctx.plan.nodes[*n].id.clone();
        let text = match event {
            Event::NodeRetrying { node, .. } => format!("retry {}", id(node)),
            Event::NodeFinished { node, status, .. } => format!("{} {}", id(node), status.as_str()),
            _ => return,
        };
        self.0.lock().unwrap().push(text);
    }
}

fn plan(yaml: &str) -> Plan {
    let source = Source {
        path: "test.yaml".into(),
        text: yaml.into(),
        sha256: "0".repeat(64),
    };
    let raw = parse(&source, &Limits::default()).unwrap();
    build(&source, &raw, &BuildOptions::default()).unwrap().0
}

fn run(yaml: &str, fake: Arc<Fake>, concurrency: usize) -> (crate::store::RunRecord, Vec<String>) {
    let (outcome, events) = run_with(yaml, fake, concurrency, |_, sinks| sinks);
    (outcome.record, events)
}

/// A run context for `plan` in `run_dir`, as the CLI would make it.
fn context(run_dir: &std::path::Path, plan: Arc<Plan>, concurrency: usize) -> Arc<RunContext> {
    Arc::new(RunContext {
        records: Default::default(),
        record: Default::default(),
        run_id: "test".into(),
        run_dir: run_dir.to_path_buf(),
        plan,
        trace: TraceIds {
            trace_id: "1".repeat(32),
            root_span_id: "2".repeat(16),
            parent_span_id: None,
        },
        executor: "fake".into(),
        concurrency,
        started_at: SystemTime::now(),
        secret_values: Vec::new(),
        resumed_from: None,
    })
}

/// Runs `yaml` with a [`Recorder`] among the sinks `wrap` returns.
fn run_with(
    yaml: &str,
    fake: Arc<Fake>,
    concurrency: usize,
    wrap: impl FnOnce(Arc<RunContext>, Vec<Box<dyn Sink>>) -> Vec<Box<dyn Sink>>,
) -> (super::Outcome, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let plan = Arc::new(plan(yaml));
    let ctx = context(dir.path(), plan, concurrency);
    let env = Arc::new(Environment {
        base: Vec::new(),
        secrets: Vec::new(),
        cwd: dir.path().to_path_buf(),
        exe: "secflow".into(),
    });
    let events = Arc::new(Mutex::new(Vec::new()));
    let config = EngineConfig {
        concurrency,
        policy: FailurePolicy::Stop,
        ..EngineConfig::new(crate::exit::for_run)
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (_tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let sinks: Vec<Box<dyn Sink>> = vec![Box::new(Recorder(Arc::clone(&events)))];
    let sinks = wrap(Arc::clone(&ctx), sinks);
    let outcome = runtime.block_on(execute(ctx, config, fake, env, sinks, rx));
    let events = events.lock().unwrap().clone();
    (outcome, events)
}

const FAN: &str = r#"
version: "1.0"
name: fan
nodes:
  - { id: a, command: ["x"] }
  - { id: b, command: ["x"] }
  - { id: c, command: ["x"], retry: { max_attempts: 3, base_delay: 0 } }
  - { id: d, command: ["x"] }
  - { id: join, command: ["x"], depends_on: [a, b, c, d] }
"#;

#[test]
fn respects_concurrency_order_and_retries() {
    let fake = Arc::new(Fake::default());
    fake.script
        .lock()
        .unwrap()
        .insert("c".into(), VecDeque::from([1, 1, 0]));
    let (record, events) = run(FAN, Arc::clone(&fake), 2);
    assert_eq!(record.status, RunStatus::Succeeded);
    assert_eq!(fake.max_running.load(Ordering::SeqCst), 2);
    let started = fake.started.lock().unwrap().clone();
    assert_eq!(started.last().map(String::as_str), Some("join#1"));
    assert_eq!(started.iter().filter(|s| s.starts_with("c#")).count(), 3);
    assert_eq!(events.iter().filter(|e| *e == "retry c").count(), 2);
    let c = &record.nodes[2];
    assert_eq!(c.attempts.len(), 3);
    assert_eq!(c.attempts[0].executor_job_id.as_deref(), Some("job-1"));
    assert_eq!(record.counts.succeeded, 5);
}

#[test]
fn a_failure_skips_dependants_and_stops_scheduling() {
    let fake = Arc::new(Fake::default());
    fake.script
        .lock()
        .unwrap()
        .insert("a".into(), VecDeque::from([2]));
    let (record, events) = run(FAN, Arc::clone(&fake), 1);
    assert_eq!(record.status, RunStatus::Failed);
    assert_eq!(record.exit_code, Some(1));
    assert_eq!(record.nodes[0].status, NodeStatus::Failed);
    assert!(events.contains(&"join skipped".to_string()));
    // Concurrency 1: nothing after `a` was started.
    assert_eq!(*fake.started.lock().unwrap(), ["a#1"]);
    assert_eq!(record.counts.skipped, 4);
}

/// Panics at the first node that finishes.
struct Panicker;

impl Sink for Panicker {
    fn event(&mut self, _ctx: &RunContext, event: &Event) {
        if matches!(event, Event::NodeFinished { .. }) {
            panic!("sink bug");
        }
    }
}

/// Completes the record in `finish`, as the audit sink adds its anchor.
struct Marker;

impl Sink for Marker {
    fn event(&mut self, _ctx: &RunContext, _event: &Event) {}
    fn finish(
        &mut self,
        _ctx: &RunContext,
        record: &mut crate::store::RunRecord,
    ) -> anyhow::Result<()> {
        record.reason = Some(format!("marked after {} nodes", record.nodes.len()));
        Ok(())
    }
}

#[test]
fn sinks_on_their_own_thread_see_every_event_in_order_and_survive_a_panicking_one() {
    let script = || {
        let fake = Arc::new(Fake::default());
        fake.script
            .lock()
            .unwrap()
            .insert("c".into(), VecDeque::from([1, 0]));
        fake
    };
    let (_, inline) = run(FAN, script(), 1);
    let (outcome, threaded) = run_with(FAN, script(), 1, |ctx, mut sinks| {
        sinks.insert(0, Box::new(Panicker));
        sinks.push(Box::new(Marker));
        vec![Box::new(
            crate::sinks::SinkThread::spawn(ctx, sinks).unwrap(),
        )]
    });
    assert_eq!(
        threaded, inline,
        "same events, same order, despite the panicking sink"
    );
    assert_eq!(outcome.record.status, RunStatus::Succeeded);
    assert_eq!(
        outcome.record.reason.as_deref(),
        Some("marked after 5 nodes"),
        "finish ran on the thread and handed the record back"
    );
    assert_eq!(outcome.sink_errors.len(), 1);
    assert!(
        outcome.sink_errors[0].to_string().contains("panicked"),
        "{}",
        outcome.sink_errors[0]
    );
}

/// Counts the events it receives; marks when it is dropped.
struct Counting {
    events: Arc<AtomicUsize>,
    dropped: Arc<AtomicUsize>,
}

impl Sink for Counting {
    fn event(&mut self, _ctx: &RunContext, _event: &Event) {
        self.events.fetch_add(1, Ordering::SeqCst);
    }
}

impl Drop for Counting {
    fn drop(&mut self) {
        // What a writer's drop does: flush what it holds. Here: record that it ran.
        self.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn an_abandoned_sink_thread_still_delivers_pending_events_and_drops_its_sinks() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path(), Arc::new(plan(FAN)), 1);
    let events = Arc::new(AtomicUsize::new(0));
    let dropped = Arc::new(AtomicUsize::new(0));
    let sinks: Vec<Box<dyn Sink>> = vec![Box::new(Counting {
        events: Arc::clone(&events),
        dropped: Arc::clone(&dropped),
    })];
    let mut thread = crate::sinks::SinkThread::spawn(Arc::clone(&ctx), sinks).unwrap();
    for _ in 0..3 {
        // Not handed over yet: no idle, batch not full.
        thread.event(
            &ctx,
            &Event::RunStarted {
                at: SystemTime::now(),
            },
        );
    }
    drop(thread);
    assert_eq!(
        events.load(Ordering::SeqCst),
        3,
        "the pending batch was delivered"
    );
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        1,
        "the sink was dropped before drop returned"
    );
}

#[test]
fn the_sinks_thread_batches_ordinary_events_and_handles_the_run_start_before_going_on() {
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path(), Arc::new(plan(FAN)), 1);
    let events = Arc::new(AtomicUsize::new(0));
    let sinks: Vec<Box<dyn Sink>> = vec![Box::new(Counting {
        events: Arc::clone(&events),
        dropped: Arc::new(AtomicUsize::new(0)),
    })];
    let mut thread = crate::sinks::SinkThread::spawn(Arc::clone(&ctx), sinks).unwrap();
    let count = || events.load(Ordering::SeqCst);
    let wait_for = |n: usize| {
        let start = Instant::now();
        while count() < n {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "{} of {n}",
                count()
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        start.elapsed()
    };

    // The run's start is a barrier: handled before idle returns.
    let now = SystemTime::now();
    thread.event(&ctx, &Event::RunStarted { at: now });
    thread.idle();
    assert_eq!(count(), 1, "RunStarted was handled before idle returned");

    // Ordinary events wait for the interval (or a full batch), then all arrive.
    let queued = |node| Event::NodeQueued {
        node,
        attempt: 1,
        at: now,
    };
    thread.event(&ctx, &queued(0));
    thread.event(&ctx, &queued(1));
    let start = Instant::now();
    thread.idle();
    wait_for(3);
    let took = start.elapsed();
    assert!(
        took >= crate::sinks::thread::FLUSH_INTERVAL / 2,
        "ordinary events were taken after {took:?}, before the interval"
    );

    // A failure wakes the thread, which takes what was queued before it too.
    thread.event(&ctx, &queued(2));
    thread.idle();
    thread.event(
        &ctx,
        &Event::NodeFinished {
            node: 2,
            status: NodeStatus::Failed,
            reason: None,
            findings_count: 0,
            at: now,
        },
    );
    thread.idle();
    wait_for(5);
    drop(thread);
    assert_eq!(count(), 5);
}

/// A sink whose writes fail: at the run's start, or at the first node to finish.
struct FailingRecords {
    at_start: bool,
}

impl Sink for FailingRecords {
    fn event(&mut self, ctx: &RunContext, event: &Event) {
        match event {
            Event::RunStarted { .. } if self.at_start => {
                ctx.records
                    .fail("cannot write run.json: No space left on device");
            }
            Event::NodeFinished { .. } if !self.at_start => {
                ctx.records
                    .fail("cannot write logs.jsonl: No space left on device");
            }
            _ => {}
        }
    }
}

/// SPEC §10 "Records fail closed": start records that cannot be written start no node.
#[test]
fn start_records_that_fail_start_no_node() {
    let fake = Arc::new(Fake::default());
    let (outcome, _) = run_with(FAN, Arc::clone(&fake), 2, |_, mut sinks| {
        sinks.push(Box::new(FailingRecords { at_start: true }));
        sinks
    });
    assert!(fake.started.lock().unwrap().is_empty(), "a node started");
    assert_eq!(outcome.exit_code, crate::exit::RECORDS_INCOMPLETE);
    assert_eq!(outcome.record.status, RunStatus::Failed);
    assert_eq!(outcome.record.reason.as_deref(), Some("records incomplete"));
    assert!(
        outcome
            .record
            .nodes
            .iter()
            .all(|n| n.status == NodeStatus::Cancelled && n.attempts.is_empty())
    );
}

/// A record write failing mid-run stops scheduling: nothing starts after it.
#[test]
fn a_record_failure_mid_run_stops_scheduling() {
    let fake = Arc::new(Fake::default());
    let (outcome, _) = run_with(FAN, Arc::clone(&fake), 1, |_, mut sinks| {
        sinks.push(Box::new(FailingRecords { at_start: false }));
        sinks
    });
    assert_eq!(fake.started.lock().unwrap().len(), 1, "scheduling went on");
    assert_eq!(outcome.exit_code, crate::exit::RECORDS_INCOMPLETE);
    assert_eq!(outcome.record.reason.as_deref(), Some("records incomplete"));
    let join = outcome.record.nodes.iter().find(|n| n.node_id == "join");
    assert_eq!(join.map(|n| n.status), Some(NodeStatus::Cancelled));
}

/// Issue #18: the run record is folded once, by the engine, into the handle the run.json
/// sink checkpoints: a sink handed an event finds it already in that record, and `finish`
/// takes the final record out of it (nothing is left to checkpoint after the run).
#[test]
fn the_engine_folds_the_one_record_the_run_json_sink_checkpoints() {
    struct Probe(Arc<Mutex<Vec<String>>>);
    impl Sink for Probe {
        fn event(&mut self, ctx: &RunContext, event: &Event) {
            if let Event::NodeFinished { node, .. } = event {
                let (_, json) = ctx.record.snapshot_json(None).expect("published");
                let record: crate::store::RunRecord = serde_json::from_slice(&json).unwrap();
                let n = &record.nodes[*node];
                let line = format!("{} {:?} {}", n.node_id, n.status, n.attempts.len());
                self.0.lock().unwrap().push(line);
            }
        }
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    let probe = Arc::clone(&seen);
    let mut shared = None;
    let (outcome, _) = run_with(FAN, Arc::new(Fake::default()), 1, |ctx, mut sinks| {
        shared = Some(ctx.record.clone());
        sinks.push(Box::new(Probe(probe)));
        sinks
    });
    assert_eq!(outcome.record.status, RunStatus::Succeeded);
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "a Succeeded 1",
            "b Succeeded 1",
            "c Succeeded 1",
            "d Succeeded 1",
            "join Succeeded 1"
        ]
    );
    let shared = shared.expect("the engine ran");
    assert!(
        shared.snapshot_json(None).is_none(),
        "finish took the record"
    );
}

/// A signal its handler recorded ([`super::Interrupt`]) while the scheduler's thread was busy
/// starting `a` cancels the run before the next start, though its [`Control::Cancel`] is
/// not read yet; that message, read later, is the same signal (no "kill at once").
#[test]
fn a_signal_seen_before_its_control_message_starts_nothing_more_and_kills_nothing() {
    use super::Control;
    static FIRST: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);
    struct Messages(Arc<Mutex<Vec<String>>>);
    impl Sink for Messages {
        fn event(&mut self, _ctx: &RunContext, event: &Event) {
            if let Event::Message { text, .. } = event {
                self.0.lock().unwrap().push(text.clone());
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let plan = Arc::new(plan(
        "version: \"1.0\"\nname: t\nnodes:\n  - { id: a, command: [x] }\n  - { id: b, command: [x] }\n  - { id: c, command: [x], depends_on: [a] }\n",
    ));
    let ctx = context(dir.path(), plan, 2);
    let env = Arc::new(Environment {
        base: Vec::new(),
        secrets: Vec::new(),
        cwd: dir.path().to_path_buf(),
        exe: "secflow".into(),
    });
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let fake = Arc::new(Fake::default());
    *fake.on_start.lock().unwrap() = Some(Box::new(move |id| {
        if id == "a" {
            // The handler runs at once; the listener's message is read later.
            FIRST.store(libc::SIGINT, Ordering::Relaxed);
            let _ = tx.send(Control::Cancel {
                signal: libc::SIGINT,
            });
        }
    }));
    let config = EngineConfig {
        concurrency: 2,
        interrupt: super::Interrupt::new(&FIRST),
        ..EngineConfig::new(crate::exit::for_run)
    };
    let messages = Arc::new(Mutex::new(Vec::new()));
    let sinks: Vec<Box<dyn Sink>> = vec![Box::new(Messages(Arc::clone(&messages)))];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let executor: Arc<dyn Executor> = fake.clone();
    let outcome = runtime.block_on(execute(ctx, config, executor, env, sinks, rx));
    assert_eq!(
        *fake.started.lock().unwrap(),
        ["a#1"],
        "nothing starts after the signal"
    );
    assert_eq!(
        outcome.end,
        crate::event::RunEnd::Cancelled {
            signal: Some(libc::SIGINT)
        }
    );
    assert_eq!(outcome.record.status, RunStatus::Cancelled);
    for node in &outcome.record.nodes[1..] {
        assert_eq!(node.status, NodeStatus::Cancelled, "{}", node.node_id);
        assert!(node.attempts.is_empty(), "{}", node.node_id);
    }
    let messages = messages.lock().unwrap();
    assert_eq!(
        *messages,
        ["cancelling: terminating 1 running attempt(s)"],
        "one signal, one cancellation"
    );
}
