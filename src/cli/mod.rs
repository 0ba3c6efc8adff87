//! The command line: every flag defined once here (help, man page and completions are
//! generated from it), one file per command, and the one place errors become exit codes.

mod completions;
mod logs;
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

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check recipes and report every problem with file:line:col.
    #[command(visible_alias = "validate")]
    ValidateRecipe(ValidateArgs),
    /// Print the JSON Schema of the recipe format (or of a record kind).
    Schema(SchemaArgs),
    /// Print shell completions.
    Completions(CompletionsArgs),
    /// Show a run's logs, or a node's captured stdout/stderr.
    Logs(LogsArgs),
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
pub struct SchemaArgs {
    /// Print the schema of a record kind instead of the recipe format.
    #[arg(long, value_enum, value_name = "KIND")]
    pub record: Option<schema::RecordKind>,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// A run id, a unique id prefix, `last`, or a run directory path.
    #[arg(value_name = "RUN")]
    pub run: String,
    /// Only this node's records (with --stdout/--stderr: whose output to print).
    #[arg(long, value_name = "ID")]
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
    /// Where runs are recorded (default ./.secflow).
    #[arg(long, env = "SECFLOW_HOME", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
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
    if let Err(e) = crate::telemetry::init(cli.debug) {
        eprintln!("error: {e}");
        return exit::INVALID;
    }
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
        Command::Schema(args) => schema::run(&args),
        Command::Completions(args) => completions::run(&args),
        Command::Logs(args) => logs::run(&args),
    }
}
