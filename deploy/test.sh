#!/usr/bin/env bash
# Installs what the tests need, then builds and runs the whole suite twice: a debug build
# with warnings as errors, and an ASan+UBSan build. Prints ctest's summary for each.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh --test
# The official CloudEvents and Standard Webhooks libraries, as pinned by the lockfile.
(cd tests/interop && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

# PostgreSQL and MariaDB for the SQL adapter's tests, stopped by their pid on exit.
services=$(mktemp -d /tmp/rapport-services-XXXXXX)
trap 'deploy/test-services.sh stop "$services"; rm -rf "$services"' EXIT
deploy/test-services.sh start "$services"
# shellcheck disable=SC1091
source "$services/env"

# Guard for the README's first command: the release preset must configure on a machine
# without the test packages (Catch2, Python), as a newcomer's has. Configure only.
guard=$(mktemp -d /tmp/rapport-guard-XXXXXX)
cmake --preset release -B "$guard" -DCMAKE_DISABLE_FIND_PACKAGE_Catch2=ON \
  -DCMAKE_DISABLE_FIND_PACKAGE_Python3=ON >"$guard.log" 2>&1 \
  || { cat "$guard.log" >&2; echo "the release preset needs a test package" >&2; exit 1; }
rm -rf "$guard" "$guard.log"

status=0
# A short smoke of every fuzz target (clang-15, ASan+UBSan), so that they keep building and
# stay green; long runs: tests/fuzz/run.sh 600. First, so that ctest's summaries close.
echo "== fuzz: build and run each target for 20 s" >&2
tests/fuzz/run.sh 20 || status=1
for preset in dev asan; do
  echo "== $preset: configure and build" >&2
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset"
  echo "== $preset: tests" >&2
  ctest --preset "$preset" -j2 || status=1
done
exit $status
