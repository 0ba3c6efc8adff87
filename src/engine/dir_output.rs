//! Directory outputs (`outputs: [{ name: site, dir: true }]`, SPEC §9).
//!
//! `{{ outputs.site }}` is an empty directory `nodes/<id>/<attempt>/out/site/` made for the
//! attempt (0700, beneath the run directory's descriptor). On success it is renamed whole to
//! `datasets/site/`; its record count is the number of regular files in it. A consumer's
//! `{{ inputs.site }}` is that directory. A failed attempt's directory stays where it was,
//! like a failed attempt's file outputs.
//!
//! A node may leave anything in its directory: symlinks (to `/etc/shadow`, to another run),
//! hard links, fifos, device nodes, deep trees. Nothing here follows a symlink (the tree is
//! walked by directory descriptor, `O_NOFOLLOW` at each step), opens anything but a regular
//! file (checked on an `O_PATH` descriptor before it is opened), or descends more than
//! [`MAX_DEPTH`] levels.
//!
//! Nodes with a directory output are never reused (no cache, no `--resume` reuse): they
//! always run. A consumer's cache key and its `input modified` check cover a directory input
//! through [`sha256_path`], a digest of the tree's names, kinds, regular files' contents and
//! symlinks' targets (as text, never followed).

use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use sha2::{Digest, Sha256};

use super::datasets::{self, Promoted};
use super::prepare::RunPaths;
use crate::plan::PlanNode;
use crate::store::OutputRecord;
use crate::store::cache::Stop;
use crate::sys::dirfd::Dir;

/// Deepest nesting walked in a directory output; deeper is an error, never a stack or
/// `PATH_MAX` problem.
pub const MAX_DEPTH: usize = 128;

/// Whether dataset `name` of `node` (an input or output) is a directory output.
pub fn is_dir(node: &PlanNode, name: &str) -> bool {
    node.dir_datasets.iter().any(|d| d == name)
}

/// Whether `node` declares a directory output (such a node is never reused).
pub fn has_dir_output(node: &PlanNode) -> bool {
    node.outputs.iter().any(|o| is_dir(node, o))
}

/// `datasets/<name>` relative to the run directory (as run.json records a directory).
pub fn dataset_rel(name: &str) -> String {
    format!("datasets/{name}")
}

/// Where dataset `name` of `node` is in this run: `datasets/<name>/` for a directory,
/// `datasets/<name>.jsonl` otherwise.
pub fn dataset_path(paths: &RunPaths, node: &PlanNode, name: &str) -> PathBuf {
    if is_dir(node, name) {
        paths.run_dir.join(dataset_rel(name))
    } else {
        paths.dataset(name)
    }
}

/// Where an attempt writes output `name` before promotion: `out/<name>/` for a directory.
pub fn scratch_path(paths: &RunPaths, node: &PlanNode, attempt: u32, name: &str) -> PathBuf {
    if is_dir(node, name) {
        paths.attempt_dir(&node.id, attempt).join("out").join(name)
    } else {
        paths.scratch_output(&node.id, attempt, name)
    }
}

/// Creates the empty private directory of each directory output in `outputs` (scratch
/// paths), beneath the run directory's descriptor.
pub fn make_scratch(
    records: &crate::store::RecordHealth,
    outputs: &[(String, PathBuf)],
    dirs: &[String],
) -> io::Result<()> {
    for (name, path) in outputs {
        if dirs.contains(name) {
            records.create_dir_all(path)?;
            // 0700 whatever the umask made of it (the mode only narrows the umask's result).
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
            if std::fs::read_dir(path)?.next().is_some() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} is not empty", path.display()),
                ));
            }
        }
    }
    Ok(())
}

/// After a clean exit: checks every output was written as what it was declared (a regular
/// file, or a real directory — never a symlink, fifo or device), then promotes them all.
pub fn check_and_promote(
    paths: &RunPaths,
    outputs: &[(String, PathBuf)],
    instance: Option<usize>,
    dirs: &[String],
) -> Result<Promoted, String> {
    let (dir_outs, files): (Vec<_>, Vec<_>) =
        outputs.iter().cloned().partition(|(n, _)| dirs.contains(n));
    for (name, path) in &files {
        // A symlink, fifo or device in place of a file output is never followed or read.
        if let Ok(m) = std::fs::symlink_metadata(path)
            && !m.is_file()
        {
            return Err(format!(
                "declared output `{name}` is a {}, not a regular file ({})",
                kind_name(m.file_type()),
                path.display()
            ));
        }
    }
    datasets::check_written(&files)?;
    let mut counted = Vec::with_capacity(dir_outs.len());
    for (name, path) in &dir_outs {
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.is_dir() => {}
            Ok(m) => {
                return Err(format!(
                    "directory output `{name}` is no longer a directory (the node replaced \
                     {} with a {})",
                    path.display(),
                    kind_name(m.file_type())
                ));
            }
            Err(e) => {
                return Err(format!(
                    "directory output `{name}` is missing ({}: {e})",
                    path.display()
                ));
            }
        }
        let records = count_files(path)
            .map_err(|e| format!("cannot count the files of directory output `{name}`: {e}"))?;
        counted.push(records);
    }
    let mut promoted = datasets::promote_instance(paths, &files, instance)
        .map_err(|e| format!("cannot promote outputs into datasets/: {e}"))?;
    for ((name, path), records) in dir_outs.iter().zip(counted) {
        let rel = dataset_rel(name);
        let promote = || -> io::Result<()> {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
            paths.rename(path, &paths.run_dir.join(&rel))
        };
        promote().map_err(|e| format!("cannot promote directory output `{name}`: {e}"))?;
        promoted.outputs.insert(
            name.clone(),
            OutputRecord {
                path: rel,
                records,
                sha256: None,
                bytes: None,
            },
        );
    }
    Ok(promoted)
}

/// For a node that did not succeed (skipped, or failed under `continue_on_error`): each file
/// output becomes an empty dataset, each directory output an empty directory.
pub fn empty_outputs(paths: &RunPaths, node: &PlanNode) -> io::Result<Promoted> {
    let (dir_outs, files): (Vec<String>, Vec<String>) =
        node.outputs.iter().cloned().partition(|o| is_dir(node, o));
    let mut promoted = datasets::empty_outputs(paths, &files)?;
    for name in dir_outs {
        let rel = dataset_rel(&name);
        let path = paths.run_dir.join(&rel);
        match &paths.records {
            Some(r) => r.create_dir_all(&path)?,
            None => std::fs::create_dir_all(&path)?,
        }
        promoted.outputs.insert(
            name,
            OutputRecord {
                path: rel,
                records: 0,
                sha256: None,
                bytes: None,
            },
        );
    }
    Ok(promoted)
}

/// Records of input `name` of `node` (for `records(inputs.D)`): lines of a file, regular
/// files of a directory.
pub fn count(paths: &RunPaths, node: &PlanNode, name: &str) -> io::Result<u64> {
    let path = dataset_path(paths, node, name);
    if is_dir(node, name) {
        count_files(&path)
    } else {
        datasets::count_records(&path)
    }
}

/// `lstat` kinds for messages.
fn kind_name(t: std::fs::FileType) -> &'static str {
    if t.is_symlink() {
        "symlink"
    } else if t.is_file() {
        "regular file"
    } else if t.is_dir() {
        "directory"
    } else if t.is_fifo() {
        "fifo"
    } else if t.is_socket() {
        "socket"
    } else if t.is_block_device() || t.is_char_device() {
        "device node"
    } else {
        "special file"
    }
}

/// One entry met by [`walk`]: its directory (held open), name, path relative to the root
/// and its own type (never a symlink's target's).
struct Entry<'a> {
    parent: &'a Dir,
    name: std::ffi::OsString,
    rel: PathBuf,
    kind: std::fs::FileType,
}

/// Visits every entry under `root` (not `root` itself), each directory's entries sorted by
/// name, depth first. Every step is by descriptor ([`Dir`]): a symlink, or a path swapped
/// for one meanwhile, is never followed. Fails past [`MAX_DEPTH`] levels; at most one
/// descriptor per level is open.
fn walk(root: &Path, mut visit: impl FnMut(&Entry<'_>) -> io::Result<()>) -> io::Result<()> {
    // Pending directories: (parent, name, relative path, depth), opened when popped.
    type Pending = (Option<Rc<Dir>>, std::ffi::OsString, PathBuf, usize);
    let mut stack: Vec<Pending> = vec![(None, Default::default(), PathBuf::new(), 0)];
    while let Some((parent, name, rel, depth)) = stack.pop() {
        let dir = Rc::new(match &parent {
            None => Dir::open(root)?,
            Some(p) => p.open_child_dir(&name)?,
        });
        drop(parent);
        let mut entries: Vec<(std::ffi::OsString, std::fs::FileType)> = Vec::new();
        for item in dir.entries()? {
            let item = item?;
            entries.push((item.file_name(), item.file_type()?));
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut subdirs = Vec::new();
        for (name, kind) in entries {
            let entry = Entry {
                parent: &dir,
                rel: rel.join(&name),
                name,
                kind,
            };
            visit(&entry)?;
            if kind.is_dir() {
                if depth + 1 >= MAX_DEPTH {
                    return Err(io::Error::other(format!(
                        "{} is nested deeper than {MAX_DEPTH} levels",
                        entry.rel.display()
                    )));
                }
                subdirs.push((Some(Rc::clone(&dir)), entry.name, entry.rel, depth + 1));
            }
        }
        stack.extend(subdirs.into_iter().rev());
    }
    Ok(())
}

/// Regular files under `dir` (hard links included), not following symlinks; fifos,
/// sockets, devices and symlinks are not counted and never opened.
pub fn count_files(dir: &Path) -> io::Result<u64> {
    let mut n = 0u64;
    walk(dir, |e| {
        n += u64::from(e.kind.is_file());
        Ok(())
    })?;
    Ok(n)
}

/// SHA-256 of a dataset: a file's content, or for a directory (by `lstat`) a digest of its
/// tree ([`tree_sha256`]). A symlink in place of the dataset is an error. `stop` is asked
/// before each read.
pub fn sha256_path(path: &Path, buf: &mut Vec<u8>, stop: Stop<'_>) -> io::Result<[u8; 32]> {
    let meta = std::fs::symlink_metadata(path)?;
    if meta.is_dir() {
        tree_sha256(path, buf, stop)
    } else if meta.is_file() {
        // Opened without following a symlink and without blocking: a FIFO or a link swapped
        // in since the `lstat` is refused, never waited on.
        crate::store::cache::sha256_of(crate::store::open::open_regular(path)?, buf, stop)
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is a {}", path.display(), kind_name(meta.file_type())),
        ))
    }
}

/// Digest of the tree under `dir`: for each entry in walk order, its relative path, its
/// kind and — for a regular file — its content's SHA-256, for a symlink its target text.
/// Fifos, sockets and devices enter by name and kind only, never opened.
pub fn tree_sha256(dir: &Path, buf: &mut Vec<u8>, stop: Stop<'_>) -> io::Result<[u8; 32]> {
    use std::os::unix::ffi::OsStrExt;
    let mut h = Sha256::new();
    let mut field = |tag: &[u8], value: &[u8]| {
        h.update(tag);
        h.update((value.len() as u64).to_le_bytes());
        h.update(value);
    };
    walk(dir, |e| {
        field(b"path", e.rel.as_os_str().as_bytes());
        if e.kind.is_file() {
            field(b"file", &sha256_regular(e.parent, &e.name, buf, stop)?);
        } else if e.kind.is_dir() {
            field(b"dir", b"");
        } else if e.kind.is_symlink() {
            let target = e.parent.read_child_link(&e.name)?;
            field(b"link", target.as_os_str().as_bytes());
        } else {
            field(b"other", kind_name(e.kind).as_bytes());
        }
        Ok(())
    })?;
    Ok(h.finalize().into())
}

/// SHA-256 of the regular file `name` in `dir`, opened by descriptor only once it is known
/// to be a regular file (a fifo or device swapped in after listing is refused, never opened).
fn sha256_regular(
    dir: &Dir,
    name: &std::ffi::OsStr,
    buf: &mut Vec<u8>,
    stop: Stop<'_>,
) -> io::Result<[u8; 32]> {
    crate::store::cache::sha256_of(dir.open_child_file(name)?, buf, stop)
}

/// Output names of `node` that are directories, for [`check_and_promote`].
pub fn dirs_of(node: &PlanNode) -> std::sync::Arc<[String]> {
    node.dir_datasets.clone().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn counts_regular_files_only_and_never_follows_symlinks() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("site");
        std::fs::create_dir_all(d.join("a/b")).unwrap();
        std::fs::write(d.join("index.html"), "x").unwrap();
        std::fs::write(d.join("a/b/page.html"), "y").unwrap();
        std::fs::hard_link(d.join("index.html"), d.join("hard")).unwrap();
        symlink("/etc", d.join("etc")).unwrap();
        symlink("/etc/passwd", d.join("passwd")).unwrap();
        // A fifo through the shell: no unsafe outside src/sys.
        std::process::Command::new("mkfifo")
            .arg(d.join("fifo"))
            .status()
            .unwrap();
        assert_eq!(count_files(&d).unwrap(), 3);
        let mut buf = Vec::new();
        let never = crate::store::cache::never;
        let a = tree_sha256(&d, &mut buf, &never).unwrap();
        std::fs::write(d.join("a/b/page.html"), "z").unwrap();
        assert_ne!(a, tree_sha256(&d, &mut buf, &never).unwrap());
        assert!(sha256_path(&d.join("passwd"), &mut buf, &never).is_err());
    }

    #[test]
    fn a_deep_tree_is_an_error_not_a_crash() {
        let t = tempfile::tempdir().unwrap();
        let mut p = t.path().join("site");
        for _ in 0..MAX_DEPTH + 2 {
            p.push("d");
        }
        std::fs::create_dir_all(&p).unwrap();
        let e = count_files(&t.path().join("site")).unwrap_err();
        assert!(e.to_string().contains("deeper than"), "{e}");
    }
}
