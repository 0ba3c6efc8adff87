//! `secflow validate-recipe FILE...`: every problem in every file, located.

use std::io::Write as _;

use super::{Format, ValidateArgs};
use crate::diag::{Diagnostic, Lines};
use crate::exit;
use crate::plan::{BuildOptions, build};
use crate::recipe::{Limits, parse, read_source};

/// The diagnostics for one file, with its text when it could be read.
pub struct Checked {
    pub source: Option<String>,
    pub diags: Vec<Diagnostic>,
}

/// Checks one recipe file completely.
pub fn check(path: &std::path::Path, limits: &Limits) -> Checked {
    let source = match read_source(path, limits) {
        Ok(s) => s,
        Err(d) => {
            return Checked {
                source: None,
                diags: vec![d],
            };
        }
    };
    let diags = match parse(&source, limits) {
        Err(d) => vec![d],
        Ok(raw) => match build(&source, &raw, &BuildOptions::default()) {
            Ok((_, warnings)) => warnings,
            Err(all) => all,
        },
    };
    Checked {
        source: Some(source.text),
        diags,
    }
}

pub fn run(args: &ValidateArgs) -> anyhow::Result<i32> {
    let limits = args.limits.limits();
    let mut all = Vec::new();
    let mut failed = false;
    let stderr = std::io::stderr();
    for path in &args.files {
        let checked = check(path, &limits);
        failed |= checked.diags.iter().any(Diagnostic::is_error);
        if args.format == Format::Human {
            let mut err = stderr.lock();
            let lines = checked.source.as_deref().map(Lines::new);
            for d in &checked.diags {
                write!(err, "{}", d.render_lines(lines.as_ref()))?;
            }
            let errors = checked.diags.iter().filter(|d| d.is_error()).count();
            let warnings = checked.diags.len() - errors;
            if errors == 0 {
                let suffix = match warnings {
                    0 => String::new(),
                    n => format!(" ({n} warning{})", if n == 1 { "" } else { "s" }),
                };
                writeln!(err, "{}: valid{suffix}", path.display())?;
            } else {
                writeln!(
                    err,
                    "{}: {errors} error{} found",
                    path.display(),
                    if errors == 1 { "" } else { "s" }
                )?;
            }
        }
        all.extend(checked.diags);
    }
    if args.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&all)?);
    }
    Ok(if failed { exit::INVALID } else { exit::SUCCESS })
}
