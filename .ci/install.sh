# Sourced by `.ci/test` and `.ci/run`: installs everything the tests need on a fresh Debian
# machine (Rust, check-jsonschema, then every `.ci/install-*.sh`) and exports where it lives.
#
# Idempotent and quick on a second run: packages already installed are not fetched again,
# the check-jsonschema venv is reused. Runs as root or through sudo.
#
# Adding a tool the tests need: add `.ci/install-NAME.sh` (idempotent; it is run in name
# order), or copy one of the marked "install:" blocks below; make it skip when the tool is
# present, and export where it lives.
# Tests that need an outside tool fail (never skip) when CI is set and the tool is missing.
export CI="${CI:-1}"
export DEBIAN_FRONTEND=noninteractive
# Benchmark-only tools (DuckDB) are not needed by the tests.
export SKIP_BENCH_TOOLS=1

SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
  SUDO="sudo"
fi

step() { printf '\n==> %s\n' "$*"; }

# apt-get update, unless the package lists are less than a day old (keeps reruns fast).
step "apt-get update"
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mmin -1440 2>/dev/null | head -n 1)" ]; then
  $SUDO apt-get update -q
else
  echo "package lists are fresh"
fi

# apt_install PKG...: installs the packages that are missing.
apt_install() {
  local missing=()
  local pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# ---------------------------------------------------------------------------------------------
# install: base packages (C toolchain for crates with C parts; python, venv and pip for tools)
# ---------------------------------------------------------------------------------------------
step "install: base packages"
apt_install ca-certificates curl build-essential pkg-config python3 python3-venv python3-pip \
  valgrind time graphviz

# ---------------------------------------------------------------------------------------------
# install: Rust (the version pinned in rust-toolchain.toml, with rustfmt and clippy)
# ---------------------------------------------------------------------------------------------
step "install: Rust toolchain"
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
  export PATH="$HOME/.cargo/bin:$PATH"
fi
if command -v rustup >/dev/null 2>&1; then
  # Reads rust-toolchain.toml; a no-op when the toolchain and components are present.
  rustup show active-toolchain >/dev/null 2>&1 || rustup toolchain install
fi
cargo --version

# ---------------------------------------------------------------------------------------------
# install: check-jsonschema (tests/schema.rs validates recipes against `secflow schema`)
# ---------------------------------------------------------------------------------------------
step "install: check-jsonschema"
CJS_VENV="${CJS_VENV:-/opt/cjs}"
if [ ! -x "$CJS_VENV/bin/check-jsonschema" ]; then
  $SUDO python3 -m venv "$CJS_VENV"
  $SUDO "$CJS_VENV/bin/pip" install -q check-jsonschema
fi
export CHECK_JSONSCHEMA="$CJS_VENV/bin/check-jsonschema"
export PATH="$CJS_VENV/bin:$PATH"
"$CHECK_JSONSCHEMA" --version

# ---------------------------------------------------------------------------------------------
# install: one script per tool, .ci/install-NAME.sh (rotel, promtool, pushgateway, slurm...),
# each idempotent, run in name order. Add a tool by adding a script, or a block above.
# ---------------------------------------------------------------------------------------------
for script in .ci/install-*.sh; do
  [ -e "$script" ] || continue
  step "install: $script"
  bash "$script"
done

export SECFLOW_CI_INSTALLED=1
