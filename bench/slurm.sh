#!/bin/sh
# Slurm executor overhead, each against a throwaway single-node cluster (2 CPUs here):
#  1. N trivial jobs (default 20) submitted at once, time until all completed: a plain
#     `sbatch` loop + `squeue` polling vs secflow's Slurm module (job script, environment
#     file, job-wrapper with usage file, one batched squeue per 250 ms).
#  2. When the engine integration is in (tests/backends/slurm_workflow.rs enabled): a 50-node
#     fan-out through `secflow run-workflow --executor slurm` vs the same jobs from a
#     shell loop.
# Needs Slurm installed (.ci/install-slurm.sh) and root.
#   bench/slurm.sh [N]
set -eu
cd "$(dirname "$0")/.."
export SECFLOW_SLURM_BENCH_N="${1:-20}"
cargo test --release --test backends slurm_executor::bench_trivial_jobs -- --ignored --nocapture \
    --test-threads=1
cargo test --release --test backends slurm_workflow::bench_fan_out -- --ignored --nocapture \
    --test-threads=1
