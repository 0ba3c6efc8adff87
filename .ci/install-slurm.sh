#!/bin/sh
# Installs a single-node Slurm (slurmctld, slurmd, client tools) and munge from the Debian
# apt repositories, as ../shared/SLURM.md describes. Idempotent: does nothing when every
# package is already installed. Never starts a daemon: the test harness starts its own
# throwaway cluster (tests/backends/slurm_cluster.rs).
#
# The packages' postinst scripts call `invoke-rc.d … start`. When PID 1 is not systemd and
# the image has no /usr/sbin/policy-rc.d, those init scripts would really run (slurmctld
# with no config), so a temporary policy-rc.d that denies every action is put in place for
# the install and removed afterwards. An existing policy-rc.d is left untouched.
set -eu

PACKAGES="slurmctld slurmd slurm-client munge"

installed() {
    for p in $PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || return 1
    done
}

if installed; then
    echo "install-slurm: already installed ($(dpkg-query -W -f='${Version}' slurmctld))"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "install-slurm: must run as root (or with sudo)" >&2; exit 1; }
    SUDO="sudo"
fi

POLICY=/usr/sbin/policy-rc.d
TEMP_POLICY=""
pid1="$(cat /proc/1/comm 2>/dev/null || echo unknown)"
if [ "$pid1" != "systemd" ] && [ ! -e "$POLICY" ]; then
    echo "install-slurm: PID 1 is '$pid1', not systemd: denying service starts during install"
    printf '#!/bin/sh\n# temporary, from .ci/install-slurm.sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
    $SUDO chmod 0755 "$POLICY"
    TEMP_POLICY=1
fi
cleanup() {
    if [ -n "$TEMP_POLICY" ]; then
        $SUDO rm -f "$POLICY"
    fi
}
trap cleanup EXIT INT TERM

$SUDO apt-get update
# shellcheck disable=SC2086
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $PACKAGES

# The postinst normally writes the munge key; make sure one exists with the right owner.
if [ ! -s /etc/munge/munge.key ]; then
    $SUDO mungekey --create --keyfile=/etc/munge/munge.key --force
fi
$SUDO chown -R munge:munge /etc/munge
$SUDO chmod 0700 /etc/munge
$SUDO chmod 0600 /etc/munge/munge.key

installed || { echo "install-slurm: packages still missing after install" >&2; exit 1; }
echo "install-slurm: installed slurm $(dpkg-query -W -f='${Version}' slurmctld)"
