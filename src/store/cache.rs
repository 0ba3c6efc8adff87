//! The node cache's storage: an index in `<state-dir>/cache/` that hands recorded outputs to
//! later runs. The key itself is computed by the engine (`engine::cache_key`), over the plan.
//!
//! A hit copies the recorded outputs into the new run (never a hard link: a node that writes to
//! its input must not reach the cache or another run), so every run directory stays complete
//! on its own and history stays immutable. Entries are written to a temporary directory and renamed into place,
//! so a crash never leaves a half entry that looks whole.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// SHA-256 of the file at `path`, read through `buf`.
pub fn sha256_file(path: &Path, buf: &mut Vec<u8>) -> std::io::Result<[u8; 32]> {
    if buf.is_empty() {
        buf.resize(64 * 1024, 0);
    }
    let mut file = std::fs::File::open(path)?;
    let mut content = Sha256::new();
    loop {
        let n = match file.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        content.update(&buf[..n]);
    }
    Ok(content.finalize().into())
}

/// What the index records about one entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CacheEntry {
    pub schema_version: u32,
    pub key: String,
    pub node_id: String,
    /// The run that produced the outputs.
    pub run_id: String,
    /// Output name → record count; the files sit beside `entry.json` as `<name>.jsonl`.
    pub outputs: BTreeMap<String, u64>,
}

/// The cache index under `<state-dir>/cache/`.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    pub fn new(state_dir: &Path) -> Cache {
        Cache {
            dir: state_dir.join("cache"),
        }
    }

    fn entry_dir(&self, key: &str) -> PathBuf {
        self.dir.join(&key[..2.min(key.len())]).join(key)
    }

    /// The entry for `key`, when it is complete (every output file present).
    pub fn lookup(&self, key: &str) -> Option<CacheEntry> {
        let dir = self.entry_dir(key);
        let text = std::fs::read_to_string(dir.join("entry.json")).ok()?;
        let entry: CacheEntry = serde_json::from_str(&text).ok()?;
        // A symlink in place of an output file is no entry (restore would copy its target).
        let complete = entry.key == key
            && entry.outputs.keys().all(|name| {
                std::fs::symlink_metadata(dir.join(format!("{name}.jsonl")))
                    .is_ok_and(|m| m.file_type().is_file())
            });
        complete.then_some(entry)
    }

    /// Copies the entry's outputs to `dest[name]`.
    pub fn restore(
        &self,
        entry: &CacheEntry,
        dest: &BTreeMap<String, PathBuf>,
    ) -> std::io::Result<()> {
        let dir = self.entry_dir(&entry.key);
        for (name, path) in dest {
            copy_regular(&dir.join(format!("{name}.jsonl")), path)?;
        }
        Ok(())
    }

    /// Records `outputs` (name → file) under `key`. An existing entry is kept.
    pub fn store(
        &self,
        key: &str,
        node_id: &str,
        run_id: &str,
        outputs: &BTreeMap<String, (PathBuf, u64)>,
    ) -> std::io::Result<()> {
        let dir = self.entry_dir(key);
        if dir.join("entry.json").is_file() {
            return Ok(());
        }
        let parent = dir.parent().unwrap_or(&self.dir);
        std::fs::create_dir_all(parent)?;
        let tmp = parent.join(format!(".tmp-{key}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp)?;
        for (name, (path, _)) in outputs {
            copy_file(path, &tmp.join(format!("{name}.jsonl")))?;
        }
        let entry = CacheEntry {
            schema_version: 1,
            key: key.to_string(),
            node_id: node_id.to_string(),
            run_id: run_id.to_string(),
            outputs: outputs.iter().map(|(k, (_, n))| (k.clone(), *n)).collect(),
        };
        std::fs::write(tmp.join("entry.json"), serde_json::to_vec(&entry)?)?;
        match std::fs::rename(&tmp, &dir) {
            Ok(()) => Ok(()),
            // Another run stored the same key first: theirs is as good as ours.
            Err(_) if dir.join("entry.json").is_file() => {
                let _ = std::fs::remove_dir_all(&tmp);
                Ok(())
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&tmp);
                Err(e)
            }
        }
    }
}

/// Copies `from` to a new file `to` (replacing it). Never a hard link: the copy is the
/// reader's own, so nothing done to it reaches `from`.
pub fn copy_file(from: &Path, to: &Path) -> std::io::Result<()> {
    clear_destination(to)?;
    std::fs::copy(from, to).map(|_| ())
}

/// Makes `to`'s directory and removes what `to` names, so the copy is a new file.
fn clear_destination(to: &Path) -> std::io::Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    match std::fs::remove_file(to) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// [`copy_file`] from a regular file only: a symlink, FIFO or device swapped in for `from`
/// (a cache entry planted by another process of the user) is refused, never followed.
pub fn copy_regular(from: &Path, to: &Path) -> std::io::Result<()> {
    let mut source = super::open::open_regular(from)?;
    clear_destination(to)?;
    let mut dest = std::fs::File::create_new(to)?;
    std::io::copy(&mut source, &mut dest).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_then_lookup_and_restore() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let out = dir.path().join("y.jsonl");
        std::fs::write(&out, "1\n2\n").unwrap();
        let key = "ab".repeat(32);
        assert!(cache.lookup(&key).is_none());
        cache
            .store(
                &key,
                "a",
                "run1",
                &BTreeMap::from([("y".to_string(), (out, 2))]),
            )
            .unwrap();
        let entry = cache.lookup(&key).unwrap();
        assert_eq!(entry.outputs["y"], 2);
        let dest = dir.path().join("run2/datasets/y.jsonl");
        cache
            .restore(&entry, &BTreeMap::from([("y".to_string(), dest.clone())]))
            .unwrap();
        assert_eq!(std::fs::read_to_string(dest).unwrap(), "1\n2\n");
    }

    /// Attack: another process of the user swaps a cache entry's output for a symlink to a
    /// file it cannot read itself but secflow can; the next run restored its content into
    /// `datasets/` as the node's cached output.
    #[test]
    fn a_symlinked_output_is_no_entry_and_never_restored() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let out = dir.path().join("y.jsonl");
        std::fs::write(&out, "1\n").unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "private\n").unwrap();
        let key = "cd".repeat(32);
        let outputs = BTreeMap::from([("y".to_string(), (out, 1))]);
        cache.store(&key, "a", "run1", &outputs).unwrap();
        let entry = cache.lookup(&key).unwrap();
        let planted = cache.entry_dir(&key).join("y.jsonl");
        std::fs::remove_file(&planted).unwrap();
        std::os::unix::fs::symlink(&secret, &planted).unwrap();
        assert!(cache.lookup(&key).is_none());
        // Swapped between lookup and restore: refused, nothing copied.
        let dest = dir.path().join("run2/datasets/y.jsonl");
        let err = cache
            .restore(&entry, &BTreeMap::from([("y".to_string(), dest.clone())]))
            .unwrap_err();
        assert!(
            err.to_string().contains("symlink") || err.raw_os_error() == Some(libc::ELOOP),
            "{err}"
        );
        assert!(!dest.exists());
    }
}
