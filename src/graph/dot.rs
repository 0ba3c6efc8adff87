//! Graphviz DOT: left to right, rounded boxes (`id` over `type`), data edges labelled with
//! their dataset, order edges dashed. Every string is a quoted DOT string: `\` and `"` are
//! escaped, so `\N`-style label escapes and HTML labels cannot be injected.

use std::fmt::Write as _;

use super::{Graph, one_line};

/// The DOT text of `graph`.
pub fn render(graph: &Graph) -> String {
    let mut out = String::from("digraph secflow {\n");
    let _ = writeln!(
        out,
        "  graph [label={}, labelloc=t, rankdir=LR, fontname=\"Helvetica\"];",
        quote(&graph.name)
    );
    out.push_str("  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n");
    out.push_str("  edge [fontname=\"Helvetica\", fontsize=10];\n");
    for node in &graph.nodes {
        let _ = writeln!(
            out,
            "  {} [label={}];",
            quote(&node.id),
            quote_label(&[&node.id, &node.kind_label()])
        );
    }
    for edge in &graph.edges {
        let from = quote(&graph.nodes[edge.from].id);
        let to = quote(&graph.nodes[edge.to].id);
        match &edge.dataset {
            Some(d) => {
                let _ = writeln!(out, "  {from} -> {to} [label={}];", quote(d));
            }
            None => {
                let _ = writeln!(out, "  {from} -> {to} [style=dashed];");
            }
        }
    }
    out.push_str("}\n");
    out
}

/// A quoted DOT string whose label reading is `text` itself.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    push_escaped(&mut out, text);
    out.push('"');
    out
}

/// A quoted label of several lines.
fn quote_label(lines: &[&str]) -> String {
    let mut out = String::from("\"");
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            out.push_str("\\n");
        }
        push_escaped(&mut out, line);
    }
    out.push('"');
    out
}

fn push_escaped(out: &mut String, text: &str) {
    for c in one_line(text).chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_backslashes_and_newlines_are_escaped() {
        assert_eq!(quote("a\"b\\N\nc"), "\"a\\\"b\\\\N c\"");
    }
}
