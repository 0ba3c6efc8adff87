//! Datasets: promoting an attempt's outputs into `datasets/` and counting their records.
//!
//! Guarantees: an output is promoted (renamed, never copied) only when the attempt
//! succeeded and wrote every declared output; records are non-empty lines, counted in a
//! fixed-size buffer whatever the file's size.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::prepare::RunPaths;
use crate::store::OutputRecord;

/// Whether dataset `name` counts towards a node's findings.
pub fn is_findings(name: &str) -> bool {
    name == "findings" || name.ends_with("_findings")
}

/// Non-empty lines in the file at `path`.
pub fn count_records(path: &Path) -> std::io::Result<u64> {
    let mut file = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut records = 0u64;
    // Whether the current line has a byte other than the line end.
    let mut in_line = false;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        for &b in &buf[..n] {
            match b {
                b'\n' => {
                    records += u64::from(in_line);
                    in_line = false;
                }
                b'\r' | b' ' | b'\t' => {}
                _ => in_line = true,
            }
        }
    }
    Ok(records + u64::from(in_line))
}

/// The promoted outputs of a node and its findings count.
#[derive(Debug, Clone, Default)]
pub struct Promoted {
    pub outputs: BTreeMap<String, OutputRecord>,
    pub findings: u64,
}

impl Promoted {
    /// Records dataset `name`, now at `dest`: its record count, added to the findings when it
    /// is a findings dataset.
    pub fn add(&mut self, name: &str, dest: &Path) -> std::io::Result<()> {
        let records = count_records(dest)?;
        if is_findings(name) {
            self.findings += records;
        }
        self.outputs.insert(
            name.to_string(),
            OutputRecord {
                path: RunPaths::dataset_rel(name),
                records,
            },
        );
        Ok(())
    }
}

/// Checks that every output was written; returns the message naming those that were not.
pub fn check_written(outputs: &[(String, PathBuf)]) -> Result<(), String> {
    let missing: Vec<&str> = outputs
        .iter()
        // `lstat`: a symlink the node left in place of its output is not an output.
        .filter(|(_, p)| !std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file()))
        .map(|(n, _)| n.as_str())
        .collect();
    match missing.as_slice() {
        [] => Ok(()),
        [one] => {
            let path = &outputs
                .iter()
                .find(|(n, _)| n == one)
                .map(|(_, p)| p.display().to_string())
                .unwrap_or_default();
            Err(format!(
                "declared output `{one}` was not written (expected a file at {path}; use {{{{ outputs.{one} }}}} or $SECFLOW_OUTPUT_{})",
                crate::plan::env_name(one)
            ))
        }
        many => Err(format!(
            "declared outputs {} were not written",
            many.iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// Moves each scratch output into `datasets/` and counts its records.
pub fn promote(paths: &RunPaths, outputs: &[(String, PathBuf)]) -> std::io::Result<Promoted> {
    let mut promoted = Promoted::default();
    for (name, scratch) in outputs {
        let dest = paths.dataset(name);
        paths.rename(scratch, &dest)?;
        promoted.add(name, &dest)?;
    }
    Ok(promoted)
}

/// [`promote`], or for instance `index` of a fanned-out node into `datasets/D/<index>.jsonl`.
pub fn promote_instance(
    paths: &RunPaths,
    outputs: &[(String, PathBuf)],
    index: Option<usize>,
) -> std::io::Result<Promoted> {
    let Some(index) = index else {
        return promote(paths, outputs);
    };
    let mut promoted = Promoted::default();
    for (name, scratch) in outputs {
        let rel = format!("datasets/{name}/{index}.jsonl");
        let dest = paths.run_dir.join(&rel);
        paths.rename(scratch, &dest)?;
        let records = count_records(&dest)?;
        if is_findings(name) {
            promoted.findings += records;
        }
        promoted
            .outputs
            .insert(name.clone(), OutputRecord { path: rel, records });
    }
    Ok(promoted)
}

/// For a failed `continue_on_error` node: each output becomes an empty dataset.
pub fn empty_outputs(paths: &RunPaths, names: &[String]) -> std::io::Result<Promoted> {
    let mut promoted = Promoted::default();
    for name in names {
        paths.create_file(&paths.dataset(name))?;
        promoted.outputs.insert(
            name.clone(),
            OutputRecord {
                path: RunPaths::dataset_rel(name),
                records: 0,
            },
        );
    }
    Ok(promoted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_non_empty_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.jsonl");
        std::fs::write(&p, "{\"a\":1}\n\n  \n{\"b\":2}\n{\"c\":3}").unwrap();
        assert_eq!(count_records(&p).unwrap(), 3);
        std::fs::write(&p, "").unwrap();
        assert_eq!(count_records(&p).unwrap(), 0);
        assert!(
            is_findings("findings") && is_findings("all_findings") && !is_findings("findingsx")
        );
    }
}
