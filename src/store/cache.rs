//! The node cache's storage: an index in `<state-dir>/cache/` that hands recorded outputs to
//! later runs. The key itself is computed by the engine (`engine::cache_key`), over the plan.
//!
//! A hit copies the recorded outputs into the new run (never a hard link: a node that writes to
//! its input must not reach the cache or another run), so every run directory stays complete
//! on its own and history stays immutable. Entries are written to a temporary directory and renamed into place,
//! so a crash never leaves a half entry that looks whole.
//!
//! Entries are signed: `entry.json` records each file's size and SHA-256 and carries an
//! HMAC-SHA256 with the state's audit key, so an entry planted or edited by a tool of the
//! same user (which does not hold a key kept out of its reach) is no entry. A restore opens
//! each file beneath the entry's directory without following a symlink, copies no more than
//! the signed size while hashing, and keeps the copy only with the signed digest.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::sys::dirfd::Dir;

/// The entry format: 2 since entries are signed (earlier ones are no entries).
pub const CACHE_SCHEMA_VERSION: u32 = 2;

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

/// One cached dataset file as its entry records it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CachedFile {
    pub bytes: u64,
    /// Non-empty lines.
    pub records: u64,
    /// Lowercase hex SHA-256.
    pub sha256: String,
}

/// What the index records about one entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CacheEntry {
    pub schema_version: u32,
    pub key: String,
    pub node_id: String,
    /// The run that produced the outputs.
    pub run_id: String,
    /// Output name → file; the files sit beside `entry.json` as `<name>.jsonl`.
    pub outputs: BTreeMap<String, CachedFile>,
    /// Lowercase hex HMAC-SHA256 with the audit key over the entry's compact JSON with
    /// `mac` empty (fields in this order, maps sorted).
    #[serde(default)]
    pub mac: String,
}

/// Signs the concatenation of byte strings: lowercase hex HMAC-SHA256 with the state's audit
/// key, given by the caller (the store holds no key).
#[derive(Clone)]
pub struct Signer(pub std::sync::Arc<SignFn>);

/// What a [`Signer`] calls.
pub type SignFn = dyn Fn(&[&[u8]]) -> String + Send + Sync;

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer")
    }
}

/// The cache index under `<state-dir>/cache/`, signed with `sign`.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
    sign: Signer,
}

impl Cache {
    pub fn new(state_dir: &Path, sign: Signer) -> Cache {
        Cache {
            dir: state_dir.join("cache"),
            sign,
        }
    }

    /// The entry's HMAC (over it with `mac` empty).
    fn mac_of(&self, entry: &CacheEntry) -> String {
        let unsigned = CacheEntry {
            mac: String::new(),
            ..entry.clone()
        };
        let bytes = serde_json::to_vec(&unsigned).unwrap_or_default();
        (self.sign.0)(&[b"secflow cache entry\n", &bytes])
    }

    fn entry_dir(&self, key: &str) -> PathBuf {
        self.dir.join(&key[..2.min(key.len())]).join(key)
    }

    /// The entry for `key`, when it is signed with this key and complete (every output
    /// file present, a regular file of the signed size).
    pub fn lookup(&self, key: &str) -> Option<CacheEntry> {
        let dir = self.entry_dir(key);
        let text = super::open::read_regular(&dir.join("entry.json")).ok()?;
        let entry: CacheEntry = serde_json::from_slice(&text).ok()?;
        let signed = entry.schema_version == CACHE_SCHEMA_VERSION
            && entry.key == key
            && constant_time_eq(entry.mac.as_bytes(), self.mac_of(&entry).as_bytes());
        // A symlink in place of an output file is no entry (restore would copy its target).
        let complete = signed
            && entry.outputs.iter().all(|(name, file)| {
                std::fs::symlink_metadata(dir.join(format!("{name}.jsonl")))
                    .is_ok_and(|m| m.file_type().is_file() && m.len() == file.bytes)
            });
        complete.then_some(entry)
    }

    /// Copies the entry's outputs to `dest[name]`, each checked against the entry; on any
    /// failure the copies made, and the entry, are removed.
    pub fn restore(
        &self,
        entry: &CacheEntry,
        dest: &BTreeMap<String, PathBuf>,
    ) -> std::io::Result<()> {
        let result = (|| {
            let dir = Dir::open(&self.entry_dir(&entry.key))?;
            for (name, path) in dest {
                let file = entry.outputs.get(name).ok_or_else(|| {
                    std::io::Error::new(std::io::ErrorKind::NotFound, format!("no `{name}`"))
                })?;
                let mut from = dir.open_child_file(format!("{name}.jsonl").as_ref())?;
                copy_checked(&mut from, file.bytes, &file.sha256, path)?;
            }
            Ok(())
        })();
        if result.is_err() {
            for path in dest.values() {
                let _ = std::fs::remove_file(path);
            }
            // An entry that does not hold what it records is of no use: the next store of
            // the key replaces it.
            let _ = std::fs::remove_dir_all(self.entry_dir(&entry.key));
        }
        result
    }

    /// Records `outputs` (name → file and what it holds) under `key`, each copy checked
    /// against it. An existing valid entry is kept; an unsigned or invalid one is replaced.
    pub fn store(
        &self,
        key: &str,
        node_id: &str,
        run_id: &str,
        outputs: &BTreeMap<String, (PathBuf, CachedFile)>,
    ) -> std::io::Result<()> {
        let dir = self.entry_dir(key);
        if self.lookup(key).is_some() {
            return Ok(());
        }
        let parent = dir.parent().unwrap_or(&self.dir);
        std::fs::create_dir_all(parent)?;
        let tmp = parent.join(format!(".tmp-{key}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp)?;
        for (name, (path, file)) in outputs {
            let mut from = super::open::open_regular(path)?;
            let copied = copy_checked(
                &mut from,
                file.bytes,
                &file.sha256,
                &tmp.join(format!("{name}.jsonl")),
            );
            if let Err(e) = copied {
                let _ = std::fs::remove_dir_all(&tmp);
                return Err(e);
            }
        }
        let mut entry = CacheEntry {
            schema_version: CACHE_SCHEMA_VERSION,
            key: key.to_string(),
            node_id: node_id.to_string(),
            run_id: run_id.to_string(),
            outputs: outputs
                .iter()
                .map(|(k, (_, f))| (k.clone(), f.clone()))
                .collect(),
            mac: String::new(),
        };
        entry.mac = self.mac_of(&entry);
        std::fs::write(tmp.join("entry.json"), serde_json::to_vec(&entry)?)?;
        // An invalid entry in the way (unsigned, another key's, tampered) goes.
        if dir.exists() && self.lookup(key).is_none() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        match std::fs::rename(&tmp, &dir) {
            Ok(()) => Ok(()),
            // Another run stored the same key first: theirs is as good as ours.
            Err(_) if self.lookup(key).is_some() => {
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

/// Copies the rest of `from` to a new file `to` (replacing it), no more than `bytes`, and
/// keeps it only when it is exactly `bytes` long with SHA-256 `sha256` (lowercase hex);
/// otherwise removes it and fails (`InvalidData`).
pub fn copy_checked(
    from: &mut std::fs::File,
    bytes: u64,
    sha256: &str,
    to: &Path,
) -> std::io::Result<()> {
    use std::io::Write as _;
    let size = from.metadata()?.len();
    let invalid = |why: String| std::io::Error::new(std::io::ErrorKind::InvalidData, why);
    if size != bytes {
        return Err(invalid(format!("{size} bytes, {bytes} recorded")));
    }
    clear_destination(to)?;
    let mut dest = std::fs::File::create_new(to)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut copied = 0u64;
    let mut limited = from.take(bytes + 1);
    let result = loop {
        let n = match limited.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => break Err(e),
        };
        hasher.update(&buf[..n]);
        copied += n as u64;
        if let Err(e) = dest.write_all(&buf[..n]) {
            break Err(e);
        }
    };
    let digest = crate::recipe::hex(&hasher.finalize());
    let result = result.and_then(|()| {
        if copied == bytes && digest == sha256 {
            Ok(())
        } else {
            Err(invalid("not what was recorded (SHA-256 differs)".into()))
        }
    });
    if result.is_err() {
        drop(dest);
        let _ = std::fs::remove_file(to);
    }
    result
}

/// Whether `a` and `b` are equal, in time independent of where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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
    use crate::audit::{AuditKey, KeySource};

    fn key(byte: u8) -> Signer {
        let key = AuditKey::from_bytes(&[byte; 32], KeySource::Env);
        Signer(std::sync::Arc::new(move |parts| key.hmac_hex(parts)))
    }

    /// The file at `path` as an entry records it.
    fn file_of(path: &Path) -> CachedFile {
        let bytes = std::fs::read(path).unwrap();
        CachedFile {
            bytes: bytes.len() as u64,
            records: bytes
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .count() as u64,
            sha256: crate::recipe::hex(&Sha256::digest(&bytes)),
        }
    }

    fn one_output(path: &Path) -> BTreeMap<String, (PathBuf, CachedFile)> {
        BTreeMap::from([("y".to_string(), (path.to_path_buf(), file_of(path)))])
    }

    #[test]
    fn store_then_lookup_and_restore() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path(), key(1));
        let out = dir.path().join("y.jsonl");
        std::fs::write(&out, "1\n2\n").unwrap();
        let key = "ab".repeat(32);
        assert!(cache.lookup(&key).is_none());
        cache.store(&key, "a", "run1", &one_output(&out)).unwrap();
        let entry = cache.lookup(&key).unwrap();
        assert_eq!(entry.outputs["y"].records, 2);
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
        let cache = Cache::new(dir.path(), key(1));
        let out = dir.path().join("y.jsonl");
        std::fs::write(&out, "1\n").unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "2\n").unwrap();
        let key = "cd".repeat(32);
        cache.store(&key, "a", "run1", &one_output(&out)).unwrap();
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
        assert!(err.to_string().contains("not a regular file"), "{err}");
        assert!(!dest.exists());
    }

    /// Attack: a tool of the same user plants an entry for a key it can compute (its own
    /// node's), or edits a stored one, so that a later run reuses its content. Without the
    /// audit key the entry is no entry; with the entry's signature intact, content of another
    /// size or digest is never restored.
    #[test]
    fn planted_edited_and_unsigned_entries_are_no_entries() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path(), key(1));
        let out = dir.path().join("y.jsonl");
        std::fs::write(&out, "{\"genuine\": 1}\n").unwrap();
        let forged = dir.path().join("forged.jsonl");
        std::fs::write(&forged, "{\"planted\": 1}\n").unwrap();
        let k = "ef".repeat(32);

        // Planted with another key (the attacker's own).
        Cache::new(dir.path(), key(2))
            .store(&k, "a", "run0", &one_output(&forged))
            .unwrap();
        assert!(cache.lookup(&k).is_none(), "another key's entry");
        // Our store replaces the invalid entry in the way.
        cache.store(&k, "a", "run1", &one_output(&out)).unwrap();
        let entry = cache.lookup(&k).unwrap();
        assert_eq!(entry.run_id, "run1");

        // The entry edited to describe the planted file (size and digest): the MAC breaks.
        let entry_json = cache.entry_dir(&k).join("entry.json");
        let genuine = std::fs::read_to_string(&entry_json).unwrap();
        let edited = genuine.replace(&file_of(&out).sha256, &file_of(&forged).sha256);
        assert_ne!(edited, genuine);
        std::fs::write(&entry_json, &edited).unwrap();
        assert!(cache.lookup(&k).is_none(), "edited entry");
        // Unsigned (schema 1, as entries were before): no entry.
        let mut unsigned: serde_json::Value = serde_json::from_str(&genuine).unwrap();
        unsigned["schema_version"] = 1.into();
        unsigned.as_object_mut().unwrap().remove("mac");
        std::fs::write(&entry_json, unsigned.to_string()).unwrap();
        assert!(cache.lookup(&k).is_none(), "unsigned entry");
        std::fs::write(&entry_json, &genuine).unwrap();
        assert!(cache.lookup(&k).is_some());

        // The signed entry intact, its file swapped for same-size other content between
        // lookup and restore: not restored, no copy left.
        let planted = cache.entry_dir(&k).join("y.jsonl");
        let same_size = "{\"planted\": 2}\n";
        assert_eq!(same_size.len(), std::fs::read(&out).unwrap().len());
        std::fs::write(&planted, same_size).unwrap();
        let dest = dir.path().join("run2/datasets/y.jsonl");
        let err = cache
            .restore(&entry, &BTreeMap::from([("y".to_string(), dest.clone())]))
            .unwrap_err();
        assert!(err.to_string().contains("SHA-256 differs"), "{err}");
        assert!(!dest.exists());
    }

    #[test]
    fn a_source_changed_before_it_is_cached_is_not_cached() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path(), key(1));
        let out = dir.path().join("y.jsonl");
        std::fs::write(&out, "1\n").unwrap();
        let recorded = one_output(&out);
        std::fs::write(&out, "2\n").unwrap();
        let k = "aa".repeat(32);
        assert!(cache.store(&k, "a", "run1", &recorded).is_err());
        assert!(cache.lookup(&k).is_none());
    }
}
