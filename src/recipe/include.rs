//! `include:` (SPEC §9): recipe files merged into the recipe, and top-level `x-` keys.
//!
//! Rules: paths are relative to the including file; an included file has the recipe's shape
//! (`version` optional, `name` and `description` ignored) but may not set `concurrency`,
//! `retry`, `state`, `executor`, `env_clear`, `kill_grace` or `slurm`. Its `vars`, `env`,
//! `secrets` and `nodes` are merged: the including file wins for vars and env, two sibling
//! includes giving one var or env entry different values is an error, includes nest, a file
//! reached twice is merged once, a cycle is an error. A duplicate node id across files is
//! found by validation, which names both places.
//!
//! Places in an included file carry its index (see [`split_pos`]): every diagnostic points
//! into the file where the problem is written. At most [`MAX_FILES`] files are included.

use std::cell::Cell;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use super::{Limits, RawInclude, RawRecipe, S, Source, parse_document, read_source};
use crate::diag::{Diagnostic, Pos, did_you_mean};

/// Most files one recipe may include, directly or not.
pub const MAX_FILES: usize = 255;
/// Bits of `At::line` holding the line; the file index sits above them.
pub(super) const FILE_SHIFT: u32 = 24;
pub(super) const LINE_MASK: u32 = (1 << FILE_SHIFT) - 1;

thread_local! {
    /// The index of the file being parsed (0: the recipe), stamped into every place read.
    static CURRENT: Cell<u32> = const { Cell::new(0) };
}

pub(super) fn current_file() -> u32 {
    CURRENT.with(Cell::get)
}

/// A place's file index (0: the recipe; `k`: `RawRecipe::included[k - 1]`) and its plain
/// line and column.
pub fn split_pos(pos: Pos) -> (usize, Pos) {
    let file = (pos.line >> 32) as usize;
    (
        file,
        Pos {
            line: pos.line & 0xffff_ffff,
            column: pos.column,
        },
    )
}

/// The keys a recipe accepts at the top level (for the did-you-mean of an unknown one).
const RECIPE_KEYS: &[&str] = &[
    "version",
    "name",
    "description",
    "vars",
    "env",
    "env_clear",
    "secrets",
    "concurrency",
    "retry",
    "state",
    "kill_grace",
    "executor",
    "slurm",
    "nodes",
    "include",
];

/// Settings of the whole workflow, which only the recipe itself may give.
const WORKFLOW_ONLY: &[&str] = &[
    "concurrency",
    "retry",
    "state",
    "executor",
    "env_clear",
    "kill_grace",
    "slurm",
];

/// Refuses top-level keys the format does not know, but for `x-…` ones.
pub(super) fn check_extra<'a>(
    source: &Source,
    keys: impl Iterator<Item = &'a String>,
    known: &[&str],
) -> Result<(), Diagnostic> {
    let mut keys = keys;
    if let Some(key) = keys.find(|k| !k.starts_with("x-")) {
        let hint = match did_you_mean(key, known.iter().copied()) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!(
                "expected one of: {}; keys beginning with `x-` are ignored",
                known.join(", ")
            ),
        };
        return Err(Diagnostic::error(
            &source.path,
            key_pos(&source.text, key),
            "unknown-field",
            format!("unknown field `{key}`"),
        )
        .with_hint(hint));
    }
    Ok(())
}

pub(super) fn check_recipe_extra(source: &Source, raw: &RawRecipe) -> Result<(), Diagnostic> {
    check_extra(source, raw.extra.keys(), RECIPE_KEYS)
}

/// Where top-level `key:` is written (column 1), or the file's start.
fn key_pos(text: &str, key: &str) -> Pos {
    text.lines()
        .position(|l| {
            let l = l.strip_prefix(['"', '\'']).unwrap_or(l);
            l.strip_prefix(key).is_some_and(|rest| {
                rest.trim_start_matches(['"', '\''])
                    .trim_start()
                    .starts_with(':')
            })
        })
        .map_or(Pos::default(), |i| Pos {
            line: i as u64 + 1,
            column: 1,
        })
}

/// What the included files add, before the including file's own values win.
#[derive(Default)]
struct Merged {
    /// Value and the place (file, position) that gave it.
    vars: BTreeMap<String, S<super::VarValue>>,
    env: BTreeMap<String, S<String>>,
    secrets: Vec<S<String>>,
    nodes: Vec<super::RawNode>,
}

struct Loader<'a> {
    limits: &'a Limits,
    /// Display paths: 0 is the recipe, k is `included[k - 1]`.
    paths: Vec<String>,
    included: Vec<Source>,
    /// Canonical paths of the files being merged (the current chain), for cycles.
    stack: Vec<PathBuf>,
    /// Canonical paths already merged (a file reached twice is merged once).
    seen: HashSet<PathBuf>,
}

/// Merges `raw.include` (transitively) into `raw`. `source` is the recipe's file.
pub(super) fn resolve(
    source: &Source,
    raw: &mut RawRecipe,
    limits: &Limits,
) -> Result<(), Diagnostic> {
    if raw.include.is_empty() {
        return Ok(());
    }
    let own = std::fs::canonicalize(&source.path).unwrap_or_else(|_| PathBuf::from(&source.path));
    let mut loader = Loader {
        limits,
        paths: vec![source.path.clone()],
        included: Vec::new(),
        stack: vec![own.clone()],
        seen: HashSet::from([own]),
    };
    let dir = parent(Path::new(&source.path));
    let merged = loader.includes(0, &dir, &raw.include);
    CURRENT.with(|c| c.set(0));
    let merged = merged?;
    for (k, v) in merged.vars {
        raw.vars.entry(k).or_insert(v);
    }
    for (k, v) in merged.env {
        raw.env.entry(k).or_insert(v);
    }
    for secret in merged.secrets {
        if !raw.secrets.iter().any(|s| s.value == secret.value) {
            raw.secrets.push(secret);
        }
    }
    let own_nodes = std::mem::take(&mut raw.nodes);
    raw.nodes = merged.nodes;
    raw.nodes.extend(own_nodes);
    raw.included = loader.included;
    Ok(())
}

fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) => p.to_path_buf(),
        None => PathBuf::new(),
    }
}

impl Loader<'_> {
    fn located(
        &self,
        file: usize,
        at: &S<String>,
        code: &'static str,
        message: String,
    ) -> Diagnostic {
        let (_, pos) = split_pos(Pos::from(at.referenced));
        Diagnostic::error(&self.paths[file], pos, code, message)
    }

    /// The path of include `inc` written in file `file` (relative to `dir`) and how it is
    /// shown; an error when it does not exist or is a directory.
    fn resolve(
        &self,
        file: usize,
        dir: &Path,
        inc: &S<String>,
    ) -> Result<(std::path::PathBuf, String), Diagnostic> {
        let rel = Path::new(&inc.value);
        let path = if rel.is_absolute() {
            rel.to_path_buf()
        } else {
            dir.join(rel)
        };
        let shown = path.display().to_string();
        let meta = std::fs::metadata(&path);
        match &meta {
            Err(_) => {
                return Err(self
                    .located(
                        file,
                        inc,
                        "bad-include",
                        format!("included file `{}` does not exist", inc.value),
                    )
                    .with_hint(format!(
                        "paths are relative to the including file: looked for {shown}"
                    )));
            }
            Ok(m) if m.is_dir() => {
                return Err(self
                    .located(
                        file,
                        inc,
                        "bad-include",
                        format!("`{}` is a directory, not a recipe file", inc.value),
                    )
                    .with_hint("include each file by name"));
            }
            Ok(_) => {}
        }
        Ok((path, shown))
    }

    /// An error when `canonical` is already being included (an include cycle), naming it.
    fn check_cycle(
        &self,
        file: usize,
        inc: &S<String>,
        canonical: &Path,
    ) -> Result<(), Diagnostic> {
        if let Some(start) = self.stack.iter().position(|p| p == canonical) {
            let mut chain: Vec<String> = self.stack[start..]
                .iter()
                .map(|p| {
                    p.file_name()
                        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
                })
                .collect();
            chain.push(chain[0].clone());
            return Err(self
                .located(
                    file,
                    inc,
                    "include-cycle",
                    format!("include cycle: {}", chain.join(" -> ")),
                )
                .with_hint("remove one of these includes"));
        }
        Ok(())
    }

    /// Reads and merges each of `includes`, written in file `file` (whose directory is `dir`).
    fn includes(
        &mut self,
        file: usize,
        dir: &Path,
        includes: &[S<String>],
    ) -> Result<Merged, Diagnostic> {
        let mut merged = Merged::default();
        // Which sibling include gave each var / env entry, for conflicts.
        for inc in includes {
            let (path, shown) = self.resolve(file, dir, inc)?;
            let canonical = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
            // `/proc/self/environ` is a "regular file" whose parse error would quote the
            // environment (a CI job's secrets) in a diagnostic of `validate`.
            if super::is_kernel_pseudo_file(&canonical) {
                return Err(self
                    .located(
                        file,
                        inc,
                        "bad-include",
                        format!("cannot include `{}`: a kernel pseudo-file", inc.value),
                    )
                    .with_hint("include recipe files only (not under /proc or /sys)"));
            }
            self.check_cycle(file, inc, &canonical)?;
            if !self.seen.insert(canonical.clone()) {
                continue;
            }
            if self.included.len() >= MAX_FILES {
                return Err(self.located(
                    file,
                    inc,
                    "limit",
                    format!("a recipe may include at most {MAX_FILES} files"),
                ));
            }
            let source = read_source(&path, self.limits).map_err(|d| {
                self.located(
                    file,
                    inc,
                    "bad-include",
                    format!("cannot include `{}`: {}", inc.value, d.message),
                )
            })?;
            let index = self.included.len() + 1;
            self.paths.push(shown);
            CURRENT.with(|c| c.set(index as u32));
            // Until it parses as a recipe, the file may be anything the recipe named (a
            // credentials file, an env file): its diagnostics say where, never quote it.
            let parsed: Result<RawInclude, Diagnostic> = parse_document(&source, self.limits, None);
            let child = parsed.map_err(Diagnostic::unquoted)?;
            check_child(&source, &child)?;
            self.included.push(source);
            self.stack.push(canonical);
            let child_dir = parent(&path);
            let nested = self.includes(index, &child_dir, &child.include);
            self.stack.pop();
            let mut own = nested?;
            // The included file's own values win over what it includes.
            for (k, v) in child.vars {
                own.vars.insert(k, v);
            }
            for (k, v) in child.env {
                own.env.insert(k, v);
            }
            own.secrets.extend(child.secrets);
            own.nodes.extend(child.nodes);
            self.merge_sibling(&mut merged, own)?;
        }
        Ok(merged)
    }

    /// Adds `from` to `into`; one key given two different values is an error naming both.
    fn merge_values<T: PartialEq>(
        &self,
        what: &str,
        into: &mut BTreeMap<String, S<T>>,
        from: BTreeMap<String, S<T>>,
    ) -> Result<(), Diagnostic> {
        for (k, v) in from {
            match into.get(&k) {
                Some(first) if first.value != v.value => {
                    let (file, pos) = split_pos(Pos::from(v.referenced));
                    return Err(Diagnostic::error(
                        &self.paths[file],
                        pos,
                        "include-conflict",
                        format!("{what} `{k}` is given different values by two included files"),
                    )
                    .with_hint(format!(
                        "the other value is at {}; set `{k}` in the including file to decide",
                        self.place(first)
                    )));
                }
                Some(_) => {}
                None => {
                    into.insert(k, v);
                }
            }
        }
        Ok(())
    }

    /// Adds one include's values to those of its earlier siblings: one var or env entry
    /// given two different values is an error naming both places.
    fn merge_sibling(&self, merged: &mut Merged, own: Merged) -> Result<(), Diagnostic> {
        self.merge_values("var", &mut merged.vars, own.vars)?;
        self.merge_values("env entry", &mut merged.env, own.env)?;
        for secret in own.secrets {
            if !merged.secrets.iter().any(|s| s.value == secret.value) {
                merged.secrets.push(secret);
            }
        }
        merged.nodes.extend(own.nodes);
        Ok(())
    }

    /// `file:line:col` of a value.
    fn place<T>(&self, at: &S<T>) -> String {
        let (file, pos) = split_pos(Pos::from(at.referenced));
        format!("{}:{}:{}", self.paths[file], pos.line, pos.column)
    }
}

/// The keys an included file accepts (for the did-you-mean of an unknown one).
const INCLUDE_KEYS: &[&str] = &[
    "version",
    "name",
    "description",
    "vars",
    "env",
    "secrets",
    "nodes",
    "include",
];

/// Whether `included` lies outside the directory tree of the recipe at `recipe`.
pub fn outside(recipe: &str, included: &str) -> bool {
    let root = std::fs::canonicalize(recipe)
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf));
    match (root, std::fs::canonicalize(included)) {
        (Some(root), Ok(file)) => !file.starts_with(root),
        _ => true,
    }
}

/// An included file's keys: no unknown key, no setting of the whole workflow, version 1.0.
fn check_child(source: &Source, child: &RawInclude) -> Result<(), Diagnostic> {
    // Nor quoted until its top-level keys and version are a recipe's: a YAML file of
    // `password: …` lines parses, then fails here.
    check_extra(
        source,
        child
            .extra
            .keys()
            .filter(|k| !WORKFLOW_ONLY.contains(&k.as_str())),
        INCLUDE_KEYS,
    )
    .map_err(Diagnostic::unquoted)?;
    if let Some(key) = WORKFLOW_ONLY.iter().find(|k| child.extra.contains_key(**k)) {
        return Err(Diagnostic::error(
            &source.path,
            key_pos(&source.text, key),
            "include-forbidden",
            format!("`{key}` is a setting of the whole workflow; an included file cannot set it"),
        )
        .with_hint("set it in the recipe that includes this file"));
    }
    if let Some(v) = &child.version
        && v.value.trim() != "1.0"
    {
        let (_, pos) = split_pos(Pos::from(v.referenced));
        return Err(Diagnostic::error(
            &source.path,
            pos,
            "bad-version",
            // Not quoted: the value of a file not yet known to be a recipe.
            "unsupported recipe version",
        )
        .with_hint("this secflow reads recipe format \"1.0\"")
        .unquoted());
    }
    Ok(())
}
