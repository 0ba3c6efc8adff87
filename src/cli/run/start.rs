//! Everything between a valid plan and a run that can start: its id and directory, the
//! executor and concurrency, trace ids, what it resumes, the live metrics listener, and the
//! engine's context and settings. Anything that refuses the run does so before the run
//! directory exists.

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use super::config::RunConfig;
use super::sinks::{Before, Refused};
use crate::cli::RunArgs;
use crate::engine::prepare::absolute;
use crate::engine::resume::ResumeSource;
use crate::engine::{EngineConfig, Executor, LocalExecutor, RunContext};
use crate::exit;
use crate::plan::{ExecutorKind, Plan, is_valid_name};
use crate::store::layout;

/// A run ready to execute.
pub(super) struct Started {
    pub ctx: Arc<RunContext>,
    pub engine: EngineConfig,
    pub executor: Arc<dyn Executor>,
    pub before: Before,
}

/// Prepares the run of `plan`; `validate` is when its validation started and ended.
pub(super) fn start(
    args: &RunArgs,
    config: &RunConfig,
    mut plan: Plan,
    secret_values: Vec<String>,
    validate: (SystemTime, SystemTime),
) -> anyhow::Result<Result<Started, Refused>> {
    let state_dir = &config.state_dir;
    let run_id = match &args.run_id {
        Some(id) if !is_valid_name(id) => {
            return Ok(Err(Refused::invalid(format!(
                "--run-id `{id}` is not a valid id (letters, digits, `_`, `.`, `-`)"
            ))));
        }
        Some(id) => id.clone(),
        None => layout::new_run_id(),
    };
    let run_dir = absolute(&layout::runs_dir(state_dir).join(&run_id));
    if run_dir.exists() {
        return Ok(Err(Refused::invalid(format!(
            "run `{run_id}` already exists in {}",
            run_dir.display()
        ))));
    }
    if let Some(kind) = args.executor.as_deref().and_then(ExecutorKind::parse) {
        for node in &mut plan.nodes {
            node.executor = kind;
        }
    }
    let executor = executor_for(&plan, &run_id)?;
    let concurrency = match concurrency(args, &plan, executor.name()) {
        Ok(c) => c,
        Err(e) => return Ok(Err(Refused::invalid(e.to_string()))),
    };
    let (trace, warning) = crate::event::trace::run_trace_ids(config.traceparent.as_deref());
    if let Some(w) = warning {
        eprintln!("warning: {w}");
    }
    let resume = match resume_source(args, &plan, config) {
        Ok(r) => r,
        Err(message) => return Ok(Err(Refused::invalid(message))),
    };
    // The node cache is signed with the run's audit key (an entry a tool planted is none).
    let cache = if plan.state.cache_intermediate && !args.no_cache {
        let env_key = crate::audit::key::env_key();
        match crate::audit::AuditKey::for_run(
            env_key.as_deref(),
            config.audit_key_file.as_deref(),
            state_dir,
        ) {
            Ok(key) => {
                let sign = crate::store::cache::Signer(Arc::new(move |parts| key.hmac_hex(parts)));
                Some(crate::store::cache::Cache::new(state_dir, sign))
            }
            Err(e) => return Ok(Err(Refused::invalid(format!("audit key: {e}")))),
        }
    } else {
        None
    };
    // Bound before the run directory exists: a busy port refuses the run (exit 2).
    let live_metrics = match config.metrics.listen.as_deref() {
        Some(addr) => match crate::serve::live::LiveListener::bind(addr) {
            Ok(listener) => Some(listener),
            Err(e) => return Ok(Err(Refused::invalid(e))),
        },
        None => None,
    };
    // Everything that can refuse the run is checked above: only now does its directory exist.
    let run_dir_fd = match create_run_dir(state_dir, &run_dir) {
        Ok(fd) => fd,
        Err(message) => {
            return Ok(Err(Refused {
                message,
                code: exit::RECORDS_INCOMPLETE,
            }));
        }
    };
    let reuse = crate::engine::reuse::Reuse {
        cache,
        resume: resume.clone(),
    };
    let ctx = Arc::new(RunContext {
        records: Arc::new(crate::store::RecordHealth::with_dir(run_dir_fd)),
        record: Default::default(),
        run_id,
        run_dir,
        plan: Arc::new(plan),
        trace,
        executor: executor.name().into(),
        concurrency,
        started_at: SystemTime::now(),
        secret_values,
        resumed_from: resume.as_ref().map(|r| r.run_id.clone()),
    });
    let engine = EngineConfig {
        reuse,
        concurrency,
        policy: config.policy,
        run_timeout: config.run_timeout,
        jitter: config.jitter,
        ..EngineConfig::new(exit::for_run)
    };
    Ok(Ok(Started {
        ctx,
        engine,
        executor,
        before: Before {
            validate,
            live_metrics,
        },
    }))
}

/// `--concurrency`, else the recipe's, else 100 Slurm jobs or one attempt per CPU; a local
/// run's is lowered to what the open-file limit holds.
fn concurrency(args: &RunArgs, plan: &Plan, executor: &str) -> anyhow::Result<usize> {
    let concurrency = args
        .concurrency
        .map(|c| c as usize)
        .or(plan.concurrency)
        .unwrap_or_else(|| match executor {
            // Slurm queues the work itself: keep up to 100 jobs submitted.
            "slurm" => 100,
            _ => std::thread::available_parallelism().map_or(1, |n| n.get()),
        })
        .max(1);
    if executor == "slurm" {
        return Ok(concurrency);
    }
    within_descriptor_budget(concurrency)
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

/// `--resume last`: the newest run (by start time) of the workflow called `name` (its
/// chain is checked when it is loaded).
fn newest_run_of(state_dir: &Path, name: &str) -> Result<std::path::PathBuf, String> {
    let runs = layout::runs_dir(state_dir);
    super::resume::run_ids(state_dir)
        .into_iter()
        .filter_map(|id| super::resume::read_run(state_dir, &id).map(|r| (id, r)))
        .filter(|(_, record)| record.workflow.name == name)
        .max_by(|(a_id, a), (b_id, b)| (&a.started_at, a_id).cmp(&(&b.started_at, b_id)))
        .map(|(id, _)| runs.join(id))
        .ok_or_else(|| {
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
    config: &RunConfig,
) -> Result<Option<Arc<ResumeSource>>, String> {
    let state_dir = config.state_dir.as_path();
    if let Some(arg) = &args.resume {
        let dir = if arg == "last" {
            newest_run_of(state_dir, &plan.name)?
        } else {
            crate::store::resolve::resolve_run(state_dir, arg).map_err(|e| e.to_string())?
        };
        let source = super::resume::load(&dir, config)?.source;
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
    Ok(last_failed_run(plan, config).map(Arc::new))
}

/// With `state.resume_on_failure`: the latest run of this recipe (sha256) and vars, when it
/// failed or was cancelled and its audit chain says so too. A run whose chain does not
/// verify is not resumed: the run starts over, with a warning.
fn last_failed_run(plan: &Plan, config: &RunConfig) -> Option<ResumeSource> {
    use crate::store::RunStatus;
    // Newest first, reading no further than the first run of this recipe and vars.
    let (id, record) = super::resume::run_ids(&config.state_dir)
        .into_iter()
        .rev()
        .filter_map(|id| super::resume::read_run(&config.state_dir, &id).map(|r| (id, r)))
        .find(|(_, r)| r.workflow.recipe_sha256 == plan.recipe_sha256 && r.vars == plan.vars)?;
    if !matches!(record.status, RunStatus::Failed | RunStatus::Cancelled) {
        return None;
    }
    let dir = layout::runs_dir(&config.state_dir).join(&id);
    match super::resume::load(&dir, config) {
        Ok(v)
            if v.recipe_sha256 == plan.recipe_sha256
                && v.source.workflow == plan.name
                && !v.succeeded =>
        {
            eprintln!(
                "resuming run {id} ({}): state.resume_on_failure is set; pass --fresh to start over",
                record.status.as_str()
            );
            Some(v.source)
        }
        Ok(_) => {
            eprintln!(
                "warning: not resuming run {id}: its audit trail does not record a failed run \
                 of this recipe; starting over"
            );
            None
        }
        Err(e) => {
            eprintln!("warning: not resuming: {e}; starting over");
            None
        }
    }
}

/// Descriptors one running local attempt holds in secflow: two log files, the stdout and
/// stderr pipes' read ends, the report socket, the telemetry FIFO, and its shim's socket and
/// pidfd (an idle shim holds those two as well); plus one to spare. (Three more only while
/// a request is sent, one attempt at a time.)
const FDS_PER_ATTEMPT: u64 = 9;
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
