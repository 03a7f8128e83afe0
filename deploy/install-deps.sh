#!/usr/bin/env bash
# Installs what Rapport needs to build, run and test, by Debian package name.
# Idempotent and quiet when everything is already there.
#   deploy/install-deps.sh          build + demo dependencies
#   deploy/install-deps.sh --test   also the servers and tools the test suite starts (an
#                                   SMTP server in Python for the email sink's test),
#                                   Chromium for the status page's browser test, and Node
#                                   with npm for tests/interop, unless npm is there
#   deploy/install-deps.sh --bench  also wrk and node for tests/bench/listener_bench.sh
# Both flags may be given at once (--test --bench); an unknown one is refused.
set -euo pipefail

test=0 bench=0
for flag in "$@"; do
  case $flag in
    --test) test=1 ;;
    --bench) bench=1 ;;
    *) echo "install-deps: unknown option $flag (expected --test and/or --bench)" >&2; exit 2 ;;
  esac
done

packages=(
  cmake ninja-build g++ ccache pkg-config
  libboost1.81-all-dev libboost-json1.81-dev libboost-url1.81-dev
  libsoci-dev libpq-dev libsqlite3-dev sqlite3
  libyaml-cpp-dev libssl-dev tzdata
  libcurl4-openssl-dev libical-dev libkainjow-mustache-dev
)
if ((test)); then
  packages+=(catch2 postgresql pgbouncer mariadb-server odbc-postgresql unixodbc python3 procps
             openssl curl clang-15 libfuzzer-15-dev chromium
             python3-aiosmtpd python3-icalendar)
  # An image may carry a newer Node whose package conflicts with Debian's npm: only when
  # npm is missing.
  command -v npm >/dev/null || packages+=(nodejs npm)
fi
if ((bench)); then
  packages+=(wrk)
  command -v node >/dev/null || packages+=(nodejs)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
((${#missing[@]} == 0)) && exit 0

echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: run as root to install: ${missing[*]}" >&2
  exit 1
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
