//! Escaping for every human output (SPEC §10 "Mistakes are named": control characters in ids,
//! names and messages are escaped when printed).
//!
//! Records are read long after they were written, by people who did not write them: a
//! workflow name, node id, reason or tool output may hold terminal control sequences (`ESC [
//! 2J`, OSC titles, `\r` overwrites) or bidirectional overrides. Everything printed for
//! people passes through [`escape`] (one line), [`escape_lines`] (text whose own newlines are
//! kept, e.g. a tool's stderr), [`cell`] (a table cell: escaped and capped, so one huge value
//! cannot freeze a table renderer) or [`markdown`] (also HTML `<>&` and `|`).
//!
//! Guarantees: pure, never panic, linear in the input (and [`cell`] in its cap, whatever the
//! input's size); text without anything to escape is returned unchanged. JSON outputs are
//! never escaped here: serde already escapes control characters there.

use std::borrow::Cow;
use std::fmt::Write as _;

/// The most characters a human table cell shows; longer text ends with `…`.
pub const CELL_MAX_CHARS: usize = 100;

/// The most characters a one-value line of a human summary (`runs show`) shows.
pub const LINE_MAX_CHARS: usize = 1000;

/// Whether `c` must not reach a terminal raw: C0 and C1 controls, DEL, the line and paragraph
/// separators and the bidirectional embedding/override/isolate marks.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{2028}' | '\u{2029}' | '\u{202A}'
                ..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

fn escape_where(s: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    // Fast path: printable ASCII needs nothing; the first other byte starts a char.
    let Some(ascii_end) = s.bytes().position(|b| !(0x20..0x7f).contains(&b)) else {
        return Cow::Borrowed(s);
    };
    let Some(first) = s[ascii_end..]
        .find(|c: char| is_unsafe(c) && !keep(c))
        .map(|i| ascii_end + i)
    else {
        return Cow::Borrowed(s);
    };
    let mut out = String::with_capacity(s.len() + 8);
    out.push_str(&s[..first]);
    for c in s[first..].chars() {
        if is_unsafe(c) && !keep(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// One line of text for a terminal: every unsafe character (newlines included) as `\n`,
/// `\r`, `\t` or `\u{1b}`.
pub fn escape(s: &str) -> Cow<'_, str> {
    escape_where(s, |_| false)
}

/// Text whose newlines are its own (a tool's output): `\n` kept, everything else escaped.
pub fn escape_lines(s: &str) -> Cow<'_, str> {
    escape_where(s, |c| c == '\n')
}

/// [`escape`] cut to at most `max` characters of output, the last being `…` when cut. Costs
/// O(`max`), not O(`s.len()`).
pub fn escape_capped(s: &str, max: usize) -> String {
    let mut out = String::new();
    let mut shown = 0usize;
    for c in s.chars() {
        let before = out.len();
        if is_unsafe(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
        shown += out[before..].chars().count();
        if shown > max {
            // Cut back to max - 1 characters and mark the cut.
            let keep = max.saturating_sub(1);
            let end = out.char_indices().nth(keep).map_or(out.len(), |(i, _)| i);
            out.truncate(end);
            out.push('…');
            return out;
        }
    }
    out
}

/// A human table cell: escaped and capped at [`CELL_MAX_CHARS`].
pub fn cell(s: &str) -> String {
    escape_capped(s, CELL_MAX_CHARS)
}

/// Text for a Markdown document (one table cell or line): escaped as by [`escape`], and HTML
/// `<`, `>`, `&` as entities, `|` as `\|`, so neither HTML nor a table row can be injected.
pub fn markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in escape(s).chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '|' => out.push_str("\\|"),
            c => out.push(c),
        }
    }
    out
}

/// Text for HTML, as element content or a quoted attribute value: escaped as by [`escape`]
/// (a control or bidi character shows as `\u{…}`), then `&`, `<`, `>`, `"` and `'` as
/// entities — so no record value can open a tag, end an attribute or a `<script>`.
pub fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in escape(s).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_tags_quotes_and_controls() {
        assert_eq!(
            html("</script><script>alert(1)</script>\"'&\u{202e}"),
            "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;\\u{202e}"
        );
    }

    #[test]
    fn escapes_controls_and_keeps_plain_text() {
        assert!(matches!(escape("scan-1 ok ✓"), Cow::Borrowed(_)));
        assert_eq!(
            escape("x\u{1b}[2J\u{1b}]0;PWNED\u{7}\r\nFAKE"),
            "x\\u{1b}[2J\\u{1b}]0;PWNED\\u{7}\\r\\nFAKE"
        );
        assert_eq!(
            escape("a\u{9b}b\u{202e}c\u{7f}"),
            "a\\u{9b}b\\u{202e}c\\u{7f}"
        );
        assert_eq!(
            escape_lines("l1\n\u{1b}[31ml2\r\n"),
            "l1\n\\u{1b}[31ml2\\r\n"
        );
    }

    #[test]
    fn cells_are_capped_by_chars_in_linear_time() {
        assert_eq!(escape_capped("abcdef", 4), "abc…");
        assert_eq!(escape_capped("abcd", 4), "abcd");
        assert_eq!(escape_capped("ééééé", 3), "éé…");
        assert_eq!(escape_capped("a\nbcd", 3), "a\\…");
        let huge = "x".repeat(50 << 20);
        let t = std::time::Instant::now();
        assert_eq!(cell(&huge).chars().count(), CELL_MAX_CHARS);
        assert!(t.elapsed().as_millis() < 100);
    }

    #[test]
    fn markdown_escapes_html_and_pipes() {
        assert_eq!(
            markdown("<img src=x onerror=alert(1)>|a&b\n"),
            "&lt;img src=x onerror=alert(1)&gt;\\|a&amp;b\\n"
        );
    }
}
