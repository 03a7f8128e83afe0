#!/usr/bin/env bash
# Installs what the tests need, then builds and runs the whole suite twice: a debug build
# with warnings as errors, and an ASan+UBSan build. Prints ctest's summary for each.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh --test

# PostgreSQL and MariaDB for the SQL adapter's tests, stopped by their pid on exit.
services=$(mktemp -d /tmp/rapport-services-XXXXXX)
trap 'deploy/test-services.sh stop "$services"; rm -rf "$services"' EXIT
deploy/test-services.sh start "$services"
# shellcheck disable=SC1091
source "$services/env"

status=0
for preset in dev asan; do
  echo "== $preset: configure and build" >&2
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset"
  echo "== $preset: tests" >&2
  ctest --preset "$preset" -j2 || status=1
done
exit $status
