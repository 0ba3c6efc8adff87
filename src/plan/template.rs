//! `{{ ns.key }}` templates: parsing, reference checking and rendering.
//!
//! Namespaces: `inputs`, `outputs` (dataset file paths), `vars`, `env` (the node's resolved
//! environment), `config`, and `run.id`. `\{{` is a literal `{{`. Parsing never fails silently:
//! an unclosed `{{` or an unknown namespace is an error with the byte offset where it starts.

use std::fmt;

/// A namespace a template may reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Namespace {
    Inputs,
    Outputs,
    Vars,
    Env,
    Config,
    Run,
    /// `{{ item }}` (key empty) or `{{ item.K }}`: the fan-out item (SPEC §9).
    Item,
    /// `{{ index }}` (key empty): the instance's 0-based index.
    Index,
    /// `{{ matrix.NAME }}`.
    Matrix,
}

impl Namespace {
    pub const ALL: [&'static str; 6] = ["inputs", "outputs", "vars", "env", "config", "run"];

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "inputs" => Namespace::Inputs,
            "outputs" => Namespace::Outputs,
            "vars" => Namespace::Vars,
            "env" => Namespace::Env,
            "config" => Namespace::Config,
            "run" => Namespace::Run,
            "item" => Namespace::Item,
            "matrix" => Namespace::Matrix,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Namespace::Item => "item",
            Namespace::Index => "index",
            Namespace::Matrix => "matrix",
            other => Namespace::ALL[other as usize],
        }
    }
}

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Literal(String),
    Ref(Reference),
}

/// A `{{ ns.key }}` reference and where it starts in the template text (byte offset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub namespace: Namespace,
    pub key: String,
    pub offset: usize,
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            return f.write_str(self.namespace.as_str());
        }
        write!(f, "{}.{}", self.namespace.as_str(), self.key)
    }
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Template {
    pub segments: Vec<Segment>,
}

/// A template that cannot be parsed, with the byte offset of the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub offset: usize,
    pub message: String,
    pub hint: Option<String>,
}

impl Template {
    /// Parses `text`; the only escape is `\{{` for a literal `{{`.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut segments = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        let mut at = 0;
        while let Some(i) = rest.find("{{") {
            if rest[..i].ends_with('\\') {
                literal.push_str(&rest[..i - 1]);
                literal.push_str("{{");
                rest = &rest[i + 2..];
                at += i + 2;
                continue;
            }
            literal.push_str(&rest[..i]);
            let start = at + i;
            let after = &rest[i + 2..];
            let Some(end) = after.find("}}") else {
                return Err(TemplateError {
                    offset: start,
                    message: "unclosed `{{` in template".into(),
                    hint: Some("close it with `}}`, or write `\\{{` for a literal `{{`".into()),
                });
            };
            let inner = after[..end].trim();
            let reference = parse_reference(inner, start)?;
            if !literal.is_empty() {
                segments.push(Segment::Literal(std::mem::take(&mut literal)));
            }
            segments.push(Segment::Ref(reference));
            let consumed = i + 2 + end + 2;
            rest = &rest[consumed..];
            at += consumed;
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            segments.push(Segment::Literal(literal));
        }
        // Plans keep a template per argument of every node, mostly of one segment: no
        // room for the four a first `push` reserves.
        segments.shrink_to_fit();
        Ok(Template { segments })
    }

    /// The references in order.
    pub fn references(&self) -> impl Iterator<Item = &Reference> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Ref(r) => Some(r),
            Segment::Literal(_) => None,
        })
    }

    /// Renders with `lookup` supplying each reference's value and `quote` applied to it.
    pub fn render<E>(
        &self,
        mut lookup: impl FnMut(&Reference) -> Result<String, E>,
        quote: impl Fn(&str) -> String,
    ) -> Result<String, E> {
        let mut out = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => out.push_str(text),
                Segment::Ref(r) => out.push_str(&quote(&lookup(r)?)),
            }
        }
        Ok(out)
    }
}

fn parse_reference(inner: &str, offset: usize) -> Result<Reference, TemplateError> {
    let bad = |message: String, hint: Option<String>| TemplateError {
        offset,
        message,
        hint,
    };
    // Fan-out references without a key (SPEC §9).
    match inner {
        "item" | "index" => {
            return Ok(Reference {
                namespace: if inner == "item" {
                    Namespace::Item
                } else {
                    Namespace::Index
                },
                key: String::new(),
                offset,
            });
        }
        _ => {}
    }
    let Some((ns, key)) = inner.split_once('.') else {
        return Err(bad(
            format!("template `{{{{ {inner} }}}}` names no namespace"),
            Some(format!(
                "write `{{{{ NAMESPACE.NAME }}}}` with NAMESPACE one of: {}",
                Namespace::ALL.join(", ")
            )),
        ));
    };
    let Some(namespace) = Namespace::parse(ns.trim()) else {
        let hint = match crate::diag::did_you_mean(ns.trim(), Namespace::ALL) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!("namespaces are: {}", Namespace::ALL.join(", ")),
        };
        return Err(bad(
            format!("unknown template namespace `{}`", ns.trim()),
            Some(hint),
        ));
    };
    let key = key.trim();
    let valid = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !valid {
        return Err(bad(
            format!("bad template reference `{{{{ {inner} }}}}`"),
            None,
        ));
    }
    Ok(Reference {
        namespace,
        key: key.to_string(),
        offset,
    })
}

/// Quotes a value for `sh -c` so it stays one word, whatever it holds.
pub fn shell_quote(value: &str) -> String {
    let safe = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c));
    if safe {
        value.to_string()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_references_and_escapes() {
        let t =
            Template::parse(r"scan --in {{ inputs.urls }} -t '\{{BaseURL}}' {{vars.x}}").unwrap();
        let refs: Vec<String> = t.references().map(|r| r.to_string()).collect();
        assert_eq!(refs, ["inputs.urls", "vars.x"]);
        let out = t
            .render::<()>(|r| Ok(format!("<{}>", r.key)), |v| v.to_string())
            .unwrap();
        assert_eq!(out, "scan --in <urls> -t '{{BaseURL}}' <x>");
    }

    #[test]
    fn reports_unclosed_and_unknown_namespace() {
        assert_eq!(Template::parse("a {{ vars.x").unwrap_err().offset, 2);
        let e = Template::parse("{{ input.x }}").unwrap_err();
        assert_eq!(e.hint.as_deref(), Some("did you mean `inputs`?"));
    }

    #[test]
    fn shell_quote_keeps_one_word() {
        assert_eq!(shell_quote("/tmp/a.jsonl"), "/tmp/a.jsonl");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
