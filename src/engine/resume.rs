//! `--resume`: the earlier run as its audit chain vouches for it, and reusing a node's
//! datasets from it.
//!
//! The caller verifies the chain (the engine reads none) and hands over what it vouches for
//! ([`Vouched`]): the run id and workflow, and for each node whose final event says it
//! succeeded or was reused, its cache key and each dataset's size and SHA-256. `run.json`
//! and the datasets are the earlier run's tools' to rewrite; so from `run.json` only the
//! dataset paths are taken, and only under `datasets/`. A dataset is read beneath the run
//! directory by descriptor (no symlink followed at any component, only a regular file of the
//! signed size), copied no further than that size while hashed, and kept only when the copy
//! has the signed digest; otherwise every copy made for the node is removed and it runs
//! again, with a warning naming the dataset.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::path::{Component, Path, PathBuf};

use super::Interrupt;
use super::datasets::{Promoted, RecordCounter};
use super::fanout::output_path;
use super::prepare::RunPaths;
use super::reuse::Reused;
use crate::plan::PlanNode;
use crate::store::cache::{Recorded, copy_into};
use crate::store::{OutputRecord, RunRecord};
use crate::sys::dirfd::Dir;

/// The largest `run.json` read to resume from (a 100 000-node run's is ~100 MiB).
pub const MAX_RUN_JSON: u64 = 256 << 20;

/// A dataset as the chain vouches for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub bytes: u64,
    /// Lowercase hex SHA-256.
    pub sha256: String,
}

/// A node the chain says succeeded (or was reused).
#[derive(Debug, Clone, Default)]
pub struct VouchedNode {
    pub cache_key: Option<String>,
    /// Output name → the file as recorded.
    pub outputs: BTreeMap<String, Expected>,
}

/// What the verified chain of the run being resumed says.
#[derive(Debug, Clone, Default)]
pub struct Vouched {
    pub run_id: String,
    /// The workflow's `name` in its `workflow.run.started` event.
    pub workflow: String,
    /// By node id.
    pub nodes: HashMap<String, VouchedNode>,
}

/// A node of the run being resumed that may be reused.
#[derive(Debug, Clone)]
pub struct PrevNode {
    /// Its cache key, as signed.
    pub cache_key: String,
    /// Output name → path relative to the run directory (under `datasets/`) and what the
    /// chain vouches for.
    pub outputs: BTreeMap<String, (PathBuf, Expected)>,
}

/// The run `--resume` names.
#[derive(Debug, Clone)]
pub struct ResumeSource {
    /// The run id its chain carries (`resumed_from` of the new run).
    pub run_id: String,
    /// The workflow's `name`, as signed.
    pub workflow: String,
    pub dir: PathBuf,
    pub nodes: HashMap<String, PrevNode>,
    /// Instances of fanned-out nodes by (template, signed cache key): an instance is found
    /// by what it did, not by its place in the list (SPEC §9).
    pub instances: HashMap<(String, String), PrevNode>,
}

impl ResumeSource {
    /// The run in `run_dir`, whose `run.json` is `record`, as `vouched` describes it. Its
    /// directory's name and its `run.json` must both be that run's.
    pub fn new(
        run_dir: &Path,
        record: RunRecord,
        vouched: Vouched,
    ) -> Result<ResumeSource, String> {
        let named = run_dir.file_name().and_then(OsStr::to_str);
        if named != Some(vouched.run_id.as_str()) {
            return Err(format!(
                "{} holds the audit trail of run {}: a run's directory is named after it",
                run_dir.display(),
                vouched.run_id
            ));
        }
        if record.run_id != vouched.run_id {
            return Err(format!(
                "{} says run {}, but its audit trail is run {}'s",
                run_dir.join("run.json").display(),
                record.run_id,
                vouched.run_id
            ));
        }
        let mut vouched_nodes = vouched.nodes;
        let mut nodes = HashMap::new();
        let mut instances = HashMap::new();
        for n in record.nodes {
            let Some(v) = vouched_nodes.remove(&n.node_id) else {
                continue;
            };
            let Some(cache_key) = v.cache_key else {
                continue;
            };
            let outputs = v
                .outputs
                .into_iter()
                .filter_map(|(name, expected)| {
                    let rel = n.outputs.get(&name).map(|o| o.path.as_str())?;
                    is_dataset_path(rel).then(|| (name, (PathBuf::from(rel), expected)))
                })
                .collect();
            let prev = PrevNode { cache_key, outputs };
            if let Some(inst) = &n.instance {
                instances.insert(
                    (inst.template.clone(), prev.cache_key.clone()),
                    prev.clone(),
                );
            }
            nodes.insert(n.node_id, prev);
        }
        Ok(ResumeSource {
            run_id: vouched.run_id,
            workflow: vouched.workflow,
            dir: run_dir.to_path_buf(),
            nodes,
            instances,
        })
    }
}

/// Whether `rel`, a dataset path read from a `run.json`, names a file under `datasets/` (no
/// absolute path, no `..`, no `.`): the only place a resumed dataset may come from.
fn is_dataset_path(rel: &str) -> bool {
    let mut parts = Path::new(rel).components();
    parts.next() == Some(Component::Normal("datasets".as_ref()))
        && parts.clone().next().is_some()
        && parts.all(|c| matches!(c, Component::Normal(_)))
}

/// The outputs of `node` (whose cache key is `key`) reused from the run `resume`, when the
/// chain vouches for it with that key and every dataset's copy is what it vouches for;
/// otherwise why it runs again goes to `warnings`. A signal (`interrupt`) stops the copies
/// between datasets and between reads; they are removed, with no warning (nothing runs).
pub fn resumed(
    resume: &ResumeSource,
    node: &PlanNode,
    paths: &RunPaths,
    key: &str,
    interrupt: Interrupt,
    warnings: &mut Vec<String>,
) -> Option<Reused> {
    let prev = match &node.instance {
        Some(inst) => resume
            .instances
            .get(&(inst.template.clone(), key.to_string())),
        None => resume.nodes.get(&node.id),
    }?;
    if prev.cache_key != key {
        warnings.push(format!(
            "`{}` changed since run {} (definition, inputs or sources): running it again",
            node.id, resume.run_id
        ));
        return None;
    }
    match restore(resume, prev, node, paths, interrupt) {
        Ok(mut reused) => {
            reused.reason = format!("reused from run {}", resume.run_id);
            Some(reused)
        }
        Err(_) if interrupt.signal().is_some() => None,
        Err(e) => {
            warnings.push(format!(
                "`{}`: cannot reuse the outputs of run {}: {e}; running it again",
                node.id, resume.run_id
            ));
            None
        }
    }
}

/// Copies every output of `node` from the resumed run into this run's `datasets/`, each
/// checked against what the chain vouches for; on any failure, the copies made so far are
/// removed.
fn restore(
    resume: &ResumeSource,
    prev: &PrevNode,
    node: &PlanNode,
    paths: &RunPaths,
    interrupt: Interrupt,
) -> Result<Reused, String> {
    let mut promoted = Promoted::default();
    let mut copied: Vec<PathBuf> = Vec::new();
    let result = (|| {
        let source =
            Dir::open(&resume.dir).map_err(|e| format!("{}: {e}", resume.dir.display()))?;
        for name in &node.outputs {
            if interrupt.signal().is_some() {
                return Err(INTERRUPTED.into());
            }
            let Some((rel, expected)) = prev.outputs.get(name) else {
                return Err(format!(
                    "dataset `{name}` has no signed record or no path under datasets/"
                ));
            };
            let to = output_path(paths, node, name);
            copied.push(to.clone());
            let record = copy_checked(&source, rel, expected, paths, &to, interrupt)
                .map_err(|e| format!("dataset `{name}` ({}): {e}", rel.display()))?;
            promoted.insert(
                name,
                OutputRecord {
                    path: super::fanout::output_rel(node, name),
                    ..record
                },
            );
        }
        Ok(())
    })();
    match result {
        Ok(()) => Ok(Reused {
            outputs: promoted.outputs,
            findings: promoted.findings,
            reason: String::new(),
        }),
        Err(e) => {
            for path in copied {
                let _ = paths.remove_file(&path);
            }
            Err(e)
        }
    }
}

/// Why a restore stopped early: the run is being cancelled.
const INTERRUPTED: &str = "interrupted by a signal";

/// Copies `rel` beneath `source` to `to` in this run (created beneath its descriptor), at
/// most the expected size, hashing and counting records on the way; the file must be
/// regular, reached without a symlink, and match `expected`. A signal (`interrupt`) stops
/// the copy at its next read.
fn copy_checked(
    source: &Dir,
    rel: &Path,
    expected: &Expected,
    paths: &RunPaths,
    to: &Path,
    interrupt: Interrupt,
) -> std::io::Result<OutputRecord> {
    let mut dir = None::<Dir>;
    let mut parts: Vec<&OsStr> = rel.iter().collect();
    let file_name = parts
        .pop()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "empty path"))?;
    for part in parts {
        let next = dir.as_ref().unwrap_or(source).open_child_dir(part)?;
        dir = Some(next);
    }
    let mut file = dir.as_ref().unwrap_or(source).open_child_file(file_name)?;
    let recorded = Recorded {
        bytes: expected.bytes,
        sha256: &expected.sha256,
        by: "its audit trail",
    };
    let mut dest = paths.replace_file(to)?;
    let mut records = RecordCounter::default();
    copy_into(
        &mut file,
        recorded,
        &mut dest,
        &|| interrupt.signal().is_some(),
        &mut |chunk| records.feed(chunk),
    )?;
    Ok(OutputRecord {
        path: String::new(),
        records: records.total(),
        sha256: Some(expected.sha256.clone()),
        bytes: Some(expected.bytes),
    })
}

#[cfg(test)]
mod tests {
    use super::is_dataset_path;

    #[test]
    fn only_paths_under_datasets_are_dataset_paths() {
        for ok in ["datasets/a.jsonl", "datasets/scan/3.jsonl"] {
            assert!(is_dataset_path(ok), "{ok}");
        }
        for bad in [
            "/etc/shadow",
            "datasets",
            "datasets/",
            "datasets/../run.json",
            "../datasets/a.jsonl",
            "nodes/a/stdout.log",
            "./datasets/a.jsonl",
            "",
        ] {
            assert!(!is_dataset_path(bad), "{bad}");
        }
    }
}
