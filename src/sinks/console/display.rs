//! The progress display: one indicatif bar whose template renders the overall progress
//! (`[3.2s] [=====>    ] 12/40 nodes (4 running, 1 failed)`) and, below it, one line per
//! running node with its elapsed time (at most [`MAX_NODE_LINES`]; the others are counted).
//!
//! One bar and one ticker thread however many nodes run: the running set lives in shared
//! state that the template reads at each redraw (10 a second), so an event costs a map update
//! and at most one rate-limited redraw, never a thread or a bar of its own.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// Running nodes shown as their own line; more are counted.
pub const MAX_NODE_LINES: usize = 8;

/// What the template shows besides the bar, shared with the sink.
#[derive(Default)]
struct Live {
    /// Running attempts in start order: node index, label, start time.
    running: Vec<(usize, String, SystemTime)>,
    failed: u64,
    /// The progress running nodes' tools reported (0–1), by node index.
    progress: std::collections::HashMap<usize, f64>,
}

pub(super) struct Display {
    bar: ProgressBar,
    live: Arc<Mutex<Live>>,
}

impl Display {
    /// A display of `total` nodes on `target`, its clock already at `elapsed`.
    pub(super) fn new(
        target: ProgressDrawTarget,
        total: u64,
        elapsed: Duration,
        colour: bool,
    ) -> Self {
        let live = Arc::new(Mutex::new(Live::default()));
        let (bar, spin) = if colour {
            ("{bar:30.cyan/blue}", "{spinner:.green}")
        } else {
            ("{bar:30}", "{spinner}")
        };
        let shared = live.clone();
        let style = ProgressStyle::with_template(&format!(
            "{spin} [{{secs}}] {bar} {{pos}}/{{len}} nodes {{live}}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key(
            "secs",
            |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.1}s", state.elapsed().as_secs_f64());
            },
        )
        .with_key(
            "live",
            move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
                if let Ok(live) = shared.lock() {
                    render_live(&live, w);
                }
            },
        )
        .progress_chars("=> ");
        let bar = ProgressBar::with_draw_target(Some(total), target)
            .with_style(style)
            .with_elapsed(elapsed);
        bar.enable_steady_tick(Duration::from_millis(100));
        Display { bar, live }
    }

    /// A node's attempt started; `label` is e.g. `scan (attempt 2 of 3)`.
    pub(super) fn started(&self, node: usize, label: String, at: SystemTime) {
        if let Ok(mut live) = self.live.lock() {
            live.running.retain(|(n, ..)| *n != node);
            live.running.push((node, label, at));
        }
        self.bar.tick();
    }

    /// A running node's tool reported its progress (0–1) on `SECFLOW_EVENTS`.
    pub(super) fn progress(&self, node: usize, fraction: f64) {
        if let Ok(mut live) = self.live.lock()
            && live.running.iter().any(|(n, ..)| *n == node)
        {
            live.progress.insert(node, fraction.clamp(0.0, 1.0));
        }
    }

    /// A node's attempt ended (its line goes; a waiting node's line takes its place).
    pub(super) fn ended(&self, node: usize) {
        if let Ok(mut live) = self.live.lock() {
            live.running.retain(|(n, ..)| *n != node);
            live.progress.remove(&node);
        }
        self.bar.tick();
    }

    /// A node reached its final status.
    pub(super) fn finished(&self, done: u64, failed: u64) {
        if let Ok(mut live) = self.live.lock() {
            live.failed = failed;
        }
        self.bar.set_position(done);
    }

    /// Prints a line above the display.
    pub(super) fn println(&self, text: &str) {
        self.bar.println(text);
    }

    /// Removes the display from the screen.
    pub(super) fn clear(self) {
        self.bar.finish_and_clear();
    }
}

fn render_live(live: &Live, w: &mut dyn std::fmt::Write) {
    let running = live.running.len();
    let hidden = running.saturating_sub(MAX_NODE_LINES);
    let _ = write!(w, "({running} running");
    if hidden > 0 {
        let _ = write!(w, ", {hidden} not shown");
    }
    if live.failed > 0 {
        let _ = write!(w, ", {} failed", live.failed);
    }
    let _ = w.write_str(")");
    let now = SystemTime::now();
    for (node, label, at) in live.running.iter().take(MAX_NODE_LINES) {
        let secs = now.duration_since(*at).unwrap_or_default().as_secs_f64();
        let _ = write!(w, "\n  - {label} {secs:.1}s");
        if let Some(p) = live.progress.get(node) {
            let _ = write!(w, " {:.0}%", p * 100.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_nodes_reported_progress_shows_on_its_line_until_it_ends() {
        let d = Display::new(ProgressDrawTarget::hidden(), 2, Duration::ZERO, false);
        d.started(0, "scan (attempt 1)".into(), SystemTime::now());
        d.progress(0, 0.42);
        // Progress of a node that is not running is not kept.
        d.progress(1, 0.9);
        let text = |d: &Display| {
            let mut s = String::new();
            render_live(&d.live.lock().unwrap(), &mut s);
            s
        };
        let shown = text(&d);
        assert!(
            shown.contains("scan (attempt 1)") && shown.ends_with(" 42%"),
            "{shown}"
        );
        assert_eq!(d.live.lock().unwrap().progress.len(), 1);
        d.ended(0);
        assert!(!text(&d).contains('%'));
        assert!(d.live.lock().unwrap().progress.is_empty());
    }
}
