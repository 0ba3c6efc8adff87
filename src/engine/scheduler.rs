//! The scheduler: runs a plan's nodes in dependency order on an [`Executor`], up to the
//! concurrency limit, with retries, per-attempt and whole-run timeouts, the failure policy
//! and cancellation, and emits every step as an [`Event`].
//!
//! Guarantees: every node reaches a terminal status and every sink's `finish` is called on
//! every exit path; nothing is printed; per node the hot path does no fsync and no run.json
//! write (sinks decide when to write).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{mpsc, watch};

use super::executor::Executor;
use super::outcome::{AttemptResult, AttemptTimes, classify, human, jitter};
use super::prepare::{AttemptIds, Environment, RunPaths, prepare};
use super::reuse::Reuse;
use super::supervise::{
    Ended, Job, Msg, Stop, not_started, start_now, start_then_watch, supervise,
};
use super::{datasets, local};
use crate::event::record::{RecordBuilder, SharedRecord};
use crate::event::trace::{format_traceparent, new_span_id};
use crate::event::{Event, Level, RunContext, RunEnd, Sink};
use crate::store::{NodeStatus, RunRecord, RunStatus, SelfUsage};

mod triggers;

mod fan;

/// What to do when a node fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailurePolicy {
    /// Stop scheduling new nodes; let running ones finish.
    #[default]
    Stop,
    /// Also terminate running nodes.
    FailFast,
    /// Run every node whose inputs exist.
    KeepGoing,
}

/// Run-wide settings from the command line.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// How the caller turns the way the run ended into its exit code (recorded in
    /// `RunFinished` and run.json); the engine never picks one itself.
    pub exit_code: fn(RunEnd) -> i32,
    pub concurrency: usize,
    pub policy: FailurePolicy,
    /// `--timeout`: the whole run.
    pub run_timeout: Option<Duration>,
    /// ±25 % jitter on retry delays (off with `SECFLOW_RETRY_JITTER=0`).
    pub jitter: bool,
    /// Earlier results the run may reuse (`--resume`, the node cache).
    pub reuse: Reuse,
    /// The run's first signal, seen before its [`Control::Cancel`] is read (none: only the
    /// control messages count).
    pub interrupt: super::Interrupt,
}

impl EngineConfig {
    /// Defaults (concurrency 0 = the caller's choice, `FailurePolicy::Stop`, no timeout, no
    /// jitter, no reuse) with the caller's exit-code mapping.
    pub fn new(exit_code: fn(RunEnd) -> i32) -> Self {
        EngineConfig {
            exit_code,
            concurrency: 0,
            policy: FailurePolicy::default(),
            run_timeout: None,
            jitter: false,
            reuse: Reuse::default(),
            interrupt: super::Interrupt::default(),
        }
    }
}

/// Requests from outside the engine (signal handlers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// SIGINT/SIGTERM/SIGHUP/SIGQUIT: stop scheduling, terminate every attempt with grace;
    /// the run ends [`RunEnd::Cancelled`] with this signal number.
    Cancel { signal: i32 },
    /// A second signal: kill every attempt now.
    Kill,
}

/// The end of a run: how it ended, its final record and the errors sinks reported while
/// finishing.
#[derive(Debug)]
pub struct Outcome {
    pub end: RunEnd,
    pub record: RunRecord,
    /// `end` through [`EngineConfig::exit_code`].
    pub exit_code: i32,
    pub sink_errors: Vec<anyhow::Error>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting,
    Ready,
    Running,
    RetryWait,
    Done(NodeStatus),
}

struct NodeState {
    state: State,
    attempt: u32,
    waiting_on: usize,
    queued: (Instant, SystemTime),
    retry_delay: Option<Duration>,
    node_span: Option<String>,
    attempt_span: String,
    cache_key: Option<String>,
    /// The digests of its inputs when it was about to start (checked after each attempt).
    inputs: Arc<[crate::engine::cache_key::FileDigest]>,
    /// Its outputs were reused (`--resume` or the cache): it did not run in this run.
    reused: bool,
    /// The executor's id of the current attempt (Slurm job id, …).
    job_id: Option<String>,
    /// Its outputs were made empty datasets (it did not succeed; see `triggers`).
    emptied: bool,
    /// Findings the current attempt reported on `SECFLOW_EVENTS`.
    emitted_findings: u64,
}

impl NodeState {
    /// A node not started yet, waiting on `waiting_on` dependencies since `queued`.
    fn waiting(waiting_on: usize, queued: (Instant, SystemTime)) -> Self {
        NodeState {
            state: State::Waiting,
            attempt: 0,
            waiting_on,
            queued,
            retry_delay: None,
            node_span: None,
            attempt_span: String::new(),
            cache_key: None,
            inputs: Arc::from(Vec::new()),
            reused: false,
            job_id: None,
            emptied: false,
            emitted_findings: 0,
        }
    }
}

/// Why the run stopped starting nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Halt {
    Failure(String),
    FailFast(String),
    Cancelled,
    RunTimeout(Duration),
    /// A record could not be written (SPEC §10 "Records fail closed").
    Records,
}

/// Runs `ctx.plan` to the end and finishes every sink. `control` carries signal requests.
pub async fn execute(
    ctx: Arc<RunContext>,
    config: EngineConfig,
    executor: Arc<dyn Executor>,
    env: Arc<Environment>,
    sinks: Vec<Box<dyn Sink>>,
    control: mpsc::UnboundedReceiver<Control>,
) -> Outcome {
    let n = ctx.plan.nodes.len();
    let mut dependants = vec![Vec::new(); n];
    for (i, node) in ctx.plan.nodes.iter().enumerate() {
        for &d in &node.deps {
            dependants[d].push(i);
        }
    }
    let now = (Instant::now(), SystemTime::now());
    let nodes = ctx
        .plan
        .nodes
        .iter()
        .map(|node| NodeState::waiting(node.deps.len(), now))
        .collect();
    let (tx, rx) = mpsc::unbounded_channel();
    let (stop_tx, _) = watch::channel(Stop::No);
    let secrets: Arc<[Vec<u8>]> = ctx
        .secret_values
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| s.as_bytes().to_vec())
        .collect();
    let mut s = Scheduler {
        builder: {
            ctx.record.publish(RecordBuilder::new(&ctx));
            ctx.record.clone()
        },
        paths: Arc::new(RunPaths {
            run_dir: ctx.run_dir.clone(),
            records: Some(Arc::clone(&ctx.records)),
        }),
        ctx,
        config,
        executor,
        env,
        sinks,
        nodes,
        dependants,
        ready: BTreeSet::new(),
        retry_ready: BTreeSet::new(),
        running: 0,
        retry_waiting: 0,
        halt: None,
        cancel_signal: None,
        failed: false,
        stop_tx,
        tx,
        secrets,
        fans: HashMap::new(),
        events_dir: None,
        cancel_seen_early: false,
    };
    s.run(rx, control).await
}

struct Scheduler {
    ctx: Arc<RunContext>,
    config: EngineConfig,
    executor: Arc<dyn Executor>,
    env: Arc<Environment>,
    sinks: Vec<Box<dyn Sink>>,
    /// The run's one fold of its record, shared with the run.json sink.
    builder: SharedRecord,
    paths: Arc<RunPaths>,
    nodes: Vec<NodeState>,
    dependants: Vec<Vec<usize>>,
    /// First attempts waiting for a slot, in plan order.
    ready: BTreeSet<usize>,
    /// Retries waiting for a slot (still started after a failure halted the run).
    retry_ready: BTreeSet<usize>,
    running: usize,
    retry_waiting: usize,
    halt: Option<Halt>,
    /// The exit code of a cancelled run (128 + the first signal).
    cancel_signal: Option<i32>,
    /// A failure not allowed by `continue_on_error` happened.
    failed: bool,
    stop_tx: watch::Sender<Stop>,
    tx: mpsc::UnboundedSender<Msg>,
    secrets: Arc<[Vec<u8>]>,
    /// Templates that fanned out (SPEC §9), by plan index: see [`super::fanout`].
    fans: HashMap<usize, super::fanout::FanState>,
    /// The directory of the attempts' telemetry FIFOs, made for the first local attempt.
    events_dir: Option<Arc<super::tool_events::RunDir>>,
    /// The run was cancelled by its first signal as [`EngineConfig::interrupt`] showed it:
    /// that signal's [`Control::Cancel`], read later, is not a second signal.
    cancel_seen_early: bool,
}

impl Scheduler {
    fn emit(&mut self, event: Event) {
        self.builder.apply(&event);
        for sink in &mut self.sinks {
            sink.event(&self.ctx, &event);
        }
    }

    fn message(&mut self, level: Level, node: Option<usize>, text: String) {
        self.emit(Event::Message {
            level,
            node,
            text,
            at: SystemTime::now(),
        });
    }

    async fn run(
        &mut self,
        mut rx: mpsc::UnboundedReceiver<Msg>,
        mut control: mpsc::UnboundedReceiver<Control>,
    ) -> Outcome {
        self.emit(Event::RunStarted {
            at: self.ctx.started_at,
        });
        // The start's records (run.json, the first audit events: fsynced) are written
        // before any node starts; if they could not be, no node starts.
        for sink in &mut self.sinks {
            sink.idle();
        }
        if self.ctx.records.is_failed() {
            self.halt = Some(Halt::Records);
        } else {
            for i in 0..self.nodes.len() {
                if self.nodes[i].waiting_on == 0 {
                    self.queue(i);
                }
            }
        }
        let records = Arc::clone(&self.ctx.records);
        let deadline = self
            .config
            .run_timeout
            .map(|t| tokio::time::Instant::now() + t);
        let mut control_open = true;
        loop {
            self.start_ready();
            if self.running == 0 && self.retry_waiting == 0 && self.idle() {
                break;
            }
            for sink in &mut self.sinks {
                sink.idle();
            }
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(Msg::Started { node, attempt, pid, job_id, at }) => {
                        self.started(node, attempt, pid, job_id, at)
                    }
                    Some(Msg::Ended(ended)) => self.ended(*ended),
                    Some(Msg::RetryDue { node }) => self.retry_due(node),
                    Some(Msg::Tool { node, attempt, item, at }) => {
                        self.tool_event(node, attempt, item, at)
                    }
                    None => break,
                },
                c = control.recv(), if control_open => match c {
                    Some(c) => self.control(c),
                    None => control_open = false,
                },
                // A signal's cancellation is not overridden (it wins: SPEC §1).
                () = records.failed(), if self.halt_is_not_timeout() => {
                    self.stop_all(Halt::Records, Stop::Terminate);
                }
                _ = sleep_until(deadline), if deadline.is_some() && self.halt_is_not_timeout() => {
                    let t = self.config.run_timeout.unwrap_or_default();
                    self.stop_all(Halt::RunTimeout(t), Stop::Terminate);
                }
            }
        }
        self.finish().await
    }

    fn halt_is_not_timeout(&self) -> bool {
        !matches!(
            self.halt,
            Some(Halt::RunTimeout(_) | Halt::Cancelled | Halt::Records)
        )
    }

    /// Nothing left that could start.
    fn idle(&self) -> bool {
        self.retry_ready.is_empty()
            && (self.ready.is_empty() || self.halt.is_some() && !self.cleanup_ready())
    }

    fn queue(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        node.state = State::Ready;
        node.attempt += 1;
        node.queued = (Instant::now(), SystemTime::now());
        let attempt = node.attempt;
        let at = node.queued.1;
        if attempt == 1 {
            self.ready.insert(i);
        } else {
            self.retry_ready.insert(i);
        }
        self.emit(Event::NodeQueued {
            node: i,
            attempt,
            at,
        });
    }

    fn start_ready(&mut self) {
        // A record that could not be written stops the run before anything else starts.
        if self.ctx.records.is_failed() && self.halt_is_not_timeout() {
            self.stop_all(Halt::Records, Stop::Terminate);
        }
        while self.running < self.config.concurrency && !self.starts_stopped() {
            let next = match self.retry_ready.pop_first() {
                Some(i) => i,
                None if self.halt.is_none() => match self.ready.pop_first() {
                    Some(i) => i,
                    None => return,
                },
                None => match self.next_cleanup() {
                    Some(i) => i,
                    None => return,
                },
            };
            if self.park_if_capped(next) {
                continue;
            }
            self.start(next);
        }
    }

    /// Whether no attempt may start now: the run was cancelled — also by a signal whose
    /// [`Control::Cancel`] is not read yet (it arrived while this thread was busy; the run
    /// is cancelled now) — timed out, failed fast or cannot write its records.
    fn starts_stopped(&mut self) -> bool {
        if self.halt != Some(Halt::Cancelled)
            && let Some(signal) = self.config.interrupt.signal()
        {
            self.control(Control::Cancel { signal });
            self.cancel_seen_early = true;
        }
        matches!(
            self.halt,
            Some(Halt::Cancelled | Halt::RunTimeout(_) | Halt::FailFast(_) | Halt::Records)
        )
    }

    /// Reuses earlier outputs for node `i` when `--resume` or the cache allow it; records
    /// its cache key either way. True when the node is done without running.
    fn try_reuse(&mut self, i: usize) -> bool {
        let plan = Arc::clone(&self.ctx.plan);
        let node = &plan.nodes[i];
        let reran_dependency = node
            .deps
            .iter()
            .filter(|&&d| !self.nodes[d].reused)
            .map(|&d| &plan.nodes[d])
            .find(|dep| !dep.outputs.iter().any(|o| node.inputs.contains(o)))
            .map(|dep| dep.id.as_str());
        let workdir = match &node.workdir {
            Some(w) => self.env.cwd.join(w),
            None => self.env.cwd.clone(),
        };
        let decision = self.config.reuse.decide(
            &plan,
            node,
            &self.paths,
            &workdir,
            crate::engine::reuse::Upstream { reran_dependency },
            self.config.interrupt,
        );
        for warning in decision.warnings {
            self.message(Level::Warn, Some(i), warning);
        }
        self.nodes[i].inputs = decision.inputs.into();
        if let Some(key) = decision.key {
            self.nodes[i].cache_key = Some(key.clone());
            self.emit(Event::NodeCacheKey { node: i, key });
        }
        let Some(reused) = decision.reused else {
            return false;
        };
        if !reused.outputs.is_empty() {
            self.emit(Event::NodeOutputs {
                node: i,
                outputs: reused.outputs,
                at: SystemTime::now(),
            });
        }
        self.nodes[i].reused = true;
        self.finish_node(i, NodeStatus::Cached, Some(reused.reason), reused.findings);
        self.release(i);
        true
    }

    fn start(&mut self, i: usize) {
        if self.ctx.plan.nodes[i].fanout.is_some() {
            // A condition without `item`/`index` decides for the whole template, before
            // it fans out; one that reads them is evaluated by each instance.
            if !self.skip_by_condition(i) {
                self.expand(i);
            }
            return;
        }
        if self.nodes[i].attempt == 1 && (self.skip_by_condition(i) || self.try_reuse(i)) {
            return;
        }
        // The condition and the reuse decision block this thread (a big copy, a key over big
        // inputs): a signal that came meanwhile stops this start. The node stays unstarted
        // (`cancelled` when the run finishes).
        if self.starts_stopped() {
            return;
        }
        let plan = Arc::clone(&self.ctx.plan);
        let node = &plan.nodes[i];
        let state = &mut self.nodes[i];
        state.state = State::Running;
        state.node_span.get_or_insert_with(new_span_id);
        state.attempt_span = new_span_id();
        state.job_id = None;
        let attempt = state.attempt;
        let traceparent = format_traceparent(&self.ctx.trace.trace_id, &state.attempt_span);
        self.running += 1;
        self.instance_started(i);
        let ids = AttemptIds {
            run_id: &self.ctx.run_id,
            attempt,
            traceparent: &traceparent,
        };
        let prepared =
            prepare(&plan, node, &self.env, &self.paths, &ids, &self.secrets).and_then(|p| {
                // The attempt directory only for nodes with outputs (`out/`): the logs make
                // it on their first byte (SPEC §4), so a silent tool costs no inode.
                if node.outputs.is_empty() {
                    return Ok(p);
                }
                let dir = self.paths.attempt_dir(&node.id, attempt);
                let cannot = |path: &std::path::Path| {
                    let path = path.display().to_string();
                    move |e| format!("cannot create {path}: {e}")
                };
                let records = &self.ctx.records;
                if !records.has_dir() {
                    create_attempt_dir(&dir, attempt == 1).map_err(cannot(&dir))?;
                }
                // Beneath the run directory's descriptor: never through a symlink.
                let out = dir.join("out");
                records.create_dir_all(&out).map_err(cannot(&out))?;
                super::dir_output::make_scratch(records, &p.outputs, &node.dir_datasets)
                    .map_err(cannot(&out))?;
                Ok(p)
            });
        let prepared = match prepared {
            Ok(p) => p,
            Err(error) => {
                let _ = self
                    .tx
                    .send(Msg::Ended(Box::new(not_started(i, attempt, error))));
                return;
            }
        };
        let mut spec = prepared.spec;
        spec.records = Some(Arc::clone(&self.ctx.records));
        self.nodes[i].emitted_findings = 0;
        let events = self.attach_events(i, attempt, &mut spec);
        let job = Job {
            node: i,
            attempt,
            timeout: node.timeout,
            grace: node.kill_grace,
            paths: Arc::clone(&self.paths),
            inputs: Arc::clone(&self.nodes[i].inputs),
            instance: node.instance.as_ref().map(|inst| inst.index),
            events,
            dirs: super::dir_output::dirs_of(node),
        };
        let stop = self.stop_tx.subscribe();
        let tx = self.tx.clone();
        match start_now(&self.executor, spec) {
            // Started here (a local process): no hop through a task to get it going.
            Ok(Ok(running)) => {
                let at = running.started().1;
                self.started(i, attempt, running.pid(), running.job_id(), at);
                tokio::spawn(supervise(running, job, prepared.outputs, stop, tx));
            }
            // Reported like any end, through the channel: no re-entry into the loop.
            Ok(Err(e)) => {
                let _ = self
                    .tx
                    .send(Msg::Ended(Box::new(not_started(i, attempt, e.to_string()))));
            }
            Err(starting) => {
                tokio::spawn(start_then_watch(starting, job, prepared.outputs, stop, tx));
            }
        }
    }

    fn started(
        &mut self,
        node: usize,
        attempt: u32,
        pid: Option<u32>,
        job_id: Option<String>,
        at: SystemTime,
    ) {
        self.nodes[node].job_id.clone_from(&job_id);
        let state = &self.nodes[node];
        let event = Event::AttemptStarted {
            node,
            attempt,
            node_span_id: state.node_span.clone().unwrap_or_default(),
            span_id: state.attempt_span.clone(),
            pid,
            executor_job_id: job_id,
            at,
        };
        self.emit(event);
    }

    fn ended(&mut self, e: Ended) {
        self.running -= 1;
        let i = e.node;
        self.instance_attempt_ended(i);
        if let Err(error) = &e.info
            && is_record_write_error(error)
        {
            self.ctx.records.fail(error.clone());
        }
        let plan = Arc::clone(&self.ctx.plan);
        let node = &plan.nodes[i];
        let state = &self.nodes[i];
        let stopped_why = match &self.halt {
            Some(Halt::RunTimeout(t)) => format!("run timed out after {}", human(*t)),
            Some(Halt::FailFast(id)) => format!("terminated: --fail-fast after `{id}` failed"),
            // The status already says `cancelled`: the reason says why.
            _ => "the run was interrupted".to_string(),
        };
        let run_timeout = matches!(self.halt, Some(Halt::RunTimeout(_)));
        let AttemptResult {
            status,
            failure,
            record,
        } = classify(
            &e,
            node,
            &AttemptTimes {
                queued: state.queued,
                retry_delay: state.retry_delay,
                job_id: state.job_id.clone(),
            },
            &stopped_why,
            run_timeout,
        );
        self.emit(Event::AttemptFinished {
            node: i,
            record,
            at: e.ended.1,
        });

        let Some((kind, error)) = failure else {
            let promoted = match e.outputs {
                Some(Ok(p)) => p,
                _ => datasets::Promoted::default(),
            };
            self.succeeded(i, node, promoted, e.ended.1);
            return;
        };
        if e.stopped {
            self.finish_node(i, status, Some(error), 0);
            return;
        }
        let policy = &node.retry;
        let may_retry = e.attempt < policy.max_attempts
            && policy.retry_on.allows(kind)
            && self.halt_is_not_timeout()
            && !matches!(self.halt, Some(Halt::FailFast(_)));
        if may_retry {
            self.schedule_retry(i, &node.retry, e.attempt, error);
            return;
        }
        if node.continue_on_error {
            self.continue_after_failure(i, node, status, error);
            return;
        }
        self.failed = true;
        self.finish_node(i, status, Some(error), 0);
        self.skip_dependants(i);
        match self.config.policy {
            FailurePolicy::KeepGoing => {}
            FailurePolicy::Stop => {
                if self.halt.is_none() {
                    self.halt = Some(Halt::Failure(node.id.clone()));
                }
            }
            FailurePolicy::FailFast => {
                if self.halt_is_not_timeout() {
                    self.stop_all(Halt::FailFast(node.id.clone()), Stop::Terminate);
                }
            }
        }
    }

    /// A clean attempt: its outputs stored in the cache (failure is a warning) and announced,
    /// the node finished as succeeded and its dependants released.
    fn succeeded(
        &mut self,
        i: usize,
        node: &crate::plan::PlanNode,
        promoted: datasets::Promoted,
        at: SystemTime,
    ) {
        let findings = tool_findings(&promoted, self.nodes[i].emitted_findings);
        if let Some(key) = &self.nodes[i].cache_key
            && let Err(err) =
                self.config
                    .reuse
                    .store(key, node, &self.ctx.run_id, &self.paths, &promoted.outputs)
        {
            let text = format!(
                "cannot store the outputs of `{}` in the cache: {err}",
                node.id
            );
            self.message(Level::Warn, Some(i), text);
        }
        if !promoted.outputs.is_empty() {
            self.emit(Event::NodeOutputs {
                node: i,
                outputs: promoted.outputs,
                at,
            });
        }
        self.finish_node(i, NodeStatus::Succeeded, None, findings);
        self.release(i);
    }

    /// Schedules attempt `attempt + 1` of node `i` after the policy's (jittered) delay.
    fn schedule_retry(
        &mut self,
        i: usize,
        policy: &crate::plan::RetryPolicy,
        attempt: u32,
        error: String,
    ) {
        let mut delay = policy.delay(attempt);
        if self.config.jitter {
            delay = jitter(delay);
        }
        self.nodes[i].state = State::RetryWait;
        self.nodes[i].retry_delay = Some(delay);
        self.retry_waiting += 1;
        self.emit(Event::NodeRetrying {
            node: i,
            next_attempt: attempt + 1,
            delay,
            error,
            at: SystemTime::now(),
        });
        let tx = self.tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = tx.send(Msg::RetryDue { node: i });
        });
    }

    /// A failed node with `continue_on_error`: its dependants get empty outputs and run.
    fn continue_after_failure(
        &mut self,
        i: usize,
        node: &crate::plan::PlanNode,
        status: NodeStatus,
        error: String,
    ) {
        match super::dir_output::empty_outputs(&self.paths, node) {
            Ok(p) if !p.outputs.is_empty() => {
                let names: Vec<String> = p.outputs.keys().map(|n| format!("`{n}`")).collect();
                self.message(
                    Level::Warn,
                    Some(i),
                    format!(
                        "`{}` failed (continue_on_error): its dependants get empty \
                         dataset{} {}",
                        node.id,
                        if names.len() == 1 { "" } else { "s" },
                        names.join(", ")
                    ),
                );
                self.emit(Event::NodeOutputs {
                    node: i,
                    outputs: p.outputs,
                    at: SystemTime::now(),
                })
            }
            Ok(_) => {}
            Err(err) => self.message(
                Level::Error,
                Some(i),
                format!("cannot create empty outputs of `{}`: {err}", node.id),
            ),
        }
        self.finish_node(i, status, Some(format!("{error} (continue_on_error)")), 0);
        self.release(i);
    }

    /// Opens the attempt's telemetry channel (local processes only: a batch job runs
    /// elsewhere) and sets `SECFLOW_EVENTS`; a channel that cannot be made is said once
    /// per attempt and the attempt runs without it.
    fn attach_events(
        &mut self,
        node: usize,
        attempt: u32,
        spec: &mut crate::engine::AttemptSpec,
    ) -> Option<super::tool_events::Reader> {
        if self.executor.name() != "local" {
            return None;
        }
        let tx = self.tx.clone();
        let send = Arc::new(move |item| {
            let _ = tx.send(Msg::Tool {
                node,
                attempt,
                item,
                at: SystemTime::now(),
            });
        });
        let dir = match &self.events_dir {
            Some(dir) => Ok(Arc::clone(dir)),
            None => super::tool_events::RunDir::create(),
        };
        let attached = dir.and_then(|dir| {
            self.events_dir = Some(Arc::clone(&dir));
            super::tool_events::attach(&dir, &mut spec.env, &self.secrets, send)
        });
        match attached {
            Ok(r) => Some(r),
            Err(e) => {
                let text = format!("cannot open the telemetry channel (SECFLOW_EVENTS): {e}");
                self.message(Level::Warn, Some(node), text);
                None
            }
        }
    }

    /// A line from an attempt's telemetry channel: counted (findings), reported (a summary
    /// with bad or dropped lines is a warning) and handed to the sinks.
    fn tool_event(
        &mut self,
        node: usize,
        attempt: u32,
        item: super::tool_events::Item,
        at: SystemTime,
    ) {
        use super::tool_events::Item;
        let current = self.nodes.get(node).is_some_and(|n| n.attempt == attempt);
        match &item {
            Item::Finding(_) if current => self.nodes[node].emitted_findings += 1,
            Item::Summary(stats) => {
                if let Some(problems) = stats.problems() {
                    let id = &self.ctx.plan.nodes[node].id;
                    let text = format!(
                        "`{id}` attempt {attempt}: telemetry channel (SECFLOW_EVENTS): {problems}"
                    );
                    self.message(Level::Warn, Some(node), text);
                }
            }
            _ => {}
        }
        self.emit(Event::ToolEvent {
            node,
            attempt,
            item: Arc::new(item),
            at,
        });
    }

    fn retry_due(&mut self, i: usize) {
        if self.nodes[i].state != State::RetryWait {
            return;
        }
        self.retry_waiting -= 1;
        self.queue(i);
    }

    fn finish_node(&mut self, i: usize, status: NodeStatus, reason: Option<String>, findings: u64) {
        self.nodes[i].state = State::Done(status);
        // A template that fanned out has no record of its own: its instances do.
        if self.fans.contains_key(&i) {
            return;
        }
        self.emit(Event::NodeFinished {
            node: i,
            status,
            reason,
            findings_count: findings,
            at: SystemTime::now(),
        });
        self.instance_finished(i, status);
    }

    /// A node's outputs exist: its dependants may become ready.
    fn release(&mut self, i: usize) {
        for k in 0..self.dependants[i].len() {
            let d = self.dependants[i][k];
            let n = &mut self.nodes[d];
            n.waiting_on = n.waiting_on.saturating_sub(1);
            if n.waiting_on == 0 && n.state == State::Waiting {
                self.queue(d);
            }
        }
    }

    /// Skips (or, by their trigger, releases) the dependants of a failed node.
    fn skip_dependants(&mut self, failed: usize) {
        self.cascade(failed, true);
    }

    fn control(&mut self, c: Control) {
        match c {
            // The first signal's message, after `starts_stopped` cancelled for it.
            Control::Cancel { .. } if std::mem::take(&mut self.cancel_seen_early) => {}
            Control::Cancel { signal } if self.halt != Some(Halt::Cancelled) => {
                self.cancel_signal = Some(signal);
                let running = self.running;
                self.message(
                    Level::Warn,
                    None,
                    format!("cancelling: terminating {running} running attempt(s)"),
                );
                self.stop_all(Halt::Cancelled, Stop::Terminate);
            }
            _ => {
                self.halt = Some(Halt::Cancelled);
                self.message(
                    Level::Warn,
                    None,
                    "killing every running attempt now".into(),
                );
                self.stop_tx.send_replace(Stop::Kill);
            }
        }
    }

    /// Stops scheduling and asks every running attempt to stop; retry waits end now.
    fn stop_all(&mut self, halt: Halt, stop: Stop) {
        self.halt = Some(halt);
        self.stop_tx.send_replace(stop);
        let reason = self.halt_reason();
        let status = self.unstarted_status();
        for i in 0..self.nodes.len() {
            if self.nodes[i].state == State::RetryWait {
                self.retry_waiting -= 1;
                self.finish_node(i, status, Some(reason.clone()), 0);
            }
        }
        for i in std::mem::take(&mut self.retry_ready) {
            self.finish_node(i, status, Some(reason.clone()), 0);
        }
    }

    fn halt_reason(&self) -> String {
        match &self.halt {
            Some(Halt::Failure(id)) => format!(
                "not started: the run stopped after node `{id}` failed (--keep-going runs independent nodes)"
            ),
            Some(Halt::FailFast(id)) => {
                format!("not started: --fail-fast after node `{id}` failed")
            }
            // The status (`cancelled`) is printed before the reason: no second "cancelled".
            Some(Halt::Cancelled) => "the run was interrupted".into(),
            Some(Halt::RunTimeout(t)) => format!("the run timed out after {}", human(*t)),
            Some(Halt::Records) => crate::store::RECORDS_INCOMPLETE.into(),
            None => "not started".into(),
        }
    }

    fn unstarted_status(&self) -> NodeStatus {
        match self.halt {
            Some(Halt::Cancelled | Halt::RunTimeout(_) | Halt::Records) => NodeStatus::Cancelled,
            _ => NodeStatus::Skipped,
        }
    }

    async fn finish(&mut self) -> Outcome {
        // A record that failed as the last nodes ended counts like one that failed before.
        if self.ctx.records.is_failed() && self.halt != Some(Halt::Cancelled) {
            self.halt = Some(Halt::Records);
        }
        let reason = self.halt_reason();
        let status = self.unstarted_status();
        for i in 0..self.nodes.len() {
            if !matches!(self.nodes[i].state, State::Done(_)) {
                self.finish_node(i, status, Some(reason.clone()), 0);
            }
        }
        let (run_status, end) = match &self.halt {
            Some(Halt::Cancelled) => (
                RunStatus::Cancelled,
                RunEnd::Cancelled {
                    signal: self.cancel_signal,
                },
            ),
            Some(Halt::Records) => (RunStatus::Failed, RunEnd::RecordsIncomplete),
            Some(Halt::RunTimeout(_)) => (RunStatus::Failed, RunEnd::Failed),
            _ if self.failed => (RunStatus::Failed, RunEnd::Failed),
            _ => (RunStatus::Succeeded, RunEnd::Succeeded),
        };
        let exit_code = (self.config.exit_code)(end);
        self.emit(Event::RunFinished {
            status: run_status,
            exit_code,
            at: SystemTime::now(),
        });
        // Published at the start, so always there; a fresh one only if that broke.
        let mut record = self
            .builder
            .take_record()
            .unwrap_or_else(|| RecordBuilder::new(&self.ctx).into_record());
        record.reason = match &self.halt {
            Some(Halt::Failure(id) | Halt::FailFast(id)) => Some(format!("node `{id}` failed")),
            Some(Halt::Cancelled) => Some("interrupted".into()),
            Some(Halt::RunTimeout(t)) => Some(format!("the run timed out after {}", human(*t))),
            Some(Halt::Records) => Some(crate::store::RECORDS_INCOMPLETE.into()),
            None => None,
        };
        let (user, system, rss) = local::self_usage();
        record.self_usage = Some(SelfUsage {
            cpu_user_ms: user.as_millis() as u64,
            cpu_system_ms: system.as_millis() as u64,
            peak_rss_bytes: rss,
        });
        let mut sink_errors = Vec::new();
        let ctx = Arc::clone(&self.ctx);
        for sink in &mut self.sinks {
            if let Err(e) = sink.finish(&ctx, &mut record) {
                match e.downcast::<crate::event::SinkErrors>() {
                    Ok(many) => sink_errors.extend(many.0),
                    Err(e) => sink_errors.push(e),
                }
            }
        }
        Outcome {
            end,
            record,
            exit_code,
            sink_errors,
        }
    }
}

/// Whether an attempt's error says one of the run's own records (its directory under
/// `nodes/`, its captured output) could not be written, rather than the tool failing.
fn is_record_write_error(error: &str) -> bool {
    error.starts_with("cannot capture output to ")
        || error.contains("capturing output failed")
        || error.starts_with("cannot create ") && error.contains("/nodes/")
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Creates an attempt's directory `nodes/<id>/<attempt>` with one `mkdir` per missing level:
/// `first` says the node's own directory does not exist yet. (`create_dir_all` would first
/// fail on the deepest level, then check each existing one.)
fn create_attempt_dir(dir: &std::path::Path, first: bool) -> std::io::Result<()> {
    use std::io::ErrorKind;
    let made = |r: std::io::Result<()>| match r {
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
        r => r,
    };
    let made_all = || {
        if first && let Some(node_dir) = dir.parent() {
            made(std::fs::create_dir(node_dir))?;
        }
        made(std::fs::create_dir(dir))
    };
    match made_all() {
        // A level above is missing (`nodes/` itself): make them all.
        Err(e) if e.kind() == ErrorKind::NotFound => std::fs::create_dir_all(dir),
        r => r,
    }
}

/// A succeeded node's findings count: its findings datasets' records, or — when it has no
/// findings dataset — the findings its tool reported on `SECFLOW_EVENTS` (never both, so a
/// tool that writes a finding and also reports it live is not counted twice).
fn tool_findings(promoted: &datasets::Promoted, emitted: u64) -> u64 {
    let has_dataset = promoted
        .outputs
        .keys()
        .any(|n| n == "findings" || n.ends_with("_findings"));
    if has_dataset {
        promoted.findings
    } else {
        promoted.findings.max(emitted)
    }
}
