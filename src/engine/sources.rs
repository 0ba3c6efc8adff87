//! A node's `sources:` — files it reads on its own, found by glob under its working directory.
//!
//! Their paths (relative to the workdir) and contents enter the node's cache key and the
//! resume change check, as make prerequisites do. The walk starts at each glob's literal
//! prefix (`site/**/*.html` walks `site/` only), never follows symbolic links to directories,
//! and returns files in a stable (sorted) order. A glob that matches nothing is reported so
//! the caller can warn.

use std::path::{Path, PathBuf};

use globset::GlobBuilder;

/// The most files one node's `sources` may cover: beyond it the key would take longer to
/// compute than most tools take to run.
pub const MAX_SOURCE_FILES: usize = 100_000;

/// Matched files (relative path, absolute path) and the globs that matched nothing.
pub type Resolved = (Vec<(String, PathBuf)>, Vec<String>);

/// The files matched by `globs` under `workdir`: (relative path, absolute path), sorted, and
/// the globs that matched nothing.
pub fn resolve(globs: &[String], workdir: &Path) -> Result<Resolved, String> {
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    let mut unmatched = Vec::new();
    for pattern in globs {
        let glob = GlobBuilder::new(pattern)
            .literal_separator(true)
            .build()
            .map_err(|e| format!("bad `sources` glob `{pattern}`: {e}"))?
            .compile_matcher();
        let base = literal_prefix(pattern);
        let before = files.len();
        walk(&workdir.join(&base), workdir, &mut |rel, abs| {
            if glob.is_match(rel) {
                files.push((rel.to_string(), abs.to_path_buf()));
            }
        })?;
        if files.len() > MAX_SOURCE_FILES {
            return Err(format!(
                "`sources` match over {MAX_SOURCE_FILES} files; narrow the globs"
            ));
        }
        if files.len() == before {
            unmatched.push(pattern.clone());
        }
    }
    files.sort();
    files.dedup();
    Ok((files, unmatched))
}

/// The leading path components of `pattern` without glob characters (`a/b` of `a/b/*.c`).
fn literal_prefix(pattern: &str) -> PathBuf {
    let mut base = PathBuf::new();
    let parts: Vec<&str> = pattern.split('/').collect();
    for part in &parts[..parts.len().saturating_sub(1)] {
        if part.is_empty() || part.contains(['*', '?', '[', '{', '\\']) || *part == ".." {
            break;
        }
        base.push(part);
    }
    base
}

/// Calls `found` with (path relative to `root`, path) for each regular file under `dir`.
fn walk(dir: &Path, root: &Path, found: &mut dyn FnMut(&str, &Path)) -> Result<(), String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("cannot read {}: {e}", dir.display())),
    };
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            walk(&path, root, found)?;
        } else if (kind.is_file() || (kind.is_symlink() && path.is_file()))
            && let Some(rel) = path.strip_prefix(root).ok().and_then(Path::to_str)
        {
            found(rel, &path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_files_by_glob_from_their_literal_prefix() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("site/sub")).unwrap();
        std::fs::write(dir.path().join("site/alpha.html"), "a").unwrap();
        std::fs::write(dir.path().join("site/sub/beta.html"), "b").unwrap();
        std::fs::write(dir.path().join("site/x.txt"), "x").unwrap();
        let globs = ["site/**/*.html".to_string(), "nothing/*.c".to_string()];
        let (files, unmatched) = resolve(&globs, dir.path()).unwrap();
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["site/alpha.html", "site/sub/beta.html"]);
        assert_eq!(unmatched, ["nothing/*.c"]);
        assert_eq!(literal_prefix("a/b/*.c"), PathBuf::from("a/b"));
        assert_eq!(literal_prefix("*.c"), PathBuf::new());
    }
}
