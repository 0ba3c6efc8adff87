//! `secflow graph RECIPE [--format dot|mermaid|json|svg]`: the recipe's DAG on stdout.
//!
//! The recipe is checked exactly as `validate-recipe` checks it; an invalid one prints the
//! same diagnostics and exits 2, and nothing is drawn.

use std::io::Write as _;

use super::GraphArgs;
use crate::exit;
use crate::graph::Graph;

pub fn run(args: &GraphArgs) -> anyhow::Result<i32> {
    let (checked, plan) = super::validate::check_plan(&args.file, &args.limits.limits());
    let Some(plan) = plan else {
        super::validate::print_human(&args.file, &checked)?;
        return Ok(exit::INVALID);
    };
    let text = Graph::from_plan(&plan).render(args.format);
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(exit::SUCCESS)
}
