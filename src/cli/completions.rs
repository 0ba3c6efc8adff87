//! Shell completions that know the state: `secflow completions SHELL` prints a small
//! registration script; on each TAB the shell calls `SECFLOW_COMPLETE=SHELL secflow -- WORDS`
//! (clap_complete's dynamic engine, [`clap_complete::CompleteEnv`]), which completes
//! subcommands and flags from the one clap definition and, for the values below, reads the
//! state directory: run ids (every `RUN` argument), node ids (`--node` of `logs` and
//! `performance-analysis`, fan-out templates included) and workflow names (`--workflow`).
//!
//! The state directory is the `--state-dir` on the line being completed, else
//! `SECFLOW_HOME`, else `./.secflow` — what the command itself would use. Candidates come
//! from `run.json` files read through `store::history`; an unreadable record offers its id
//! only, and nothing here writes or fails loudly (a completion prints candidates or nothing).

use std::ffi::OsString;
use std::path::PathBuf;

use clap::CommandFactory;
use clap_complete::CompletionCandidate;
use clap_complete::env::{CompleteEnv, Shells};

use super::{Cli, CompletionsArgs};
use crate::exit;
use crate::store::history::{RunEntry, list_runs, load_record, resolve_run};

/// The variable that turns a `secflow` process into a completion request.
pub const VAR: &str = "SECFLOW_COMPLETE";

/// Answers a completion request and exits when `SECFLOW_COMPLETE` is set; returns otherwise.
pub fn answer_if_asked() {
    CompleteEnv::with_factory(Cli::command)
        .var(VAR)
        .bin("secflow")
        .completer("secflow")
        .complete();
}

pub fn run(args: &CompletionsArgs) -> anyhow::Result<i32> {
    let name = args.shell.to_string();
    let shells = Shells::builtins();
    let shell = shells
        .completer(&name)
        .ok_or_else(|| anyhow::anyhow!("no dynamic completion for {name}"))?;
    let mut out = std::io::stdout().lock();
    shell.write_registration(VAR, "secflow", "secflow", "secflow", &mut out)?;
    Ok(exit::SUCCESS)
}

/// The words of the line being completed (after the `--` the registration script passes).
fn line() -> Vec<OsString> {
    let args: Vec<OsString> = std::env::args_os().collect();
    match args.iter().position(|a| a == "--") {
        Some(at) => args[at + 1..].to_vec(),
        None => Vec::new(),
    }
}

/// The value of `--FLAG VALUE` or `--FLAG=VALUE` on the line (the last one given).
fn flag_value(line: &[OsString], flag: &str) -> Option<String> {
    let mut found = None;
    let mut words = line.iter().map(|w| w.to_string_lossy());
    while let Some(word) = words.next() {
        if word == flag {
            found = words.next().map(|v| v.into_owned());
        } else if let Some(value) = word.strip_prefix(flag).and_then(|r| r.strip_prefix('=')) {
            found = Some(value.to_string());
        }
    }
    found
}

/// The state directory the command on the line would read.
fn state_dir(line: &[OsString]) -> PathBuf {
    flag_value(line, "--state-dir")
        .filter(|v| !v.is_empty())
        .or_else(|| std::env::var("SECFLOW_HOME").ok().filter(|v| !v.is_empty()))
        .map_or_else(|| PathBuf::from("./.secflow"), PathBuf::from)
}

fn entries() -> Vec<RunEntry> {
    list_runs(&state_dir(&line())).unwrap_or_default()
}

/// Whether `value` may be offered: bash inserts a candidate into the command line unquoted,
/// so a recorded workflow name, a node id in a crafted run.json or a run directory named
/// `x;$(…)` would become shell code on Enter. Only plain words are offered.
fn plain_word(value: &str) -> bool {
    !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-@+:/".contains(c))
}

/// Run ids, newest first, each with its workflow and status as help; then `last`.
pub fn runs() -> Vec<CompletionCandidate> {
    let mut out: Vec<CompletionCandidate> = entries()
        .into_iter()
        .filter(|e| plain_word(&e.run_id))
        .map(|e| {
            let help = e
                .summary
                .as_ref()
                .map(|s| format!("{} {} {}", s.workflow.name, s.status.as_str(), s.started_at));
            CompletionCandidate::new(e.run_id).help(help.map(Into::into))
        })
        .collect();
    out.push(CompletionCandidate::new("last").help(Some("the newest run".into())));
    out
}

/// Workflow names of the recorded runs, each once.
pub fn workflows() -> Vec<CompletionCandidate> {
    let mut names: Vec<String> = entries()
        .into_iter()
        .filter_map(|e| e.summary.map(|s| s.workflow.name))
        .filter(|name| plain_word(name))
        .collect();
    names.sort();
    names.dedup();
    names.into_iter().map(CompletionCandidate::new).collect()
}

/// Node ids (and fan-out template ids) of the run named on the line (the first word after the subcommand that resolves
/// to a run), else of the newest run.
pub fn nodes() -> Vec<CompletionCandidate> {
    let line = line();
    let state = state_dir(&line);
    let run = line
        .iter()
        .skip(2)
        .map(|w| w.to_string_lossy())
        .filter(|w| !w.starts_with('-') && !w.is_empty())
        .find_map(|w| resolve_run(&state, &w).ok())
        .or_else(|| resolve_run(&state, "last").ok());
    let Some(record) = run.and_then(|dir| load_record(&dir).ok()) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(record.nodes.len());
    // A fan-out template (which `--node` accepts) is offered once, before its first instance.
    let mut templates = std::collections::BTreeSet::new();
    // Only plain words: bash inserts a candidate unquoted (see `plain_word`).
    for n in record.nodes.into_iter().filter(|n| plain_word(&n.node_id)) {
        if let Some(i) = &n.instance
            && plain_word(&i.template)
            && templates.insert(i.template.clone())
        {
            out.push(CompletionCandidate::new(&i.template).help(Some("every instance".into())));
        }
        out.push(CompletionCandidate::new(n.node_id).help(Some(n.status.as_str().into())));
    }
    out
}
