//! The command line: every flag defined once here (help, man page and completions are
//! generated from it), one file per command, and the one place errors become exit codes.

pub mod analyze;
mod audit;
mod completions;
pub mod emit;
mod export;
mod graph;
mod logs;
pub mod metrics;
mod plugins;
mod run;
mod runs;
mod schema;
mod validate;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::exit;

/// A workflow runner with built-in observability.
#[derive(Debug, Parser)]
#[command(name = "secflow", version, about, max_term_width = 100)]
pub struct Cli {
    /// Debug mode: debug records in logs.jsonl and on the console, the resolved plan
    /// before execution, a failing node's config and stderr tail (like
    /// SECFLOW_LOG_LEVEL=DEBUG).
    #[arg(long, global = true)]
    pub debug: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// Each command's arguments are built only when it is the one invoked (`defer`): building
/// the whole tree cost ~200 KiB of heap and ~85 page faults at every start. A deferred
/// command's `Args` struct would replace the command's about with its own doc comment, so
/// those structs carry plain `//` comments (the man pages test checks every about).
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Check recipes and report every problem with file:line:col.
    #[command(visible_alias = "validate")]
    ValidateRecipe(ValidateArgs),
    /// Run a workflow and record it under <state-dir>/runs/<run-id>/.
    #[command(visible_alias = "run")]
    RunWorkflow(Box<RunArgs>),
    /// Performance report from recorded runs: one, several, or against a baseline.
    #[command(visible_alias = "analyze")]
    PerformanceAnalysis(AnalyzeArgs),
    /// Print the JSON Schema of the recipe format (or of a record kind).
    Schema(SchemaArgs),
    /// Print shell completions.
    Completions(CompletionsArgs),
    /// List the node types available and where each comes from.
    Plugins(PluginsArgs),
    /// Simulate one of SecFlow's tools (used by the built-in plugins).
    #[command(hide = true)]
    Stub {
        #[arg(value_enum)]
        tool: crate::stub::Tool,
    },
    /// Check a run's tamper-evident audit trail.
    Audit(AuditArgs),
    /// Print a run's metrics snapshot (table, json or Prometheus text).
    Metrics(metrics::MetricsArgs),
    /// Show a run's logs, or a node's captured stdout/stderr.
    Logs(LogsArgs),
    /// Send a recorded run's spans, logs and metrics to an OpenTelemetry collector.
    Export(export::ExportArgs),
    /// The history of recorded runs: list, show, prune.
    Runs(runs::RunsArgs),
    /// Serve a state directory: web UI, /metrics, /api/runs, health (read-only).
    Serve(crate::serve::ServeArgs),
    /// Run one attempt's command inside a Slurm job and record its usage (internal).
    #[command(hide = true)]
    JobWrapper(JobWrapperArgs),
    /// Draw a recipe's DAG (DOT, Mermaid, JSON or a self-contained SVG).
    Graph(GraphArgs),
    /// Send a log line, metric, progress or finding from a node's tool to secflow
    /// (SECFLOW_EVENTS); outside a run it warns and exits 0.
    Emit(emit::EmitArgs),
}

// `secflow graph`: see `crate::graph`.
#[derive(Debug, Args)]
pub struct GraphArgs {
    /// The recipe to draw.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Output format; an invalid recipe prints its diagnostics and exits 2.
    #[arg(long, value_enum, default_value_t = crate::graph::GraphFormat::Dot)]
    pub format: crate::graph::GraphFormat,
    #[command(flatten)]
    pub limits: LimitArgs,
}

// `secflow job-wrapper`: see `crate::slurm::wrapper`.
#[derive(Debug, Args)]
pub struct JobWrapperArgs {
    /// Where to write the usage record (JSON).
    #[arg(long, value_name = "PATH")]
    pub usage_file: PathBuf,
    /// Start the command with exactly the variables in this file (deleted once read).
    #[arg(long, value_name = "PATH")]
    pub env_file: Option<PathBuf>,
    /// Working directory of the command.
    #[arg(long, value_name = "DIR")]
    pub chdir: Option<PathBuf>,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "ARGV")]
    pub argv: Vec<std::ffi::OsString>,
}

#[derive(Debug, Args)]
pub struct PluginsArgs {
    #[command(subcommand)]
    pub command: PluginsCommand,
}

#[derive(Debug, Subcommand)]
pub enum PluginsCommand {
    /// Node types: type, plugin, version, category, source.
    List {
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Also search `plugins/` beside this recipe.
        #[arg(long, value_name = "FILE")]
        recipe: Option<PathBuf>,
        /// Extra directories of plugin manifests, searched last.
        #[arg(long, value_name = "DIR")]
        plugin_dir: Vec<PathBuf>,
        #[command(flatten)]
        state: StateDirArg,
    },
}

// `--state-dir`, defined once: every command that reads or writes runs flattens it.
#[derive(Debug, Clone, Args)]
pub struct StateDirArg {
    /// Where runs are recorded (runs live in DIR/runs/).
    #[arg(
        long = "state-dir",
        env = "SECFLOW_HOME",
        value_name = "DIR",
        default_value = ".secflow",
        global = true
    )]
    pub state_dir: PathBuf,
}

/// Output format of commands that print data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people: text and tables.
    Human,
    /// Stable JSON, documented in README.md.
    Json,
}

// Bounds on what reading a recipe may cost.
#[derive(Debug, Clone, Args)]
pub struct LimitArgs {
    /// Largest recipe file accepted, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 1024 * 1024)]
    pub max_bytes: u64,
    /// Most nodes a recipe may declare.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub max_nodes: usize,
}

impl LimitArgs {
    pub fn limits(&self) -> crate::recipe::Limits {
        crate::recipe::Limits {
            max_bytes: self.max_bytes,
            max_nodes: self.max_nodes,
            ..Default::default()
        }
    }
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Recipe files to check.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// When to draw the progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Progress {
    Never,
    /// Only on a terminal.
    Auto,
    Always,
}

/// `--show-output`: how much of the tools' own output the console shows (SPEC §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShowOutput {
    /// None: only statuses and the summary.
    Never,
    /// The last 20 lines of a failed attempt's stderr and stdout, under its summary.
    Failure,
    /// Every line of every node, live, prefixed `[node-id] ` (no progress display).
    Always,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The recipe to run.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Print the plan (levels, commands, env names, data paths) and run nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Override a recipe variable (repeatable).
    #[arg(long = "var", value_name = "KEY=VALUE", value_parser = parse_var)]
    pub vars: Vec<(String, String)>,
    /// Most attempts running at once (default: the recipe's, else the number of CPUs).
    #[arg(long, value_name = "N", value_parser = parse_concurrency)]
    pub concurrency: Option<u32>,
    /// After a failure, still run every node whose inputs exist.
    #[arg(long, conflicts_with = "fail_fast")]
    pub keep_going: bool,
    /// After a failure, terminate running nodes too.
    #[arg(long)]
    pub fail_fast: bool,
    #[command(flatten)]
    pub state: StateDirArg,
    /// Extra directories of plugin manifests, searched after `plugins/` beside the recipe
    /// and `<state-dir>/plugins`.
    #[arg(long, value_name = "DIR")]
    pub plugin_dir: Vec<PathBuf>,
    /// Send spans, logs and metrics to this OpenTelemetry collector (OTLP/HTTP base URL);
    /// overrides `OTEL_EXPORTER_OTLP_*ENDPOINT`.
    #[arg(long, value_name = "URL")]
    pub otlp_endpoint: Option<String>,
    #[command(flatten)]
    pub metrics: metrics::RunMetricsArgs,
    /// Audit key file (hex or base64); default `SECFLOW_AUDIT_KEY`, else `<state-dir>/audit.key`.
    #[arg(long, value_name = "FILE")]
    pub audit_key_file: Option<PathBuf>,
    /// Re-run only the nodes of RUN that did not succeed, reusing the datasets of the rest
    /// (a node whose definition, inputs or sources changed runs again, with a warning).
    /// `last` is the newest run of this workflow (same `name`).
    #[arg(long, value_name = "RUN", conflicts_with = "fresh", add = clap_complete::ArgValueCandidates::new(completions::runs))]
    pub resume: Option<String>,
    /// With `--resume`: resume a run of another workflow (another `name`) anyway.
    #[arg(long, requires = "resume")]
    pub force: bool,
    /// Start over even when `state.resume_on_failure` would resume the last failed run.
    #[arg(long)]
    pub fresh: bool,
    /// Neither read nor write the node cache (`state.cache_intermediate`).
    #[arg(long)]
    pub no_cache: bool,
    /// Use this run id instead of a new ULID.
    #[arg(long, value_name = "ID")]
    pub run_id: Option<String>,
    /// Time limit for the whole run (`90`, `30s`, `5m`).
    #[arg(long, value_name = "DURATION", value_parser = parse_timeout_arg)]
    pub timeout: Option<std::time::Duration>,
    /// Run only this node and everything upstream of it.
    #[arg(long, value_name = "NODE")]
    pub target: Option<String>,
    /// Run every node on this executor, whatever the recipe says.
    #[arg(long, value_name = "EXECUTOR", value_parser = ["local", "slurm"])]
    pub executor: Option<String>,
    /// Only failures and the summary on stderr.
    #[arg(long, short)]
    pub quiet: bool,
    /// When to draw the progress display.
    #[arg(long, value_enum, default_value_t = Progress::Auto)]
    pub progress: Progress,
    /// `json` prints run.json on stdout when the run ends.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Tools' output on the console: the last 20 lines of a failed attempt's stderr and
    /// stdout (`failure`), every line live prefixed `[node-id] ` (`always`), or `never`.
    #[arg(long, value_enum, default_value_t = ShowOutput::Failure)]
    pub show_output: ShowOutput,
    /// `json` prints the log records (the lines of logs.jsonl) on stdout instead of human
    /// lines on stderr; not with `--format json`.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub log_format: Format,
    /// Most instances one `foreach`/`matrix` node may fan out to (default 10000; a node's
    /// own `max_instances` wins).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_instances: Option<u64>,
}

fn parse_var(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got `{s}`")),
    }
}

/// `--timeout`: like a recipe's `timeout`, zero is refused (leave it out for no limit).
fn parse_timeout_arg(s: &str) -> Result<std::time::Duration, String> {
    match crate::recipe::parse_duration(s)? {
        d if d.is_zero() => {
            Err("must be greater than zero (leave --timeout out for no limit)".into())
        }
        d => Ok(d),
    }
}

/// `--concurrency`: the same range, said the same way, as the recipe's `concurrency`.
fn parse_concurrency(s: &str) -> Result<u32, String> {
    s.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| crate::recipe::CONCURRENCY_RANGE.to_string())
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Runs: an id, a unique id prefix, `last`, or a run directory path (containing `/`).
    #[arg(value_name = "RUN", add = clap_complete::ArgValueCandidates::new(completions::runs))]
    pub runs: Vec<String>,
    /// The newest N runs (of `--workflow`, if given).
    #[arg(long, value_name = "N")]
    pub last: Option<usize>,
    /// Only runs of this workflow (all of them unless `--last`).
    #[arg(long, value_name = "NAME", add = clap_complete::ArgValueCandidates::new(completions::workflows))]
    pub workflow: Option<String>,
    /// Compare against this run instead of the median of the earlier runs.
    #[arg(long, value_name = "RUN", add = clap_complete::ArgValueCandidates::new(completions::runs))]
    pub baseline: Option<String>,
    /// Relative growth of a node's median beyond which it is a regression, in percent.
    #[arg(long, value_name = "PERCENT", default_value = "10", value_parser = analyze::parse_percent)]
    pub threshold: f64,
    /// Absolute duration growth below which nothing is flagged (noise floor).
    #[arg(long, value_name = "MS", default_value_t = 50)]
    pub noise_ms: u64,
    /// Absolute peak-RSS growth below which nothing is flagged, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 5)]
    pub noise_mib: u64,
    /// Exit 3 when a regression is flagged (for CI).
    #[arg(long)]
    pub fail_on_regression: bool,
    /// Report format (default: from `--output`'s extension — `.html`, `.md`, `.json` —, else
    /// `table`).
    #[arg(long, value_enum)]
    pub format: Option<analyze::ReportFormatArg>,
    /// Write the report to FILE instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub state: StateDirArg,
    /// Threads reading logs.jsonl (default: available cores, at most 4).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Only this node in the node sections: a node id, an instance id (`scan@3`), or a
    /// fan-out template id (every instance, and the template's group).
    #[arg(long, value_name = "ID", add = clap_complete::ArgValueCandidates::new(completions::nodes))]
    pub node: Option<String>,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Print the schema of a record kind instead of the recipe format.
    #[arg(long, value_enum, value_name = "KIND")]
    pub record: Option<schema::RecordKind>,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// A run id, a unique id prefix, `last`, or a run directory path.
    #[arg(value_name = "RUN", add = clap_complete::ArgValueCandidates::new(completions::runs))]
    pub run: String,
    /// Only this node's records (with --stdout/--stderr: whose output to print).
    #[arg(long, value_name = "ID", add = clap_complete::ArgValueCandidates::new(completions::nodes))]
    pub node: Option<String>,
    /// Only records at this level or above (TRACE, DEBUG, INFO, WARN, ERROR).
    #[arg(long, value_name = "LEVEL")]
    pub level: Option<String>,
    /// Only records of this W3C trace id.
    #[arg(long, value_name = "TRACE_ID")]
    pub trace_id: Option<String>,
    /// Only records at or after this RFC 3339 time, or this long ago (10m, 1h).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Keep printing new records until the run ends.
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Print the node's captured stdout.
    #[arg(long, requires = "node", conflicts_with = "stderr")]
    pub stdout: bool,
    /// Print the node's captured stderr.
    #[arg(long, requires = "node")]
    pub stderr: bool,
    /// Which attempt's output (default: the last).
    #[arg(long, value_name = "N")]
    pub attempt: Option<u32>,
    /// `json` prints the raw JSON lines.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Same as --format json.
    #[arg(long)]
    pub raw: bool,
    #[command(flatten)]
    pub state: StateDirArg,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to generate completions for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify a run's audit chain: exit 0 intact, 1 tampered, 2 usage error or wrong key,
    /// 3 unfinished run.
    Verify(AuditVerifyArgs),
    /// Print the head of a run's chain (run_id, seq, last_hash, key_id) as one JSON line,
    /// to keep where the run's tools cannot reach (a witness for `verify --witness`).
    Head(AuditHeadArgs),
}

#[derive(Debug, Args)]
pub struct AuditHeadArgs {
    /// A run id, unique id prefix, `last`, a run directory or an audit.jsonl file.
    #[arg(value_name = "RUN|FILE", add = clap_complete::ArgValueCandidates::new(completions::runs))]
    pub run: Option<String>,
    #[command(flatten)]
    pub state: StateDirArg,
}

#[derive(Debug, Args)]
pub struct AuditVerifyArgs {
    /// A run id, unique id prefix, `last`, a run directory or an audit.jsonl file.
    #[arg(value_name = "RUN|FILE", add = clap_complete::ArgValueCandidates::new(completions::runs))]
    pub run: Option<String>,
    #[command(flatten)]
    pub state: StateDirArg,
    /// The audit key file (used when SECFLOW_AUDIT_KEY is not set; default
    /// `<state-dir>/audit.key`).
    #[arg(long, value_name = "FILE")]
    pub audit_key_file: Option<PathBuf>,
    /// Chain heads recorded elsewhere (JSON lines, as `audit head` prints them): a chain
    /// shorter than, or different from, a head of this run is tampered.
    #[arg(long, value_name = "FILE")]
    pub witness: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

/// Parses the command line, runs the command and returns the process exit code.
pub fn main() -> i32 {
    // Inherited from a parent that ignores it, an ignored SIGCHLD would make the kernel
    // reap every child itself (and every wait fail): reset before anything starts.
    crate::sys::signals::reset_ignored_sigchld();
    harden_process();
    completions::answer_if_asked();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                exit::INVALID
            } else {
                exit::SUCCESS
            };
        }
    };
    if let Err(e) = crate::telemetry::init(cli.debug) {
        eprintln!("error: {e}");
        return exit::INVALID;
    }
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            // Errors quote records and arguments: never let them reach the terminal raw.
            eprintln!("error: {}", crate::escape::escape(&error_chain(&e)));
            exit::INVALID
        }
    }
}

/// First thing at start-up, while the process has one thread and before any spawner or node
/// exists (SPEC §10 "The audit key is out of the nodes' reach"): `SECFLOW_AUDIT_KEY` leaves
/// the environment (its bytes wiped from the initial block), and the process becomes
/// non-dumpable, closing its memory and `/proc/<pid>/environ` to non-root tools. Whatever
/// starts processes starts after this.
pub fn harden_process() {
    crate::audit::key::take_env_key_at_start();
    if let Err(e) = crate::sys::process_guard::set_undumpable() {
        eprintln!("warning: cannot make secflow non-dumpable (prctl PR_SET_DUMPABLE): {e}");
    }
}

/// SPEC §10 "The state directory is trusted or refused", for every command but
/// `run-workflow` (which checks it itself): `runs prune` deletes, so it refuses an untrusted
/// state directory (`Some(2)`); commands that only read warn and go on (`None`).
fn check_state_dir(command: &Command) -> Option<i32> {
    let dir = match command {
        Command::Runs(args) => {
            if matches!(args.command, runs::RunsCommand::Prune(_)) {
                if let Err(message) = crate::store::trust::require(&args.state.state_dir) {
                    eprintln!("error: {message}");
                    return Some(exit::INVALID);
                }
                return None;
            }
            args.state.state_dir.clone()
        }
        Command::Logs(args) => args.state.state_dir.clone(),
        Command::Metrics(args) => args.state.state_dir.clone(),
        Command::PerformanceAnalysis(args) => args.state.state_dir.clone(),
        Command::Export(args) => args.state.state_dir.clone(),
        Command::Audit(args) => match &args.command {
            AuditCommand::Verify(a) => a.state.state_dir.clone(),
            AuditCommand::Head(a) => a.state.state_dir.clone(),
        },
        _ => return None,
    };
    crate::store::trust::warn(&dir);
    None
}

/// An error and its causes, `: `-separated, leaving out a cause whose text the message
/// already holds (an error that prints its source would otherwise say it twice).
fn error_chain(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

/// Runs one parsed command.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    if let Some(code) = check_state_dir(&cli.command) {
        return Ok(code);
    }
    match cli.command {
        Command::ValidateRecipe(args) => validate::run(&args),
        Command::RunWorkflow(args) => run::run(&args),
        Command::PerformanceAnalysis(args) => analyze::run(&args),
        Command::Schema(args) => schema::run(&args),
        Command::Completions(args) => completions::run(&args),
        Command::Plugins(args) => plugins::run(&args),
        Command::Stub { tool } => crate::stub::run(tool),
        Command::Audit(args) => audit::run(&args.command),
        Command::Metrics(args) => metrics::run(&args),
        Command::Logs(args) => logs::run(&args),
        Command::Export(args) => export::run(&args),
        Command::Runs(args) => runs::run(&args),
        Command::Serve(args) => crate::serve::run(&args),
        Command::Graph(args) => graph::run(&args),
        Command::Emit(args) => emit::run(&args),
        Command::JobWrapper(args) => Ok(crate::slurm::wrapper::run(
            &crate::slurm::wrapper::WrapperConfig {
                usage_file: args.usage_file,
                env_file: args.env_file,
                chdir: args.chdir,
                argv: args.argv,
            },
        )),
    }
}
