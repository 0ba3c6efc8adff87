//! The audit key: where it comes from, its id, and HMAC with it.
//!
//! Order (SPEC §4): `SECFLOW_AUDIT_KEY` (hex or base64), else `--audit-key-file`, else
//! `<state-dir>/audit.key` (32 random bytes, created with mode 0600 when a run needs it).
//! A key file readable by group or others is refused. The key's bytes never appear in any
//! message, `Debug` output or file other than the key file itself; only its `key_id`
//! (first 16 hex of its SHA-256) is ever shown.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac as _};
use sha2::{Digest as _, Sha256};

use crate::recipe::hex;

/// The environment variable that holds the key (hex or base64).
pub const KEY_ENV: &str = "SECFLOW_AUDIT_KEY";
/// The key file's name inside the state directory.
pub const KEY_FILE_NAME: &str = crate::store::layout::KEY_FILE_NAME;
/// Shortest key accepted, in bytes.
pub const MIN_KEY_BYTES: usize = 16;

/// `SECFLOW_AUDIT_KEY` as taken out of the environment at start-up (`None` inside: unset).
static ENV_KEY: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

/// Takes `SECFLOW_AUDIT_KEY` out of the process: its value is kept here, its bytes are wiped
/// from the initial environment block (what `/proc/<pid>/environ` shows) and it is removed
/// from the environment, so no spawner or node started later can inherit or read it. Call
/// first thing in `main`, while the process has one thread.
pub fn take_env_key_at_start() {
    let value =
        crate::sys::process_guard::take_env_var(KEY_ENV).map(|v| v.to_string_lossy().into_owned());
    let _ = ENV_KEY.set(value);
}

/// The value of `SECFLOW_AUDIT_KEY`: as taken at start-up, else (the library used without
/// [`take_env_key_at_start`]) as the environment holds it now.
pub fn env_key() -> Option<String> {
    match ENV_KEY.get() {
        Some(v) => v.clone(),
        None => std::env::var(KEY_ENV).ok(),
    }
}

/// Why no usable key could be had. Messages name paths and reasons, never key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{KEY_ENV} must be hex or base64 of at least {MIN_KEY_BYTES} bytes")]
    BadEnv,
    #[error(
        "audit key file {path} is readable by group or others (mode {mode:04o}); \
         restrict it with `chmod 600 {path}`"
    )]
    Permissions { path: PathBuf, mode: u32 },
    #[error(
        "audit key file {0} holds no usable key (raw bytes, hex or base64 of at least \
         {MIN_KEY_BYTES} bytes)"
    )]
    BadFile(PathBuf),
    #[error("{0}")]
    Untrusted(String),
    #[error("no audit key: {0} does not exist (set {KEY_ENV} or pass --audit-key-file)")]
    Missing(PathBuf),
    #[error("cannot read audit key file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create audit key file {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Where a key came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Env,
    File(PathBuf),
}

/// A secret HMAC key. `Debug` shows only its id.
#[derive(Clone)]
pub struct AuditKey {
    mac: Hmac<Sha256>,
    key_id: String,
    source: KeySource,
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditKey")
            .field("key_id", &self.key_id)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl AuditKey {
    /// A key from its bytes.
    pub fn from_bytes(bytes: &[u8], source: KeySource) -> Self {
        let digest = Sha256::digest(bytes);
        AuditKey {
            mac: Hmac::<Sha256>::new_from_slice(bytes).expect("HMAC accepts keys of any length"),
            key_id: hex(&digest[..8]),
            source,
        }
    }

    /// First 16 hex of SHA-256 of the key.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    pub fn source(&self) -> &KeySource {
        &self.source
    }

    /// Lowercase hex HMAC-SHA256 over the concatenation of `parts`.
    pub fn hmac_hex(&self, parts: &[&[u8]]) -> String {
        let mut mac = self.mac.clone();
        for p in parts {
            mac.update(p);
        }
        crate::recipe::hex(&mac.finalize().into_bytes())
    }

    /// The key for a run: `env` (the value of `SECFLOW_AUDIT_KEY`), else `key_file`, else
    /// `<state_dir>/audit.key`, created when missing.
    pub fn for_run(
        env: Option<&str>,
        key_file: Option<&Path>,
        state_dir: &Path,
    ) -> Result<Self, KeyError> {
        if let Some(k) = Self::explicit(env, key_file)? {
            return Ok(k);
        }
        let path = state_dir.join(KEY_FILE_NAME);
        if !path.exists() {
            create_key_file(&path)?;
        }
        read_key_file(&path)
    }

    /// The key to verify with: like [`AuditKey::for_run`] but never creates one; when
    /// `<state_dir>/audit.key` is missing, `fallback_dirs` are tried in order (e.g. the
    /// state directory a copied run directory came from).
    pub fn for_verify(
        env: Option<&str>,
        key_file: Option<&Path>,
        state_dir: &Path,
        fallback_dirs: &[PathBuf],
    ) -> Result<Self, KeyError> {
        if let Some(k) = Self::explicit(env, key_file)? {
            return Ok(k);
        }
        let primary = state_dir.join(KEY_FILE_NAME);
        let found = std::iter::once(primary.clone())
            .chain(fallback_dirs.iter().map(|d| d.join(KEY_FILE_NAME)))
            .find(|p| p.is_file());
        match found {
            Some(path) => read_key_file(&path),
            None => Err(KeyError::Missing(primary)),
        }
    }

    fn explicit(env: Option<&str>, key_file: Option<&Path>) -> Result<Option<Self>, KeyError> {
        if let Some(value) = env.filter(|v| !v.trim().is_empty()) {
            let bytes = decode_text_key(value.trim()).ok_or(KeyError::BadEnv)?;
            return Ok(Some(AuditKey::from_bytes(&bytes, KeySource::Env)));
        }
        key_file.map(read_key_file).transpose()
    }
}

/// Reads a key file: refuses group/other access, then takes text (hex or base64) or raw bytes.
pub fn read_key_file(path: &Path) -> Result<AuditKey, KeyError> {
    use std::os::unix::fs::PermissionsExt as _;
    let read_err = |source| KeyError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let meta = file.metadata().map_err(read_err)?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::Permissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    crate::store::trust::check_explicit_key(path, &meta).map_err(KeyError::Untrusted)?;
    let mut bytes = Vec::new();
    file.take(64 * 1024)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    let is_text = bytes
        .iter()
        .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace());
    let key = if is_text {
        std::str::from_utf8(&bytes)
            .ok()
            .and_then(|s| decode_text_key(s.trim()))
    } else {
        Some(bytes).filter(|b| b.len() >= MIN_KEY_BYTES)
    };
    match key {
        Some(k) => Ok(AuditKey::from_bytes(
            &k,
            KeySource::File(path.to_path_buf()),
        )),
        None => Err(KeyError::BadFile(path.to_path_buf())),
    }
}

/// Creates `path` with 32 random bytes from the OS, mode 0600, never overwriting.
fn create_key_file(path: &Path) -> Result<(), KeyError> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let create_err = |source| KeyError::Create {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(create_err)?;
    }
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(create_err)?;
    let mut file = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(f) => f,
        // Another run created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(create_err(e)),
    };
    file.write_all(&bytes)
        .and_then(|()| file.set_permissions(std::fs::Permissions::from_mode(0o600)))
        .and_then(|()| file.sync_all())
        .map_err(create_err)
}

/// Hex (even length) or base64 (standard or URL-safe, padding optional), at least
/// [`MIN_KEY_BYTES`] bytes.
pub fn decode_text_key(s: &str) -> Option<Vec<u8>> {
    decode_hex(s)
        .or_else(|| decode_base64(s))
        .filter(|k| k.len() >= MIN_KEY_BYTES)
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for b in s.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // A single leftover sextet cannot be valid base64.
    (bits < 6).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_keys_decode_as_hex_or_base64() {
        let raw: Vec<u8> = (0u8..32).collect();
        let hexed = hex(&raw);
        assert_eq!(decode_text_key(&hexed), Some(raw.clone()));
        // base64 of 0..32, standard alphabet with padding.
        let b64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        assert_eq!(decode_text_key(b64), Some(raw));
        assert_eq!(decode_text_key("abcd"), None);
        assert_eq!(decode_text_key("not a key at all!!"), None);
    }

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let key = AuditKey::from_bytes(b"Jefe", KeySource::Env);
        assert_eq!(
            key.hmac_hex(&[b"what do ya want ", b"for nothing?"]),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(!format!("{key:?}").contains("Jefe"));
    }
}
