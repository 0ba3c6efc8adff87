//! Context-aware rendering of `run` templates: a substituted value is never shell code.
//!
//! A small lexer of POSIX `sh` quoting finds where each `{{ … }}` of a `run` line stands:
//! bare, inside double quotes, in an unquoted heredoc body or in a comment. The value never
//! enters the line itself: it travels in an environment variable (`__SECFLOW_V<n>`, or the
//! secret's own variable) and the line holds a reference to it — `"${__SECFLOW_V1}"` when bare,
//! `${__SECFLOW_V1}` inside the user's double quotes or a heredoc — which `sh` expands once and
//! never parses again. Where the context would not keep the expansion one literal word (single
//! quotes, `$'…'`, a quoted heredoc, backticks, `$(( … ))`, `${ … }`, right after a `$`), the
//! template is refused with the reason, never guessed at.

use super::template::{Reference, Segment, Template};

/// Where a reference stands in the shell line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quoting {
    /// Outside any quotes (also inside `$( … )` at its own top level).
    Bare,
    /// Inside the user's double quotes.
    Double,
    /// In the body of a heredoc with an unquoted delimiter.
    HereDoc,
    /// In a comment: never expanded.
    Comment,
}

/// A template whose place in the line cannot hold a value safely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellError {
    /// Byte offset of the template in the `run` text.
    pub offset: usize,
    /// `template-in-quotes` or `template-context`.
    pub code: &'static str,
    pub message: String,
    pub hint: String,
}

/// The longest string the kernel accepts as one argument or `NAME=value` variable
/// (`MAX_ARG_STRLEN`, 32 pages), its terminating NUL included.
pub const MAX_ARG_STRLEN: usize = 128 * 1024;

/// The prefix of the variables that carry template values.
pub const VALUE_VAR: &str = "__SECFLOW_V";

#[derive(Debug, Clone)]
enum Frame {
    Top,
    /// `$( … )` or a `( … )` subshell inside one.
    Cmd,
    Double,
    Single,
    DollarSingle,
    Backtick,
    Arith(u32),
    Param(u32),
    Comment,
    HereDoc(HereDoc),
}

/// A [`Frame`] without its data, to dispatch on.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Bare,
    Double,
    Single,
    DollarSingle,
    Backtick,
    Arith(u32),
    Param(u32),
    Comment,
    HereDoc,
}

#[derive(Debug, Clone)]
struct HereDoc {
    delim: String,
    strip_tabs: bool,
    quoted: bool,
    /// A `$(`, `${` or backtick seen in the body: templates after it are refused.
    complex: bool,
    line: String,
    line_has_ref: bool,
}

struct Lexer {
    stack: Vec<Frame>,
    pending: Vec<HereDoc>,
    word_start: bool,
    /// The previous character was an unescaped `$`.
    after_dollar: bool,
    /// Why the next reference cannot be placed (e.g. it would be a heredoc delimiter).
    poison: Option<&'static str>,
    /// Why no later reference of the line can be placed: the lexer met a construct whose
    /// quoting shells read differently, so it no longer knows where it stands.
    lost: Option<&'static str>,
}

/// A blank of the shell's grammar: space and tab (and the newline that ends a command). Not
/// Unicode's other spaces: `a\u{a0}#x` is one word to `sh`, not a word and a comment.
fn blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n')
}

/// The quoting context of each reference of `t`, in order, or the first one that has none.
pub fn contexts(t: &Template) -> Result<Vec<Quoting>, ShellError> {
    let mut lx = Lexer {
        stack: vec![Frame::Top],
        pending: Vec::new(),
        word_start: true,
        after_dollar: false,
        poison: None,
        lost: None,
    };
    let mut out = Vec::new();
    for segment in &t.segments {
        match segment {
            Segment::Literal(text) => lx.literal(text),
            Segment::Ref(r) => {
                out.push(lx.reference(r)?);
                if let Frame::HereDoc(h) = lx.top() {
                    h.line_has_ref = true;
                }
                lx.word_start = false;
                lx.after_dollar = false;
                lx.poison = None;
            }
        }
    }
    Ok(out)
}

impl Lexer {
    fn top(&mut self) -> &mut Frame {
        // The stack never empties: `Top` is never popped.
        let last = self.stack.len() - 1;
        &mut self.stack[last]
    }

    /// The innermost frame's kind, without its heredoc text.
    fn kind(&self) -> Kind {
        match self.stack.last() {
            Some(Frame::Top | Frame::Cmd) | None => Kind::Bare,
            Some(Frame::Double) => Kind::Double,
            Some(Frame::Single) => Kind::Single,
            Some(Frame::DollarSingle) => Kind::DollarSingle,
            Some(Frame::Backtick) => Kind::Backtick,
            Some(Frame::Arith(d)) => Kind::Arith(*d),
            Some(Frame::Param(d)) => Kind::Param(*d),
            Some(Frame::Comment) => Kind::Comment,
            Some(Frame::HereDoc(_)) => Kind::HereDoc,
        }
    }

    fn pop(&mut self) {
        if self.stack.len() > 1 {
            self.stack.pop();
        }
    }

    fn reference(&self, r: &Reference) -> Result<Quoting, ShellError> {
        let err = |code, what: &str, hint: &str| ShellError {
            offset: r.offset,
            code,
            message: format!("template `{{{{ {r} }}}}` {what}"),
            hint: hint.to_string(),
        };
        let unclear = |what: &str, hint: &str| Err(err("template-context", what, hint));
        if let Some(why) = self.poison.or(self.lost) {
            return unclear(
                why,
                "put the value in a variable first: `x={{ … }}`, then use \"$x\"",
            );
        }
        if self.after_dollar {
            return unclear(
                "follows a `$`",
                "remove the `$`: the template already stands for the value",
            );
        }
        let quotes_hint = "close the single quotes around it: 'text '{{ … }}' more', or use \
                           double quotes: \"text {{ … }}\" — secflow quotes the value itself";
        match self.stack.last() {
            Some(Frame::Top | Frame::Cmd) | None => Ok(Quoting::Bare),
            Some(Frame::Double) => Ok(Quoting::Double),
            Some(Frame::Comment) => Ok(Quoting::Comment),
            Some(Frame::Single) => Err(err(
                "template-in-quotes",
                "is inside single quotes",
                quotes_hint,
            )),
            Some(Frame::DollarSingle) => Err(err(
                "template-in-quotes",
                "is inside `$'…'` quotes",
                quotes_hint,
            )),
            Some(Frame::HereDoc(h)) if h.quoted => Err(err(
                "template-in-quotes",
                "is inside a heredoc with a quoted delimiter (nothing is expanded there)",
                "unquote the delimiter (`<<EOF`), or pass the value as a variable",
            )),
            Some(Frame::HereDoc(h)) if h.complex => unclear(
                "is in a heredoc after a `$(`, `${` or backtick",
                "build the text before the heredoc: `x={{ … }}`, then use $x in it",
            ),
            Some(Frame::HereDoc(_)) => Ok(Quoting::HereDoc),
            Some(Frame::Backtick) => {
                unclear("is inside backticks", "use `$( … )` instead of backticks")
            }
            Some(Frame::Arith(_)) => unclear(
                "is inside an arithmetic `(( … ))`, which evaluates values as expressions",
                "assign it and check it is a number first: `n={{ … }}; case $n in \
                 ''|*[!0-9]*) exit 2;; esac`, then use $((n + 1))",
            ),
            Some(Frame::Param(_)) => unclear(
                "is inside `${ … }`",
                "assign it first: `d={{ … }}`, then use ${x:-$d}",
            ),
        }
    }

    fn literal(&mut self, text: &str) {
        let chars: Vec<char> = text.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let next = chars.get(i + 1).copied();
            self.after_dollar = false;
            i += match self.kind() {
                Kind::Bare => self.bare(&chars, i),
                Kind::Double => match c {
                    '\\' => 2,
                    '"' => {
                        self.pop();
                        1
                    }
                    '`' => {
                        self.stack.push(Frame::Backtick);
                        1
                    }
                    '$' => self.dollar(next, chars.get(i + 2).copied()),
                    _ => 1,
                },
                Kind::Single => {
                    if c == '\'' {
                        self.pop();
                    }
                    1
                }
                Kind::DollarSingle | Kind::Backtick => match c {
                    '\\' => 2,
                    '\'' if matches!(self.top(), Frame::DollarSingle) => {
                        self.pop();
                        1
                    }
                    '`' if matches!(self.top(), Frame::Backtick) => {
                        self.pop();
                        1
                    }
                    _ => 1,
                },
                Kind::Arith(depth) => {
                    match c {
                        '(' => *self.top() = Frame::Arith(depth + 1),
                        ')' if depth > 0 => *self.top() = Frame::Arith(depth - 1),
                        ')' => {
                            self.pop();
                            if next == Some(')') {
                                i += 1;
                            }
                        }
                        _ => {}
                    }
                    1
                }
                Kind::Param(depth) => match c {
                    '\\' => 2,
                    '\'' => {
                        let len = self.stack.len();
                        if len >= 2 && matches!(self.stack[len - 2], Frame::Double) {
                            // `"${x:-'…'}"`: dash reads that `'` as a character, bash as a
                            // quote; where the line goes on is unknown.
                            self.lost = Some("follows a `'` inside a double-quoted `${ … }`");
                        }
                        self.stack.push(Frame::Single);
                        1
                    }
                    '"' => {
                        self.stack.push(Frame::Double);
                        1
                    }
                    '{' => {
                        *self.top() = Frame::Param(depth + 1);
                        1
                    }
                    '}' if depth > 0 => {
                        *self.top() = Frame::Param(depth - 1);
                        1
                    }
                    '}' => {
                        self.pop();
                        1
                    }
                    _ => 1,
                },
                Kind::Comment => {
                    if c == '\n' {
                        // The newline also ends the command line (it may start a heredoc).
                        self.pop();
                        0
                    } else {
                        1
                    }
                }
                Kind::HereDoc => {
                    self.heredoc_char(c, next);
                    1
                }
            };
        }
    }

    /// One step in a bare context; returns how many characters it consumed.
    fn bare(&mut self, chars: &[char], i: usize) -> usize {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let start = self.word_start;
        self.word_start = blank(c) || ";&|()<>".contains(c);
        // `case … in pattern)` inside `$( … )`: the pattern's `)` would close the `$(` here.
        let at_word = if i == 0 {
            start
        } else {
            blank(chars[i - 1]) || "(;&|".contains(chars[i - 1])
        };
        if at_word
            && c == 'c'
            && chars[i..].starts_with(&['c', 'a', 's', 'e'])
            && chars.get(i + 4).is_none_or(|&n| blank(n))
            && self.stack.iter().any(|f| matches!(f, Frame::Cmd))
        {
            self.lost = Some("follows a `case` inside `$( … )`, whose `)` the check cannot follow");
        }
        match c {
            '\\' => 2,
            '\'' => {
                self.stack.push(Frame::Single);
                1
            }
            '"' => {
                self.stack.push(Frame::Double);
                1
            }
            '`' => {
                self.stack.push(Frame::Backtick);
                1
            }
            '$' => self.dollar(next, chars.get(i + 2).copied()),
            '#' if start => {
                self.stack.push(Frame::Comment);
                1
            }
            // bash's `(( … ))` evaluates variables as expressions: no template there.
            '(' if start && next == Some('(') => {
                self.stack.push(Frame::Arith(0));
                2
            }
            '(' if matches!(self.top(), Frame::Cmd) => {
                self.stack.push(Frame::Cmd);
                1
            }
            ')' if matches!(self.top(), Frame::Cmd) => {
                self.pop();
                1
            }
            '\n' if !self.pending.is_empty() => {
                let first = self.pending.remove(0);
                self.stack.push(Frame::HereDoc(first));
                1
            }
            '<' if next == Some('<') && chars.get(i + 2) != Some(&'<') => self.heredoc_op(chars, i),
            '<' if next == Some('<') => 3,
            _ => 1,
        }
    }

    /// After a `$` (in a bare or double-quoted context).
    fn dollar(&mut self, next: Option<char>, after: Option<char>) -> usize {
        let in_double = matches!(self.top(), Frame::Double);
        match (next, after) {
            (Some('('), Some('(')) => {
                self.stack.push(Frame::Arith(0));
                3
            }
            (Some('('), _) => {
                self.stack.push(Frame::Cmd);
                2
            }
            (Some('{'), _) => {
                self.stack.push(Frame::Param(0));
                2
            }
            (Some('\''), _) if !in_double => {
                self.stack.push(Frame::DollarSingle);
                2
            }
            (None, _) => {
                self.after_dollar = true;
                1
            }
            _ => 1,
        }
    }

    /// `<<` or `<<-` and its delimiter word, queued until the end of the line.
    fn heredoc_op(&mut self, chars: &[char], i: usize) -> usize {
        let mut j = i + 2;
        let strip_tabs = chars.get(j) == Some(&'-');
        if strip_tabs {
            j += 1;
        }
        while chars.get(j).is_some_and(|c| *c == ' ' || *c == '\t') {
            j += 1;
        }
        let mut delim = String::new();
        let mut quoted = false;
        let mut quote: Option<char> = None;
        while let Some(&c) = chars.get(j) {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), c) => delim.push(c),
                (None, '\'' | '"') => {
                    quoted = true;
                    quote = Some(c);
                }
                (None, '\\') => {
                    quoted = true;
                    if let Some(&n) = chars.get(j + 1) {
                        delim.push(n);
                        j += 1;
                    }
                }
                (None, c) if blank(c) || ";&|<>()".contains(c) => break,
                (None, c) => delim.push(c),
            }
            j += 1;
        }
        if j >= chars.len() && (delim.is_empty() || quote.is_none()) {
            // The word may go on into a template: a template as a delimiter is refused.
            self.poison = Some("is part of a heredoc delimiter");
        }
        self.pending.push(HereDoc {
            delim,
            strip_tabs,
            quoted,
            complex: false,
            line: String::new(),
            line_has_ref: false,
        });
        self.word_start = true;
        j - i
    }

    fn heredoc_char(&mut self, c: char, next: Option<char>) {
        let Frame::HereDoc(h) = self.top() else {
            return;
        };
        if c != '\n' {
            if !h.quoted && (c == '`' || (c == '$' && matches!(next, Some('(' | '{')))) {
                h.complex = true;
            }
            h.line.push(c);
            return;
        }
        let line = if h.strip_tabs {
            h.line.trim_start_matches('\t')
        } else {
            h.line.as_str()
        };
        let ends = !h.line_has_ref && line == h.delim;
        h.line.clear();
        h.line_has_ref = false;
        if ends {
            self.pop();
            if !self.pending.is_empty() {
                let first = self.pending.remove(0);
                self.stack.push(Frame::HereDoc(first));
            }
        }
    }
}

/// What a reference of a `run` line stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShellValue {
    /// A value, carried in a variable of its own.
    Value(String),
    /// An environment variable the attempt already has (a declared secret): referenced by name.
    Var(String),
}

/// A rendered `run` line and the variables that carry its values.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ShellLine {
    pub line: String,
    pub vars: Vec<(String, String)>,
}

/// Renders a `run` template: each reference becomes a quoted expansion of a variable that
/// holds its value. Fails on a template whose context is unsafe (see [`contexts`]), or whose
/// value is longer than the kernel accepts for one variable.
pub fn render(
    t: &Template,
    mut lookup: impl FnMut(&Reference) -> Result<ShellValue, String>,
) -> Result<ShellLine, String> {
    let quoting = contexts(t).map_err(|e| e.message)?;
    let mut out = ShellLine::default();
    let mut refs = 0;
    for segment in &t.segments {
        match segment {
            Segment::Literal(text) => out.line.push_str(text),
            Segment::Ref(r) => {
                let name = match lookup(r)? {
                    ShellValue::Var(name) => name,
                    ShellValue::Value(value) => {
                        let name = format!("{VALUE_VAR}{}", out.vars.len() + 1);
                        check_len(r, name.len() + 1 + value.len())?;
                        out.vars.push((name.clone(), value));
                        name
                    }
                };
                match quoting[refs] {
                    Quoting::Bare => out.line.push_str(&format!("\"${{{name}}}\"")),
                    Quoting::Double | Quoting::HereDoc | Quoting::Comment => {
                        out.line.push_str(&format!("${{{name}}}"))
                    }
                }
                refs += 1;
            }
        }
    }
    if out.line.len() >= MAX_ARG_STRLEN {
        return Err(format!(
            "the `run` line is {} bytes, over the kernel's limit of {MAX_ARG_STRLEN} bytes for one argument",
            out.line.len()
        ));
    }
    Ok(out)
}

/// Fails when a string of `len` bytes (NUL excluded) would not fit one argument or variable.
pub fn check_len(r: &Reference, len: usize) -> Result<(), String> {
    if len >= MAX_ARG_STRLEN {
        return Err(format!(
            "template `{{{{ {r} }}}}` renders to {len} bytes, over the kernel's limit of \
             {MAX_ARG_STRLEN} bytes (128 KiB) for one argument or variable; pass a file instead"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(text: &str) -> Result<Vec<Quoting>, String> {
        contexts(&Template::parse(text).unwrap()).map_err(|e| e.code.to_string())
    }

    #[test]
    fn finds_each_context() {
        use Quoting::*;
        assert_eq!(
            ctx("echo {{ vars.a }} \"x {{ vars.b }}\"").unwrap(),
            [Bare, Double]
        );
        assert_eq!(ctx("echo \"$(cat {{ vars.a }})\"").unwrap(), [Bare]);
        assert_eq!(ctx("echo \"$(cat \"{{ vars.a }}\")\"").unwrap(), [Double]);
        assert_eq!(
            ctx("x=1 # {{ vars.a }}\necho {{ vars.b }}").unwrap(),
            [Comment, Bare]
        );
        assert_eq!(ctx("echo a#{{ vars.a }}").unwrap(), [Bare]);
        assert_eq!(
            ctx("cat <<EOF\nhi {{ vars.a }}\nEOF\necho {{ vars.b }}").unwrap(),
            [HereDoc, Bare]
        );
        assert_eq!(ctx("echo 'a'\"{{ vars.a }}\"'b'").unwrap(), [Double]);
        assert_eq!(ctx(r"echo \'{{ vars.a }}").unwrap(), [Bare]);
        assert_eq!(ctx(r#"echo "\"{{ vars.a }}""#).unwrap(), [Double]);
    }

    #[test]
    fn refuses_where_the_lexer_and_the_shell_would_disagree() {
        // Found by the adversarial probe: each of these validated and let a value be expanded
        // unquoted (word splitting and globbing) in the real shell.
        assert_eq!(
            ctx("out=\"$(case \"$M\" in fast) printf '<%s>' {{ vars.a }};; esac)\"").unwrap_err(),
            "template-context"
        );
        assert_eq!(
            ctx("printf '<%s>' \"${x:-'}\"'}'{{ vars.a }}\"\"; echo #\"").unwrap_err(),
            "template-context"
        );
        // A no-break space is not a blank: `a\u{a0}#` is a word, not the start of a comment,
        // so the template after it is bare, and referenced as one quoted word.
        assert_eq!(
            ctx("printf '<%s>' a\u{a0}#{{ vars.a }}"),
            Ok(vec![Quoting::Bare])
        );
        // A CRLF heredoc: the delimiter is `EOF\r` for the shell, and for the check.
        assert_eq!(
            ctx("cat <<EOF\r\nhello\r\nEOF\r\nprintf '<%s>' {{ vars.a }}"),
            Ok(vec![Quoting::Bare])
        );
    }

    #[test]
    fn refuses_unsafe_contexts() {
        assert_eq!(
            ctx("echo '{{ vars.a }}'").unwrap_err(),
            "template-in-quotes"
        );
        assert_eq!(
            ctx("echo $'{{ vars.a }}'").unwrap_err(),
            "template-in-quotes"
        );
        assert_eq!(
            ctx("cat <<'E'\n{{ vars.a }}\nE").unwrap_err(),
            "template-in-quotes"
        );
        assert_eq!(ctx("echo `{{ vars.a }}`").unwrap_err(), "template-context");
        assert_eq!(
            ctx("echo $(({{ vars.a }}+1))").unwrap_err(),
            "template-context"
        );
        assert_eq!(
            ctx("echo ${x:-{{ vars.a }}}").unwrap_err(),
            "template-context"
        );
        assert_eq!(ctx("echo ${{ vars.a }}").unwrap_err(), "template-context");
        assert_eq!(ctx("cat <<{{ vars.a }}").unwrap_err(), "template-context");
        // Inside double quotes, `'` is an ordinary character.
        assert!(ctx("echo \"it's {{ vars.a }}\"").is_ok());
    }

    #[test]
    fn renders_references_not_values() {
        let t = Template::parse("echo {{ vars.a }} \"<{{ env.TOK }}>\"").unwrap();
        let out = render(&t, |r| {
            Ok(match r.key.as_str() {
                "TOK" => ShellValue::Var("TOK".into()),
                _ => ShellValue::Value("$(id)".into()),
            })
        })
        .unwrap();
        assert_eq!(out.line, "echo \"${__SECFLOW_V1}\" \"<${TOK}>\"");
        assert_eq!(
            out.vars,
            [("__SECFLOW_V1".to_string(), "$(id)".to_string())]
        );
        let big = "x".repeat(MAX_ARG_STRLEN);
        let e = render(&t, |_| Ok(ShellValue::Value(big.clone()))).unwrap_err();
        assert!(e.contains("vars.a") && e.contains("128 KiB"), "{e}");
    }
}

/// Hostile values through every quoting context, run by a real `sh`: the tool receives the
/// value byte for byte and nothing else executes.
#[cfg(test)]
mod hostile {
    use std::process::Command;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use proptest::prelude::*;

    use super::*;

    /// A `run` line per context and what `printf %s` prints for value `v` there.
    const CONTEXTS: [(&str, &str); 9] = [
        ("bare", "printf %s {{ vars.v }}"),
        ("double quotes", "printf %s \"{{ vars.v }}\""),
        ("adjacent text", "printf %s pre{{ vars.v }}post"),
        ("adjacent in quotes", "printf %s \"pre {{ vars.v }} post\""),
        ("assignment", "x={{ vars.v }}; printf %s \"$x\""),
        (
            "for list",
            "for a in {{ vars.v }}; do printf %s \"$a\"; done",
        ),
        (
            "command substitution",
            "printf %s \"$(printf %s {{ vars.v }}; echo .)\"",
        ),
        ("heredoc", "cat <<EOF\n{{ vars.v }}\nEOF"),
        ("comment", "printf %s ok # {{ vars.v }}"),
    ];

    fn expected(context: &str, v: &str) -> String {
        match context {
            "adjacent text" => format!("pre{v}post"),
            "adjacent in quotes" => format!("pre {v} post"),
            "command substitution" => format!("{v}."),
            "heredoc" => format!("{v}\n"),
            "comment" => "ok".into(),
            _ => v.to_string(),
        }
    }

    fn hostile_value() -> impl Strategy<Value = String> {
        let pieces = prop::sample::select(vec![
            "$(touch CANARY)",
            "`touch CANARY`",
            "; touch CANARY",
            "&& touch CANARY",
            "| touch CANARY",
            "' ; touch CANARY ; '",
            "\" ; touch CANARY ; \"",
            "\"$(touch CANARY)\"",
            "\\",
            "\\\"",
            "\n",
            "\ntouch CANARY\n",
            "${IFS}",
            "$IFS",
            "*",
            "?",
            "[a-z]",
            "~",
            "$HOME",
            "EOF",
            "\nEOF\ntouch CANARY\n",
            " ",
            "\t",
            "'",
            "\"",
            "#",
            "{{",
            "}}",
            "é",
            "-n",
        ]);
        (prop::collection::vec(pieces, 0..6), "[^\\x00]{0,8}")
            .prop_map(|(p, tail)| p.concat() + &tail)
    }

    static CASES: AtomicUsize = AtomicUsize::new(0);

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn values_reach_the_tool_byte_for_byte(v in hostile_value()) {
            let dir = tempfile::tempdir().unwrap();
            let canary = dir.path().join("CANARY");
            for (context, run) in CONTEXTS {
                let v = v.replace("CANARY", &canary.display().to_string());
                let t = Template::parse(run).unwrap();
                let line = render(&t, |_| Ok(ShellValue::Value(v.clone()))).unwrap();
                let out = Command::new("sh")
                    .arg("-c")
                    .arg(&line.line)
                    .envs(line.vars.iter().map(|(k, v)| (k, v)))
                    .current_dir(dir.path())
                    .output()
                    .unwrap();
                CASES.fetch_add(1, Ordering::Relaxed);
                prop_assert!(!canary.exists(), "{context}: {v:?} executed something");
                if context != "for list" || !v.is_empty() {
                    prop_assert_eq!(
                        String::from_utf8_lossy(&out.stdout),
                        expected(context, &v),
                        "{}: {:?} through {:?}", context, v, line.line
                    );
                }
            }
        }
    }
}

/// Programs that run their argument (or their input) as code: a value handed to one of them
/// is interpreted after all, whatever the quoting of the line that starts it.
const INTERPRETERS: &[&str] = &[
    "sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "busybox", "python", "python3", "perl",
    "ruby", "node", "php",
];

/// Words that run their arguments as shell code.
const EVALUATORS: &[&str] = &["eval", "trap", "source", "."];

/// Wrappers skipped to find the command word (`exec sh -c …`, `nohup bash -c …`).
const WRAPPERS: &[&str] = &[
    "exec", "command", "builtin", "nohup", "env", "sudo", "time", "xargs",
];

fn base(word: &str) -> &str {
    let word = word.trim_matches(|c| c == '"' || c == '\'');
    word.rsplit('/').next().unwrap_or(word)
}

/// The index of the word a simple command runs as code, and whether every later word is code
/// too: every argument of `eval`, `trap` and `source`; the word after `-c`/`-e` of an
/// interpreter. `None` when the command runs no argument as code.
fn code_word(words: &[&str]) -> Option<(usize, bool)> {
    let mut i = 0;
    while i < words.len()
        && (words[i].contains('=') && !words[i].starts_with('=')
            || WRAPPERS.contains(&base(words[i]))
            || words[i].starts_with('-') && i > 0 && WRAPPERS.contains(&base(words[i - 1])))
    {
        i += 1;
    }
    let first = base(words.get(i)?);
    if EVALUATORS.contains(&first) {
        return Some((i + 1, true));
    }
    if !INTERPRETERS.contains(&first) {
        return None;
    }
    words[i + 1..]
        .iter()
        .position(|w| matches!(*w, "-c" | "-e" | "-ec" | "-ce" | "-xc" | "-lc"))
        .map(|k| (i + 1 + k + 1, false))
}

/// `text` split into shell words, quotes kept, whitespace inside quotes not splitting; and
/// whether the text ends inside a word (a template there belongs to the last word).
fn words_of(text: &str) -> (Vec<&str>, bool) {
    let mut words = Vec::new();
    let (mut single, mut double, mut start) = (false, false, None);
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if !single => escaped = true,
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            c if c.is_whitespace() && !single && !double => {
                if let Some(s) = start.take() {
                    words.push(&text[s..i]);
                }
                continue;
            }
            _ => {}
        }
        start.get_or_insert(i);
    }
    let open = start.is_some();
    if let Some(s) = start {
        words.push(&text[s..]);
    }
    (words, open)
}

/// A `run` template handed to an interpreter as code (`eval`, `trap`, `sh -c "… {{ x }}"`,
/// `… {{ x }} | sh`): the value would be parsed as code by that program, so it is refused
/// (`template-in-interpreter`). A heuristic over the simple command around each template:
/// a value that reaches an interpreter through a file or a variable is not seen.
pub fn interpreter(text: &str, t: &Template) -> Result<(), ShellError> {
    const SEPARATORS: &[char] = &[';', '&', '|', '\n', '(', ')', '`', '{', '}'];
    for r in t.references() {
        let at = r.offset.min(text.len());
        let before = &text[..at];
        let start = before.rfind(SEPARATORS).map_or(0, |i| i + 1);
        let (words, open) = words_of(&before[start..]);
        let index = if open { words.len() - 1 } else { words.len() };
        // Every argument of eval/trap/source is code; of `sh -c`, the one after `-c`.
        let in_code = code_word(&words).is_some_and(|(c, all)| index == c || all && index > c);
        let after = &text[at..];
        let line_end = after.find(['\n', ';']).unwrap_or(after.len());
        let piped = after[..line_end].split('|').skip(1).any(|stage| {
            let first = stage.split_whitespace().next().map(base);
            first.is_some_and(|f| INTERPRETERS.contains(&f) || EVALUATORS.contains(&f))
        });
        if in_code || piped {
            return Err(ShellError {
                offset: r.offset,
                code: "template-in-interpreter",
                message: "the template's value is handed to a program that runs it as code \
                          (`eval`, `trap`, `source`, `sh -c`, or a pipe into a shell)"
                    .into(),
                hint: "pass the value as data, never inside the code: an argument the script \
                       reads (`sh -c 'echo \"$1\"' _ {{ … }}`) or an environment variable"
                    .into(),
            });
        }
    }
    Ok(())
}

/// The `command:` form of [`interpreter`]: the index of the argument `argv` runs as code
/// (`[sh, -c, CODE, …]`, `[python3, -c, CODE]`), if any.
pub fn argv_code_index(argv: &[&str]) -> Option<usize> {
    code_word(argv).map(|(c, _)| c)
}
