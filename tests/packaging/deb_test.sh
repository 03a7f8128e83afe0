#!/usr/bin/env bash
# The Debian package on a bare Debian 12 root: builds it (the package preset, then cpack),
# installs it with apt-get (which resolves its dependencies from Debian's registry) into a
# copy of the debootstrapped root ../shared/fresh-machine.sh keeps, then checks the command,
# the sample configuration, the system user and state folder, the systemd unit
# (systemd-analyze verify), and that a purge leaves nothing behind. Prints each step and the
# wall time. Run from the project's root, as root (chroot). Not part of the test command: it
# needs the debootstrapped root and Debian's registry.
#   tests/packaging/deb_test.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
F=${FRESH_DIR:-/tmp/rapport-fresh}
[[ -x $F/base/bin/bash ]] || { echo "no bare root in $F/base: run ../shared/fresh-machine.sh 1 once" >&2; exit 2; }
start=$SECONDS
cmake --preset package >/dev/null
cmake --build --preset package >/dev/null
(cd build/package && rm -f rapport_*.deb && cpack -G DEB >/dev/null)
deb=$(ls build/package/rapport_*.deb)
echo "-- built $deb ($(du -h "$deb" | cut -f1))"
root=$(mktemp -d /tmp/rapport-deb-XXXXXX)
# --one-file-system: should /dev stay mounted, the host's is not touched.
cleanup() { umount "$root/proc" "$root/dev" 2>/dev/null || true; rm -rf --one-file-system "$root"; }
trap cleanup EXIT
cp -a "$F/base/." "$root/"
cp /etc/resolv.conf "$root/etc/" 2>/dev/null || true
cp "$deb" "$root/tmp/"
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
in_root() { chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin bash -ec "$1"; }
in_root "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
  --no-install-recommends ./tmp/$(basename "$deb") systemd >/dev/null"
echo "-- installed with apt-get (dependencies from Debian's registry)"
in_root "rapport --version"
in_root "rapport validate -c /etc/rapport/rapport.yaml --no-connect"
in_root "getent passwd rapport | grep -q /var/lib/rapport && stat -c '%U %a' /var/lib/rapport | grep -qx 'rapport 750'"
in_root "stat -c '%U:%G %a' /etc/rapport/rapport.yaml | grep -qx 'root:rapport 640'"
in_root "grep -qx /etc/rapport/rapport.yaml /var/lib/dpkg/info/rapport.conffiles"
echo "-- user rapport, /var/lib/rapport 0750, /etc/rapport/rapport.yaml a conffile (root:rapport 0640)"
in_root "systemd-analyze verify /lib/systemd/system/rapport.service"
echo "-- systemd-analyze verify accepts rapport.service"
# The service's command as systemd would run it, as its user, for a moment.
in_root "runuser -u rapport -- rapport run -c /etc/rapport/rapport.yaml --from 2027-01-04 --to 2027-01-05 && test -f /var/lib/rapport/rapport.db"
echo "-- rapport runs as its user on the installed configuration"
in_root "DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq rapport >/dev/null"
in_root "! getent passwd rapport && test ! -e /var/lib/rapport && test ! -e /etc/rapport && test ! -e /usr/bin/rapport"
echo "-- purged: no user, no state, no configuration left"
echo "deb_test: passed in $((SECONDS - start)) s"
