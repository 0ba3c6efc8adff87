//! `secflow validate-recipe FILE...`: every problem in every file, located.

use std::io::Write as _;

use super::{Format, ValidateArgs};
use crate::diag::{Diagnostic, Lines};
use crate::exit;
use crate::plan::{BuildOptions, Plan, build};
use crate::recipe::{Limits, parse, read_source};

/// The diagnostics for one file, with its text when it could be read.
pub struct Checked {
    pub source: Option<String>,
    pub diags: Vec<Diagnostic>,
}

/// Checks one recipe file completely.
pub fn check(path: &std::path::Path, limits: &Limits) -> Checked {
    check_plan(path, limits).0
}

/// Checks one recipe file completely; also returns its plan when it is valid.
pub fn check_plan(path: &std::path::Path, limits: &Limits) -> (Checked, Option<Plan>) {
    let source = match read_source(path, limits) {
        Ok(s) => s,
        Err(d) => {
            let checked = Checked {
                source: None,
                diags: vec![d],
            };
            return (checked, None);
        }
    };
    let state_dir = std::env::var_os("SECFLOW_HOME")
        .map_or_else(|| ".secflow".into(), std::path::PathBuf::from);
    let dirs = crate::plan::plugins::search_dirs(path, Some(&state_dir), &[]);
    let (plugins, mut diags) = match crate::plan::plugins::Registry::load(&dirs) {
        Ok(loaded) => loaded,
        Err(errors) => {
            let checked = Checked {
                source: Some(source.text),
                diags: errors,
            };
            return (checked, None);
        }
    };
    let options = BuildOptions {
        plugins,
        ..BuildOptions::default()
    };
    let mut plan = None;
    match parse(&source, limits) {
        Err(d) => diags.push(d),
        Ok(raw) => match build(&source, &raw, &options) {
            Ok((built, warnings)) => {
                diags.extend(warnings);
                plan = Some(built);
            }
            Err(all) => diags.extend(all),
        },
    }
    let checked = Checked {
        source: Some(source.text),
        diags,
    };
    // A plugin manifest's errors leave no plan to draw even when the recipe built.
    let plan = plan.filter(|_| !checked.diags.iter().any(Diagnostic::is_error));
    (checked, plan)
}

/// Prints `checked`'s diagnostics and the `FILE: valid` / `FILE: N errors found` line.
pub fn print_human(path: &std::path::Path, checked: &Checked) -> std::io::Result<()> {
    let stderr = std::io::stderr();
    let mut err = stderr.lock();
    let lines = checked.source.as_deref().map(Lines::new);
    for d in &checked.diags {
        // Diagnostics of a plugin manifest show that file's line, not the recipe's.
        if d.file != path.display().to_string() {
            let other = std::fs::read_to_string(&d.file).ok();
            write!(err, "{}", d.render(other.as_deref()))?;
        } else {
            write!(err, "{}", d.render_lines(lines.as_ref()))?;
        }
    }
    let errors = checked.diags.iter().filter(|d| d.is_error()).count();
    let warnings = checked.diags.len() - errors;
    if errors == 0 {
        let suffix = match warnings {
            0 => String::new(),
            n => format!(" ({n} warning{})", if n == 1 { "" } else { "s" }),
        };
        writeln!(err, "{}: valid{suffix}", path.display())
    } else {
        writeln!(
            err,
            "{}: {errors} error{} found",
            path.display(),
            if errors == 1 { "" } else { "s" }
        )
    }
}

pub fn run(args: &ValidateArgs) -> anyhow::Result<i32> {
    let limits = args.limits.limits();
    let mut all = Vec::new();
    let mut failed = false;
    for path in &args.files {
        let checked = check(path, &limits);
        failed |= checked.diags.iter().any(Diagnostic::is_error);
        if args.format == Format::Human {
            print_human(path, &checked)?;
        }
        all.extend(checked.diags);
    }
    if args.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&all)?);
    }
    Ok(if failed { exit::INVALID } else { exit::SUCCESS })
}
