//! `secflow graph`: a validated plan's DAG as DOT, Mermaid, JSON or SVG.
//!
//! [`Graph::from_plan`] reads nodes (id, type, level) and edges from a [`Plan`]; one file per
//! format renders it ([`dot`], [`mermaid`], [`json`], [`svg`]). A data edge runs from the
//! producer of a dataset to each consumer and is labelled with the dataset's name; a
//! dependency that carries no dataset (`depends_on`) is an order edge, drawn dashed. A
//! `depends_on` that duplicates a data edge is drawn once, as the data edge (the plan keeps
//! one dependency per pair). A fanned-out node (SPEC §9) is marked `× N` (a static list or
//! matrix) or `× records of D` (known at run time) beside its type.
//!
//! Every text a recipe controls (workflow name, types, datasets, ids) is escaped for the
//! format it lands in; characters unsafe for a terminal ([`crate::escape::is_unsafe`]:
//! controls, newlines, bidi overrides) become spaces first, so a name cannot add lines or
//! statements to the output. Renderers are pure and never panic.

pub mod dot;
pub mod json;
pub mod mermaid;
pub mod svg;

use std::collections::HashMap;

use clap::ValueEnum;

use crate::plan::Plan;

/// The formats `secflow graph --format` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    /// Graphviz DOT (`dot -Tsvg`).
    Dot,
    /// A Mermaid flowchart (Markdown on GitHub, GitLab, …).
    Mermaid,
    /// `{"schema_version":1,"nodes":[…],"edges":[…]}`.
    Json,
    /// A self-contained SVG laid out by secflow (no Graphviz needed).
    Svg,
}

/// One node of the drawing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub id: String,
    /// The node `type` (`exec` or a plugin type).
    pub kind: String,
    /// Depth in the DAG (0: no dependencies).
    pub level: usize,
    /// `× N` or `× records of D` for a `foreach`/`matrix` node.
    pub fanout: Option<String>,
}

impl Node {
    /// The type, with the fan-out mark when there is one.
    pub fn kind_label(&self) -> String {
        match &self.fanout {
            Some(f) => format!("{} {f}", self.kind),
            None => self.kind.clone(),
        }
    }
}

/// One edge: `from` and `to` index [`Graph::nodes`]; `dataset` is `None` for an order edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    pub dataset: Option<String>,
}

/// The DAG of a plan, nodes in the plan's (topological) order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Graph {
    pub name: String,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
    /// `levels[k]`: indices of the nodes at depth `k`, in plan order.
    pub levels: Vec<Vec<usize>>,
}

impl Graph {
    /// Nodes and edges of `plan`: data edges for each input (in input order), then an order
    /// edge for each dependency that no data edge already stands for.
    pub fn from_plan(plan: &Plan) -> Graph {
        let producer: HashMap<&str, usize> = plan
            .nodes
            .iter()
            .enumerate()
            .flat_map(|(i, n)| n.outputs.iter().map(move |o| (o.as_str(), i)))
            .collect();
        let mut edges = Vec::new();
        for (to, node) in plan.nodes.iter().enumerate() {
            let first = edges.len();
            for input in &node.inputs {
                if let Some(&from) = producer.get(input.as_str()) {
                    edges.push(Edge {
                        from,
                        to,
                        dataset: Some(input.clone()),
                    });
                }
            }
            for &from in &node.deps {
                if !edges[first..].iter().any(|e| e.from == from) {
                    edges.push(Edge {
                        from,
                        to,
                        dataset: None,
                    });
                }
            }
        }
        Graph {
            name: plan.name.clone(),
            nodes: plan
                .nodes
                .iter()
                .map(|n| Node {
                    id: n.id.clone(),
                    kind: n.kind.clone(),
                    level: n.level,
                    fanout: n.fanout.as_ref().map(|f| f.label()),
                })
                .collect(),
            edges,
            levels: plan.levels.clone(),
        }
    }

    /// The drawing in `format`.
    pub fn render(&self, format: GraphFormat) -> String {
        match format {
            GraphFormat::Dot => dot::render(self),
            GraphFormat::Mermaid => mermaid::render(self),
            GraphFormat::Json => json::render(self),
            GraphFormat::Svg => svg::render(self),
        }
    }
}

/// `text` with every character unsafe for a terminal (controls, newlines, bidi marks)
/// turned into a space: no label can start a new line or statement of the output.
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if crate::escape::is_unsafe(c) { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_blanks_controls_and_bidi() {
        assert_eq!(one_line("a\nb\r\u{1b}[2J\u{202E}c"), "a b  [2J c");
    }
}
