#!/bin/sh
# Per-job overhead of running attempts on Slurm: N trivial jobs (default 20) submitted at
# once to a throwaway single-node cluster, time until all completed, by a plain
# `sbatch` loop + `squeue` polling and then through secflow's Slurm module (job script,
# environment file, job-wrapper with usage file, one batched squeue per 250 ms).
# Needs Slurm installed (.ci/install-slurm.sh) and root.
#   bench/slurm.sh [N]
set -eu
cd "$(dirname "$0")/.."
SECFLOW_SLURM_BENCH_N="${1:-20}" exec cargo test --release --test slurm_executor \
    bench_trivial_jobs -- --ignored --nocapture --test-threads=1
