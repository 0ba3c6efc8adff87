//! Located diagnostics: `path:line:col: error[code]: message`, the source line with a caret,
//! and a `help:` hint.
//!
//! Every problem found in a recipe (or, later, a plugin manifest) becomes a [`Diagnostic`];
//! rendering is the same for all of them so that tests can pin the exact text.

use std::fmt::Write as _;

use serde::Serialize;

/// How bad a problem is. Warnings never change an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem at one place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub file: String,
    /// 1-based; 0 when the problem concerns the whole file.
    pub line: u64,
    /// 1-based; 0 when the problem concerns the whole file.
    pub column: u64,
    pub severity: Severity,
    pub code: &'static str,
    pub message: String,
    pub hint: Option<String>,
}

/// A position in a source file, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    pub line: u64,
    pub column: u64,
}

impl From<serde_saphyr::Location> for Pos {
    fn from(loc: serde_saphyr::Location) -> Self {
        Pos {
            line: loc.line(),
            column: loc.column(),
        }
    }
}

impl Diagnostic {
    pub fn error(file: &str, pos: Pos, code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.to_string(),
            line: pos.line,
            column: pos.column,
            severity: Severity::Error,
            code,
            message: message.into(),
            hint: None,
        }
    }

    pub fn warning(file: &str, pos: Pos, code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(file, pos, code, message)
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Renders the diagnostic for a terminal. `source` is the file's text, when it was read.
    pub fn render(&self, source: Option<&str>) -> String {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut out = String::new();
        if self.line == 0 {
            let _ = writeln!(
                out,
                "{}: {severity}[{}]: {}",
                self.file, self.code, self.message
            );
        } else {
            let _ = writeln!(
                out,
                "{}:{}:{}: {severity}[{}]: {}",
                self.file, self.line, self.column, self.code, self.message
            );
        }
        if let Some(text) = source.and_then(|s| source_line(s, self.line)) {
            let gutter = self.line.to_string();
            let pad = " ".repeat(gutter.len());
            let caret_at: usize = text
                .chars()
                .take(self.column.saturating_sub(1) as usize)
                .map(|c| if c == '\t' { 4 } else { 1 })
                .sum();
            let shown = text.replace('\t', "    ");
            let _ = writeln!(out, " {gutter} | {shown}");
            let _ = writeln!(out, " {pad} | {}^", " ".repeat(caret_at));
        }
        if let Some(hint) = &self.hint {
            let _ = writeln!(out, "help: {hint}");
        }
        out
    }
}

/// The text of 1-based line `line`, if the file has it (long lines are cut for display).
fn source_line(source: &str, line: u64) -> Option<&str> {
    if line == 0 {
        return None;
    }
    let text = source.lines().nth(line as usize - 1)?;
    let text = text.trim_end_matches('\r');
    Some(match text.char_indices().nth(200) {
        Some((cut, _)) => &text[..cut],
        None => text,
    })
}

/// The closest of `candidates` to `word`, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let normalized = word.replace('-', "_").to_lowercase();
    candidates
        .into_iter()
        .map(|c| {
            let d = if c == normalized {
                0
            } else {
                edit_distance(&normalized, c)
            };
            (d, c)
        })
        .filter(|(d, c)| *d <= (c.len().max(word.len()) / 3).max(1))
        // Ties go to the alphabetically first name, so the hint never depends on hash order.
        .min_by_key(|&(d, c)| (d, c))
        .map(|(_, c)| c)
}

/// Edit distance over chars where a swap of two neighbours counts as one edit
/// (optimal string alignment), so `biuld` is one typo away from `build`.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 0..a.len() {
        let mut cur = vec![i + 1; b.len() + 1];
        for j in 0..b.len() {
            let cost = usize::from(a[i] != b[j]);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
            if i > 0 && j > 0 && a[i] == b[j - 1] && a[i - 1] == b[j] {
                cur[j + 1] = cur[j + 1].min(before[j - 1] + 1);
            }
        }
        before = std::mem::replace(&mut prev, cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let fields = ["depends_on", "inputs", "outputs", "retry"];
        assert_eq!(did_you_mean("depends-on", fields), Some("depends_on"));
        assert_eq!(did_you_mean("ouputs", fields), Some("outputs"));
        assert_eq!(did_you_mean("banana", fields), None);
        assert_eq!(did_you_mean("biuld", ["build", "test"]), Some("build"));
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn renders_caret_under_column() {
        let d =
            Diagnostic::error("r.yaml", Pos { line: 2, column: 3 }, "x", "bad").with_hint("fix it");
        let text = d.render(Some("a: 1\n  b: 2\n"));
        assert_eq!(
            text,
            "r.yaml:2:3: error[x]: bad\n 2 |   b: 2\n   |   ^\nhelp: fix it\n"
        );
    }
}
