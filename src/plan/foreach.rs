//! Fan-out (SPEC §9): a node with `foreach` or `matrix` is a *template*, run as one
//! *instance* per item. Instances are plan nodes of their own (id `ID@i`), added to the plan
//! when the template is otherwise ready: a static list, a list var or a matrix is known when
//! the plan is built, the records of an input dataset only when its producer has finished.

use std::collections::BTreeMap;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::PlanNode;

/// The most instances one node fans out to unless `max_instances` or `--max-instances` says.
pub const DEFAULT_MAX_INSTANCES: usize = 10_000;

/// The most bytes of an item a record holds; a longer one is cut and carries its SHA-256.
pub const RECORD_ITEM_BYTES: usize = 1024;

/// One item of a fan-out.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// A scalar, or a record that is not a JSON object.
    Text(String),
    /// A map: its text (a record's line exactly as written, or a YAML map as compact JSON)
    /// and its fields (strings as they are, other values as JSON).
    Map {
        text: String,
        fields: BTreeMap<String, String>,
    },
}

impl Item {
    /// `{{ item }}`.
    pub fn text(&self) -> &str {
        match self {
            Item::Text(t) | Item::Map { text: t, .. } => t,
        }
    }

    /// `{{ item.K }}`.
    pub fn field(&self, key: &str) -> Option<&str> {
        match self {
            Item::Map { fields, .. } => fields.get(key).map(String::as_str),
            Item::Text(_) => None,
        }
    }

    /// A record of a dataset: a JSON object is a map item, anything else a string item.
    pub fn from_record(line: &str) -> Item {
        match serde_json::from_str::<serde_json::Value>(line) {
            Ok(serde_json::Value::Object(map)) => Item::Map {
                text: line.to_string(),
                fields: fields(&map),
            },
            _ => Item::Text(line.to_string()),
        }
    }

    /// An element of a YAML list: a scalar or a map; `None` for a list or null.
    pub fn from_yaml(value: &serde_json::Value) -> Option<Item> {
        match value {
            serde_json::Value::Object(map) => Some(Item::Map {
                text: serde_json::to_string(map).unwrap_or_default(),
                fields: fields(map),
            }),
            serde_json::Value::Array(_) | serde_json::Value::Null => None,
            other => Some(Item::Text(scalar_text(other))),
        }
    }

    /// Hex SHA-256 of the item's text.
    pub fn sha256(&self) -> String {
        crate::recipe::hex(&Sha256::digest(self.text().as_bytes()))
    }

    /// The item as a record holds it: at most [`RECORD_ITEM_BYTES`] (cut on a character
    /// boundary), and its SHA-256 when it was cut.
    pub fn for_record(&self) -> (String, Option<String>) {
        let text = self.text();
        if text.len() <= RECORD_ITEM_BYTES {
            return (text.to_string(), None);
        }
        let mut end = RECORD_ITEM_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        (text[..end].to_string(), Some(self.sha256()))
    }
}

fn fields(map: &serde_json::Map<String, serde_json::Value>) -> BTreeMap<String, String> {
    map.iter()
        .map(|(k, v)| (k.clone(), scalar_text(v)))
        .collect()
}

/// A JSON value as template text: a string as it is, anything else as JSON.
pub fn scalar_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Where a fan-out's items come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A YAML list, or a list var (`var` names it).
    Items {
        items: Vec<Item>,
        var: Option<String>,
    },
    /// `matrix`: NAME → values, in recipe order.
    Matrix(Vec<(String, Vec<String>)>),
    /// `"{{ inputs.D }}"`: one item per record of D, known at run time.
    Records(String),
}

/// A node's `foreach` or `matrix`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct FanOut {
    pub source: Source,
    /// `foreach_concurrency`.
    pub concurrency: Option<usize>,
    /// `max_instances` (or `--max-instances`, or [`DEFAULT_MAX_INSTANCES`]).
    pub max_instances: usize,
}

/// One instance of a static fan-out before it is a plan node: its item (`foreach`) or its
/// matrix values (`matrix`).
pub type StaticInstance = (Option<Item>, Vec<(String, String)>);

/// What one instance is: its template, place and item.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// The template's id (`scan` for `scan@3`).
    pub template: String,
    /// The template's index in the plan.
    pub template_index: usize,
    pub index: usize,
    pub item: Option<Item>,
    /// `{{ matrix.NAME }}` values.
    pub matrix: Vec<(String, String)>,
    /// The dataset whose records are the items (left out of the instance's cache key: its
    /// item is its part of it).
    pub over: Option<String>,
}

impl Instance {
    /// The text that identifies the instance's work for caching and audit: the item, or the
    /// matrix values.
    pub fn identity(&self) -> String {
        match &self.item {
            Some(item) => item.text().to_string(),
            None => self
                .matrix
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    /// Hex SHA-256 of [`Instance::identity`].
    pub fn item_sha256(&self) -> String {
        crate::recipe::hex(&Sha256::digest(self.identity().as_bytes()))
    }
}

impl FanOut {
    /// The instances of a static fan-out (item, matrix values), in order; `None` when they
    /// are known only at run time.
    pub fn static_instances(&self) -> Option<Vec<StaticInstance>> {
        match &self.source {
            Source::Items { items, .. } => Some(
                items
                    .iter()
                    .map(|i| (Some(i.clone()), Vec::new()))
                    .collect(),
            ),
            Source::Matrix(lists) => Some(
                product(lists)
                    .into_iter()
                    .map(|values| (None, values))
                    .collect(),
            ),
            Source::Records(_) => None,
        }
    }

    /// How many instances a static fan-out has, without building them.
    pub fn static_len(&self) -> Option<usize> {
        match &self.source {
            Source::Items { items, .. } => Some(items.len()),
            Source::Matrix(lists) => Some(
                lists
                    .iter()
                    .map(|(_, v)| v.len())
                    .try_fold(1usize, usize::checked_mul)
                    .unwrap_or(usize::MAX),
            ),
            Source::Records(_) => None,
        }
    }

    /// `× N` or `× records of D`, for `graph` and `--dry-run`.
    pub fn label(&self) -> String {
        match (&self.source, self.static_len()) {
            (Source::Records(d), _) => format!("× records of {d}"),
            (_, Some(n)) => format!("× {n}"),
            (_, None) => "×".into(),
        }
    }
}

/// The cartesian product of `lists`, the last varying fastest.
pub fn product(lists: &[(String, Vec<String>)]) -> Vec<Vec<(String, String)>> {
    let mut out: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for (name, values) in lists {
        let mut next = Vec::with_capacity(out.len() * values.len());
        for prefix in &out {
            for v in values {
                let mut row = prefix.clone();
                row.push((name.clone(), v.clone()));
                next.push(row);
            }
        }
        out = next;
    }
    out
}

/// `ID@i`.
pub fn instance_id(template: &str, index: usize) -> String {
    format!("{template}@{index}")
}

/// The template part of a node or instance id (`scan` for `scan@3` and for `scan`).
pub fn template_id(id: &str) -> &str {
    id.split_once('@').map_or(id, |(t, _)| t)
}

/// Whether `id` is a node id or an instance id `ID@i` (a record's id, safe as a path part).
pub fn is_valid_record_id(id: &str) -> bool {
    match id.split_once('@') {
        Some((t, i)) => {
            super::is_valid_name(t) && !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit())
        }
        None => super::is_valid_name(id),
    }
}

/// `--var X=a,b\,c` for a list var: split on commas, `\,` a literal comma.
pub fn split_list(text: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut cur = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&',') => {
                cur.push(',');
                chars.next();
            }
            ',' => items.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    items.push(cur);
    if items.len() == 1 && items[0].is_empty() {
        return Vec::new();
    }
    items
}

/// Instance `index` of `template` (at `template_index` in the plan): the template's
/// definition under its own id, depending on nothing (the template's dependencies are done).
pub fn instance_node(
    template: &PlanNode,
    template_index: usize,
    index: usize,
    item: Option<Item>,
    matrix: Vec<(String, String)>,
) -> PlanNode {
    let over = match template.fanout.as_deref().map(|f| &f.source) {
        Some(Source::Records(d)) => Some(d.clone()),
        _ => None,
    };
    let mut node = template.clone();
    node.id = instance_id(&template.id, index);
    node.deps = Vec::new();
    node.fanout = None;
    node.instance = Some(Arc::new(Instance {
        template: template.id.clone(),
        template_index,
        index,
        item,
        matrix,
        over,
    }));
    node
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_list_vars_on_unescaped_commas() {
        assert_eq!(split_list("a,b,c"), ["a", "b", "c"]);
        assert_eq!(split_list(r"a\,b,c"), ["a,b", "c"]);
        assert_eq!(split_list("a"), ["a"]);
        assert!(split_list("").is_empty());
    }

    #[test]
    fn matrix_product_last_key_fastest() {
        let lists = vec![
            ("os".to_string(), vec!["l".to_string(), "m".to_string()]),
            ("v".to_string(), vec!["1".into(), "2".into(), "3".into()]),
        ];
        let p = product(&lists);
        assert_eq!(p.len(), 6);
        assert_eq!(p[1], [("os".into(), "l".into()), ("v".into(), "2".into())]);
        assert_eq!(p[3][0].1, "m");
    }

    #[test]
    fn records_are_map_or_string_items() {
        let m = Item::from_record(r#"{"host": "a", "port": 80}"#);
        assert_eq!(m.text(), r#"{"host": "a", "port": 80}"#);
        assert_eq!(m.field("port"), Some("80"));
        assert_eq!(Item::from_record("[1]"), Item::Text("[1]".into()));
        assert_eq!(
            Item::from_record("a; rm -rf /"),
            Item::Text("a; rm -rf /".into())
        );
        let long = Item::Text("é".repeat(600));
        let (cut, sha) = long.for_record();
        assert!(cut.len() <= RECORD_ITEM_BYTES && sha.is_some());
        assert_eq!(template_id("scan@3"), "scan");
    }
}
