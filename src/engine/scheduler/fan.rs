//! The scheduler's side of fan-out (SPEC §9): a template node that becomes ready is
//! expanded into its instances (plan nodes appended to the plan, which every sink then
//! sees through [`Event::InstancesAdded`]); `foreach_concurrency` holds instances back; when
//! the last instance is done the template gathers their outputs and releases its
//! dependants, or fails and skips them.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use super::{Event, FailurePolicy, Halt, Level, NodeState, RunContext, Scheduler, State, Stop};
use crate::engine::datasets;
use crate::engine::fanout::{self, FanState};
use crate::store::NodeStatus;

impl Scheduler {
    /// The template of node `i`, when `i` is an instance.
    fn template_index(&self, i: usize) -> Option<usize> {
        self.ctx.plan.nodes[i]
            .instance
            .as_ref()
            .map(|inst| inst.template_index)
    }

    /// Template `t` is ready: turn it into its instances, or finish it (no items, or a
    /// source it cannot fan out over).
    pub(super) fn expand(&mut self, t: usize) {
        let plan = Arc::clone(&self.ctx.plan);
        let node = &plan.nodes[t];
        let instances = match fanout::items(&plan, t, &self.paths) {
            Ok(v) => v,
            Err(error) => return self.fail_template(t, error),
        };
        if instances.is_empty() {
            match datasets::empty_outputs(&self.paths, &node.outputs) {
                Ok(p) if !p.outputs.is_empty() => self.emit(Event::NodeOutputs {
                    node: t,
                    outputs: p.outputs,
                    at: SystemTime::now(),
                }),
                Ok(_) => {}
                Err(err) => {
                    return self.fail_template(t, format!("cannot create empty outputs: {err}"));
                }
            }
            self.finish_node(t, NodeStatus::Skipped, Some("no items".into()), 0);
            self.release(t);
            return;
        }
        if let Err(e) = fanout::make_output_dirs(&self.paths, node) {
            return self.fail_template(t, format!("cannot create its datasets/ directories: {e}"));
        }
        let count = instances.len();
        let mut grown = (*plan).clone();
        let first = grown.nodes.len();
        grown.nodes.extend(instances);
        let grown = Arc::new(grown);
        self.ctx = Arc::new(RunContext {
            plan: Arc::clone(&grown),
            ..(*self.ctx).clone()
        });
        let now = (Instant::now(), SystemTime::now());
        self.nodes.reserve(count);
        self.dependants.resize(first + count, Vec::new());
        for _ in 0..count {
            self.nodes.push(NodeState::waiting(0, now));
        }
        self.fans.insert(
            t,
            FanState {
                first,
                count,
                cap: node.fanout.as_ref().and_then(|f| f.concurrency),
                ..FanState::default()
            },
        );
        self.nodes[t].state = State::Running;
        self.emit(Event::InstancesAdded {
            template: t,
            first,
            count,
            plan: grown,
            at: now.1,
        });
        for k in first..first + count {
            self.queue(k);
        }
    }

    /// Template `t` failed before any instance started (its record says why).
    fn fail_template(&mut self, t: usize, error: String) {
        let plan = Arc::clone(&self.ctx.plan);
        let node = &plan.nodes[t];
        if node.continue_on_error {
            if let Ok(p) = datasets::empty_outputs(&self.paths, &node.outputs)
                && !p.outputs.is_empty()
            {
                self.emit(Event::NodeOutputs {
                    node: t,
                    outputs: p.outputs,
                    at: SystemTime::now(),
                });
            }
            let reason = format!("{error} (continue_on_error)");
            self.finish_node(t, NodeStatus::Failed, Some(reason), 0);
            self.release(t);
            return;
        }
        self.failed = true;
        self.finish_node(t, NodeStatus::Failed, Some(error), 0);
        self.skip_dependants(t);
        self.apply_policy(&node.id);
    }

    /// The failure policy after node `id` failed.
    fn apply_policy(&mut self, id: &str) {
        match self.config.policy {
            FailurePolicy::KeepGoing => {}
            FailurePolicy::Stop => {
                if self.halt.is_none() {
                    self.halt = Some(Halt::Failure(id.to_string()));
                }
            }
            FailurePolicy::FailFast => {
                if self.halt_is_not_timeout() {
                    self.stop_all(Halt::FailFast(id.to_string()), Stop::Terminate);
                }
            }
        }
    }

    /// Holds instance `i` back when its template already runs `foreach_concurrency`
    /// instances; true when it was held.
    pub(super) fn park_if_capped(&mut self, i: usize) -> bool {
        let Some(t) = self.template_index(i) else {
            return false;
        };
        let Some(fan) = self.fans.get_mut(&t) else {
            return false;
        };
        match fan.cap {
            Some(cap) if fan.running >= cap => {
                fan.parked.push_back(i);
                true
            }
            _ => false,
        }
    }

    /// An attempt of node `i` is starting.
    pub(super) fn instance_started(&mut self, i: usize) {
        if let Some(t) = self.template_index(i)
            && let Some(fan) = self.fans.get_mut(&t)
        {
            fan.running += 1;
        }
    }

    /// An attempt of node `i` ended: a held-back instance of its template may start.
    pub(super) fn instance_attempt_ended(&mut self, i: usize) {
        let Some(t) = self.template_index(i) else {
            return;
        };
        let Some(fan) = self.fans.get_mut(&t) else {
            return;
        };
        fan.running = fan.running.saturating_sub(1);
        if let Some(next) = fan.parked.pop_front() {
            if self.nodes[next].attempt > 1 {
                self.retry_ready.insert(next);
            } else {
                self.ready.insert(next);
            }
        }
    }

    /// Node `i` reached `status`; when it is the last instance of its template, the template
    /// gathers its instances' outputs (or fails) and its dependants go on.
    pub(super) fn instance_finished(&mut self, i: usize, status: NodeStatus) {
        let Some(t) = self.template_index(i) else {
            return;
        };
        let continue_on_error = self.ctx.plan.nodes[i].continue_on_error;
        let Some(fan) = self.fans.get_mut(&t) else {
            return;
        };
        fan.done += 1;
        // A failure counts unless `continue_on_error` (which never covers a skipped instance).
        let tolerated = continue_on_error && status != NodeStatus::Skipped;
        if !(status.is_success() || tolerated) {
            fan.worst.get_or_insert(status);
        }
        if fan.done < fan.count || fan.finalized {
            return;
        }
        fan.finalized = true;
        let (count, worst) = (fan.count, fan.worst);
        if let Some(status) = worst {
            self.nodes[t].state = State::Done(status);
            self.skip_dependants(t);
            return;
        }
        let plan = Arc::clone(&self.ctx.plan);
        match fanout::gather(&self.paths, &plan.nodes[t], count) {
            Ok(p) => {
                if !p.outputs.is_empty() {
                    self.emit(Event::NodeOutputs {
                        node: t,
                        outputs: p.outputs,
                        at: SystemTime::now(),
                    });
                }
                self.nodes[t].state = State::Done(NodeStatus::Succeeded);
                self.release(t);
            }
            Err(e) => {
                let id = plan.nodes[t].id.clone();
                self.message(
                    Level::Error,
                    Some(t),
                    format!("cannot gather the outputs of `{id}`'s instances: {e}"),
                );
                self.failed = true;
                self.nodes[t].state = State::Done(NodeStatus::Failed);
                self.skip_dependants(t);
                self.apply_policy(&id);
            }
        }
    }
}
