//! The command line: every flag defined once here (help, man page and completions are
//! generated from it), one file per command, and the one place errors become exit codes.

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
    /// Run one attempt's command inside a Slurm job and record its usage (internal).
    #[command(hide = true)]
    JobWrapper(JobWrapperArgs),
}

/// `secflow job-wrapper`: see `crate::slurm::wrapper`.
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
        Command::Schema(args) => schema::run(&args),
        Command::Completions(args) => completions::run(&args),
        Command::Plugins(args) => plugins::run(&args),
        Command::Stub { tool } => crate::stub::run(tool),
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
