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

use std::io::Write as _;
use std::os::unix::fs::DirBuilderExt as _;

use crate::sys::dirfd::{Dir, Mode};

/// The entry format: 2 since entries are signed (earlier ones are no entries).
pub const CACHE_SCHEMA_VERSION: u32 = 2;

/// Asked between two reads of a long digest or copy: `true` stops it (a signal asked the run
/// to stop, SPEC §10).
pub type Stop<'a> = &'a dyn Fn() -> bool;

/// A [`Stop`] that never stops.
pub fn never() -> bool {
    false
}

/// The error of a digest that a [`Stop`] cut short.
pub fn stopped() -> std::io::Error {
    std::io::Error::other("stopped by a signal")
}

/// SHA-256 of the regular file at `path` (a symlink to one is followed; a FIFO is refused,
/// never waited on), read through `buf`; `stop` is asked before each read.
pub fn sha256_file(path: &Path, buf: &mut Vec<u8>, stop: Stop<'_>) -> std::io::Result<[u8; 32]> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} is not a regular file", path.display()),
        ));
    }
    sha256_of(file, buf, stop)
}

/// SHA-256 of the rest of `file`, read through `buf`; `stop` is asked before each read.
pub fn sha256_of(
    mut file: std::fs::File,
    buf: &mut Vec<u8>,
    stop: Stop<'_>,
) -> std::io::Result<[u8; 32]> {
    if buf.is_empty() {
        buf.resize(64 * 1024, 0);
    }
    let mut content = Sha256::new();
    loop {
        if stop() {
            return Err(stopped());
        }
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

impl CachedFile {
    /// What a copy of this file must be.
    fn recorded(&self) -> Recorded<'_> {
        Recorded {
            bytes: self.bytes,
            sha256: &self.sha256,
            by: "its cache entry",
        }
    }
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

    #[cfg(test)]
    fn entry_dir(&self, key: &str) -> PathBuf {
        self.dir.join(shard(key)).join(key)
    }

    /// The entry directory of `key`, opened from the cache directory down without following
    /// a symlink at any step.
    fn open_entry(&self, key: &str) -> std::io::Result<Dir> {
        Dir::open(&self.dir)?
            .open_child_dir(shard(key).as_ref())?
            .open_child_dir(key.as_ref())
    }

    /// The entry for `key`: `Ok(None)` when there is none, `Err(why)` when there is one that
    /// is not to be used (not signed with this key, edited, incomplete).
    pub fn lookup(&self, key: &str) -> Result<Option<CacheEntry>, String> {
        let dir = match self.open_entry(key) {
            Ok(dir) => dir,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot open it ({e})")),
        };
        let file = dir
            .open_child_file("entry.json".as_ref())
            .map_err(|e| format!("entry.json: {e}"))?;
        let text = super::open::read_file_at_most(file, MAX_ENTRY_BYTES)
            .map_err(|e| format!("entry.json: {e}"))?;
        let entry: CacheEntry =
            serde_json::from_slice(&text).map_err(|_| "entry.json is not an entry".to_string())?;
        if entry.schema_version != CACHE_SCHEMA_VERSION {
            return Err(format!(
                "written by an earlier secflow (entry format {}, unsigned)",
                entry.schema_version
            ));
        }
        if entry.key != key
            || !constant_time_eq(entry.mac.as_bytes(), self.mac_of(&entry).as_bytes())
        {
            return Err("not signed with this state's audit key (planted, edited, or stored under another key)"
                    .into());
        }
        // A symlink, or a file of another size, in place of an output: no entry.
        for (name, file) in &entry.outputs {
            let size = dir
                .open_child_file(format!("{name}.jsonl").as_ref())
                .and_then(|f| f.metadata())
                .map(|m| m.len());
            if size.ok() != Some(file.bytes) {
                return Err(format!("`{name}.jsonl` is not the file it records"));
            }
        }
        Ok(Some(entry))
    }

    /// Copies the entry's file `name` of each of `names` into `dest(name)` (a new file the
    /// caller opens), each checked against the entry. An entry that fails its check (a file
    /// missing, not regular, of another size or digest) is removed: the next store of the
    /// key replaces it; a failure on the destination's side (a full disk) keeps it. Once
    /// `stop()` says so (a signal), the copy ends at its next read.
    pub fn restore(
        &self,
        entry: &CacheEntry,
        names: &[String],
        dest: &mut dyn FnMut(&str) -> std::io::Result<std::fs::File>,
        stop: &dyn Fn() -> bool,
    ) -> std::io::Result<()> {
        // (the error, whether it is the entry's fault: a file missing, not regular, a
        // symlink, of another size or digest; not `EMFILE` or a permission)
        let fault = |e: std::io::Error| {
            let entry_fault = matches!(
                e.kind(),
                std::io::ErrorKind::InvalidData | std::io::ErrorKind::NotFound
            ) || e.raw_os_error() == Some(libc::ELOOP);
            (e, entry_fault)
        };
        let result = (|| {
            let dir = self.open_entry(&entry.key).map_err(fault)?;
            for name in names {
                let file = entry.outputs.get(name).ok_or_else(|| {
                    let e =
                        std::io::Error::new(std::io::ErrorKind::NotFound, format!("no `{name}`"));
                    (e, true)
                })?;
                let mut from = dir
                    .open_child_file(format!("{name}.jsonl").as_ref())
                    .map_err(fault)?;
                let mut to = dest(name).map_err(|e| (e, false))?;
                copy_into(&mut from, file.recorded(), &mut to, stop, &mut |_| {}).map_err(|e| {
                    let entry_fault = e.kind() == std::io::ErrorKind::InvalidData;
                    (e, entry_fault)
                })?;
            }
            Ok(())
        })();
        result.map_err(|(e, entry_fault)| {
            if entry_fault {
                self.discard(&entry.key);
            }
            e
        })
    }

    /// Moves the entry of `key` out of the way (a rename beneath the cache directory, never
    /// through a symlink), then removes it.
    fn discard(&self, key: &str) {
        let Ok(root) = Dir::open(&self.dir) else {
            return;
        };
        let aside = format!("{}/.old-{key}-{}", shard(key), ulid::Ulid::new());
        let from = format!("{}/{key}", shard(key));
        if root.rename(from.as_ref(), aside.as_ref()).is_ok() {
            let _ = std::fs::remove_dir_all(self.dir.join(aside));
        }
    }

    /// Records `outputs` (name → the file, open, and what it holds) under `key`, each copy
    /// checked against it. An existing valid entry is kept; an invalid one is replaced. Everything
    /// is created beneath the cache directory by descriptor (mode 0700), never through a
    /// symlink, in a staging directory of a fresh name renamed into place.
    pub fn store(
        &self,
        key: &str,
        node_id: &str,
        run_id: &str,
        outputs: BTreeMap<String, (std::fs::File, CachedFile)>,
    ) -> std::io::Result<()> {
        let existing = self.lookup(key);
        if matches!(existing, Ok(Some(_))) {
            return Ok(());
        }
        match std::fs::DirBuilder::new().mode(0o700).create(&self.dir) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
            _ => {}
        }
        let root = Dir::open(&self.dir)?;
        root.create_dir(shard(key).as_ref())?;
        self.sweep(&root, shard(key));
        let staging = format!("{}/.tmp-{key}-{}", shard(key), ulid::Ulid::new());
        let result = (|| {
            root.create_dir(staging.as_ref())?;
            for (name, (from, file)) in &outputs {
                let mut from = from.try_clone()?;
                let target = format!("{staging}/{name}.jsonl");
                let mut to = root.open_file(target.as_ref(), Mode::CreateNew)?;
                copy_into(&mut from, file.recorded(), &mut to, &|| false, &mut |_| {})?;
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
            let target = format!("{staging}/entry.json");
            root.open_file(target.as_ref(), Mode::CreateNew)?
                .write_all(&serde_json::to_vec(&entry)?)?;
            if existing.is_err() {
                self.discard(key);
            }
            let into = format!("{}/{key}", shard(key));
            root.rename(staging.as_ref(), into.as_ref())
        })();
        if result.is_err() {
            let _ = std::fs::remove_dir_all(self.dir.join(&staging));
            // Another run stored the same key first: theirs is as good as ours.
            if matches!(self.lookup(key), Ok(Some(_))) {
                return Ok(());
            }
        }
        result
    }
}

impl Cache {
    /// Removes what stores killed mid-way (`kill -9`) or a failed clean-up left in `shard`:
    /// staging and set-aside directories not modified for [`STALE_AFTER`] (a store writes
    /// its staging directory's entries as it goes; one copying a single file for over an
    /// hour would lose its staging and store nothing).
    fn sweep(&self, root: &Dir, shard: &str) {
        let Ok(dir) = root.open_child_dir(shard.as_ref()) else {
            return;
        };
        let Ok(entries) = dir.entries() else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let ours = name
                .to_str()
                .is_some_and(|n| n.starts_with(".tmp-") || n.starts_with(".old-"));
            let stale = || {
                entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|at| at.elapsed().is_ok_and(|age| age > STALE_AFTER))
            };
            if ours && stale() {
                // The last component is never followed: a symlink planted under such a
                // name is removed itself.
                let _ = std::fs::remove_dir_all(self.dir.join(shard).join(&name));
            }
        }
    }
}

/// How old a staging or set-aside directory must be to be swept.
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(3600);

/// The two-hex subdirectory an entry's key lives in.
fn shard(key: &str) -> &str {
    key.get(..2).unwrap_or(key)
}

/// Largest `entry.json` read (an entry lists a node's outputs: a few hundred bytes each).
const MAX_ENTRY_BYTES: u64 = 1 << 20;

/// A file as something recorded it: what a copy of it must be.
#[derive(Debug, Clone, Copy)]
pub struct Recorded<'a> {
    pub bytes: u64,
    /// Lowercase hex SHA-256.
    pub sha256: &'a str,
    /// What recorded it, for messages ("its cache entry", "its audit trail").
    pub by: &'a str,
}

/// Copies the rest of `from` into `dest`, no more than `recorded.bytes`, handing each chunk
/// to `observe`, and fails (`InvalidData`) unless what was copied is exactly that long with
/// that SHA-256; fails (`Other`, "interrupted") once `stop()` says so, checked before each
/// read.
pub fn copy_into(
    from: &mut std::fs::File,
    recorded: Recorded<'_>,
    dest: &mut std::fs::File,
    stop: &dyn Fn() -> bool,
    observe: &mut dyn FnMut(&[u8]),
) -> std::io::Result<()> {
    let Recorded { bytes, sha256, by } = recorded;
    let invalid = |why: String| std::io::Error::new(std::io::ErrorKind::InvalidData, why);
    let size = from.metadata()?.len();
    if size != bytes {
        return Err(invalid(format!("{size} bytes, {by} recorded {bytes}")));
    }
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut copied = 0u64;
    let mut limited = from.take(bytes + 1);
    loop {
        if stop() {
            return Err(std::io::Error::other("interrupted"));
        }
        let n = match limited.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        observe(&buf[..n]);
        copied += n as u64;
        dest.write_all(&buf[..n])?;
    }
    if copied == bytes && crate::recipe::hex(&hasher.finalize()) == sha256 {
        Ok(())
    } else {
        Err(invalid(format!("not what {by} recorded (SHA-256 differs)")))
    }
}

/// Whether `a` and `b` are equal, in time independent of where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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

    /// Restores output `y` of `entry` to a new file `dest`, removed again on failure (what
    /// the engine does).
    fn restore_y(cache: &Cache, entry: &CacheEntry, dest: &Path) -> std::io::Result<()> {
        let r = cache.restore(
            entry,
            &["y".to_string()],
            &mut |_| {
                std::fs::create_dir_all(dest.parent().unwrap())?;
                std::fs::File::create_new(dest)
            },
            &|| false,
        );
        if r.is_err() {
            let _ = std::fs::remove_file(dest);
        }
        r
    }

    fn one_output(path: &Path) -> BTreeMap<String, (std::fs::File, CachedFile)> {
        let file = std::fs::File::open(path).unwrap();
        BTreeMap::from([("y".to_string(), (file, file_of(path)))])
    }

    #[test]
    fn store_then_lookup_and_restore() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path(), key(1));
        let out = dir.path().join("y.jsonl");
        std::fs::write(&out, "1\n2\n").unwrap();
        let key = "ab".repeat(32);
        assert_eq!(cache.lookup(&key), Ok(None));
        cache.store(&key, "a", "run1", one_output(&out)).unwrap();
        let entry = cache.lookup(&key).unwrap().unwrap();
        assert_eq!(entry.outputs["y"].records, 2);
        let dest = dir.path().join("run2/datasets/y.jsonl");
        restore_y(&cache, &entry, &dest).unwrap();
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
        cache.store(&key, "a", "run1", one_output(&out)).unwrap();
        let entry = cache.lookup(&key).unwrap().unwrap();
        let planted = cache.entry_dir(&key).join("y.jsonl");
        std::fs::remove_file(&planted).unwrap();
        std::os::unix::fs::symlink(&secret, &planted).unwrap();
        assert!(cache.lookup(&key).is_err());
        // Swapped between lookup and restore: refused, nothing copied.
        let dest = dir.path().join("run2/datasets/y.jsonl");
        let err = restore_y(&cache, &entry, &dest).unwrap_err();
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
            .store(&k, "a", "run0", one_output(&forged))
            .unwrap();
        let why = cache.lookup(&k).unwrap_err();
        assert!(
            why.contains("not signed with this state's audit key"),
            "{why}"
        );
        // Our store replaces the invalid entry in the way.
        cache.store(&k, "a", "run1", one_output(&out)).unwrap();
        let entry = cache.lookup(&k).unwrap().unwrap();
        assert_eq!(entry.run_id, "run1");

        // The entry edited to describe the planted file (size and digest): the MAC breaks.
        let entry_json = cache.entry_dir(&k).join("entry.json");
        let genuine = std::fs::read_to_string(&entry_json).unwrap();
        let edited = genuine.replace(&file_of(&out).sha256, &file_of(&forged).sha256);
        assert_ne!(edited, genuine);
        std::fs::write(&entry_json, &edited).unwrap();
        assert!(cache.lookup(&k).is_err(), "edited entry");
        // Unsigned (schema 1, as entries were before): no entry.
        let mut unsigned: serde_json::Value = serde_json::from_str(&genuine).unwrap();
        unsigned["schema_version"] = 1.into();
        unsigned.as_object_mut().unwrap().remove("mac");
        std::fs::write(&entry_json, unsigned.to_string()).unwrap();
        let why = cache.lookup(&k).unwrap_err();
        assert!(why.contains("unsigned"), "{why}");
        std::fs::write(&entry_json, &genuine).unwrap();
        assert!(matches!(cache.lookup(&k), Ok(Some(_))));

        // The signed entry intact, its file swapped for same-size other content between
        // lookup and restore: not restored, no copy left.
        let planted = cache.entry_dir(&k).join("y.jsonl");
        let same_size = "{\"planted\": 2}\n";
        assert_eq!(same_size.len(), std::fs::read(&out).unwrap().len());
        std::fs::write(&planted, same_size).unwrap();
        let dest = dir.path().join("run2/datasets/y.jsonl");
        let err = restore_y(&cache, &entry, &dest).unwrap_err();
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
        assert!(cache.store(&k, "a", "run1", recorded).is_err());
        assert_eq!(cache.lookup(&k), Ok(None));
    }

    /// Attack: the cache directory (or a shard of it) is a symlink to a directory of the
    /// attacker's choice: nothing is written there, nothing read from there.
    #[test]
    fn a_symlinked_cache_or_shard_directory_is_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = dir.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        let out = dir.path().join("y.jsonl");
        std::fs::write(&out, "1\n").unwrap();
        let k = "bb".repeat(32);
        let state = dir.path().join("state");
        std::fs::create_dir(&state).unwrap();
        std::os::unix::fs::symlink(&elsewhere, state.join("cache")).unwrap();
        let cache = Cache::new(&state, key(1));
        assert!(cache.store(&k, "a", "run1", one_output(&out)).is_err());
        assert!(cache.lookup(&k).is_err());
        assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
        // The shard: a real cache directory whose `bb/` points elsewhere.
        std::fs::remove_file(state.join("cache")).unwrap();
        std::fs::create_dir(state.join("cache")).unwrap();
        std::os::unix::fs::symlink(&elsewhere, state.join("cache/bb")).unwrap();
        assert!(cache.store(&k, "a", "run1", one_output(&out)).is_err());
        assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
    }

    #[test]
    fn stale_staging_left_by_a_killed_store_is_swept_and_a_fresh_one_kept() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path(), key(1));
        let out = dir.path().join("y.jsonl");
        std::fs::write(&out, "1\n").unwrap();
        let shard = dir.path().join("cache/cc");
        std::fs::create_dir_all(&shard).unwrap();
        let old = shard.join(".tmp-dead-01");
        let young = shard.join(".tmp-busy-02");
        let kept = shard.join("not-ours");
        for d in [&old, &young, &kept] {
            std::fs::create_dir(d).unwrap();
            std::fs::write(d.join("y.jsonl"), "partial").unwrap();
        }
        let hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
        for d in [&old, &kept] {
            std::fs::File::open(d)
                .unwrap()
                .set_modified(hours_ago)
                .unwrap();
        }
        cache
            .store(&"cc".repeat(32), "a", "run1", one_output(&out))
            .unwrap();
        assert!(!old.exists(), "stale staging swept");
        assert!(young.exists() && kept.exists());
    }

    #[test]
    fn a_stopped_restore_copies_nothing_more_and_keeps_the_entry() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path(), key(1));
        let out = dir.path().join("y.jsonl");
        std::fs::write(&out, "1\n").unwrap();
        let k = "dd".repeat(32);
        cache.store(&k, "a", "run1", one_output(&out)).unwrap();
        let entry = cache.lookup(&k).unwrap().unwrap();
        let dest = dir.path().join("run2/y.jsonl");
        let err = cache
            .restore(
                &entry,
                &["y".to_string()],
                &mut |_| {
                    std::fs::create_dir_all(dest.parent().unwrap())?;
                    std::fs::File::create_new(&dest)
                },
                &|| true,
            )
            .unwrap_err();
        assert_eq!(err.to_string(), "interrupted");
        assert_eq!(std::fs::read(&dest).unwrap(), b"", "nothing copied");
        assert!(
            matches!(cache.lookup(&k), Ok(Some(_))),
            "the entry is not at fault"
        );
    }
}
