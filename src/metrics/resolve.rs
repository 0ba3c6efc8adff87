//! A minimal `RUN` resolver for `secflow metrics`, following SPEC §4: an exact run id, else a
//! unique id prefix (an ambiguous one is an error listing the matches), else `last` (newest by
//! start time), else — if it contains `/` — a run directory path. Runs live at
//! `<state-dir>/runs/<run-id>/`. (The shared resolver in `store` replaces this one.)

use std::path::{Path, PathBuf};

/// Why a `RUN` argument names no run.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("no run `{run}` under {runs}")]
    NotFound { run: String, runs: String },
    #[error("run id prefix `{prefix}` is ambiguous: {}", matches.join(", "))]
    Ambiguous {
        prefix: String,
        matches: Vec<String>,
    },
    #[error("no runs recorded under {0}")]
    NoRuns(String),
}

/// The run directory `run` names under `state_dir`.
pub fn resolve_run(state_dir: &Path, run: &str) -> Result<PathBuf, ResolveError> {
    let runs = state_dir.join("runs");
    let exact = runs.join(run);
    if !run.is_empty() && !run.contains('/') && exact.is_dir() {
        return Ok(exact);
    }
    let ids = run_ids(&runs);
    if !run.is_empty() && !run.contains('/') {
        let matches: Vec<&String> = ids.iter().filter(|id| id.starts_with(run)).collect();
        match matches.as_slice() {
            [one] => return Ok(runs.join(one)),
            [] => {}
            many => {
                return Err(ResolveError::Ambiguous {
                    prefix: run.to_owned(),
                    matches: many.iter().map(|s| (*s).clone()).collect(),
                });
            }
        }
    }
    if run == "last" {
        return ids
            .iter()
            .max_by_key(|id| (started_at(&runs.join(id)), (*id).clone()))
            .map(|id| runs.join(id))
            .ok_or_else(|| ResolveError::NoRuns(runs.display().to_string()));
    }
    if run.contains('/') && Path::new(run).is_dir() {
        return Ok(PathBuf::from(run));
    }
    Err(ResolveError::NotFound {
        run: run.to_owned(),
        runs: runs.display().to_string(),
    })
}

fn run_ids(runs: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(runs) else {
        return Vec::new();
    };
    let mut ids: Vec<String> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    ids.sort();
    ids
}

/// `started_at` of the run's `run.json` (RFC 3339 UTC sorts as text); empty when unreadable.
fn started_at(run_dir: &Path) -> String {
    #[derive(serde::Deserialize)]
    struct Started {
        started_at: String,
    }
    std::fs::read_to_string(run_dir.join("run.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<Started>(&t).ok())
        .map(|s| s.started_at)
        .unwrap_or_default()
}
