#!/usr/bin/env bash
# Dispatch spread over processes (engine.partitions) on one PostgreSQL store: a backlog of
# ROTATIONS rotations, each of another student with a team of seven, that started
# yesterday, is handed to one, two and three `rapport serve` processes, and to one with
# partitions off, side by side in one run. Each rotation is two events (rotation.scheduled,
# then rotation.started from its timer); the per-student hooks of the webhook example
# run on them (introductions, peer and program contacts, interprofessional...).
# Prints, per configuration: the seconds until every consumer passed every event (and no
# timer was due), events/s dispatched, and CPU per rotation (Rapport's processes plus the
# database's, from /proc). Rapport and PostgreSQL share core 0 unless CORES says otherwise
# ("0-1": both cores). A figure, not a test: it never fails on time. On this 2-core
# machine the point is what the partitions cost and that more processes do not collapse,
# not a speed-up.
#   tests/bench/partition_bench.sh [ROTATIONS] [CORES]
# Needs node (deploy/install-deps.sh --bench), the test servers (--test) and a release build.
set -euo pipefail
cd "$(dirname "$0")/../.."
rotations=${1:-4000}
cores=${2:-0}
bin=$PWD/build/release/rapport
[ -x "$bin" ] || { echo "build the release preset first" >&2; exit 2; }
command -v node >/dev/null || { echo "needs node: deploy/install-deps.sh --bench" >&2; exit 2; }
work=$(mktemp -d /tmp/rapport-partition-bench-XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  deploy/test-services.sh stop "$work/services" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
deploy/test-services.sh start "$work/services" >/dev/null
# shellcheck disable=SC1091
source "$work/services/env"
for p in $(pgrep -u postgres -f 'postgres|pgbouncer'); do taskset -pc "$cores" "$p" >/dev/null; done

cpu_of() { local t=0 p; for p in "$@"; do t=$(( t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0) )); done; echo "$t"; }
server_pids() { pgrep -u postgres -f 'postgres' | tr '\n' ' '; }

# One process's config: the store, a listener (the loader's only), the per-student hooks.
config() {  # file url port partitions tick
  cat > "$1" <<YAML
store: {type: postgresql, url: "$2", lease: 10s, prepared_statements: true}
listener:
  enabled: true
  listen: 127.0.0.1:$3
sources:
  platform:
    type: webhook
    verify: none
    insecure: true
hooks:
  introductions: {}
  interprofessional: {}
  peer_connect: {}
  thank_you: {}
  follow_up: {}
  program_contacts: {}
engine:
  tick: $5
  partitions: $4
log:
  level: warn
YAML
}

# The backlog, taken in by one process whose engine steps once an hour (so none of it is
# dispatched), through its listener.
load() {  # url
  config "$work/load.yaml" "$1" 19200 1 1h
  "$bin" serve -c "$work/load.yaml" 2>"$work/load.log" &
  local loader=$!
  pids+=("$loader")
  sleep 1
  node - "$rotations" <<'JS'
const http = require('http');
const total = Number(process.argv[2]);
const agent = new http.Agent({keepAlive: true, maxSockets: 16});
const day = (d) => new Date(Date.now() + d * 86400000).toISOString().slice(0, 10);
let next = 0, done = 0;
function send() {
  if (next >= total) return;
  const i = next++;
  const s = `S${String(i).padStart(6, '0')}`;
  const team = [{person: `A${String(i % 40).padStart(3, '0')}`, role: 'attending'}];
  for (let k = 0; k < 6; ++k) team.push({person: `N${String((i * 7 + k) % 400).padStart(3, '0')}`, role: k % 2 ? 'nurse' : 'resident'});
  const body = JSON.stringify({specversion: '1.0', id: `ev-${s}`, source: 'platform',
    type: 'rotation.scheduled', time: new Date().toISOString(), subject: s,
    data: {id: `R-${s}`, student: s, site: `site-${i % 12}`, specialty: ['surgery', 'medicine', 'pediatrics'][i % 3],
           kind: 'core', start: day(-1), end: day(20), team}});
  const req = http.request({host: '127.0.0.1', port: 19200, path: '/v1/sources/platform/events',
    method: 'POST', agent, headers: {'content-type': 'application/cloudevents+json'}}, (res) => {
    res.resume();
    res.on('end', () => {
      if (res.statusCode !== 202) { console.error('status', res.statusCode); process.exit(1); }
      if (++done === total) process.exit(0);
      send();
    });
  });
  req.on('error', (e) => { console.error(e.message); process.exit(1); });
  req.end(body);
}
for (let c = 0; c < 16; ++c) send();
JS
  kill "$loader"; wait "$loader" 2>/dev/null || true
}

printf '| configuration | seconds to dispatch | events/s dispatched | CPU ms per rotation (all processes and the database) |\n'
printf '|---|---:|---:|---:|\n'
bench() {  # label processes partitions
  local label=$1 n=$2 parts=$3 db="bench_parts_${2}_${3}" i
  psql "$RAPPORT_TEST_PG" -qXc "CREATE DATABASE $db" >/dev/null
  local url="$RAPPORT_TEST_PG dbname=$db"
  count() { psql "$RAPPORT_TEST_PG dbname=$db" -AtXqc "$1"; }
  load "$url"
  local rapport=()
  local before; before=$(cpu_of $(server_pids))
  local start; start=$(date +%s.%N)
  for i in $(seq 1 "$n"); do
    config "$work/$db-$i.yaml" "$url" $(( 19200 + i )) "$parts" 100ms
    # A session of its own each, as a service would run (see cluster_bench.sh).
    setsid taskset -c "$cores" "$bin" serve -c "$work/$db-$i.yaml" 2>"$work/$db-$i.log" &
    pids+=($!) rapport+=($!)
  done
  local deadline=$(( $(date +%s) + 600 )) left=1
  while [ "$(date +%s)" -lt "$deadline" ]; do
    left=$(count "SELECT (SELECT COUNT(*) FROM inbox WHERE seq IS NULL OR seq > (SELECT coalesce(MIN(seq), 0) FROM progress WHERE consumer NOT LIKE 'sink:%' AND consumer NOT LIKE 'engine:%')) + (SELECT COUNT(*) FROM timers WHERE due_at <= to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')) + greatest(0, $(( 2 * rotations )) - (SELECT COUNT(*) FROM inbox))")
    [ "$left" = 0 ] && break
    sleep 0.1
  done
  local done_at; done_at=$(date +%s.%N)
  local after; after=$(( $(cpu_of "${rapport[@]}") + $(cpu_of $(server_pids)) ))
  local actions; actions=$(count "SELECT COUNT(*) FROM outbox")
  awk -v l="$label" -v r="$rotations" -v c=$(( (after - before) * 10 )) -v t0="$start" -v t1="$done_at" -v left="$left" -v a="$actions" \
      'BEGIN {printf "| %s | %.1f | %d | %.2f |%s\n", l, t1 - t0, 2 * r / (t1 - t0), c / r, (left > 0 ? " (not done in 600 s)" : ""); printf "(%d actions)\n", a > "/dev/stderr"}'
  for p in "${rapport[@]}"; do kill "$p"; wait "$p" 2>/dev/null || true; done
}
bench "1 process, partitions off" 1 1
bench "1 process, 8 partitions" 1 8
bench "2 processes, 8 partitions" 2 8
bench "3 processes, 8 partitions" 3 8
echo "($rotations rotations, $(( 2 * rotations )) events; Rapport and PostgreSQL on cores $cores)"
