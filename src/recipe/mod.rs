//! Reading recipes: the file (with size limits), the YAML (with alias and depth limits), and
//! the raw typed model with source spans.
//!
//! Guarantees: never panics on input; a file over the byte limit is refused before it is read
//! whole; an alias bomb or deep nesting is refused by the parser's budget in bounded time and
//! memory. Every failure is one located [`Diagnostic`]; semantic checks come after, in
//! [`crate::plan`].

mod duration;
mod types;

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::diag::{Diagnostic, Pos, did_you_mean};
pub use duration::parse_duration;
pub use types::*;

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
    let file = std::fs::File::open(path)
        .map_err(|e| fail("unreadable", format!("cannot read file: {e}")))?;
    let mut bytes = Vec::new();
    file.take(limits.max_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail("unreadable", format!("cannot read file: {e}")))?;
    if bytes.len() as u64 > limits.max_bytes {
        return Err(too_large(&shown, bytes.len() as u64, limits.max_bytes));
    }
    let sha256 = hex(&Sha256::digest(&bytes));
    let text = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        fail(
            "not-utf8",
            format!("file is not valid UTF-8 (invalid byte at offset {at})"),
        )
    })?;
    if text.trim().is_empty() {
        return Err(fail(
            "empty",
            "file is empty; a recipe needs `version`, `name` and `nodes`".into(),
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
    let recipe: RawRecipe = parse_yaml(source, limits)?;
    if recipe.nodes.len() > limits.max_nodes {
        return Err(Diagnostic::error(
            &source.path,
            Pos::default(),
            "limit",
            format!(
                "recipe has {} nodes, more than the limit of {}",
                recipe.nodes.len(),
                limits.max_nodes
            ),
        )
        .with_hint("raise the limit with --max-nodes"));
    }
    Ok(recipe)
}

/// Parses any YAML document of secflow's (recipe, plugin manifest) with the parser's
/// budget set from `limits`, turning the first error into a located diagnostic.
pub fn parse_yaml<T: serde::de::DeserializeOwned>(
    source: &Source,
    limits: &Limits,
) -> Result<T, Diagnostic> {
    let mut options = serde_saphyr::Options::default();
    options.with_snippet = false;
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = limits.max_depth;
    // Scale the event budget with the node limit: ~40 YAML events a node is generous.
    budget.max_events = budget.max_events.max(limits.max_nodes.saturating_mul(40));
    budget.max_nodes = budget.max_nodes.max(limits.max_nodes.saturating_mul(20));
    options.budget = Some(budget);
    serde_saphyr::from_str_with_options(&source.text, options)
        .map_err(|e| yaml_error(&source.path, &e))
}

/// Turns a parser error into a diagnostic with a code and, where possible, a hint.
fn yaml_error(file: &str, err: &serde_saphyr::Error) -> Diagnostic {
    use serde_saphyr::Error as E;
    let err = err.without_snippet();
    let pos = err.location().map(Pos::from).unwrap_or_default();
    let (code, message, hint) = match err {
        E::SerdeUnknownField {
            field, expected, ..
        } => {
            let hint = match did_you_mean(field, expected.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("expected one of: {}", expected.join(", ")),
            };
            (
                "unknown-field",
                format!("unknown field `{field}`"),
                Some(hint),
            )
        }
        E::SerdeMissingField { field, .. } => (
            "missing-field",
            format!("missing required field `{field}`"),
            None,
        ),
        E::SerdeInvalidType { .. }
        | E::SerdeInvalidValue { .. }
        | E::SerdeInvalidLength { .. }
        | E::InvalidScalar { .. }
        | E::InvalidBooleanStrict { .. }
        | E::NullIntoString { .. }
        | E::Unexpected { .. }
        | E::UnexpectedValueForUnit { .. } => ("wrong-type", strip_location(err), None),
        E::Budget { .. }
        | E::AliasReplayLimitExceeded { .. }
        | E::AliasExpansionLimitExceeded { .. }
        | E::AliasReplayStackDepthExceeded { .. }
        | E::AliasReplayCounterOverflow { .. } => (
            "limit",
            strip_location(err),
            Some(
                "recipes are refused when YAML aliases or nesting expand beyond safe bounds".into(),
            ),
        ),
        E::DuplicateMappingKey { .. } => ("duplicate-key", strip_location(err), None),
        _ => ("yaml-syntax", strip_location(err), None),
    };
    let d = Diagnostic::error(file, pos, code, message);
    match hint {
        Some(h) => d.with_hint(h),
        None => d,
    }
}

/// The parser's message without its own "at line X column Y" decoration.
fn strip_location(err: &serde_saphyr::Error) -> String {
    let text = err.to_string();
    let text = match text.find(" at line ") {
        Some(i) => &text[..i],
        None => text.as_str(),
    };
    let text = match text.split_once(": ") {
        Some((head, rest)) if head.starts_with("line ") => rest,
        _ => text,
    };
    text.trim().to_string()
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
