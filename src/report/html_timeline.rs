//! The HTML report's timeline: one lane per node, positioned in percent of the run's wall
//! time so it fits any viewport; a fanned-out template (`scan@0`, `scan@1`, …) is one lane
//! with every instance drawn on it, expanded to a lane per instance on a click. The lanes
//! scroll in a box with a sticky axis; a filter box hides lanes whose id does not match.
//! Readable at 1 000 nodes and more: nothing is left out, nothing grows past the box.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::html::{colour, esc};
use super::{fmt_bytes, fmt_ms};
use crate::analysis::{AnalysisReport, NodeReport};

/// The template a node id belongs to: the part before `@` of a fan-out instance id.
pub(crate) fn template_of(node_id: &str) -> &str {
    node_id.split_once('@').map_or(node_id, |(t, _)| t)
}

/// Nodes grouped by template, in the order each template first appears.
pub(crate) fn groups(r: &AnalysisReport) -> Vec<(&str, Vec<&NodeReport>)> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut out: Vec<(&str, Vec<&NodeReport>)> = Vec::new();
    for n in &r.nodes {
        let t = template_of(&n.node_id);
        let i = *index.entry(t).or_insert_with(|| {
            out.push((t, Vec::new()));
            out.len() - 1
        });
        out[i].1.push(n);
    }
    out
}

/// The CSS class suffix of a status (its colour, see [`status_style`]).
fn status_class(status: &str) -> &'static str {
    STATUSES
        .iter()
        .find(|s| **s == status)
        .copied()
        .unwrap_or("other")
}

const STATUSES: [&str; 8] = [
    "succeeded",
    "failed",
    "timed_out",
    "cancelled",
    "skipped",
    "cached",
    "running",
    "pending",
];

/// The timeline's status colours as CSS rules (`.s-failed{background:…}`).
pub(crate) fn status_style() -> String {
    let mut css = String::new();
    for s in STATUSES.iter().chain(["other"].iter()) {
        let _ = write!(css, ".s-{s}{{background:{}}}", colour(s));
    }
    css
}

fn pct(v: u64, wall: u64) -> f64 {
    (100.0 * v as f64 / wall as f64).clamp(0.0, 100.0)
}

fn bars(h: &mut String, n: &NodeReport, wall: u64) {
    for a in &n.attempt_details {
        let Some(start) = a.start_offset_ms else {
            continue;
        };
        let left = pct(start, wall);
        let width = pct(a.duration_ms, wall).min(100.0 - left);
        let _ = write!(
            h,
            "<i class=\"s-{}\" style=\"left:{left:.2}%;width:{width:.2}%\" title=\"{} attempt {}: {} — {}, queue {}, cpu {}, rss {}\"></i>",
            status_class(&a.status),
            esc(&n.node_id),
            a.attempt,
            esc(&a.status),
            esc(&fmt_ms(a.duration_ms)),
            esc(&fmt_ms(a.queue_wait_ms)),
            esc(&fmt_ms(a.cpu_ms)),
            esc(&fmt_bytes(a.peak_rss_bytes))
        );
    }
}

fn lane(h: &mut String, n: &NodeReport, wall: u64) {
    let crit = if n.on_critical_path { " crit" } else { "" };
    let _ = write!(
        h,
        "<div class=\"lane\" data-id=\"{}\"><span class=\"lbl{crit}\" title=\"{}\">{}</span><div class=\"track\">",
        esc(&n.node_id.to_lowercase()),
        esc(&n.node_id),
        esc(&n.node_id)
    );
    bars(h, n, wall);
    h.push_str("</div></div>\n");
}

pub(crate) fn timeline(h: &mut String, r: &AnalysisReport) {
    let wall = r.summary.total_duration_ms.max(1);
    let groups = groups(r);
    h.push_str("<h2>Timeline</h2>\n<div class=\"legend\">");
    for s in [
        "succeeded",
        "failed",
        "timed_out",
        "cancelled",
        "cached",
        "running",
    ] {
        let _ = write!(
            h,
            "<span><i style=\"background:{}\"></i>{s}</span>",
            colour(s)
        );
    }
    let _ = write!(
        h,
        "</div>\n<div class=\"tlbar\"><input id=\"tl-filter\" type=\"search\" \
         placeholder=\"filter nodes by id\" aria-label=\"filter nodes by id\">\
         <span>{} nodes in {} lanes; bold: critical path; a template's lane expands on a click</span>\
         <span id=\"tl-shown\"></span></div>\n\
         <div class=\"tl\" id=\"timeline\" data-nodes=\"{}\" data-lanes=\"{}\">\
         <div class=\"lane axis\"><span class=\"lbl\"></span><div class=\"track\">",
        r.nodes.len(),
        groups.len(),
        r.nodes.len(),
        groups.len()
    );
    for i in 0..=5u64 {
        let left = (i as f64 * 20.0).clamp(3.0, 96.0);
        let _ = write!(
            h,
            "<b style=\"left:{left:.0}%\">{}</b>",
            esc(&fmt_ms(wall * i / 5))
        );
    }
    h.push_str("</div></div><div class=\"tlbody\">\n");
    for (template, nodes) in &groups {
        let fanned = nodes.len() > 1 || nodes.iter().any(|n| n.node_id.contains('@'));
        if !fanned {
            lane(h, nodes[0], wall);
            continue;
        }
        let crit = if nodes.iter().any(|n| n.on_critical_path) {
            " crit"
        } else {
            ""
        };
        let _ = write!(
            h,
            "<div class=\"grp\" data-id=\"{}\"><div class=\"lane sum\">\
             <button type=\"button\" class=\"lbl{crit}\" aria-expanded=\"false\" title=\"{} — {} instances\">\
             <span class=\"arr\">▸</span> {} ×{}</button>\
             <div class=\"track\">",
            esc(&template.to_lowercase()),
            esc(template),
            nodes.len(),
            esc(template),
            nodes.len()
        );
        for n in nodes {
            bars(h, n, wall);
        }
        h.push_str("</div></div><div class=\"inst\" hidden>\n");
        for n in nodes {
            lane(h, n, wall);
        }
        h.push_str("</div></div>\n");
    }
    h.push_str("</div></div>\n");
}
