//! Parser errors → diagnostics: a code, a message in the recipe's own words (the field, what
//! was expected), the location, and a hint.
//!
//! serde-saphyr reports in terms of Rust types (`invalid u32`, `expected sequence start`);
//! this module translates those into what a recipe author wrote, naming the key on the
//! offending line when there is one. It never panics, whatever the error.

use serde_saphyr::Error as E;
use serde_saphyr::budget::BudgetBreach;

use super::{Limits, Source};
use crate::diag::{Diagnostic, Pos, did_you_mean};

/// The required top-level fields of a kind of document, and the hint when one is missing.
#[derive(Debug)]
pub(super) struct TopLevel {
    pub fields: &'static [&'static str],
    pub hint: &'static str,
}

/// A recipe's: `version`, `name` and `nodes` appear nowhere else in the format.
pub(super) const RECIPE: TopLevel = TopLevel {
    fields: &["version", "name", "nodes"],
    hint: "a recipe needs `version: \"1.0\"`, `name` and `nodes` at the top level",
};

const ALIAS_HINT: &str = "this looks like an alias bomb (\"billion laughs\"); recipes may use \
                          YAML aliases only within small bounds";

/// What `concurrency` accepts, in the words both the recipe and `--concurrency` use.
pub const CONCURRENCY_RANGE: &str = "`concurrency` must be a whole number from 1 to 4294967295";

/// Turns a parser error into one located diagnostic. `top` names the document's required
/// top-level fields, when its kind is known.
pub(super) fn diagnose(
    source: &Source,
    limits: &Limits,
    top: Option<&TopLevel>,
    err: &E,
) -> Diagnostic {
    let err = innermost(err);
    let mut pos = err.location().map(Pos::from).unwrap_or_default();
    let field = key_before(&source.text, pos);
    let prefixed = |message: String| match &field {
        Some(f) => format!("`{f}`: {message}"),
        None => message,
    };
    let (code, message, hint): (&'static str, String, Option<String>) = match err {
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
        E::SerdeMissingField { field, .. } => {
            let hint = missing_field_hint(source, top, field, &mut pos);
            (
                "missing-field",
                format!("missing required field `{field}`"),
                Some(hint),
            )
        }
        E::Unexpected { expected, .. } => {
            let (message, hint) = expected_what(expected);
            ("wrong-type", prefixed(message), hint)
        }
        E::InvalidScalar { ty, .. } => {
            let message = match *ty {
                // One message for the range, whichever way `concurrency` is given.
                "u32" if field.as_deref() == Some("concurrency") => {
                    return Diagnostic::error(
                        &source.path,
                        pos,
                        "wrong-type",
                        CONCURRENCY_RANGE.to_string(),
                    );
                }
                other => scalar_message(other),
            };
            ("wrong-type", prefixed(message.to_string()), None)
        }
        E::InvalidBooleanStrict { .. } => (
            "wrong-type",
            prefixed("expected `true` or `false`".into()),
            None,
        ),
        E::NullIntoString { .. } => (
            "wrong-type",
            prefixed("expected a value, found nothing (null)".into()),
            Some("write a value after the colon, or remove the key".into()),
        ),
        E::SerdeInvalidType {
            unexpected,
            expected,
            ..
        } => (
            "wrong-type",
            prefixed(format!("expected {expected}, found {unexpected}")),
            None,
        ),
        E::SerdeInvalidValue { .. }
        | E::SerdeInvalidLength { .. }
        | E::UnexpectedValueForUnit { .. } => ("wrong-type", prefixed(plain(err)), None),
        E::Budget { breach, .. } => budget(breach, limits),
        E::AliasReplayLimitExceeded { .. }
        | E::AliasExpansionLimitExceeded { .. }
        | E::AliasReplayStackDepthExceeded { .. }
        | E::AliasReplayCounterOverflow { .. } => (
            "limit",
            "YAML aliases expand beyond the safe limit".into(),
            Some(ALIAS_HINT.into()),
        ),
        E::DuplicateMappingKey { key, .. } => (
            "duplicate-key",
            match key {
                Some(k) => format!("key `{k}` appears twice in the same mapping"),
                None => "a key appears twice in the same mapping".into(),
            },
            Some("YAML keeps only one of them; remove or rename the other".into()),
        ),
        E::Eof { .. } => (
            "yaml-syntax",
            "unexpected end of file".into(),
            Some("a list, mapping or quoted string is not closed".into()),
        ),
        E::MultipleDocuments { .. } => (
            "yaml-syntax",
            "the file holds more than one YAML document".into(),
            Some("a recipe is one document: remove the `---` separators".into()),
        ),
        _ => {
            let message = plain(err);
            let hint = syntax_hint(&message);
            ("yaml-syntax", message, hint)
        }
    };
    let d = Diagnostic::error(&source.path, pos, code, message);
    match hint {
        Some(h) => d.with_hint(h),
        None => d,
    }
}

/// The hint for a missing field; a missing top-level field moves `pos` to the top of the file.
fn missing_field_hint(
    source: &Source,
    top: Option<&TopLevel>,
    field: &str,
    pos: &mut Pos,
) -> String {
    if let Some(top) = top.filter(|t| t.fields.contains(&field)) {
        // The parser points wherever the mapping ended; the top of the file is clearer.
        *pos = first_content_line(&source.text);
        top.hint.to_string()
    } else if top.is_some() && field == "id" {
        // In a recipe only nodes have an `id`.
        "every node needs a unique `id`, e.g. `- id: scan`".into()
    } else {
        format!("add `{field}: ...`")
    }
}

/// Message and hint for a value of the wrong shape, by what the parser expected.
fn expected_what(expected: &str) -> (String, Option<String>) {
    match expected {
        "sequence start" => (
            "expected a list".to_string(),
            Some("write `[a, b]`, or one `- item` per line".to_string()),
        ),
        "mapping start" => (
            "expected a mapping".to_string(),
            Some("write `key: value` lines, or `{ key: value }`".to_string()),
        ),
        "string scalar" => (
            "expected a single value (text, number or boolean), not a list or mapping".to_string(),
            None,
        ),
        other => (format!("expected {other}"), None),
    }
}

/// What a scalar of Rust type `ty` accepts, in the recipe's words.
fn scalar_message(ty: &str) -> &'static str {
    match ty {
        "u8" => "expected a whole number from 0 to 255",
        "u16" => "expected a whole number from 0 to 65535",
        "u32" => "expected a whole number from 0 to 4294967295",
        "u64" | "u128" | "usize" => "expected a whole number (0 or more)",
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "expected a whole number",
        "f32" | "f64" | "floating point" => "expected a number",
        "bool" | "boolean" => "expected `true` or `false`",
        "char" => "expected a single character",
        _ => "invalid value",
    }
}

/// A hint for a YAML syntax error, from its message.
fn syntax_hint(message: &str) -> Option<String> {
    if message.contains("unknown escape character") {
        Some(
            "in a double-quoted string write `\\\\{{` for secflow's literal `\\{{`, \
             or use single quotes"
                .to_string(),
        )
    } else if message.contains("unclosed quote") {
        Some("end the string with the same quote it starts with".to_string())
    } else if message.contains("indent") || message.contains("block") {
        Some(
            "check this line's indentation: keys of one mapping, and the `- ` of one \
             list, start in the same column"
                .to_string(),
        )
    } else {
        None
    }
}

/// Code, message and hint for a breached parser budget.
fn budget(breach: &BudgetBreach, limits: &Limits) -> (&'static str, String, Option<String>) {
    let raise = Some("raise the limit with --max-nodes if this recipe is really this large".into());
    match breach {
        BudgetBreach::Depth { .. } => (
            "limit",
            format!(
                "YAML nesting is deeper than the limit of {} levels",
                limits.max_depth
            ),
            Some("recipes never need this much nesting; flatten the structure".into()),
        ),
        BudgetBreach::Events { .. } => (
            "limit",
            "the recipe has more YAML elements than the limit".into(),
            raise,
        ),
        BudgetBreach::Nodes { .. } => (
            "limit",
            "the recipe has more YAML values than the limit".into(),
            raise,
        ),
        BudgetBreach::ScalarBytes { .. } | BudgetBreach::InputBytes { .. } => (
            "limit",
            "the recipe holds more text than the limit".into(),
            Some("raise the limit with --max-bytes".into()),
        ),
        BudgetBreach::Documents { .. } => (
            "yaml-syntax",
            "the file holds more than one YAML document".into(),
            Some("a recipe is one document: remove the `---` separators".into()),
        ),
        _ => (
            "limit",
            "YAML aliases expand beyond the safe limit".into(),
            Some(ALIAS_HINT.into()),
        ),
    }
}

/// The error itself, under any alias or snippet wrappers.
fn innermost(mut err: &E) -> &E {
    loop {
        match err {
            E::AliasError { error, .. } | E::WithSnippet { error, .. } => err = error,
            _ => return err,
        }
    }
}

/// The parser's message without its own "at line X column Y" decoration.
fn plain(err: &E) -> String {
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

/// The mapping key whose value starts at `pos`: written just before it on its line
/// (`outputs` in `    outputs: x`), or alone at the end of the line above, less indented
/// (`nodes:` above a block value).
fn key_before(source: &str, pos: Pos) -> Option<String> {
    let index = usize::try_from(pos.line.checked_sub(1)?).ok()?;
    let line = source.lines().nth(index)?;
    let before: String = line
        .chars()
        .take(pos.column.saturating_sub(1) as usize)
        .collect();
    let before = match before.trim_end().strip_suffix(':') {
        Some(b) => b.to_string(),
        None if before.trim().is_empty() => {
            let above = source
                .lines()
                .take(index)
                .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
                .last()?;
            let indent = above.len() - above.trim_start().len();
            if indent >= before.len() {
                return None;
            }
            above.trim_end().strip_suffix(':')?.to_string()
        }
        None => return None,
    };
    let key = before
        .rsplit(|c: char| c.is_whitespace() || matches!(c, '{' | ',' | '['))
        .next()?
        .trim_matches(|c| c == '"' || c == '\'');
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    plain.then(|| key.to_string())
}

/// Line 1, column 1 of the first line that is neither blank nor a comment.
fn first_content_line(source: &str) -> Pos {
    let line = source
        .lines()
        .position(|l| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with('#') && t != "---"
        })
        .unwrap_or(0);
    Pos {
        line: line as u64 + 1,
        column: 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_key_before_a_value() {
        let src = "a: 1\n    outputs: results\nretry: { max_attempts: x }\n- plain\n";
        let at = |line, column| Pos { line, column };
        assert_eq!(key_before(src, at(2, 14)).as_deref(), Some("outputs"));
        assert_eq!(key_before(src, at(3, 24)).as_deref(), Some("max_attempts"));
        assert_eq!(key_before(src, at(4, 3)), None);
        assert_eq!(key_before(src, at(9, 1)), None);
        let block = "nodes:\n  # a comment\n  id: a\nother: 1\n";
        assert_eq!(key_before(block, at(3, 3)).as_deref(), Some("nodes"));
        assert_eq!(key_before(block, at(4, 1)), None);
    }

    #[test]
    fn first_content_line_skips_comments() {
        assert_eq!(first_content_line("# c\n\nversion: 1\n").line, 3);
        assert_eq!(first_content_line("").line, 1);
    }
}
