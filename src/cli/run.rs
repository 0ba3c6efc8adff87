//! `secflow run-workflow FILE` (alias `run`): validate, plan, then execute with the local
//! executor, recording the run under `<state-dir>/runs/<run-id>/`.
//!
//! Human output (progress lines, summary) goes to stderr; `--format json` prints run.json on
//! stdout at every exit of a run (0, 1, 130). `--dry-run` prints the plan and runs nothing.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use serde_json::json;

use super::{Format, RunArgs};
use crate::diag::Diagnostic;
use crate::engine::plain::PlainConsole;
use crate::engine::prepare::{AttemptIds, absolute, prepare};
use crate::engine::{
    Control, EngineConfig, Environment, FailurePolicy, LocalExecutor, RunContext, RunPaths, Sink,
    execute,
};
use crate::exit;
use crate::plan::{BuildOptions, Plan, build, is_valid_name, select_target};
use crate::recipe::{parse, read_source};
use crate::store::{RunJsonSink, layout};

pub fn run(args: &RunArgs) -> anyhow::Result<i32> {
    let Some(plan) = load_plan(args)? else {
        return Ok(exit::INVALID);
    };
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
    let state_dir = layout::state_dir(args.state_dir.as_deref());
    let run_dir = absolute(&layout::runs_dir(&state_dir).join(&run_id));
    if run_dir.exists() {
        eprintln!(
            "error: run `{run_id}` already exists in {}",
            run_dir.display()
        );
        return Ok(exit::INVALID);
    }
    for sub in ["nodes", "datasets"] {
        std::fs::create_dir_all(run_dir.join(sub))
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", run_dir.join(sub).display()))?;
    }

    let concurrency = args
        .concurrency
        .map(|c| c as usize)
        .or(plan.concurrency)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let inbound = std::env::var("TRACEPARENT").ok();
    let (trace, warning) = crate::telemetry::trace::run_trace_ids(inbound.as_deref());
    if let Some(w) = warning {
        eprintln!("warning: {w}");
    }
    let ctx = Arc::new(RunContext {
        run_id,
        run_dir,
        plan: Arc::new(plan),
        trace,
        executor: "local".into(),
        concurrency,
        started_at: SystemTime::now(),
        secret_values: env.secret_values(),
        resumed_from: None,
    });
    let config = EngineConfig {
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
    let sinks: Vec<Box<dyn Sink>> = vec![
        Box::new(PlainConsole::new(args.quiet)),
        // Last: it writes the record as the sinks before it completed it.
        Box::new(RunJsonSink::new(&ctx)),
    ];

    release_parse_memory();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(async {
        let (control_tx, control_rx) = tokio::sync::mpsc::unbounded_channel();
        listen_for_signals(control_tx)?;
        anyhow::Ok(
            execute(
                ctx,
                config,
                Arc::new(LocalExecutor::new()),
                env,
                sinks,
                control_rx,
            )
            .await,
        )
    })?;
    for e in &outcome.sink_errors {
        eprintln!("warning: {e:#}");
    }
    if args.format == Format::Json {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, &outcome.record)?;
        writeln!(out)?;
    }
    // Children and watchers are done; don't wait for idle blocking threads.
    runtime.shutdown_background();
    Ok(outcome.exit_code)
}

/// Hands the memory freed after parsing back to the OS: the run allocates on other threads
/// (other malloc arenas), so without this a big recipe's parse stays resident all run long.
fn release_parse_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free heap pages; no pointer is invalidated.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// First SIGINT/SIGTERM: cancel with grace; any further one: kill at once.
fn listen_for_signals(tx: tokio::sync::mpsc::UnboundedSender<Control>) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        let mut seen = 0;
        loop {
            tokio::select! {
                s = int.recv() => if s.is_none() { return },
                s = term.recv() => if s.is_none() { return },
            }
            seen += 1;
            let c = if seen == 1 {
                Control::Cancel
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
    let options = BuildOptions {
        vars: args.vars.clone(),
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

/// `--dry-run`: levels, resolved commands with placeholder paths, env names, data paths.
fn print_plan(plan: &Plan, env: &Environment, format: Format) -> anyhow::Result<()> {
    let paths = RunPaths {
        run_dir: Path::new("<run-dir>").to_path_buf(),
    };
    let ids = AttemptIds {
        run_id: "<run-id>",
        attempt: 1,
        traceparent: "<traceparent>",
    };
    let secrets: Arc<[Vec<u8>]> = Arc::from(Vec::new());
    let mut nodes = Vec::new();
    for node in &plan.nodes {
        let p = prepare(plan, node, env, &paths, &ids, &secrets)
            .map_err(|e| anyhow::anyhow!("node `{}`: {e}", node.id))?;
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
        }));
    }
    let mut out = std::io::stdout().lock();
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
        return Ok(());
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
    Ok(())
}
