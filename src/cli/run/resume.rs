//! `--resume RUN` (and `state.resume_on_failure`): the run to reuse results from, trusted only
//! as far as its audit chain vouches for it.
//!
//! The chain is verified with this run's key before anything is reused: a run whose chain was
//! edited, cut in the middle or written with another key is refused (exit 2), and so is a
//! `run.json` that names another run. An intact prefix of a run that never finished (a
//! `kill -9`) is accepted: what it recorded is authentic. The SHA-256 of each dataset comes
//! from the node's `node.completed`/`node.cached` event, never from `run.json`; the engine
//! reuses a dataset only when its copy has that digest.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use super::config::RunConfig;
use crate::audit::AuditKey;
use crate::audit::verify::{Outcome, read_run_json, verify_visiting};
use crate::engine::reuse::{ResumeSource, Vouched};
use crate::sinks::audit::AUDIT_FILE_NAME;

/// Loads the run in `run_dir` for resuming, its chain verified with the run's audit key.
pub(super) fn load(run_dir: &Path, config: &RunConfig) -> Result<ResumeSource, String> {
    let id = run_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let refused = |why: String| {
        format!("run {id} cannot be resumed: {why} (`secflow audit verify {id}` shows it)")
    };
    let env_key = crate::audit::key::env_key();
    let key = AuditKey::for_verify(
        env_key.as_deref(),
        config.audit_key_file.as_deref(),
        &config.state_dir,
        &[],
    )
    .map_err(|e| refused(format!("no audit key to verify its trail with ({e})")))?;
    let vouched = vouched(run_dir, &key).map_err(refused)?;
    ResumeSource::load(run_dir, vouched)
}

/// Verifies the chain of the run in `run_dir` and collects what it vouches for.
fn vouched(run_dir: &Path, key: &AuditKey) -> Result<Vouched, String> {
    let run_json = run_dir.join("run.json");
    let summary = read_run_json(&run_json).map_err(|e| e.to_string())?;
    let mut digests: HashMap<String, BTreeMap<String, String>> = HashMap::new();
    let report = verify_visiting(
        &run_dir.join(AUDIT_FILE_NAME),
        Some(&summary),
        Some(&run_json),
        key,
        &mut |event| {
            if matches!(event.event_type.as_str(), "node.completed" | "node.cached")
                && let (Some(node), Some(outputs)) = (&event.data.node_id, &event.data.outputs)
            {
                digests.insert(node.clone(), outputs.clone());
            }
        },
    )
    .map_err(|e| e.to_string())?;
    match report.outcome {
        Outcome::Intact | Outcome::Unfinished => {}
        Outcome::Tampered(t) => {
            return Err(format!(
                "its audit trail was {} at seq {}",
                t.kind.as_str(),
                t.seq
            ));
        }
        Outcome::WrongKey { chain_key_id } => {
            return Err(format!(
                "its audit trail was written with another key (key id {chain_key_id}; this \
                 run's is {})",
                key.key_id()
            ));
        }
    }
    let run_id = report
        .run_id
        .ok_or_else(|| "its audit trail is empty".to_string())?;
    Ok(Vouched { run_id, digests })
}
