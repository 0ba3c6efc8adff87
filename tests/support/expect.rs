//! Expected files ("snapshots"): compare with the file in the repository, or rewrite it with
//! `UPDATE_EXPECT=1`.

use std::path::{Path, PathBuf};

/// The repository root (where Cargo.toml is).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// stdout / stderr as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Whether expected files should be rewritten (`UPDATE_EXPECT=1 cargo test`).
pub fn updating() -> bool {
    std::env::var_os("UPDATE_EXPECT").is_some_and(|v| v != "0" && !v.is_empty())
}

/// Compares `actual` with the file at `expected` (relative to the repository root).
/// Returns a description of the mismatch, or `None` when they agree. With
/// `UPDATE_EXPECT=1` the file is (re)written instead and `None` is returned.
pub fn check_expected(expected: &Path, actual: &str) -> Option<String> {
    let path = repo_root().join(expected);
    if updating() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("create expected-file directory");
        }
        let current = std::fs::read_to_string(&path).ok();
        if current.as_deref() != Some(actual) {
            std::fs::write(&path, actual).expect("write expected file");
            eprintln!("updated {}", expected.display());
        }
        return None;
    }
    match std::fs::read_to_string(&path) {
        Err(e) => Some(format!(
            "{}: cannot read expected file ({e}); create it with `UPDATE_EXPECT=1 cargo test`",
            expected.display()
        )),
        Ok(want) if want == actual => None,
        Ok(want) => Some(format!(
            "{} differs (rewrite with `UPDATE_EXPECT=1 cargo test` if the change is intended)\n{}",
            expected.display(),
            diff(&want, actual)
        )),
    }
}

/// Panics unless `actual` matches the expected file.
pub fn assert_expected(expected: &Path, actual: &str) {
    if let Some(problem) = check_expected(expected, actual) {
        panic!("{problem}");
    }
}

/// The lines that differ, numbered: `-` expected, `+` actual.
pub fn diff(want: &str, got: &str) -> String {
    let want: Vec<&str> = want.lines().collect();
    let got: Vec<&str> = got.lines().collect();
    let mut out = String::new();
    for i in 0..want.len().max(got.len()) {
        let (w, g) = (want.get(i), got.get(i));
        if w == g {
            continue;
        }
        if let Some(w) = w {
            out.push_str(&format!("{:>4} - {w}\n", i + 1));
        }
        if let Some(g) = g {
            out.push_str(&format!("{:>4} + {g}\n", i + 1));
        }
    }
    out
}
