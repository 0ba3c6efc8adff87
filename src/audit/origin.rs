//! Where and by whom a run happened: working directory, git commit and branch, user and
//! host — read once, cheaply (no `git` process: `.git/HEAD` and the ref files are read
//! directly), for every audit event's `actor` and `metadata`.

use std::path::{Path, PathBuf};

/// The facts every audit event of a run repeats.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub working_directory: String,
    /// Absent outside a git repository.
    pub git_commit: Option<String>,
    /// Absent outside a git repository or on a detached HEAD.
    pub git_branch: Option<String>,
    /// The user name (`$USER`, `$LOGNAME`) or `uid:<n>`.
    pub user: String,
    pub host: String,
}

impl Origin {
    /// Reads the facts for a run started in `working_dir`.
    pub fn discover(working_dir: &Path) -> Self {
        let (git_commit, git_branch) = git_head(working_dir).unwrap_or_default();
        Origin {
            working_directory: working_dir.display().to_string(),
            git_commit,
            git_branch,
            user: user_name(),
            host: host_name(),
        }
    }
}

/// The user running secflow.
pub fn user_name() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|v| !v.is_empty())
        .unwrap_or_else(|| format!("uid:{}", crate::sys::misc::uid()))
}

pub use crate::store::layout::host_name;

/// `(commit, branch)` of the repository containing `dir`, or `None` outside one.
fn git_head(dir: &Path) -> Option<(Option<String>, Option<String>)> {
    let git_dir = find_git_dir(dir)?;
    let head = std::fs::read_to_string(git_dir.join("HEAD")).ok()?;
    let head = head.trim();
    match head.strip_prefix("ref: ") {
        Some(reference) => {
            let branch = reference
                .strip_prefix("refs/heads/")
                .unwrap_or(reference)
                .to_string();
            let common = common_dir(&git_dir);
            let commit = resolve_ref(&git_dir, reference)
                .or_else(|| resolve_ref(&common, reference))
                .or_else(|| packed_ref(&common, reference));
            Some((commit, Some(branch)))
        }
        None if is_commit(head) => Some((Some(head.to_string()), None)),
        None => Some((None, None)),
    }
}

/// The `.git` directory for `dir` or one of its ancestors (following a worktree's `.git`
/// file).
fn find_git_dir(dir: &Path) -> Option<PathBuf> {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    for d in dir.ancestors() {
        let dot = d.join(".git");
        if dot.is_dir() {
            return Some(dot);
        }
        if dot.is_file() {
            let text = std::fs::read_to_string(&dot).ok()?;
            let target = text.trim().strip_prefix("gitdir: ")?;
            return Some(d.join(target));
        }
    }
    None
}

/// A worktree's shared repository directory (its `commondir`), else the git dir itself.
fn common_dir(git_dir: &Path) -> PathBuf {
    match std::fs::read_to_string(git_dir.join("commondir")) {
        Ok(rel) => git_dir.join(rel.trim()),
        Err(_) => git_dir.to_path_buf(),
    }
}

fn resolve_ref(git_dir: &Path, reference: &str) -> Option<String> {
    let text = std::fs::read_to_string(git_dir.join(reference)).ok()?;
    let commit = text.trim();
    is_commit(commit).then(|| commit.to_string())
}

fn packed_ref(git_dir: &Path, reference: &str) -> Option<String> {
    let text = std::fs::read_to_string(git_dir.join("packed-refs")).ok()?;
    text.lines().find_map(|line| {
        let (commit, name) = line.split_once(' ')?;
        (name == reference && is_commit(commit)).then(|| commit.to_string())
    })
}

fn is_commit(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_branch_and_commit_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let git = dir.path().join(".git");
        std::fs::create_dir_all(git.join("refs/heads")).unwrap();
        std::fs::write(git.join("HEAD"), "ref: refs/heads/main\n").unwrap();
        let commit = "a".repeat(40);
        std::fs::write(
            git.join("packed-refs"),
            format!("# pack-refs\n{commit} refs/heads/main\n"),
        )
        .unwrap();
        let sub = dir.path().join("x/y");
        std::fs::create_dir_all(&sub).unwrap();
        let o = Origin::discover(&sub);
        assert_eq!(o.git_branch.as_deref(), Some("main"));
        assert_eq!(o.git_commit.as_deref(), Some(commit.as_str()));

        let plain = tempfile::tempdir().unwrap();
        let o = Origin::discover(plain.path());
        assert_eq!((o.git_commit, o.git_branch), (None, None));
    }
}
