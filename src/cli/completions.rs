//! `secflow completions SHELL`: completions generated from the one clap definition.

use clap::CommandFactory;

use super::{Cli, CompletionsArgs};
use crate::exit;

pub fn run(args: &CompletionsArgs) -> anyhow::Result<i32> {
    let mut out = std::io::stdout().lock();
    clap_complete::generate(args.shell, &mut Cli::command(), "secflow", &mut out);
    Ok(exit::SUCCESS)
}
