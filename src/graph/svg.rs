//! A self-contained SVG drawn without Graphviz: a simple layered layout. Each topological
//! level is a column (left to right), its nodes stacked in plan order and centred; each node a
//! rounded box with its id over its type, sized from the text (monospace, so the width
//! estimate of 0.6 em per character holds). Edges are cubic curves from the right side of the
//! producer to the left side of the consumer, ending in an arrowhead; data edges carry their
//! dataset, order edges are dashed. An edge that skips levels may cross boxes on its way:
//! the layout places nodes, it does not route edges. Every text is XML-escaped.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::{Graph, one_line};

const FONT_PX: f64 = 12.0;
/// Advance of one monospace character at `FONT_PX`.
const CHAR_W: f64 = FONT_PX * 0.6;
const LINE_H: f64 = 16.0;
const PAD_X: f64 = 12.0;
const NODE_H: f64 = 2.0 * LINE_H + 12.0;
const ROW_GAP: f64 = 24.0;
const MIN_COL_GAP: f64 = 90.0;
const MARGIN: f64 = 20.0;
/// Room for the title above the first row.
const TOP: f64 = 48.0;

struct Placed {
    x: f64,
    y: f64,
    w: f64,
}

fn text_width(text: &str) -> f64 {
    text.chars().count() as f64 * CHAR_W
}

/// Positions of every node: columns by level, rows centred in each column.
fn layout(graph: &Graph) -> (Vec<Placed>, f64, f64) {
    let node_w = |i: usize| {
        let n = &graph.nodes[i];
        text_width(&n.id).max(text_width(&n.kind_label())) + 2.0 * PAD_X
    };
    let label_w = merged_edges(graph)
        .iter()
        .map(|(_, _, datasets)| text_width(&datasets.join(", ")))
        .fold(0.0, f64::max);
    let col_gap = MIN_COL_GAP.max(label_w + 40.0);
    let tallest = graph.levels.iter().map(Vec::len).max().unwrap_or(0) as f64;
    let height = tallest * NODE_H + (tallest - 1.0).max(0.0) * ROW_GAP;
    let mut placed: Vec<Placed> = (0..graph.nodes.len())
        .map(|_| Placed {
            x: 0.0,
            y: 0.0,
            w: 0.0,
        })
        .collect();
    let mut x = MARGIN;
    for level in &graph.levels {
        let col_w = level.iter().map(|&i| node_w(i)).fold(0.0, f64::max);
        let n = level.len() as f64;
        let col_h = n * NODE_H + (n - 1.0).max(0.0) * ROW_GAP;
        let mut y = TOP + (height - col_h) / 2.0;
        for &i in level {
            if let Some(p) = placed.get_mut(i) {
                *p = Placed { x, y, w: col_w };
            }
            y += NODE_H + ROW_GAP;
        }
        x += col_w + col_gap;
    }
    let width = (x - col_gap + MARGIN).max(text_width(&graph.name) + 2.0 * MARGIN);
    (placed, width, TOP + height + MARGIN)
}

/// The SVG document of `graph`.
pub fn render(graph: &Graph) -> String {
    let (placed, width, height) = layout(graph);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"ui-monospace, Menlo, Consolas, \
         monospace\" font-size=\"{FONT_PX}\">"
    );
    let _ = writeln!(out, "<title>{}</title>", xml(&graph.name));
    out.push_str(
        "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" \
         markerWidth=\"8\" markerHeight=\"8\" orient=\"auto-start-reverse\">\
         <path d=\"M0,0 L10,5 L0,10 z\" fill=\"#555\"/></marker></defs>\n",
    );
    out.push_str("<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n");
    let _ = writeln!(
        out,
        "<text x=\"{MARGIN}\" y=\"28\" font-size=\"14\" font-weight=\"bold\">{}</text>",
        xml(&graph.name)
    );
    let edges = merged_edges(graph);
    let (mut outs, mut ins) = (vec![0usize; placed.len()], vec![0usize; placed.len()]);
    for (from, to, _) in &edges {
        outs[*from] += 1;
        ins[*to] += 1;
    }
    for (from, to, datasets) in edges {
        let (Some(a), Some(b)) = (placed.get(from), placed.get(to)) else {
            continue;
        };
        let (x1, y1) = (a.x + a.w, a.y + NODE_H / 2.0);
        let (x2, y2) = (b.x, b.y + NODE_H / 2.0);
        let dx = ((x2 - x1) / 2.0).max(30.0);
        let dash = if datasets.is_empty() {
            " stroke-dasharray=\"6 4\""
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "<path class=\"edge\" d=\"M{x1:.1},{y1:.1} C{:.1},{y1:.1} {:.1},{y2:.1} {x2:.1},{y2:.1}\" \
             fill=\"none\" stroke=\"#555\" stroke-width=\"1.2\"{dash} marker-end=\"url(#arrow)\"/>",
            x1 + dx,
            x2 - dx
        );
        if !datasets.is_empty() {
            // Labels of a fan-out sit at their consumers, those of a fan-in at their
            // producers, where the curves are apart; others mid-way.
            let (x, y, anchor) = match (outs[from] > 1, ins[to] > 1) {
                (true, false) => (x2 - 8.0, y2 - 5.0, "end"),
                (false, true) => (x1 + 6.0, y1 - 5.0, "start"),
                _ => ((x1 + x2) / 2.0, (y1 + y2) / 2.0 - 4.0, "middle"),
            };
            let _ = writeln!(
                out,
                "<text class=\"dataset\" x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"{anchor}\" \
                 font-size=\"11\" fill=\"#333\" stroke=\"#fff\" stroke-width=\"3\" \
                 paint-order=\"stroke\">{}</text>",
                xml(&datasets.join(", "))
            );
        }
    }
    for (node, p) in graph.nodes.iter().zip(&placed) {
        let cx = p.x + p.w / 2.0;
        let _ = writeln!(
            out,
            "<g class=\"node\"><title>{id}</title>\
             <rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{NODE_H}\" rx=\"6\" \
             fill=\"#eef3fb\" stroke=\"#3b5b92\"/>\
             <text x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-weight=\"bold\">{id}</text>\
             <text x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#555\">{kind}</text></g>",
            p.x,
            p.y,
            p.w,
            p.y + 6.0 + LINE_H - 3.0,
            p.y + 6.0 + 2.0 * LINE_H - 3.0,
            id = xml(&node.id),
            kind = xml(&node.kind_label()),
        );
    }
    out.push_str("</svg>\n");
    out
}

/// One curve per (producer, consumer) pair, with every dataset it carries (none: an order
/// edge), so that parallel edges do not draw over each other.
fn merged_edges(graph: &Graph) -> Vec<(usize, usize, Vec<&str>)> {
    let mut merged: Vec<(usize, usize, Vec<&str>)> = Vec::new();
    let mut index: HashMap<(usize, usize), usize> = HashMap::new();
    for edge in &graph.edges {
        let i = *index.entry((edge.from, edge.to)).or_insert_with(|| {
            merged.push((edge.from, edge.to, Vec::new()));
            merged.len() - 1
        });
        if let Some(d) = &edge.dataset {
            merged[i].2.push(d);
        }
    }
    merged
}

/// `text` escaped for XML text and attribute values; characters XML 1.0 forbids (controls,
/// U+FFFE, U+FFFF) become spaces.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in one_line(text).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\u{FFFE}' | '\u{FFFF}' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escapes_markup_and_cdata_end() {
        assert_eq!(
            xml("<script>\"a\"&'b']]>\u{FFFF}\n"),
            "&lt;script&gt;&quot;a&quot;&amp;&apos;b&apos;]]&gt;  "
        );
    }
}
