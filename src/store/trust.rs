//! The state directory is trusted or refused (SPEC §10).
//!
//! The state directory, its `runs/` and the default key file (`audit.key`) are checked with
//! `lstat` — their parents are not (a tmpfs root is 1777). Each must be owned by the current
//! user, not writable by group or others, and not a symlink. Commands that write
//! (`run-workflow`, `runs prune`) refuse an untrusted state directory (exit 2); commands that
//! only read warn once per problem and go on. secflow creates the state directory and
//! `runs/` 0700 whatever the umask.
//!
//! Why: whoever can write `runs/` can swap `runs/<id>` for a symlink mid-run and make a root
//! secflow write through it; whoever owns the key can forge the chain.

use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use super::layout::KEY_FILE_NAME;

/// What is wrong with one path of the state directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: PathBuf,
    pub why: Why,
}

/// The reason a path is not trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    Symlink,
    Owner { uid: u32, me: u32 },
    Writable { mode: u32 },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = self.path.display();
        match &self.why {
            Why::Symlink => write!(
                f,
                "{p} is a symlink; pass the real directory with --state-dir (or SECFLOW_HOME) \
                 or replace the link by what it points to"
            ),
            Why::Owner { uid, me } => write!(
                f,
                "{p} is owned by uid {uid}, not by you (uid {me}); use a state directory of \
                 your own (--state-dir) or `chown {me} {p}`"
            ),
            Why::Writable { mode } => write!(
                f,
                "{p} is writable by group or others (mode {mode:04o}); restrict it with \
                 `chmod go-w {p}`"
            ),
        }
    }
}

/// The problems of `state_dir`, `state_dir/runs` and `state_dir/audit.key` (those that
/// exist), checked with `lstat`.
pub fn check(state_dir: &Path) -> Vec<Problem> {
    let me = crate::sys::process_guard::effective_uid();
    [
        state_dir.to_path_buf(),
        state_dir.join(super::resolve::RUNS_DIR),
        state_dir.join(KEY_FILE_NAME),
    ]
    .into_iter()
    .filter_map(|path| {
        let meta = std::fs::symlink_metadata(&path).ok()?;
        let why = problem_of(&meta, me)?;
        Some(Problem { path, why })
    })
    .collect()
}

/// What is wrong with a path of these `lstat` figures, if anything.
fn problem_of(meta: &std::fs::Metadata, me: u32) -> Option<Why> {
    if meta.file_type().is_symlink() {
        Some(Why::Symlink)
    } else if meta.uid() != me {
        Some(Why::Owner {
            uid: meta.uid(),
            me,
        })
    } else if meta.mode() & 0o022 != 0 {
        Some(Why::Writable {
            mode: meta.mode() & 0o7777,
        })
    } else {
        None
    }
}

/// For commands that write: `Err` with every problem, one a line, ready to print after
/// `error: `.
pub fn require(state_dir: &Path) -> Result<(), String> {
    let problems = check(state_dir);
    if problems.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = problems.iter().map(|p| format!("{p}")).collect();
    Err(format!(
        "untrusted state directory: {}",
        lines.join("\n  and: ")
    ))
}

/// For commands that only read: one warning per problem on stderr.
pub fn warn(state_dir: &Path) {
    for p in check(state_dir) {
        eprintln!("warning: untrusted state directory: {p}");
    }
}

/// Creates the state directory and its `runs/` when missing, mode 0700 whatever the umask,
/// then checks them ([`require`]).
pub fn create(state_dir: &Path) -> Result<(), String> {
    for dir in [
        state_dir.to_path_buf(),
        state_dir.join(super::resolve::RUNS_DIR),
    ] {
        create_private_dir(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    require(state_dir)
}

/// `mkdir` with mode 0700 (and its parents as the umask says); an existing directory is left
/// as it is. A new one is set to exactly 0700, whatever the umask removed.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if std::fs::symlink_metadata(dir).is_ok() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// A key file given explicitly (`--audit-key-file`): it may be a symlink (Kubernetes mounts
/// secrets so), but what it points to must be owned by the current user or root and not
/// writable by group or others.
pub fn check_explicit_key(path: &Path, meta: &std::fs::Metadata) -> Result<(), String> {
    let me = crate::sys::process_guard::effective_uid();
    if meta.uid() != me && meta.uid() != 0 {
        return Err(format!(
            "audit key file {} is owned by uid {}, neither you (uid {me}) nor root: whoever \
             owns it can forge the chain; use a key file of your own",
            path.display(),
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "audit key file {} is writable by group or others (mode {:04o}); restrict it \
             with `chmod 600 {}`",
            path.display(),
            meta.mode() & 0o7777,
            path.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_state_dir_is_0700_whatever_the_umask() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s");
        create(&state).unwrap();
        for d in [state.clone(), state.join("runs")] {
            let mode = std::fs::metadata(&d).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{}", d.display());
        }
        assert!(check(&state).is_empty());
    }

    #[test]
    fn writable_and_symlinked_dirs_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s");
        create(&state).unwrap();
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o770)).unwrap();
        let p = check(&state);
        assert_eq!(p.len(), 1);
        assert!(matches!(p[0].why, Why::Writable { mode: 0o770 }));
        assert!(p[0].to_string().contains("chmod go-w"));
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&state, &link).unwrap();
        let p = check(&link);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].why, Why::Symlink);
    }
}
