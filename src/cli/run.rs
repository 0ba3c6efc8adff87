//! `secflow run-workflow FILE` (alias `run`): validate, plan, then execute with the local
//! executor, recording the run under `<state-dir>/runs/<run-id>/`.
//!
//! Human output (progress lines, summary) goes to stderr; `--format json` prints run.json on
//! stdout at every exit of a run (0, 1, 129–143). `--dry-run` prints the plan and runs nothing.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use serde_json::json;

use super::{Format, RunArgs};
use crate::diag::Diagnostic;
use crate::engine::prepare::{AttemptIds, absolute, prepare};
use crate::engine::{
    Control, EngineConfig, Environment, FailurePolicy, LocalExecutor, RunContext, RunPaths, Sink,
    SinkThread, execute,
};
use crate::exit;
use crate::plan::{BuildOptions, ExecutorKind, Plan, build, is_valid_name, select_target};
use crate::recipe::{parse, read_source};
use crate::store::{RunJsonSink, layout};

pub fn run(args: &RunArgs) -> anyhow::Result<i32> {
    let sink_set = match crate::telemetry::sinks::parse(
        std::env::var(crate::telemetry::sinks::ENV_VAR)
            .ok()
            .as_deref(),
    ) {
        Ok(set) => set,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::INVALID);
        }
    };
    let otlp = match crate::otlp::config::from_env(args.otlp_endpoint.as_deref(), |k| {
        std::env::var(k).ok()
    }) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::INVALID);
        }
    };
    // SPEC §10: a state directory others can write (or a symlinked one) is refused before
    // anything is read from it (plugins) or written to it; a dry run only reads: a warning.
    let state_dir = layout::state_dir(args.state_dir.as_deref());
    if args.dry_run {
        crate::store::trust::warn(&state_dir);
    } else if let Err(message) = crate::store::trust::require(&state_dir) {
        eprintln!("error: {message}");
        return Ok(exit::INVALID);
    }
    let validate_start = SystemTime::now();
    let Some(plan) = load_plan(args)? else {
        return Ok(exit::INVALID);
    };
    let validate_end = SystemTime::now();
    let env = match Environment::capture(&plan) {
        Ok(env) => Arc::new(env),
        Err(missing) => {
            eprintln!(
                "error: declared secret{} not set in the environment: {}",
                if missing.len() == 1 { "" } else { "s" },
                missing.join(", ")
            );
            eprintln!("  help: export them before running, or remove them from `secrets:`");
            return Ok(exit::INVALID);
        }
    };
    let short: Vec<&str> = env
        .secrets
        .iter()
        .filter(|(_, v)| v.len() < MIN_SECRET_LEN)
        .map(|(k, _)| k.as_str())
        .collect();
    if !short.is_empty() {
        eprintln!(
            "error: declared secret{} shorter than {MIN_SECRET_LEN} bytes: {}",
            if short.len() == 1 { " is" } else { "s are" },
            short.join(", ")
        );
        eprintln!(
            "  help: masking so short a value would garble every record; use a real secret, or \
             remove it from `secrets:`"
        );
        return Ok(exit::INVALID);
    }
    if args.dry_run {
        print_plan(&plan, &env, args.format)?;
        return Ok(exit::SUCCESS);
    }

    let run_id = match &args.run_id {
        Some(id) if !is_valid_name(id) => {
            eprintln!("error: --run-id `{id}` is not a valid id (letters, digits, `_`, `.`, `-`)");
            return Ok(exit::INVALID);
        }
        Some(id) => id.clone(),
        None => layout::new_run_id(),
    };
    let run_dir = absolute(&layout::runs_dir(&state_dir).join(&run_id));
    if run_dir.exists() {
        eprintln!(
            "error: run `{run_id}` already exists in {}",
            run_dir.display()
        );
        return Ok(exit::INVALID);
    }

    let mut plan = plan;
    if let Some(kind) = args.executor.as_deref().and_then(ExecutorKind::parse) {
        for node in &mut plan.nodes {
            node.executor = kind;
        }
    }
    let executor = executor_for(&plan, &run_id)?;
    let concurrency = args
        .concurrency
        .map(|c| c as usize)
        .or(plan.concurrency)
        .unwrap_or_else(|| match executor.name() {
            // Slurm queues the work itself: keep up to 100 jobs submitted.
            "slurm" => 100,
            _ => std::thread::available_parallelism().map_or(1, |n| n.get()),
        })
        .max(1);
    let concurrency = if executor.name() == "slurm" {
        concurrency
    } else {
        match within_descriptor_budget(concurrency) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(exit::INVALID);
            }
        }
    };
    // A local run drives everything from one thread: starting an attempt never blocks (the
    // child execs on its own, see engine::spawn), and the scheduler, the supervisors and the
    // output pumps then share one thread with no cross-thread wake-ups between them
    // (WIDE-1000: 1.01× xargs in mean against 1.05× with a worker per CPU; a chain of quick
    // nodes: about a tenth faster). Tools run in parallel whatever secflow's thread count;
    // the records have threads of their own. Slurm runs keep a worker pool.
    let single_threaded = executor.name() == "local";
    let inbound = std::env::var("TRACEPARENT").ok();
    let (trace, warning) = crate::telemetry::trace::run_trace_ids(inbound.as_deref());
    if let Some(w) = warning {
        eprintln!("warning: {w}");
    }
    let resume = match resume_source(args, &plan, &state_dir) {
        Ok(r) => r,
        Err(message) => {
            eprintln!("error: {message}");
            return Ok(exit::INVALID);
        }
    };
    // Bound before the run directory exists: a busy port refuses the run (exit 2).
    let live_metrics = match args.metrics.metrics_listen.as_deref() {
        Some(addr) => match crate::serve::live::LiveListener::bind(addr) {
            Ok(listener) => Some(listener),
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(exit::INVALID);
            }
        },
        None => None,
    };
    // Everything that can refuse the run is checked above: only now does its directory exist.
    let run_dir_fd = match create_run_dir(&state_dir, &run_dir) {
        Ok(fd) => fd,
        Err(message) => {
            eprintln!("error: {message}");
            return Ok(exit::RECORDS_INCOMPLETE);
        }
    };
    let reuse = crate::engine::reuse::Reuse {
        cache: (plan.state.cache_intermediate && !args.no_cache)
            .then(|| crate::store::cache::Cache::new(&state_dir)),
        resume: resume.clone(),
    };
    let ctx = Arc::new(RunContext {
        records: Arc::new(crate::store::RecordHealth::with_dir(run_dir_fd)),
        run_id,
        run_dir,
        plan: Arc::new(plan),
        trace,
        executor: executor.name().into(),
        concurrency,
        started_at: SystemTime::now(),
        secret_values: env.secret_values(),
        resumed_from: resume.as_ref().map(|r| r.run_id.clone()),
    });
    let config = EngineConfig {
        reuse,
        concurrency,
        policy: if args.fail_fast {
            FailurePolicy::FailFast
        } else if args.keep_going {
            FailurePolicy::KeepGoing
        } else {
            FailurePolicy::Stop
        },
        run_timeout: args.timeout,
        jitter: std::env::var("SECFLOW_RETRY_JITTER").map_or(true, |v| v.trim() != "0"),
    };
    // The runtime and the signal handlers before any sink: once a sink exists, the only way
    // out is through the engine, which finishes every sink.
    let runtime = if single_threaded {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    }
    .enable_all()
    .build()?;
    if executor.name() != "slurm"
        && let Err(e) = LocalExecutor::start_spawner()
    {
        eprintln!("error: {e}");
        return Ok(exit::INVALID);
    }
    let (control_tx, control_rx) = tokio::sync::mpsc::unbounded_channel();
    {
        let _in_runtime = runtime.enter();
        listen_for_signals(control_tx)?;
    }
    // The audit trail first: it is the sink that can refuse the run (a bad key), and it must
    // do so before any other record file exists.
    let audit = if sink_set.audit {
        let audit_env = crate::audit::key::env_key();
        let key = match crate::audit::AuditKey::for_run(
            audit_env.as_deref(),
            args.audit_key_file.as_deref(),
            &state_dir,
        ) {
            Ok(key) => key,
            Err(e) => {
                eprintln!("error: audit key: {e}");
                return Ok(exit::INVALID);
            }
        };
        let cwd = std::env::current_dir().unwrap_or_default();
        match crate::audit::AuditSink::create(&ctx, &key, &crate::audit::Origin::discover(&cwd)) {
            Ok(sink) => Some(sink),
            Err(e) => {
                eprintln!("error: cannot start the audit trail: {e}; no node was run");
                return Ok(exit::RECORDS_INCOMPLETE);
            }
        }
    } else {
        None
    };
    let settings = crate::telemetry::settings();
    if settings.debug {
        let redactor = crate::telemetry::Redactor::new(&ctx.secret_values);
        let plan = crate::telemetry::debug::render_plan(&ctx.plan, &redactor);
        eprint!("{}", crate::escape::escape_lines(&plan));
    }
    let exporter = match otlp.clone().map(crate::otlp::exporter::Exporter::start) {
        Some(Ok(e)) => Some(Arc::new(e)),
        Some(Err(e)) => {
            eprintln!("warning: cannot start the OTLP exporter: {e}");
            None
        }
        None => None,
    };
    // The console stays on the scheduler's thread (it shows what happens as it happens);
    // every record-writing sink runs on a thread of its own (see `SinkThread`).
    let mut console: Option<Box<dyn Sink>> = None;
    let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
    if sink_set.console {
        let progress = match args.progress {
            super::Progress::Never => crate::telemetry::console::ProgressMode::Never,
            super::Progress::Auto => crate::telemetry::console::ProgressMode::Auto,
            super::Progress::Always => crate::telemetry::console::ProgressMode::Always,
        };
        console = Some(Box::new(crate::telemetry::console::ConsoleSink::stderr(
            crate::telemetry::console::ConsoleOptions {
                progress,
                quiet: args.quiet,
                colour: true,
                debug: settings.debug,
            },
        )));
    }
    if sink_set.logs {
        let logs = match crate::telemetry::LogSink::open(&ctx, &settings) {
            Ok(logs) => logs,
            Err(e) => {
                eprintln!("error: cannot open logs.jsonl: {e}; no node was run");
                return Ok(exit::RECORDS_INCOMPLETE);
            }
        };
        let logs = logs.capture_tracing(&ctx).echo_console(settings.debug);
        let logs = match &exporter {
            Some(exp) => {
                let exp = Arc::clone(exp);
                logs.observe(Box::new(move |r| {
                    exp.send_log(crate::otlp::convert::log(r))
                }))
            }
            None => logs,
        };
        sinks.push(Box::new(logs));
    }
    if sink_set.spans {
        let spans = match crate::telemetry::SpanSink::open(&ctx) {
            Ok(spans) => spans,
            Err(e) => {
                eprintln!("error: cannot open spans.jsonl: {e}; no node was run");
                return Ok(exit::RECORDS_INCOMPLETE);
            }
        };
        let spans = match &exporter {
            Some(exp) => {
                let exp = Arc::clone(exp);
                spans.observe(Box::new(move |r| {
                    exp.send_span(crate::otlp::convert::span(r))
                }))
            }
            None => spans,
        };
        let attrs = std::collections::BTreeMap::from([
            (
                "secflow.recipe.path".to_string(),
                json!(ctx.plan.recipe_path),
            ),
            (
                "secflow.node.count".to_string(),
                json!(ctx.plan.nodes.len()),
            ),
        ]);
        spans.phase(&ctx, "validate", validate_start, validate_end, attrs, None);
        let mut loaded = std::collections::BTreeSet::new();
        for node in &ctx.plan.nodes {
            if node.plugin_name != "exec" && loaded.insert(node.plugin_name.clone()) {
                spans.plugin_load(
                    &ctx,
                    &node.plugin_name,
                    &node.plugin_version,
                    validate_start,
                    validate_end,
                    None,
                );
            }
        }
        sinks.push(Box::new(spans));
    }
    if let Some(audit) = audit {
        sinks.push(Box::new(audit));
    }
    let mut final_metrics = None;
    if sink_set.metrics {
        let metrics = crate::metrics::MetricsSink::new(crate::metrics::MetricsOptions {
            disk_path: Some(state_dir.clone()),
            ..args.metrics.sink_options()
        });
        final_metrics = Some(metrics.final_snapshot());
        if let Some(listener) = live_metrics {
            if !args.quiet
                && let Some(addr) = listener.local_addr()
            {
                eprintln!("metrics: http://{addr}/metrics");
            }
            listener.serve(
                metrics.registry(),
                ctx.run_id.clone(),
                ctx.plan.name.clone(),
            );
        }
        sinks.push(Box::new(metrics));
    } else if live_metrics.is_some() {
        eprintln!("warning: --metrics-listen: metrics are off for this run; nothing is served");
    }
    // Last: it writes the record as the sinks before it completed it.
    sinks.push(Box::new(RunJsonSink::new(&ctx)));
    let sinks: Vec<Box<dyn Sink>> = console
        .into_iter()
        .chain([Box::new(SinkThread::spawn(Arc::clone(&ctx), sinks)?) as Box<dyn Sink>])
        .collect();

    // Hand the memory the parse freed back to the system (a Slurm run allocates on other
    // threads, in other malloc arenas): a big recipe's parse must not stay resident all run.
    crate::metrics::release_free_memory();
    let engine = execute(Arc::clone(&ctx), config, executor, env, sinks, control_rx);
    // On a worker pool the scheduler runs as a task on a worker, like the attempts' tasks:
    // their reports to it and its spawns for them then mostly stay on one thread instead
    // of waking the main thread and back for every node.
    let outcome = if single_threaded {
        runtime.block_on(engine)
    } else {
        match runtime.block_on(runtime.spawn(engine)) {
            Ok(outcome) => outcome,
            Err(e) => match e.try_into_panic() {
                // The scheduler panicked: carry on unwinding as if it had run here.
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(e) => anyhow::bail!("the engine stopped before the run ended: {e}"),
            },
        }
    };
    // Every attempt has ended: the spawner goes too (and nothing it started outlives it).
    LocalExecutor::stop_spawner();
    let mut outcome = outcome;
    report_records(&ctx, &mut outcome);
    // Built from the registry only when something delivers it: a plain run never holds all
    // its series in memory at once.
    let delivers = args.metrics.delivers() || exporter.is_some();
    let snapshot = final_metrics
        .as_ref()
        .filter(|_| delivers)
        .and_then(|f| f.get());
    if let Some(snapshot) = snapshot {
        let (warnings, push) = args.metrics.deliver(snapshot);
        for warning in warnings {
            eprintln!("{warning}");
        }
        if let Some(push) = push {
            record_push(&push, &ctx, &mut outcome.record);
        }
    }
    if let (Some(exporter), Some(config)) = (&exporter, &otlp) {
        finish_export(exporter, config, snapshot, &ctx, &mut outcome.record);
    }
    if args.format == Format::Json {
        let mut out = std::io::stdout().lock();
        let written = serde_json::to_writer_pretty(&mut out, &outcome.record)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out));
        // After a hangup the console may be gone: the records on disk are what counts.
        if let Err(e) = written
            && !HUNG_UP.load(std::sync::atomic::Ordering::Relaxed)
        {
            return Err(e.into());
        }
    }
    // Children and watchers are done; don't wait for idle blocking threads.
    runtime.shutdown_background();
    Ok(outcome.exit_code)
}

/// SPEC §10 "Records fail closed": says once why the records are incomplete (and each other
/// sink error once), and makes a run whose records failed end `failed` with exit 4 — also
/// when the failure came as the records were being finished — unless a signal ended it.
fn report_records(ctx: &RunContext, outcome: &mut crate::engine::Outcome) {
    let Some(failure) = ctx.records.failure() else {
        for e in &outcome.sink_errors {
            eprintln!("warning: {e:#}");
        }
        return;
    };
    // The sinks' own errors are the same failure seen by each writer (a full disk fails
    // them all): the first is said once, the rest only in debug mode.
    if crate::telemetry::settings().debug {
        for e in &outcome.sink_errors {
            eprintln!("debug: {e:#}");
        }
    }
    let started = outcome.record.nodes.iter().any(|n| !n.attempts.is_empty());
    eprintln!(
        "error: {}: {failure}; {}",
        crate::store::RECORDS_INCOMPLETE,
        if started {
            "the run was stopped"
        } else {
            "no node was run"
        }
    );
    // A signal's exit code (128 + n) wins over 4 (SPEC §1).
    if outcome.exit_code > 128 {
        return;
    }
    let record = &mut outcome.record;
    if record.reason.as_deref() != Some(crate::store::RECORDS_INCOMPLETE) {
        // Failed while the records were being finished: say so in run.json if it can be.
        record.status = crate::store::RunStatus::Failed;
        record.exit_code = Some(exit::RECORDS_INCOMPLETE);
        record.reason = Some(crate::store::RECORDS_INCOMPLETE.into());
        if let Ok(bytes) = serde_json::to_vec_pretty(&*record) {
            let _ = ctx
                .records
                .write_atomic(&ctx.run_dir.join("run.json"), true, |f| f.write_all(&bytes));
        }
    }
    outcome.exit_code = exit::RECORDS_INCOMPLETE;
}

/// Records a Pushgateway push's outcome in run.json (like undelivered OTLP data), so a failed
/// push leaves a trace beside the run.
fn record_push(
    push: &super::metrics::PushOutcome,
    ctx: &RunContext,
    record: &mut crate::store::RunRecord,
) {
    let telemetry = record.telemetry.get_or_insert_with(Default::default);
    let export = telemetry.export.get_or_insert_with(Default::default);
    export.pushgateway = Some(push.url.clone());
    export.undelivered = export.undelivered.saturating_add(push.undelivered);
    if export.error.is_none() {
        export.error.clone_from(&push.error);
    }
    if let Ok(bytes) = serde_json::to_vec_pretty(&*record) {
        let _ = ctx
            .records
            .write_atomic(&ctx.run_dir.join("run.json"), true, |f| f.write_all(&bytes));
    }
}

/// Sends the final metrics, flushes the exporter within its bound, says once what was not
/// delivered, and records the export's outcome in run.json.
fn finish_export(
    exporter: &crate::otlp::exporter::Exporter,
    config: &crate::otlp::config::OtlpConfig,
    snapshot: Option<&crate::metrics::MetricsSnapshot>,
    ctx: &RunContext,
    record: &mut crate::store::RunRecord,
) {
    if let Some(snapshot) = snapshot {
        let nanos = |t: SystemTime| {
            t.duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        };
        let metrics = crate::otlp::convert::metrics(
            snapshot,
            nanos(ctx.started_at),
            nanos(SystemTime::now()),
        );
        exporter.send_metrics(metrics);
    }
    if let Some(head) = audit_head_log(ctx, record) {
        exporter.send_log(crate::otlp::convert::log(&head));
    }
    let result = exporter.finish();
    if let Some(error) = &result.error {
        eprintln!(
            "warning: OTLP export: {error}; {} item{} not delivered",
            result.undelivered,
            if result.undelivered == 1 { "" } else { "s" }
        );
    }
    let telemetry = record.telemetry.get_or_insert_with(Default::default);
    let export = telemetry.export.get_or_insert_with(Default::default);
    export.otlp = Some(config.traces.clone());
    export.undelivered = export.undelivered.saturating_add(result.undelivered);
    // The OTLP failure first: it concerns the most data.
    if result.error.is_some() {
        export.error = result.error;
    }
    if let Ok(bytes) = serde_json::to_vec_pretty(&*record) {
        let _ = ctx
            .records
            .write_atomic(&ctx.run_dir.join("run.json"), true, |f| f.write_all(&bytes));
    }
}

/// Creates the state directory and `runs/` when missing (0700, then checked: SPEC §10), the
/// run directory itself (0700, never an existing one) and its `nodes/` and `datasets/`;
/// returns the run directory held open: every record file is created beneath it.
fn create_run_dir(state_dir: &Path, run_dir: &Path) -> Result<crate::sys::dirfd::Dir, String> {
    use std::os::unix::fs::DirBuilderExt as _;
    crate::store::trust::create(state_dir)?;
    let cannot = |dir: &Path, e: std::io::Error| {
        format!(
            "cannot create {}: {e}; no node was run (records fail closed)",
            dir.display()
        )
    };
    use std::os::unix::fs::PermissionsExt as _;
    let mut builder = std::fs::DirBuilder::new();
    builder.mode(0o700);
    // Exactly 0700 whatever the umask took away (a umask of 0277 would leave 0500).
    let private = |dir: &Path| {
        builder
            .create(dir)
            .and_then(|()| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)))
            .map_err(|e| cannot(dir, e))
    };
    private(run_dir)?;
    for sub in ["nodes", "datasets"] {
        private(&run_dir.join(sub))?;
    }
    crate::sys::dirfd::Dir::open(run_dir).map_err(|e| cannot(run_dir, e))
}

/// The audit chain's head as a log record (`audit chain head`, with `secflow.audit.seq`,
/// `.last_hash`, `.key_id`, `.finished`): the collector keeps it as an outside witness
/// (SPEC §10). The head is the last event written to disk.
fn audit_head_log(
    ctx: &RunContext,
    record: &crate::store::RunRecord,
) -> Option<crate::telemetry::LogRecord> {
    use crate::telemetry::{LogLevel, LogRecord};
    let audit = record.audit.as_ref()?;
    let mut r = LogRecord::new(
        SystemTime::now(),
        LogLevel::Info,
        "secflow::audit",
        "audit chain head",
    );
    r.trace_id = Some(ctx.trace.trace_id.clone());
    r.span_id = Some(ctx.trace.root_span_id.clone());
    r.run_id = Some(ctx.run_id.clone());
    r.workflow_id = Some(ctx.plan.name.clone());
    r.metadata.insert("audit.seq".into(), json!(audit.events));
    r.metadata
        .insert("audit.last_hash".into(), json!(audit.last_hash));
    r.metadata
        .insert("audit.key_id".into(), json!(audit.key_id));
    r.metadata
        .insert("audit.finished".into(), json!(audit.anchor.is_some()));
    Some(r)
}

/// `--resume last`: the newest run (by start time) of the workflow called `name`.
fn newest_run_of(state_dir: &Path, name: &str) -> Result<std::path::PathBuf, String> {
    let runs = layout::runs_dir(state_dir);
    let mut newest: Option<(String, std::path::PathBuf)> = None;
    for id in crate::store::resolve::run_ids(state_dir) {
        let dir = runs.join(&id);
        let Ok(text) = std::fs::read(dir.join("run.json")) else {
            continue;
        };
        let Ok(record) = serde_json::from_slice::<crate::store::RunRecord>(&text) else {
            continue;
        };
        if record.workflow.name == name
            && newest
                .as_ref()
                .is_none_or(|(at, _)| record.started_at >= *at)
        {
            newest = Some((record.started_at, dir));
        }
    }
    newest.map(|(_, dir)| dir).ok_or_else(|| {
        format!(
            "no run of workflow `{name}` under {} to resume",
            runs.display()
        )
    })
}

/// The run to resume: `--resume RUN`, or with `state.resume_on_failure` the latest run of
/// the same recipe (sha256) and vars when it failed or was cancelled (unless `--fresh`).
fn resume_source(
    args: &RunArgs,
    plan: &Plan,
    state_dir: &Path,
) -> Result<Option<Arc<crate::engine::reuse::ResumeSource>>, String> {
    use crate::engine::reuse::ResumeSource;
    if let Some(arg) = &args.resume {
        let dir = if arg == "last" {
            newest_run_of(state_dir, &plan.name)?
        } else {
            crate::store::resolve::resolve_run(state_dir, arg).map_err(|e| e.to_string())?
        };
        let source = ResumeSource::load(&dir)?;
        if source.workflow != plan.name && !args.force {
            return Err(format!(
                "run {} is a run of workflow `{}`, not of `{}`: its results are not this \
                 workflow's (pass --force to resume it anyway)",
                source.run_id, source.workflow, plan.name
            ));
        }
        return Ok(Some(Arc::new(source)));
    }
    if args.fresh || !plan.state.resume_on_failure {
        return Ok(None);
    }
    let runs = layout::runs_dir(state_dir);
    for id in crate::store::resolve::run_ids(state_dir).iter().rev() {
        let Ok(text) = std::fs::read(runs.join(id).join("run.json")) else {
            continue;
        };
        let Ok(record) = serde_json::from_slice::<crate::store::RunRecord>(&text) else {
            continue;
        };
        if record.workflow.recipe_sha256 != plan.recipe_sha256 || record.vars != plan.vars {
            continue;
        }
        use crate::store::RunStatus;
        if matches!(record.status, RunStatus::Failed | RunStatus::Cancelled) {
            eprintln!(
                "resuming run {} ({}): state.resume_on_failure is set; pass --fresh to start over",
                record.run_id,
                record.status.as_str()
            );
            return ResumeSource::load(&runs.join(id)).map(|r| Some(Arc::new(r)));
        }
        return Ok(None);
    }
    Ok(None)
}

/// Set once a SIGHUP arrived: console output may fail from then on, and is not an error.
static HUNG_UP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Descriptors one running local attempt holds in secflow (two log files, three pipe read
/// ends; three write ends only while its request is sent), plus one to spare.
const FDS_PER_ATTEMPT: u64 = 6;
/// Descriptors kept for everything else (record files, sockets, the spawner, exporters).
const FDS_RESERVED: u64 = 64;

/// Raises the open-descriptor limit to its hard limit (tools get the original back) and
/// lowers `concurrency`, with one warning, to what that limit can hold.
fn within_descriptor_budget(concurrency: usize) -> anyhow::Result<usize> {
    let Some((before, now)) = crate::sys::limits::raise_nofile() else {
        return Ok(concurrency);
    };
    crate::sys::spawner::NOFILE.store(before as i64, std::sync::atomic::Ordering::Relaxed);
    let budget = now.saturating_sub(FDS_RESERVED) / FDS_PER_ATTEMPT;
    if budget == 0 {
        anyhow::bail!(
            "the open-file limit ({now}) is too low to run anything: raise `ulimit -n` to at least {}",
            FDS_RESERVED + FDS_PER_ATTEMPT
        );
    }
    if concurrency as u64 > budget {
        eprintln!(
            "warning: concurrency lowered from {concurrency} to {budget}: the open-file limit ({now}) allows no more (raise `ulimit -n` to run more at once)"
        );
        return Ok(budget as usize);
    }
    Ok(concurrency)
}

/// The first SIGINT, SIGTERM, SIGHUP or SIGQUIT cancels the run with grace (exit 128 + that
/// signal); any further one kills at once. A SIGHUP this process inherited as ignored
/// (`nohup`) stays ignored. After a hangup the terminal is gone: standard descriptors that
/// were a terminal (and stderr when a pipe or socket) are pointed at `/dev/null`, so
/// console writes neither fail nor block.
fn listen_for_signals(tx: tokio::sync::mpsc::UnboundedSender<Control>) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let hup_ignored = crate::sys::signals::is_ignored(libc::SIGHUP);
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut quit = signal(SignalKind::quit())?;
    let mut hup = if hup_ignored {
        None
    } else {
        Some(signal(SignalKind::hangup())?)
    };
    let ttys: Vec<bool> = [0, 1, 2]
        .iter()
        .map(|&fd| crate::sys::fd::is_tty(fd))
        .collect();
    tokio::spawn(async move {
        let mut seen = 0;
        loop {
            let hangup = async {
                match hup.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            };
            let signal = tokio::select! {
                s = int.recv() => s.map(|()| libc::SIGINT),
                s = term.recv() => s.map(|()| libc::SIGTERM),
                s = quit.recv() => s.map(|()| libc::SIGQUIT),
                s = hangup => s.map(|()| libc::SIGHUP),
            };
            let Some(signal) = signal else { return };
            if signal == libc::SIGHUP {
                HUNG_UP.store(true, std::sync::atomic::Ordering::Relaxed);
                for (fd, &tty) in ttys.iter().enumerate() {
                    let fd = fd as i32;
                    if tty || (fd == 2 && crate::sys::fd::is_console_like(fd)) {
                        crate::sys::fd::redirect_to_null(fd);
                    }
                }
            }
            seen += 1;
            let c = if seen == 1 {
                Control::Cancel(128 + signal)
            } else {
                Control::Kill
            };
            if tx.send(c).is_err() {
                return;
            }
        }
    });
    Ok(())
}

/// Reads, validates and narrows the plan; prints diagnostics. `None`: invalid (exit 2).
fn load_plan(args: &RunArgs) -> anyhow::Result<Option<Plan>> {
    let limits = args.limits.limits();
    let mut err = std::io::stderr().lock();
    let source = match read_source(&args.file, &limits) {
        Ok(s) => s,
        Err(d) => {
            write!(err, "{}", d.render(None))?;
            return Ok(None);
        }
    };
    let raw = match parse(&source, &limits) {
        Ok(raw) => raw,
        Err(d) => {
            write!(err, "{}", d.render(Some(&source.text)))?;
            return Ok(None);
        }
    };
    let state_dir = layout::state_dir(args.state_dir.as_deref());
    let dirs = crate::plan::plugins::search_dirs(&args.file, Some(&state_dir), &args.plugin_dir);
    let plugins = match crate::plan::plugins::Registry::load(&dirs) {
        Ok((plugins, warnings)) => {
            for w in &warnings {
                write!(err, "{}", w.render(None))?;
            }
            plugins
        }
        Err(diags) => {
            for d in &diags {
                let text = std::fs::read_to_string(&d.file).ok();
                write!(err, "{}", d.render(text.as_deref()))?;
            }
            return Ok(None);
        }
    };
    let options = BuildOptions {
        vars: args.vars.clone(),
        plugins,
        max_instances: args
            .max_instances
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
    };
    let (plan, warnings) = match build(&source, &raw, &options) {
        Ok(ok) => ok,
        Err(diags) => {
            for d in &diags {
                write!(err, "{}", d.render(Some(&source.text)))?;
            }
            let n = diags.iter().filter(|d| d.is_error()).count();
            writeln!(
                err,
                "{}: {n} error{} found",
                source.path,
                if n == 1 { "" } else { "s" }
            )?;
            return Ok(None);
        }
    };
    if !args.quiet {
        for d in warnings.iter().filter(|d: &&Diagnostic| !d.is_error()) {
            write!(err, "{}", d.render(Some(&source.text)))?;
        }
    }
    match &args.target {
        None => Ok(Some(plan)),
        Some(target) => match select_target(plan, target) {
            Ok(plan) => Ok(Some(plan)),
            Err(message) => {
                writeln!(err, "error: {message}")?;
                Ok(None)
            }
        },
    }
}

/// Declared secrets shorter than this are refused: masking them would garble every output.
const MIN_SECRET_LEN: usize = 4;

/// `--dry-run`: levels, resolved commands with placeholder paths, env names, data paths.
fn print_plan(plan: &Plan, env: &Environment, format: Format) -> anyhow::Result<()> {
    let paths = RunPaths {
        records: None,
        run_dir: Path::new("<run-dir>").to_path_buf(),
    };
    let ids = AttemptIds {
        run_id: "<run-id>",
        attempt: 1,
        traceparent: "<traceparent>",
    };
    let secrets: Arc<[Vec<u8>]> = Arc::from(Vec::new());
    let mut nodes = Vec::new();
    // Fan-out (SPEC §9): a static one's instances, each rendered; a dynamic one's command
    // with `<item>` stand-ins.
    let mut fanned: Vec<Option<Vec<(String, String)>>> = Vec::with_capacity(plan.nodes.len());
    for (idx, node) in plan.nodes.iter().enumerate() {
        let view = crate::engine::fanout::dry_run_view(plan, idx);
        let p = prepare(
            plan,
            view.as_ref().map_or(node, |v| &v.0),
            env,
            &paths,
            &ids,
            &secrets,
        )
        .map_err(|e| anyhow::anyhow!("node `{}`: {e}", node.id))?;
        let mut instances = Vec::new();
        for inst in view.iter().flat_map(|v| &v.1) {
            let q = prepare(plan, inst, env, &paths, &ids, &secrets)
                .map_err(|e| anyhow::anyhow!("node `{}`: {e}", inst.id))?;
            instances.push((inst.id.clone(), q.display));
        }
        fanned.push(view.is_some().then_some(instances));
        let deps: Vec<&str> = node
            .deps
            .iter()
            .map(|&d| plan.nodes[d].id.as_str())
            .collect();
        let inputs: serde_json::Map<String, serde_json::Value> = node
            .inputs
            .iter()
            .map(|i| (i.clone(), json!(paths.dataset(i))))
            .collect();
        let outputs: serde_json::Map<String, serde_json::Value> = p
            .outputs
            .iter()
            .map(|(name, scratch)| {
                (
                    name.clone(),
                    json!({"write_to": scratch, "dataset": paths.dataset(name)}),
                )
            })
            .collect();
        nodes.push(json!({
            "id": node.id,
            "type": node.kind,
            "plugin_name": node.plugin_name,
            "level": node.level,
            "depends_on": deps,
            "command": p.display,
            "argv": p.spec.argv.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>(),
            "cwd": p.spec.cwd,
            "env": p.env_names,
            "inputs": inputs,
            "outputs": outputs,
            "timeout_ms": node.timeout.map(|t| t.as_millis() as u64),
            "max_attempts": node.retry.max_attempts,
            "continue_on_error": node.continue_on_error,
            "fanout": node.fanout.as_ref().map(|f| f.label()),
            "instances": fanned[idx].as_ref().map(|list| list
                .iter()
                .map(|(id, command)| json!({"id": id, "command": command}))
                .collect::<Vec<_>>()),
        }));
    }
    let mut out: Vec<u8> = Vec::new();
    if format == Format::Json {
        let levels: Vec<Vec<&str>> = plan
            .levels
            .iter()
            .map(|l| l.iter().map(|&i| plan.nodes[i].id.as_str()).collect())
            .collect();
        let doc = json!({
            "workflow": plan.name,
            "recipe_path": plan.recipe_path,
            "recipe_sha256": plan.recipe_sha256,
            "vars": plan.vars,
            "levels": levels,
            "nodes": nodes,
        });
        serde_json::to_writer_pretty(&mut out, &doc)?;
        writeln!(out)?;
        return emit_masked(env, &out);
    }
    writeln!(
        out,
        "plan `{}`: {} node(s) in {} level(s); nothing will be executed",
        plan.name,
        plan.nodes.len(),
        plan.levels.len()
    )?;
    for (k, level) in plan.levels.iter().enumerate() {
        writeln!(out, "level {k}:")?;
        for &i in level {
            let n = &nodes[i];
            let node = &plan.nodes[i];
            writeln!(out, "  {} ({})", node.id, node.kind)?;
            writeln!(out, "    command: {}", n["command"].as_str().unwrap_or(""))?;
            match (node.fanout.as_deref(), &fanned[i]) {
                (Some(f), Some(list)) if f.static_len().is_some() => {
                    writeln!(out, "    {} {}:", node.id, f.label())?;
                    for (id, command) in list {
                        writeln!(out, "      {id}: {command}")?;
                    }
                }
                (Some(f), _) => writeln!(out, "    {} {} (known at run time)", node.id, f.label())?,
                _ => {}
            }
            writeln!(
                out,
                "    env: {}",
                n["env"].as_array().map_or(String::new(), |a| a
                    .iter()
                    .filter_map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(" "))
            )?;
            for input in &node.inputs {
                writeln!(
                    out,
                    "    input  {input}: {}",
                    paths.dataset(input).display()
                )?;
            }
            for output in &node.outputs {
                writeln!(
                    out,
                    "    output {output}: {}",
                    paths.dataset(output).display()
                )?;
            }
        }
    }
    emit_masked(env, &out)
}

/// Writes `text` to stdout with every secret value masked: a value given by `--var` may
/// still be one.
fn emit_masked(env: &Environment, text: &[u8]) -> anyhow::Result<()> {
    let text = String::from_utf8_lossy(text);
    // Names, commands and values are the recipe's and the caller's: no control character
    // reaches the terminal raw (JSON output escapes them itself).
    let text = crate::escape::escape_lines(&text);
    let redactor = crate::telemetry::Redactor::new(env.secret_values());
    std::io::stdout()
        .lock()
        .write_all(redactor.redact(&text).as_bytes())?;
    Ok(())
}

/// The executor for `plan`: local, Slurm, or both routed per node.
fn executor_for(plan: &Plan, run_id: &str) -> anyhow::Result<Arc<dyn crate::engine::Executor>> {
    use crate::slurm::executor::{SlurmExecutor, SlurmExecutorConfig};
    let slurm_nodes: std::collections::HashSet<String> = plan
        .nodes
        .iter()
        .filter(|n| n.executor == ExecutorKind::Slurm)
        .map(|n| n.id.clone())
        .collect();
    if slurm_nodes.is_empty() {
        return Ok(Arc::new(LocalExecutor::new()));
    }
    let slurm = Arc::new(SlurmExecutor::new(SlurmExecutorConfig::for_plan(
        plan, run_id,
    )?));
    if slurm_nodes.len() == plan.nodes.len() {
        return Ok(slurm);
    }
    Ok(Arc::new(crate::engine::executor::ByNode {
        default: Arc::new(LocalExecutor::new()),
        other: slurm,
        other_nodes: slurm_nodes,
    }))
}
