//! `secflow run-workflow FILE` (alias `run`): validate, plan, then execute with the local
//! executor, recording the run under `<state-dir>/runs/<run-id>/`.
//!
//! Human output (progress lines, summary) goes to stderr; `--format json` prints run.json on
//! stdout at every exit of a run (0, 1, 129–143). `--dry-run` prints the plan and runs nothing.
//!
//! The steps, one file each: the arguments become a [`config::RunConfig`] (no I/O), the
//! plan is loaded here, [`start`] prepares the run (id, directory, executor, context),
//! [`sinks::build`] wires every sink and exporter in one place, the engine executes, and its
//! outcome becomes the exit code. [`signals`] turns signals into engine controls;
//! [`dry_run`] prints the plan instead.

mod config;
mod dry_run;
mod resume;
mod signals;
mod sinks;
mod start;

use std::io::Write as _;
use std::sync::Arc;
use std::time::SystemTime;

use super::{Format, RunArgs};
use crate::diag::Diagnostic;
use crate::engine::{Environment, LocalExecutor, Outcome, RunContext, execute};
use crate::exit;
use crate::plan::{BuildOptions, Plan, build, select_target};
use crate::recipe::{parse, read_source};
use config::RunConfig;
use sinks::Refused;

pub fn run(args: &RunArgs) -> anyhow::Result<i32> {
    let config = match RunConfig::new(args, |k| std::env::var(k).ok()) {
        Ok(config) => config,
        Err(message) => return Ok(refuse(Refused::invalid(message))),
    };
    // SPEC §10: a state directory others can write (or a symlinked one) is refused before
    // anything is read from it (plugins) or written to it; a dry run only reads: a warning.
    if args.dry_run {
        crate::store::trust::warn(&config.state_dir);
    } else if let Err(message) = crate::store::trust::require(&config.state_dir) {
        return Ok(refuse(Refused::invalid(message)));
    }
    let validate_start = SystemTime::now();
    let Some(plan) = load_plan(args, &config)? else {
        return Ok(exit::INVALID);
    };
    let validate = (validate_start, SystemTime::now());
    let env = match capture_environment(&plan) {
        Ok(env) => env,
        Err(refused) => return Ok(refuse(refused)),
    };
    if args.dry_run {
        dry_run::print_plan(&plan, &env, config.format)?;
        return Ok(exit::SUCCESS);
    }
    let mut run = match start::start(args, &config, plan, env.secret_values(), validate)? {
        Ok(run) => run,
        Err(refused) => return Ok(refuse(refused)),
    };
    // A local run drives everything from one thread: starting an attempt never blocks (the
    // child execs on its own, see engine::spawn), and the scheduler, the supervisors and the
    // output pumps then share one thread with no cross-thread wake-ups between them
    // (WIDE-1000: 1.01× xargs in mean against 1.05× with a worker per CPU; a chain of quick
    // nodes: about a tenth faster). Tools run in parallel whatever secflow's thread count;
    // the records have threads of their own. Slurm runs keep a worker pool.
    let single_threaded = run.executor.name() == "local";
    // The runtime and the signal handlers before any sink: once a sink exists, the only way
    // out is through the engine, which finishes every sink.
    let runtime = runtime(single_threaded)?;
    if run.executor.name() != "slurm"
        && let Err(e) = LocalExecutor::start_spawner()
    {
        return Ok(refuse(Refused::invalid(e.to_string())));
    }
    let (control_tx, control_rx) = tokio::sync::mpsc::unbounded_channel();
    {
        let _in_runtime = runtime.enter();
        run.engine.interrupt = signals::listen(control_tx)?;
    }
    let ctx = Arc::clone(&run.ctx);
    let sinks = match sinks::build(&ctx, &config, run.before) {
        Ok(sinks) => sinks,
        Err(refused) => return Ok(refuse(refused)),
    };
    // Hand the memory the parse freed back to the system (a Slurm run allocates on other
    // threads, in other malloc arenas): a big recipe's parse must not stay resident all run.
    crate::sinks::metrics::release_free_memory();
    let engine = execute(
        Arc::clone(&ctx),
        run.engine,
        run.executor,
        Arc::new(env),
        sinks,
        control_rx,
    );
    let mut outcome = block_on(&runtime, single_threaded, engine)?;
    // Every attempt has ended: the spawner goes too (and nothing it started outlives it).
    LocalExecutor::stop_spawner();
    report_records(&ctx, &mut outcome);
    if config.format == Format::Json {
        print_record(&outcome.record)?;
    }
    // Children and watchers are done; don't wait for idle blocking threads.
    runtime.shutdown_background();
    Ok(outcome.exit_code)
}

/// One thread for a local run, a worker pool otherwise (see `run`).
fn runtime(single_threaded: bool) -> std::io::Result<tokio::runtime::Runtime> {
    if single_threaded {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    }
    .enable_all()
    .build()
}

/// Runs the engine to the end. On a worker pool the scheduler runs as a task on a worker,
/// like the attempts' tasks: their reports to it and its spawns for them then mostly stay on
/// one thread instead of waking the main thread and back for every node.
fn block_on(
    runtime: &tokio::runtime::Runtime,
    single_threaded: bool,
    engine: impl std::future::Future<Output = Outcome> + Send + 'static,
) -> anyhow::Result<Outcome> {
    if single_threaded {
        return Ok(runtime.block_on(engine));
    }
    match runtime.block_on(runtime.spawn(engine)) {
        Ok(outcome) => Ok(outcome),
        Err(e) => match e.try_into_panic() {
            // The scheduler panicked: carry on unwinding as if it had run here.
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => anyhow::bail!("the engine stopped before the run ended: {e}"),
        },
    }
}

/// Says why the run was refused; returns its exit code.
fn refuse(refused: Refused) -> i32 {
    eprintln!("error: {}", refused.message);
    refused.code
}

/// The process environment the plan's nodes get; refuses declared secrets that are unset or
/// too short to mask.
fn capture_environment(plan: &Plan) -> Result<Environment, Refused> {
    let env = Environment::capture(plan).map_err(|missing| {
        Refused::invalid(format!(
            "declared secret{} not set in the environment: {}\n  help: export them before \
             running, or remove them from `secrets:`",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", ")
        ))
    })?;
    let short: Vec<&str> = env
        .secrets
        .iter()
        .filter(|(_, v)| v.len() < MIN_SECRET_LEN)
        .map(|(k, _)| k.as_str())
        .collect();
    if !short.is_empty() {
        return Err(Refused::invalid(format!(
            "declared secret{} shorter than {MIN_SECRET_LEN} bytes: {}\n  help: masking so \
             short a value would garble every record; use a real secret, or remove it from \
             `secrets:`",
            if short.len() == 1 { " is" } else { "s are" },
            short.join(", ")
        )));
    }
    Ok(env)
}

/// `--format json`: the final run record on stdout.
fn print_record(record: &crate::store::RunRecord) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let written = serde_json::to_writer_pretty(&mut out, record)
        .map_err(std::io::Error::from)
        .and_then(|()| writeln!(out));
    // After a hangup the console may be gone: the records on disk are what counts.
    match written {
        Err(e) if !signals::HUNG_UP.load(std::sync::atomic::Ordering::Relaxed) => Err(e.into()),
        _ => Ok(()),
    }
}

/// SPEC §10 "Records fail closed": says once why the records are incomplete (and each other
/// sink error once), and makes a run whose records failed end `failed` with exit 4 — also
/// when the failure came as the records were being finished — unless a signal ended it.
fn report_records(ctx: &RunContext, outcome: &mut Outcome) {
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
    // Failed while the records were being finished: the run.json sink, last to finish, wrote
    // the record so (`crate::sinks::run_json::mark_records_incomplete`); the same here for
    // `--format json`.
    crate::sinks::run_json::mark_records_incomplete(&mut outcome.record);
    outcome.exit_code = exit::RECORDS_INCOMPLETE;
}

/// Reads, validates and narrows the plan; prints diagnostics. `None`: invalid (exit 2).
fn load_plan(args: &RunArgs, config: &RunConfig) -> anyhow::Result<Option<Plan>> {
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
            write!(err, "{}", render_in(&d, &source))?;
            return Ok(None);
        }
    };
    let dirs =
        crate::plan::plugins::search_dirs(&args.file, Some(&config.state_dir), &args.plugin_dir);
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
                write!(err, "{}", render_in(d, &source))?;
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
            write!(err, "{}", render_in(d, &source))?;
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

/// A recipe diagnostic with its source line, from the included file it points into if so.
fn render_in(d: &Diagnostic, source: &crate::recipe::Source) -> String {
    if d.file == source.path {
        d.render(Some(&source.text))
    } else {
        d.render(std::fs::read_to_string(&d.file).ok().as_deref())
    }
}

/// Declared secrets shorter than this are refused: masking them would garble every output.
const MIN_SECRET_LEN: usize = 4;
