//! Reading `run.json` node by node: the [`RunRecord`] type, streamed.
//!
//! A 100 000-node run.json is ~50 MB; parsed whole it is several times that in memory.
//! [`read_run_nodes`] parses from a buffered reader and hands each [`NodeRecord`] to the
//! caller as soon as it is parsed, so a reader that keeps only what it needs of each node
//! (analysis) never holds the file nor the node list. The rest of the record (everything but
//! `nodes`) is returned as a [`RunRecord`] whose `nodes` is empty. Same type, same rules as
//! every other reader: unknown fields ignored, a missing required field an error.

use std::fmt;
use std::io::{BufReader, Read};
use std::path::Path;

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};

use super::{NodeRecord, RunRecord};

/// Why run.json could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RunReadError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("not a run record: {0}")]
    Parse(String),
}

/// Reads `path` (a run.json, opened with [`super::open::open_regular`]), calling `each` with
/// every node in file order; returns the record without its nodes.
pub fn read_run_nodes(
    path: &Path,
    each: impl FnMut(NodeRecord),
) -> Result<RunRecord, RunReadError> {
    let file = super::open::open_regular(path)?;
    read_run_nodes_from(BufReader::with_capacity(1 << 16, file), each)
}

/// [`read_run_nodes`] over any reader.
pub fn read_run_nodes_from<R: Read>(
    reader: R,
    mut each: impl FnMut(NodeRecord),
) -> Result<RunRecord, RunReadError> {
    let mut de = serde_json::Deserializer::from_reader(reader);
    let head = HeadSeed { each: &mut each }
        .deserialize(&mut de)
        .and_then(|h| de.end().map(|()| h))
        .map_err(|e| match e.io_error_kind() {
            Some(kind) => RunReadError::Io(std::io::Error::new(kind, e.to_string())),
            None => RunReadError::Parse(e.to_string()),
        })?;
    serde_json::from_value(serde_json::Value::Object(head))
        .map_err(|e| RunReadError::Parse(e.to_string()))
}

/// The top-level object: `nodes` streamed to the callback (and recorded as `[]`), every other
/// key kept as a JSON value (small) to be typed as a [`RunRecord`] at the end.
struct HeadSeed<'f, F> {
    each: &'f mut F,
}

impl<'de, F: FnMut(NodeRecord)> DeserializeSeed<'de> for HeadSeed<'_, F> {
    type Value = serde_json::Map<String, serde_json::Value>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, F: FnMut(NodeRecord)> Visitor<'de> for HeadSeed<'_, F> {
    type Value = serde_json::Map<String, serde_json::Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a run record object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut head = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if key == "nodes" {
                map.next_value_seed(NodesSeed {
                    each: &mut *self.each,
                })?;
                head.insert(key, serde_json::Value::Array(Vec::new()));
            } else {
                let value = map.next_value::<serde_json::Value>()?;
                head.insert(key, value);
            }
        }
        Ok(head)
    }
}

struct NodesSeed<'f, F> {
    each: &'f mut F,
}

impl<'de, F: FnMut(NodeRecord)> DeserializeSeed<'de> for NodesSeed<'_, F> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, F: FnMut(NodeRecord)> Visitor<'de> for NodesSeed<'_, F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of node records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(node) = seq.next_element::<NodeRecord>()? {
            (self.each)(node);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUN: &str = include_str!("../../fixtures/runs/01JD0000000000000000000002/run.json");

    #[test]
    fn streamed_equals_parsed_whole() {
        let whole: RunRecord = serde_json::from_str(RUN).unwrap();
        let mut nodes = Vec::new();
        let mut head = read_run_nodes_from(RUN.as_bytes(), |n| nodes.push(n)).unwrap();
        assert!(head.nodes.is_empty());
        head.nodes = nodes;
        assert_eq!(head, whole);
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let e = read_run_nodes_from(&b"{\"nodes\":[{\"node_id\":1}]}"[..], |_| {}).unwrap_err();
        assert!(
            e.to_string().starts_with("not a run record: invalid type"),
            "{e}"
        );
        let e = read_run_nodes_from(&b"{\"nodes\":[]}"[..], |_| {}).unwrap_err();
        assert!(e.to_string().contains("missing field"), "{e}");
        assert!(read_run_nodes_from(&b"{} x"[..], |_| {}).is_err());
    }
}
