//! The command line: every flag defined once here (help, man page and completions are
//! generated from it), one file per command, and the one place errors become exit codes.

mod analyze;
mod completions;
mod plugins;
mod schema;
mod validate;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::exit;

/// A workflow runner with built-in observability.
#[derive(Debug, Parser)]
#[command(name = "secflow", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check recipes and report every problem with file:line:col.
    #[command(visible_alias = "validate")]
    ValidateRecipe(ValidateArgs),
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
    },
}

/// Output format of commands that print data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people: text and tables.
    Human,
    /// Stable JSON, documented in README.md.
    Json,
}

/// Bounds on what reading a recipe may cost.
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

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Runs: an id, a unique id prefix, `last`, or a run directory path (containing `/`).
    #[arg(value_name = "RUN")]
    pub runs: Vec<String>,
    /// The newest N runs (of `--workflow`, if given).
    #[arg(long, value_name = "N")]
    pub last: Option<usize>,
    /// Only runs of this workflow (all of them unless `--last`).
    #[arg(long, value_name = "NAME")]
    pub workflow: Option<String>,
    /// Compare against this run instead of the median of the earlier runs.
    #[arg(long, value_name = "RUN")]
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
    /// Report format.
    #[arg(long, value_enum, default_value_t = crate::report::ReportFormat::Table)]
    pub format: crate::report::ReportFormat,
    /// Write the report to FILE instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Where runs are recorded.
    #[arg(
        long,
        value_name = "DIR",
        env = "SECFLOW_HOME",
        default_value = "./.secflow"
    )]
    pub state_dir: PathBuf,
    /// Threads reading logs.jsonl (default: available cores, at most 4).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Print the schema of a record kind instead of the recipe format.
    #[arg(long, value_enum, value_name = "KIND")]
    pub record: Option<schema::RecordKind>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to generate completions for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Parses the command line, runs the command and returns the process exit code.
pub fn main() -> i32 {
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
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            exit::INVALID
        }
    }
}

/// Runs one parsed command.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::ValidateRecipe(args) => validate::run(&args),
        Command::PerformanceAnalysis(args) => analyze::run(&args),
        Command::Schema(args) => schema::run(&args),
        Command::Completions(args) => completions::run(&args),
        Command::Plugins(args) => plugins::run(&args),
        Command::Stub { tool } => crate::stub::run(tool),
    }
}
