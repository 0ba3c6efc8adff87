//! `--resume RUN` (and `state.resume_on_failure`): the run to reuse results from, trusted only
//! as far as its audit chain vouches for it.
//!
//! The chain is verified with this run's key before anything is reused: a run whose chain was
//! edited, cut in the middle or written with another key is refused, and so is a `run.json`
//! or a directory name of another run. An intact prefix of a run that never finished (a
//! `kill -9`) is accepted: what it recorded is authentic. What decides reuse comes from the
//! signed events only: the workflow's name and recipe digest (`workflow.run.started`), and for
//! each node whose `node.completed`/`node.cached` event is in the chain its cache key and each
//! dataset's size and SHA-256 (see `engine::resume`); `run.json`, read once, gives only the
//! datasets' paths under `datasets/`.

use std::path::Path;

use super::config::RunConfig;
use crate::audit::verify::{Outcome, RunJsonAudit, verify_visiting};
use crate::audit::{AuditEvent, AuditKey};
use crate::engine::resume::{Expected, ResumeSource, Vouched, VouchedNode};
use crate::sinks::audit::AUDIT_FILE_NAME;

/// What the chain says beyond what the engine reuses.
pub(super) struct Verified {
    pub source: ResumeSource,
    /// `metadata.recipe_sha256` of the run's first event.
    pub recipe_sha256: String,
    /// Whether the chain ends with `workflow.run.completed` (the run succeeded).
    pub succeeded: bool,
}

/// Loads the run in `run_dir` for resuming, its chain verified with the run's audit key.
pub(super) fn load(run_dir: &Path, config: &RunConfig) -> Result<Verified, String> {
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
    // Read once: the record whose dataset paths are used is the one checked with the chain.
    let path = run_dir.join("run.json");
    let text = crate::store::open::read_regular_at_most(&path, crate::engine::resume::MAX_RUN_JSON)
        .map_err(|e| refused(format!("cannot read {}: {e}", path.display())))?;
    let parse_error =
        |e: serde_json::Error| refused(format!("{} is not a run record: {e}", path.display()));
    let summary: RunJsonAudit = serde_json::from_slice(&text).map_err(parse_error)?;
    let record: crate::store::RunRecord = serde_json::from_slice(&text).map_err(parse_error)?;
    let (vouched, recipe_sha256, succeeded) = vouched(run_dir, &summary, &key).map_err(refused)?;
    let source = ResumeSource::new(run_dir, record, vouched).map_err(refused)?;
    Ok(Verified {
        source,
        recipe_sha256,
        succeeded,
    })
}

/// Verifies the chain of the run in `run_dir` and collects what it vouches for, with the
/// recipe digest and whether the run succeeded.
fn vouched(
    run_dir: &Path,
    summary: &RunJsonAudit,
    key: &AuditKey,
) -> Result<(Vouched, String, bool), String> {
    let run_json = run_dir.join("run.json");
    let mut vouched = Vouched::default();
    let mut recipe_sha256 = String::new();
    let mut succeeded = false;
    let report = verify_visiting(
        &run_dir.join(AUDIT_FILE_NAME),
        Some(summary),
        Some(&run_json),
        key,
        &mut |event| {
            if event.seq == 1 {
                recipe_sha256.clone_from(&event.metadata.recipe_sha256);
            }
            succeeded = event.event_type == "workflow.run.completed";
            collect(&mut vouched, event);
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
    vouched.run_id = report
        .run_id
        .ok_or_else(|| "its audit trail is empty".to_string())?;
    Ok((vouched, recipe_sha256, succeeded))
}

/// What one verified event adds: the workflow's name, or a node that succeeded.
fn collect(vouched: &mut Vouched, event: &AuditEvent) {
    match event.event_type.as_str() {
        "workflow.run.started" => {
            vouched.workflow = event.data.workflow.clone().unwrap_or_default();
        }
        "node.completed" | "node.cached" => {
            let Some(node) = &event.data.node_id else {
                return;
            };
            let outputs = event
                .data
                .outputs
                .iter()
                .flatten()
                .map(|(name, d)| {
                    let expected = Expected {
                        bytes: d.bytes,
                        sha256: d.sha256.clone(),
                    };
                    (name.clone(), expected)
                })
                .collect();
            let entry = VouchedNode {
                cache_key: event.data.cache_key.clone(),
                outputs,
            };
            vouched.nodes.insert(node.clone(), entry);
        }
        _ => {}
    }
}

/// The ids of the runs under the state directory that can be runs (valid names), oldest
/// first (run ids sort by time).
pub(super) fn run_ids(state_dir: &Path) -> Vec<String> {
    let mut ids: Vec<String> = crate::store::resolve::run_ids(state_dir)
        .into_iter()
        .filter(|id| crate::plan::is_valid_name(id))
        .collect();
    ids.sort();
    ids
}

/// The `run.json` of run `id` when it is a small enough regular file and parses: a FIFO, a
/// huge file or garbage is skipped unread or unparsed.
pub(super) fn read_run(state_dir: &Path, id: &str) -> Option<crate::store::RunRecord> {
    let path = crate::store::layout::runs_dir(state_dir)
        .join(id)
        .join("run.json");
    let text = crate::store::open::read_regular_at_most(&path, crate::engine::resume::MAX_RUN_JSON)
        .ok()?;
    serde_json::from_slice(&text).ok()
}
