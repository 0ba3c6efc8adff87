//! Datasets: promoting an attempt's outputs into `datasets/`, counting their records and
//! taking their SHA-256.
//!
//! Guarantees: an output is promoted (renamed, never copied) only when the attempt
//! succeeded and wrote every declared output; records are non-empty lines, counted in a
//! fixed-size buffer whatever the file's size, in the same pass that hashes the file (the
//! digest goes to run.json and the audit chain, for `--resume` to check reuse against).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::prepare::RunPaths;
use crate::store::OutputRecord;

/// Whether dataset `name` counts towards a node's findings.
pub fn is_findings(name: &str) -> bool {
    name == "findings" || name.ends_with("_findings")
}

/// Non-empty lines in the file at `path`.
pub fn count_records(path: &Path) -> std::io::Result<u64> {
    let mut file = crate::store::open::open_regular(path)?;
    scan(&mut file, None).map(|(records, _)| records)
}

/// What one pass over a dataset file finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Measured {
    /// Non-empty lines.
    pub records: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Lowercase hex SHA-256 of the bytes.
    pub sha256: String,
}

/// Non-empty lines and SHA-256 of the regular file at `path` (a symlink, FIFO or device is
/// refused, never followed), in one read.
pub fn measure(path: &Path) -> std::io::Result<Measured> {
    let mut file = crate::store::open::open_regular(path)?;
    measure_file(&mut file)
}

/// [`measure`] of an open file, from where it is to its end.
pub fn measure_file(file: &mut impl Read) -> std::io::Result<Measured> {
    let mut hasher = Sha256::new();
    let (records, bytes) = scan(file, Some(&mut hasher))?;
    Ok(Measured {
        records,
        bytes,
        sha256: crate::recipe::hex(&hasher.finalize()),
    })
}

/// Non-empty lines and bytes of `file`, its bytes fed to `hasher` on the way.
fn scan(file: &mut impl Read, mut hasher: Option<&mut Sha256>) -> std::io::Result<(u64, u64)> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut records = RecordCounter::default();
    let mut bytes = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        bytes += n as u64;
        if let Some(h) = hasher.as_mut() {
            h.update(&buf[..n]);
        }
        records.feed(&buf[..n]);
    }
    Ok((records.total(), bytes))
}

/// Counts a dataset's records (non-empty lines) over the chunks of a stream.
#[derive(Debug, Default)]
pub struct RecordCounter {
    records: u64,
    /// Whether the current line has a byte other than the line end.
    in_line: bool,
}

impl RecordCounter {
    pub fn feed(&mut self, chunk: &[u8]) {
        for &b in chunk {
            match b {
                b'\n' => {
                    self.records += u64::from(self.in_line);
                    self.in_line = false;
                }
                b'\r' | b' ' | b'\t' => {}
                _ => self.in_line = true,
            }
        }
    }

    /// The records so far, an unterminated last line included.
    pub fn total(&self) -> u64 {
        self.records + u64::from(self.in_line)
    }
}

/// The record of the dataset file at `dest` in the run (relative path `rel`), measured
/// through a descriptor opened beneath the run directory (a `datasets/` swapped for a
/// symlink is refused, never measured through).
pub fn output_record(paths: &RunPaths, rel: String, dest: &Path) -> std::io::Result<OutputRecord> {
    let m = measure_file(&mut paths.open_read(dest)?)?;
    Ok(OutputRecord {
        path: rel,
        records: m.records,
        sha256: Some(m.sha256),
        bytes: Some(m.bytes),
    })
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
    pub fn add(&mut self, paths: &RunPaths, name: &str, dest: &Path) -> std::io::Result<()> {
        self.insert(
            name,
            output_record(paths, RunPaths::dataset_rel(name), dest)?,
        );
        Ok(())
    }

    /// Records dataset `name` as `record`, adding its records to the findings when it is a
    /// findings dataset.
    pub fn insert(&mut self, name: &str, record: OutputRecord) {
        if is_findings(name) {
            self.findings += record.records;
        }
        self.outputs.insert(name.to_string(), record);
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
        promoted.add(paths, name, &dest)?;
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
        promoted.insert(name, output_record(paths, rel, &dest)?);
    }
    Ok(promoted)
}

/// For a failed `continue_on_error` node: each output becomes an empty dataset.
pub fn empty_outputs(paths: &RunPaths, names: &[String]) -> std::io::Result<Promoted> {
    let mut promoted = Promoted::default();
    for name in names {
        let dest = paths.dataset(name);
        paths.create_file(&dest)?;
        promoted.insert(
            name,
            output_record(paths, RunPaths::dataset_rel(name), &dest)?,
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
        // One pass gives the digest too (sha256 of the empty string).
        assert_eq!(
            measure(&p).unwrap().sha256,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        // A symlink in place of a dataset is refused, not followed.
        let link = dir.path().join("l.jsonl");
        std::os::unix::fs::symlink("/etc/hostname", &link).unwrap();
        assert!(measure(&link).is_err());
        assert!(
            is_findings("findings") && is_findings("all_findings") && !is_findings("findingsx")
        );
    }
}
