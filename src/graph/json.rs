//! JSON: `{"schema_version":1,"workflow":…,"nodes":[{"id","type","level"}],"edges":[{"from",
//! "to","dataset","kind"}]}` — `kind` is `data` (with the dataset) or `order` (`dataset`
//! null). serde escapes every string.

use serde::Serialize;

use super::Graph;

#[derive(Serialize)]
struct Doc<'a> {
    schema_version: u32,
    workflow: &'a str,
    nodes: Vec<Node<'a>>,
    edges: Vec<Edge<'a>>,
}

#[derive(Serialize)]
struct Node<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    level: usize,
    /// `× N` / `× records of D` for a fanned-out node.
    #[serde(skip_serializing_if = "Option::is_none")]
    fanout: Option<&'a str>,
}

#[derive(Serialize)]
struct Edge<'a> {
    from: &'a str,
    to: &'a str,
    dataset: Option<&'a str>,
    kind: &'static str,
}

/// The JSON document of `graph`, pretty-printed, ending with a newline.
pub fn render(graph: &Graph) -> String {
    let doc = Doc {
        schema_version: 1,
        workflow: &graph.name,
        nodes: graph
            .nodes
            .iter()
            .map(|n| Node {
                id: &n.id,
                kind: &n.kind,
                level: n.level,
                fanout: n.fanout.as_deref(),
            })
            .collect(),
        edges: graph
            .edges
            .iter()
            .map(|e| Edge {
                from: &graph.nodes[e.from].id,
                to: &graph.nodes[e.to].id,
                dataset: e.dataset.as_deref(),
                kind: if e.dataset.is_some() { "data" } else { "order" },
            })
            .collect(),
    };
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}
