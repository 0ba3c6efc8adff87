//! Mermaid flowchart, left to right. Node ids are `n0`, `n1`, … (recipe ids may hold `.` and
//! `-`, which Mermaid reads as syntax); labels are quoted strings in which `"`, `<`, `>`,
//! `&`, `#`, `|` and backticks are Mermaid entity codes (`#quot;`, `#lt;`, …), so a name
//! can neither close its string nor reach the page as HTML or a Markdown string.

use std::fmt::Write as _;

use super::{Graph, one_line};

/// The Mermaid text of `graph`.
pub fn render(graph: &Graph) -> String {
    let mut out = String::from("flowchart LR\n");
    let _ = writeln!(out, "  %% workflow: {}", label(&graph.name));
    for (i, node) in graph.nodes.iter().enumerate() {
        let _ = writeln!(
            out,
            "  n{i}[\"{}<br/>{}\"]",
            label(&node.id),
            label(&node.kind_label())
        );
    }
    for edge in &graph.edges {
        let (from, to) = (edge.from, edge.to);
        match &edge.dataset {
            Some(d) => {
                let _ = writeln!(out, "  n{from} -->|\"{}\"| n{to}", label(d));
            }
            None => {
                let _ = writeln!(out, "  n{from} -.-> n{to}");
            }
        }
    }
    out
}

/// `text` for the inside of a Mermaid quoted string.
fn label(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in one_line(text).chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '&' => out.push_str("#amp;"),
            '#' => out.push_str("#35;"),
            '|' => out.push_str("#124;"),
            '`' => out.push_str("#96;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_codes_replace_syntax() {
        assert_eq!(
            label("a\"<b>&#|`\nc"),
            "a#quot;#lt;b#gt;#amp;#35;#124;#96; c"
        );
    }
}
