//! Located diagnostics: `path:line:col: error[code]: message`, the source line with a caret,
//! and a `help:` hint.
//!
//! Every problem found in a recipe (or, later, a plugin manifest) becomes a [`Diagnostic`];
//! rendering is the same for all of them so that tests can pin the exact text.

use std::fmt::Write as _;

use serde::Serialize;

use crate::escape::{escape, is_unsafe};

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
    /// Whether rendering may quote the source line: false for a file that did not parse as
    /// a recipe (an `include:` of `~/.aws/credentials` must not print its first bad line).
    #[serde(skip)]
    pub quote: bool,
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
            quote: true,
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

    /// The same diagnostic, rendered without its source line (see [`Diagnostic::quote`]).
    pub fn unquoted(mut self) -> Self {
        self.quote = false;
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Renders the diagnostic for a terminal. `source` is the file's text, when it was read.
    /// To render many diagnostics of one file, split it once with [`Lines`] and use
    /// [`Diagnostic::render_lines`]: this splits the text on every call.
    pub fn render(&self, source: Option<&str>) -> String {
        self.render_lines(source.map(Lines::new).as_ref())
    }

    /// Renders the diagnostic for a terminal, quoting the source line from `lines`.
    pub fn render_lines(&self, lines: Option<&Lines>) -> String {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut out = String::new();
        // The file name, message and hint quote user input: escape control characters.
        let file = escape(&self.file);
        let message = escape(&self.message);
        if self.line == 0 {
            let _ = writeln!(out, "{file}: {severity}[{}]: {message}", self.code);
        } else {
            let _ = writeln!(
                out,
                "{file}:{}:{}: {severity}[{}]: {message}",
                self.line, self.column, self.code
            );
        }
        let lines = lines.filter(|_| self.quote);
        if let Some((shown, caret_at)) = lines.and_then(|l| excerpt(l, self.line, self.column)) {
            let gutter = self.line.to_string();
            let pad = " ".repeat(gutter.len());
            let _ = writeln!(out, " {gutter} | {shown}");
            let _ = writeln!(out, " {pad} | {}^", " ".repeat(caret_at));
        }
        if let Some(hint) = &self.hint {
            let _ = writeln!(out, "help: {}", escape(hint));
        }
        out
    }
}

/// A source text split into lines once, so that quoting a line costs nothing however many
/// diagnostics a file has.
#[derive(Debug, Clone)]
pub struct Lines<'a>(Vec<&'a str>);

impl<'a> Lines<'a> {
    pub fn new(text: &'a str) -> Self {
        Lines(text.lines().collect())
    }

    /// 1-based line `line`, without its line ending.
    pub fn get(&self, line: u64) -> Option<&'a str> {
        let index = usize::try_from(line.checked_sub(1)?).ok()?;
        self.0.get(index).map(|l| l.trim_end_matches('\r'))
    }
}

/// Longest source excerpt shown, in chars; longer lines are cut around the column.
const EXCERPT_WIDTH: usize = 160;

/// The text of 1-based line `line` for display (tabs as four spaces, other control characters
/// escaped as `\u{1b}`, long lines cut to a window around `column` with `...` marking the
/// cuts) and the caret's offset in it.
fn excerpt(lines: &Lines, line: u64, column: u64) -> Option<(String, usize)> {
    let text = lines.get(line)?;
    let chars: Vec<char> = text.chars().collect();
    let at = (column.saturating_sub(1) as usize).min(chars.len());
    let (start, end) = if chars.len() <= EXCERPT_WIDTH {
        (0, chars.len())
    } else {
        let start = at.saturating_sub(EXCERPT_WIDTH / 2);
        let end = (start + EXCERPT_WIDTH).min(chars.len());
        (end.saturating_sub(EXCERPT_WIDTH).min(start), end)
    };
    let width = |c: &char| match c {
        '\t' => 4,
        c if is_unsafe(*c) => escape(c.encode_utf8(&mut [0; 4])).chars().count(),
        _ => 1,
    };
    let mut shown = String::new();
    let mut caret_at = 0;
    if start > 0 {
        shown.push_str("...");
        caret_at += 3;
    }
    caret_at += chars[start..at].iter().map(width).sum::<usize>();
    for c in &chars[start..end] {
        match c {
            '\t' => shown.push_str("    "),
            c if is_unsafe(*c) => shown.push_str(&escape(c.encode_utf8(&mut [0; 4]))),
            c => shown.push(*c),
        }
    }
    if end < chars.len() {
        shown.push_str("...");
    }
    Some((shown, caret_at))
}

/// The closest of `candidates` to `word`, if it is close enough to be a likely typo: at most
/// a third of the longer name's length in edits (at least one). Ties go to the
/// alphabetically first name, so the hint never depends on hash order. Cheap per candidate
/// (a length check, then a distance that gives up past the bound), so searching thousands
/// of names is fine.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let normalized: Vec<char> = word.replace('-', "_").to_lowercase().chars().collect();
    let mut best: Option<(usize, &str)> = None;
    let mut rows = Rows::default();
    for c in candidates {
        let limit = (c.len().max(word.len()) / 3).max(1);
        if c.chars().count().abs_diff(normalized.len()) > limit {
            continue;
        }
        let Some(d) = rows.bounded_distance(&normalized, c, limit) else {
            continue;
        };
        if best.is_none_or(|(bd, bc)| (d, c) < (bd, bc)) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// Edit distance over chars where a swap of two neighbours counts as one edit
/// (optimal string alignment), so `biuld` is one typo away from `build`.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    Rows::default()
        .bounded_distance(&a, b, usize::MAX)
        .unwrap_or(usize::MAX)
}

/// Reusable rows for [`Rows::bounded_distance`], so a search allocates once.
#[derive(Default)]
struct Rows {
    b: Vec<char>,
    before: Vec<usize>,
    prev: Vec<usize>,
    cur: Vec<usize>,
}

impl Rows {
    /// The optimal-string-alignment distance of `a` and `b`, or `None` once it must exceed
    /// `limit` (every entry of a row is past it).
    fn bounded_distance(&mut self, a: &[char], b: &str, limit: usize) -> Option<usize> {
        self.b.clear();
        self.b.extend(b.chars());
        let n = self.b.len();
        self.before.clear();
        self.before.resize(n + 1, 0);
        self.prev.clear();
        self.prev.extend(0..=n);
        for i in 0..a.len() {
            self.cur.clear();
            self.cur.resize(n + 1, i + 1);
            for j in 0..n {
                let cost = usize::from(a[i] != self.b[j]);
                let mut d = (self.prev[j] + cost)
                    .min(self.prev[j + 1] + 1)
                    .min(self.cur[j] + 1);
                if i > 0 && j > 0 && a[i] == self.b[j - 1] && a[i - 1] == self.b[j] {
                    d = d.min(self.before[j - 1] + 1);
                }
                self.cur[j + 1] = d;
            }
            if self.cur.iter().all(|&d| d > limit) {
                return None;
            }
            std::mem::swap(&mut self.before, &mut self.prev);
            std::mem::swap(&mut self.prev, &mut self.cur);
        }
        Some(self.prev[n]).filter(|&d| d <= limit)
    }
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
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("ab", "ba"), 1);
        // Ties: the alphabetically first.
        assert_eq!(did_you_mean("out_x", ["out.x", "out-x"]), Some("out-x"));
        let many: Vec<String> = (0..50_000).map(|i| format!("node{i}")).collect();
        assert_eq!(
            did_you_mean("nod12345", many.iter().map(String::as_str)),
            Some("node12345")
        );
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

    #[test]
    fn long_lines_are_cut_around_the_column() {
        let line = format!("k: [{}]", "x, ".repeat(1000));
        let (shown, caret) = excerpt(&Lines::new(&line), 1, 2000).expect("line 1 exists");
        assert!(shown.starts_with("...") && shown.ends_with("..."));
        assert_eq!(shown.chars().count(), EXCERPT_WIDTH + 6);
        let picked: String = shown.chars().skip(caret).take(1).collect();
        let want: String = line.chars().skip(1999).take(1).collect();
        assert_eq!(picked, want);
        let (short, caret) = excerpt(&Lines::new("\tab: 1\r\n"), 1, 2).expect("line 1 exists");
        assert_eq!((short.as_str(), caret), ("    ab: 1", 4));
        assert_eq!(excerpt(&Lines::new("a"), 3, 1), None);
        let (esc, caret) = excerpt(&Lines::new("id: \"a\u{1b}[2Jb\""), 1, 10).expect("line 1");
        assert_eq!((esc.as_str(), caret), ("id: \"a\\u{1b}[2Jb\"", 14));
        assert_eq!(excerpt(&Lines::new("a"), 0, 1), None);
    }
}
