//! A node's `outputs` list: each entry a dataset name (a JSON-lines file) or
//! `{ name: N, dir: true }` (a directory output, SPEC §9).
//!
//! Read into [`Outputs`], which dereferences to the located names so every check written for
//! plain names keeps working, and carries the names declared `dir: true` beside them.

use std::fmt;

use schemars::JsonSchema;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::types::S;

/// The declared outputs of a node, in order, with the names that are directories.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outputs {
    pub names: Vec<S<String>>,
    /// Parallel to `names`: whether the entry is declared `dir: true`.
    pub is_dir: Vec<bool>,
}

impl std::ops::Deref for Outputs {
    type Target = Vec<S<String>>;
    fn deref(&self) -> &Self::Target {
        &self.names
    }
}

impl<'a> IntoIterator for &'a Outputs {
    type Item = &'a S<String>;
    type IntoIter = std::slice::Iter<'a, S<String>>;
    fn into_iter(self) -> Self::IntoIter {
        self.names.iter()
    }
}

impl Outputs {
    /// The entries declared `dir: true`, with their places.
    pub fn dirs(&self) -> impl Iterator<Item = &S<String>> {
        self.names
            .iter()
            .zip(&self.is_dir)
            .filter(|(_, d)| **d)
            .map(|(n, _)| n)
    }
}

impl<'de> Deserialize<'de> for Outputs {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let entries = Vec::<S<Entry>>::deserialize(deserializer)?;
        let mut out = Outputs {
            names: Vec::with_capacity(entries.len()),
            is_dir: Vec::with_capacity(entries.len()),
        };
        for e in entries {
            let name = match &e.value.inferred {
                Some(_) => spelling(e.referenced).unwrap_or(e.value.name),
                None => e.value.name,
            };
            out.is_dir.push(e.value.dir);
            out.names.push(S::new(name, e.referenced));
        }
        Ok(out)
    }
}

impl Serialize for Outputs {
    fn serialize<Ser: serde::Serializer>(&self, serializer: Ser) -> Result<Ser::Ok, Ser::Error> {
        self.names.serialize(serializer)
    }
}

/// One entry as written: a string, or a map with `name` and `dir`.
struct Entry {
    name: String,
    dir: bool,
    /// Read as a YAML boolean or number (`y`, `off`, `007`): `name` is its spelling as found
    /// in the source text when that can be recovered, see [`spelling`].
    inferred: Option<String>,
}

impl Entry {
    fn inferred(text: String) -> Entry {
        Entry {
            name: text.clone(),
            dir: false,
            inferred: Some(text),
        }
    }
}

thread_local! {
    /// The text of the document being read, for [`spelling`].
    static SOURCE: std::cell::RefCell<Option<std::sync::Arc<str>>> =
        const { std::cell::RefCell::new(None) };
}

/// Runs `read` with `text` as the document whose scalars [`spelling`] recovers.
pub(super) fn with_source<T>(text: &str, read: impl FnOnce() -> T) -> T {
    let previous = SOURCE.with(|s| s.replace(Some(text.into())));
    let out = read();
    SOURCE.with(|s| *s.borrow_mut() = previous);
    out
}

/// The plain scalar written at `at` in the document being read: a name such as `y` or `off`
/// that YAML 1.1 reads as a boolean keeps its spelling (as it does for `inputs`, read as
/// text). `None` when the text there is not a plain name.
fn spelling(at: super::types::At) -> Option<String> {
    let (_, pos) = super::split_pos(crate::diag::Pos::from(at));
    let (line, column) = (
        usize::try_from(pos.line).ok()?,
        usize::try_from(pos.column).ok()?,
    );
    SOURCE.with(|s| {
        let text = s.borrow();
        let line = text.as_deref()?.lines().nth(line.checked_sub(1)?)?;
        let rest: String = line.chars().skip(column.checked_sub(1)?).collect();
        let token: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '+'))
            .collect();
        (!token.is_empty()).then_some(token)
    })
}

impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(EntryVisitor)
    }
}

struct EntryVisitor;

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = Entry;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a dataset name or a map `{ name: NAME, dir: true }`")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Entry, E> {
        Ok(Entry {
            name: v.to_string(),
            dir: false,
            inferred: None,
        })
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Entry, E> {
        Ok(Entry::inferred(v.to_string()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Entry, E> {
        Ok(Entry::inferred(v.to_string()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Entry, E> {
        Ok(Entry::inferred(v.to_string()))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Entry, E> {
        Ok(Entry::inferred(v.to_string()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entry, A::Error> {
        let mut name: Option<String> = None;
        let mut dir: Option<bool> = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "name" if name.is_none() => name = Some(map.next_value()?),
                "dir" if dir.is_none() => dir = Some(map.next_value()?),
                "name" | "dir" => return Err(de::Error::duplicate_field("name or dir")),
                other => return Err(de::Error::unknown_field(other, &["name", "dir"])),
            }
        }
        Ok(Entry {
            name: name.ok_or_else(|| de::Error::missing_field("name"))?,
            dir: dir.unwrap_or(false),
            inferred: None,
        })
    }
}

/// One `outputs` entry: a dataset name, or a map with options. Only the schema is built from
/// it (the recipe reads entries through [`Outputs`]); exported as the documented entry type.
#[derive(JsonSchema)]
#[serde(untagged)]
pub enum OutputEntry {
    /// A dataset: a JSON-lines file, one record per non-empty line.
    Name(String),
    /// A declared output with options.
    Declared(OutputDecl),
}

/// `{ name: site, dir: true }`.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutputDecl {
    /// Dataset name.
    pub name: String,
    /// A directory output: `{{ outputs.NAME }}` is an empty private directory promoted whole
    /// on success; its record count is the number of regular files in it.
    #[serde(default)]
    pub dir: bool,
}

#[cfg(test)]
mod tests {
    use crate::recipe::{Limits, Source, parse};

    fn outputs(yaml_list: &str) -> Result<Vec<(String, bool)>, String> {
        let text = format!(
            "version: \"1.0\"\nname: t\nnodes:\n  - id: a\n    run: \"true\"\n    outputs: {yaml_list}\n"
        );
        let source = Source {
            path: "t.yaml".into(),
            text,
            sha256: String::new(),
        };
        let raw = parse(&source, &Limits::default()).map_err(|d| d.message.clone())?;
        let o = &raw.nodes[0].outputs;
        Ok(o.names
            .iter()
            .zip(&o.is_dir)
            .map(|(n, d)| (n.value.clone(), *d))
            .collect())
    }

    #[test]
    fn names_keep_their_spelling_and_maps_declare_directories() {
        let got = outputs("[y, off, 007, \"n\", { name: site, dir: true }, { name: plain }]");
        let want = [
            ("y", false),
            ("off", false),
            ("007", false),
            ("n", false),
            ("site", true),
            ("plain", false),
        ];
        let want: Vec<(String, bool)> = want.iter().map(|(n, d)| (n.to_string(), *d)).collect();
        assert_eq!(got.unwrap(), want);
        let bad = outputs("[{ name: site, dir: true, depth: 3 }]").unwrap_err();
        assert!(bad.contains("unknown field `depth`"), "{bad}");
        let missing = outputs("[{ dir: true }]").unwrap_err();
        assert!(missing.contains("name"), "{missing}");
    }
}
