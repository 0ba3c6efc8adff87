//! Conditions and triggers in the scheduler (SPEC §9): a node's `when` is evaluated when it
//! is otherwise ready (false → `skipped`, reason `condition false: <expr>`), and a node that
//! did not succeed decides its dependants' fate by their `trigger`:
//!
//! - `all_succeeded` (default): skipped when an upstream failed or was skipped;
//! - `none_failed`: skipped when an upstream failed (or was skipped because one did), run
//!   when upstreams were only skipped — the join after an if/else pair;
//! - `all_done`: run whatever happened upstream, even after a failure stopped the run.
//!
//! The datasets of an upstream that did not succeed are empty files for those that run.
//! Skips by condition or trigger are not failures: a run whose only other outcomes are such
//! skips is `succeeded`.

use std::time::SystemTime;

use super::{FailurePolicy, Halt, Scheduler, State, Stop};
use crate::event::{Event, Level};
use crate::plan::foreach::Instance;
use crate::plan::when::{self, NoInstance, Resolve, Trigger, Value};
use crate::store::NodeStatus;

impl Scheduler {
    /// Evaluates node `i`'s `when` before its first attempt. True when the node is done
    /// without running (skipped, or failed because the condition could not be evaluated).
    pub(super) fn skip_by_condition(&mut self, i: usize) -> bool {
        let plan = std::sync::Arc::clone(&self.ctx.plan);
        let node = &plan.nodes[i];
        let Some(condition) = &node.when else {
            return false;
        };
        // Per instance when the condition reads `item`/`index`; once at the template (which
        // instances then do not repeat) when it does not.
        let per_instance = condition.uses_instance();
        if per_instance != node.instance.is_some() {
            return false;
        }
        let paths = std::sync::Arc::clone(&self.paths);
        let count = |d: &str| {
            crate::engine::dir_output::count(&paths, node, d)
                .map_err(|e| format!("cannot count the records of input `{d}`: {e}"))
        };
        let verdict = match &node.instance {
            Some(instance) => condition.eval(&InstanceValues {
                instance,
                records: count,
            }),
            None => condition.eval(&NoInstance(count)),
        };
        match verdict {
            Ok(true) => false,
            Ok(false) => {
                self.empty_outputs(i);
                let reason = format!("condition false: {}", condition.text);
                self.finish_node(i, NodeStatus::Skipped, Some(reason), 0);
                self.cascade(i, false);
                true
            }
            Err(error) => {
                self.failed = true;
                let reason = format!("condition error: {error}");
                self.finish_node(i, NodeStatus::Failed, Some(reason), 0);
                self.cascade(i, true);
                match self.config.policy {
                    FailurePolicy::KeepGoing => {}
                    FailurePolicy::Stop if self.halt.is_none() => {
                        self.halt = Some(Halt::Failure(node.id.clone()));
                    }
                    FailurePolicy::Stop => {}
                    FailurePolicy::FailFast => {
                        if self.halt_is_not_timeout() {
                            self.stop_all(Halt::FailFast(node.id.clone()), Stop::Terminate);
                        }
                    }
                }
                true
            }
        }
    }

    /// Node `from` ended without succeeding (`failed`: it failed or timed out; else it was
    /// skipped): each dependant runs or is skipped by its trigger, transitively.
    pub(super) fn cascade(&mut self, from: usize, failed: bool) {
        let plan = std::sync::Arc::clone(&self.ctx.plan);
        let origin = plan.nodes[from].id.clone();
        let mut stack: Vec<(usize, usize)> =
            self.dependants[from].iter().map(|&d| (from, d)).collect();
        while let Some((up, d)) = stack.pop() {
            if !matches!(self.nodes[d].state, State::Waiting | State::Ready) {
                continue;
            }
            let runs = match plan.nodes[d].trigger {
                Trigger::AllDone => true,
                Trigger::NoneFailed => !failed,
                Trigger::AllSucceeded => false,
            };
            if runs {
                self.empty_outputs(up);
                let n = &mut self.nodes[d];
                n.waiting_on = n.waiting_on.saturating_sub(1);
                if n.waiting_on == 0 && n.state == State::Waiting {
                    self.queue(d);
                }
                continue;
            }
            self.ready.remove(&d);
            let reason = if failed {
                format!("upstream node `{origin}` did not succeed")
            } else {
                format!(
                    "upstream node `{}` was skipped (trigger {})",
                    plan.nodes[up].id,
                    plan.nodes[d].trigger.as_str()
                )
            };
            self.finish_node(d, NodeStatus::Skipped, Some(reason), 0);
            stack.extend(self.dependants[d].iter().map(|&x| (d, x)));
        }
    }

    /// Makes each output of node `i`, which did not succeed, an empty dataset (once).
    fn empty_outputs(&mut self, i: usize) {
        let plan = std::sync::Arc::clone(&self.ctx.plan);
        let node = &plan.nodes[i];
        if node.outputs.is_empty() || self.nodes[i].emptied {
            return;
        }
        self.nodes[i].emptied = true;
        match crate::engine::dir_output::empty_outputs(&self.paths, node) {
            Ok(p) => self.emit(Event::NodeOutputs {
                node: i,
                outputs: p.outputs,
                at: SystemTime::now(),
            }),
            Err(err) => self.message(
                Level::Error,
                Some(i),
                format!("cannot create empty outputs of `{}`: {err}", node.id),
            ),
        }
    }

    /// A ready `all_done` node, which starts even after a failure stopped the run.
    pub(super) fn next_cleanup(&mut self) -> Option<usize> {
        if !matches!(self.halt, Some(Halt::Failure(_))) {
            return None;
        }
        let plan = &self.ctx.plan;
        let i = self
            .ready
            .iter()
            .copied()
            .find(|&i| plan.nodes[i].trigger == Trigger::AllDone)?;
        self.ready.remove(&i);
        Some(i)
    }

    /// Whether an `all_done` node is ready to start despite a stopped run.
    pub(super) fn cleanup_ready(&self) -> bool {
        matches!(self.halt, Some(Halt::Failure(_)))
            && self
                .ready
                .iter()
                .any(|&i| self.ctx.plan.nodes[i].trigger == Trigger::AllDone)
    }
}

/// What an instance's condition reads: its item (each value typed as it reads: `true`, a
/// number, else text — data, never evaluated as an expression) and index.
struct InstanceValues<'a, F: Fn(&str) -> Result<u64, String>> {
    instance: &'a Instance,
    records: F,
}

impl<F: Fn(&str) -> Result<u64, String>> Resolve for InstanceValues<'_, F> {
    fn item(&self, key: Option<&str>) -> Result<Value, String> {
        let text = match (&self.instance.item, key) {
            (Some(item), None) => Some(item.text()),
            (Some(item), Some(k)) => item.field(k),
            // A matrix instance: `item.NAME` is its value of NAME.
            (None, Some(k)) => self
                .instance
                .matrix
                .iter()
                .find(|(name, _)| name == k)
                .map(|(_, v)| v.as_str()),
            (None, None) => None,
        };
        let Some(text) = text else {
            return Err(match key {
                Some(k) => format!("instance {} has no `item.{k}`", self.instance.index),
                None => format!("instance {} has no `item`", self.instance.index),
            });
        };
        Ok(when::typed(text, when::infer(text)).unwrap_or_else(|| Value::Str(text.into())))
    }
    fn index(&self) -> Result<u64, String> {
        Ok(self.instance.index as u64)
    }
    fn records(&self, dataset: &str) -> Result<u64, String> {
        (self.records)(dataset)
    }
}
