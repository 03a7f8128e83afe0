#!/usr/bin/env bash
# Installs Rapport into a temporary prefix, then, as a plugin author and a host would:
# builds the example plugin out of tree with find_package(rapport), builds the example
# host with pkg-config, and runs the installed rapport with the out-of-tree plugin.
# Usage: install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

cmake --install "$build" --prefix "$prefix" >/dev/null
test -f "$prefix/include/rapport/plugin.h"
test -f "$prefix/include/rapport/embed.h"
test -f "$prefix/lib/cmake/rapport/rapportConfig.cmake"

echo "-- plugin built out of tree against the installed SDK (find_package)"
cmake -S "$prefix/share/rapport/examples/research_openings" -B "$work/plugin" -G Ninja \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$work/plugin" >/dev/null
test -f "$work/plugin/research_openings.so"

echo "-- host built with pkg-config against the installed librapport"
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
# shellcheck disable=SC2046
cc -std=c99 -Wall -Werror "$prefix/share/rapport/examples/embed_host/host.c" \
  $(pkg-config --cflags --libs rapport) -Wl,-rpath,"$prefix/lib" -o "$work/host"
"$work/host" "$work/host.db" | grep -q "3 actions received"

echo "-- the installed rapport loads the out-of-tree plugin"
sqlite3 "$work/institution.db" < "$src/tests/support/small_institution.sql"
awk -v so="$work/plugin/research_openings.so" '
  { print }
  /^hooks:/ {
    print "  research:"
    print "    plugin: " so
    print "    config:"
    print "      openings:"
    print "        - {id: OPP-1, faculty: E0001, specialty: Internal Medicine, kind: research,"
    print "           title: Sepsis outcomes registry}"
  }' "$src/deploy/examples/demo.yaml" > "$work/config.yaml"
export RAPPORT_DEMO_DIR=$work
"$prefix/bin/rapport" validate -c "$work/config.yaml" >/dev/null
"$prefix/bin/rapport" run -c "$work/config.yaml" --from 2027-01-01 --to 2027-01-10
grep -q '"type":"rapport.action.opportunity"' "$work/actions.jsonl"
grep '"type":"rapport.action.opportunity"' "$work/actions.jsonl" | grep -q '"contact":"E0001"'
echo "install, out-of-tree plugin and pkg-config host: ok"
