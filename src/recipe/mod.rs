//! Reading recipes: the file (with size limits), the YAML (with alias and depth limits), and
//! the raw typed model with source spans.
//!
//! Guarantees: never panics on input; a file over the byte limit is refused before it is read
//! whole; an alias bomb or deep nesting is refused by the parser's budget in bounded time and
//! memory. Every failure is one located [`Diagnostic`]; semantic checks come after, in
//! [`crate::plan`].

mod duration;
pub mod include;
mod outputs;
mod types;
mod yaml_error;

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::diag::{Diagnostic, Pos};
pub use duration::parse_duration;
pub use include::split_pos;
pub use outputs::{OutputDecl, OutputEntry, Outputs};
pub use types::*;
pub use yaml_error::CONCURRENCY_RANGE;

/// Bounds on what a recipe may cost to read.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest recipe file accepted, in bytes.
    pub max_bytes: u64,
    /// Most nodes a recipe may declare.
    pub max_nodes: usize,
    /// Deepest YAML nesting accepted.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 1024 * 1024,
            max_nodes: 100_000,
            max_depth: 64,
        }
    }
}

/// A recipe file's text and identity.
#[derive(Debug, Clone)]
pub struct Source {
    /// The path as the user gave it, for messages.
    pub path: String,
    pub text: String,
    /// Lowercase hex SHA-256 of the file's bytes.
    pub sha256: String,
}

/// Reads a recipe file, refusing what cannot be a recipe with a clear message.
/// Whether `canonical` (a canonicalised path) is a kernel pseudo-file under `/proc` or `/sys`:
/// `/proc/self/environ` reads as a regular file whose parse error would quote the
/// environment, so recipe includes and plugin manifests refuse these unread.
pub fn is_kernel_pseudo_file(canonical: &Path) -> bool {
    canonical.starts_with("/proc") || canonical.starts_with("/sys")
}

pub fn read_source(path: &Path, limits: &Limits) -> Result<Source, Diagnostic> {
    let shown = path.display().to_string();
    let fail = |code, msg: String| Diagnostic::error(&shown, Pos::default(), code, msg);
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => fail("unreadable", "no such file".into()),
        _ => fail("unreadable", format!("cannot read file: {e}")),
    })?;
    if meta.is_dir() {
        return Err(fail(
            "unreadable",
            "is a directory, not a recipe file".into(),
        ));
    }
    if meta.len() > limits.max_bytes {
        return Err(too_large(&shown, meta.len(), limits.max_bytes));
    }
    // O_NONBLOCK: a FIFO swapped in after the metadata check must not block the open.
    let file = std::os::unix::fs::OpenOptionsExt::custom_flags(
        std::fs::OpenOptions::new().read(true),
        libc::O_NONBLOCK,
    )
    .open(path)
    .map_err(|e| fail("unreadable", format!("cannot read file: {e}")))?;
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return Err(fail("unreadable", "not a regular file".into()));
    }
    // Sized from the metadata (plus one byte to see the end): growing by doubling would
    // leave up to twice the file resident through the parse.
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).map_or(0, |n| n + 1));
    file.take(limits.max_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail("unreadable", format!("cannot read file: {e}")))?;
    if bytes.len() as u64 > limits.max_bytes {
        return Err(too_large(&shown, bytes.len() as u64, limits.max_bytes));
    }
    let sha256 = hex(&Sha256::digest(&bytes));
    let text = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let before = &e.as_bytes()[..at];
        let line = before.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        // `before` is valid UTF-8, so counting chars is exact.
        let column = String::from_utf8_lossy(&before[line_start..])
            .chars()
            .count() as u64
            + 1;
        Diagnostic::error(
            &shown,
            Pos { line, column },
            "not-utf8",
            format!(
                "file is not valid UTF-8 (invalid byte 0x{:02x} at offset {at})",
                e.as_bytes()[at]
            ),
        )
        .with_hint("save the recipe as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)")
    })?;
    if text.trim().is_empty() {
        return Err(fail(
            "empty",
            "file is empty; a recipe needs `version`, `name` and `nodes`".into(),
        ));
    }
    let only_comments = text.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l == "---"
    });
    if only_comments {
        return Err(fail(
            "empty",
            "file holds only comments; a recipe needs `version`, `name` and `nodes`".into(),
        ));
    }
    Ok(Source {
        path: shown,
        text,
        sha256,
    })
}

fn too_large(file: &str, size: u64, max: u64) -> Diagnostic {
    Diagnostic::error(
        file,
        Pos::default(),
        "limit",
        format!("file is larger than the limit of {max} bytes ({size} bytes or more)"),
    )
    .with_hint("raise the limit with --max-bytes if this recipe is really this large")
}

/// Parses a recipe's YAML into the raw model. Stops at the first syntax, type or
/// unknown-field error (serde cannot go on past one).
pub fn parse(source: &Source, limits: &Limits) -> Result<RawRecipe, Diagnostic> {
    let mut recipe: RawRecipe = parse_document(source, limits, Some(&yaml_error::RECIPE))?;
    include::check_recipe_extra(source, &recipe)?;
    include::resolve(source, &mut recipe, limits)?;
    if let Some(first_over) = recipe.nodes.get(limits.max_nodes) {
        return Err(Diagnostic::error(
            &source.path,
            Pos::from(first_over.id.referenced),
            "limit",
            format!(
                "recipe has {} nodes, more than the limit of {}",
                recipe.nodes.len(),
                limits.max_nodes
            ),
        )
        .with_hint("raise the limit with --max-nodes if this recipe is really this large"));
    }
    Ok(recipe)
}

/// Parses any YAML document of secflow's (recipe, plugin manifest) with the parser's
/// budget set from `limits`, turning the first error into a located diagnostic.
pub fn parse_yaml<T: serde::de::DeserializeOwned>(
    source: &Source,
    limits: &Limits,
) -> Result<T, Diagnostic> {
    parse_document(source, limits, None)
}

fn parse_document<T: serde::de::DeserializeOwned>(
    source: &Source,
    limits: &Limits,
    top: Option<&yaml_error::TopLevel>,
) -> Result<T, Diagnostic> {
    let mut options = serde_saphyr::Options::default();
    options.with_snippet = false;
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = limits.max_depth;
    // Scale the event budget with the node limit: ~40 YAML events a node is generous.
    budget.max_events = budget.max_events.max(limits.max_nodes.saturating_mul(40));
    budget.max_nodes = budget.max_nodes.max(limits.max_nodes.saturating_mul(20));
    // Aliases: anchors may hold 20 000 events in all (a thousand 20-line anchors), aliases
    // replay 100 000; a "billion laughs" hits these bounds within ~20 ms and ~8 MB.
    budget.max_recorded_anchor_events = 20_000;
    budget.max_recorded_anchor_bytes = 4 * 1024 * 1024;
    // The alias/anchor ratio heuristic refuses one `&common` anchor used by 100 nodes, an
    // ordinary recipe; the bounds above limit what aliases can cost, which is what matters.
    budget.enforce_alias_anchor_ratio = false;
    options.budget = Some(budget);
    options.alias_limits.max_total_replayed_events = 100_000;
    outputs::with_source(&source.text, || {
        serde_saphyr::from_str_with_options(&source.text, options)
    })
    .map_err(|e| yaml_error::diagnose(source, limits, top, &e))
}

/// Lowercase hex of bytes, without `fmt` (hashing is the audit verifier's hot path); the
/// crate's one hex encoder.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}
