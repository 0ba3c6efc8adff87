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
            out.is_dir.push(e.value.dir);
            out.names.push(S::new(e.value.name, e.referenced));
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
        })
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Entry, E> {
        self.visit_str(&v.to_string())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Entry, E> {
        self.visit_str(&v.to_string())
    }

    /// A plain `n`, `no`, `off`, `y`… is a YAML 1.1 boolean: its spelling is gone by now, so
    /// the entry is refused with a hint instead of renamed to `true`/`false`.
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Entry, E> {
        Err(E::custom(format!(
            "this `outputs` entry reads as the boolean `{v}`; quote a dataset name such as \
             `n`, `no` or `off` (`outputs: [\"n\"]`)"
        )))
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
        })
    }
}

/// One `outputs` entry: a dataset name, or a map with options.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum OutputEntry {
    /// A dataset: a JSON-lines file, one record per non-empty line.
    Name(String),
    /// A declared output with options.
    Declared(OutputDecl),
}

/// `{ name: site, dir: true }`.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct OutputDecl {
    /// Dataset name.
    pub name: String,
    /// A directory output: `{{ outputs.NAME }}` is an empty private directory promoted whole
    /// on success; its record count is the number of regular files in it.
    #[serde(default)]
    pub dir: bool,
}
