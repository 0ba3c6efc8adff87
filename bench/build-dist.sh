#!/usr/bin/env bash
# A distribution build of secflow: the `dist` profile (whole-program LTO) linked static-pie
# against glibc, for the host (x86_64 or aarch64 Linux, gnu). Start-up does no dynamic
# loading (no ld.so, no libgcc_s constructor, whose CPUID probes cost ~6 us each in a VM) and
# keeps ASLR (the binary is still position-independent). Prints the binary's path.
#
# Why a script: `-C target-feature=+crt-static` in .cargo/config.toml would also apply to
# proc-macro crates, which cannot be built static (cargo applies a host's target flags to
# them unless `--target` is given), so the flag goes through RUSTFLAGS with `--target`.
# Names are resolved by glibc's built-in `files` and `dns` sources (glibc >= 2.34 needs no
# NSS module for them); run the binary on the glibc it was built against or a newer one.
#
# Usage: bench/build-dist.sh   (then e.g. bench/startup.sh "$(bench/build-dist.sh | tail -1)")
set -euo pipefail
cd "$(dirname "$0")/.."
host=$(rustc -vV | sed -n 's/^host: //p')
case "$host" in
*-linux-gnu) ;;
*) echo "build-dist.sh: static glibc builds are for *-linux-gnu hosts, not $host" >&2; exit 2 ;;
esac
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
  cargo build --quiet --profile dist --target "$host" --bin secflow >&2
bin="target/$host/dist/secflow"
# static-pie: position-independent (ELF type DYN) with no program interpreter.
if readelf -lW "$bin" | grep -q INTERP || ! readelf -hW "$bin" | grep -q "DYN"; then
  echo "build-dist.sh: $bin is not static-pie" >&2
  exit 1
fi
echo "$bin"
