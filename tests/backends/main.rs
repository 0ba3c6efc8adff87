//! The outside backends' tests, one binary: OTLP export to a real receiver and the Slurm
//! executor against a real single-node cluster.

#[path = "../support/mod.rs"]
pub mod support;

mod otlp_export;
mod slurm_cluster;
mod slurm_engine;
mod slurm_executor;
mod slurm_workflow;
mod slurm_wrapper;
