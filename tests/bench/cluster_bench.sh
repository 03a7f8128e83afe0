#!/usr/bin/env bash
# The listener and dispatch workload on one process with SQLite, one with PostgreSQL, and
# two and three processes on one PostgreSQL (directly, and three through PgBouncer in
# transaction pooling mode), one and three directly with store.prepared_statements, and
# one whose listener commits on four connections (store.pool), side by side in one run.
# Every configuration gets the same
# signed ~1 KB rotation events, spread evenly over its listeners (one wrk per listener,
# 64 connections in all, on core 1; Rapport, PostgreSQL and PgBouncer on core 0), for
# SECONDS; then the time until the engine has dispatched all of them is measured.
# Prints, per configuration: events/s taken in, p99 of the slowest listener, CPU per event
# (Rapport's processes plus the database's and PgBouncer's, from /proc), and events/s
# dispatched (taken in and handled to the end). A figure, not a test: it never fails on
# time. On this 2-core machine the point is that more processes do not collapse, and what
# an event costs on PostgreSQL, not a speed-up.
#   tests/bench/cluster_bench.sh [SHARED_BENCH_DIR] [SECONDS]
# Needs wrk and node (deploy/install-deps.sh --bench), the test servers
# (deploy/install-deps.sh --test) and a release build.
set -euo pipefail
cd "$(dirname "$0")/../.."
shared=$(cd "${1:-../shared/bench}" && pwd)
seconds=${2:-8}
bin=$PWD/build/release/rapport
[ -x "$bin" ] || { echo "build the release preset first" >&2; exit 2; }
command -v wrk >/dev/null && command -v node >/dev/null || { echo "needs wrk and node: deploy/install-deps.sh --bench" >&2; exit 2; }
work=$(mktemp -d /tmp/rapport-cluster-bench-XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  deploy/test-services.sh stop "$work/services" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
deploy/test-services.sh start "$work/services"
# shellcheck disable=SC1091
source "$work/services/env"
# The database and PgBouncer on core 0 with Rapport (their children inherit it).
for p in $(pgrep -u postgres -f 'postgres|pgbouncer'); do taskset -pc 0 "$p" >/dev/null; done

secret=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
team=$(for i in $(seq 1 6); do printf '{"person":"E%04d","role":"nurse"},' "$i"; done)
printf '{"specversion":"1.0","id":"fixed","source":"platform","type":"rotation.scheduled","time":"2030-01-01T00:00:00Z","subject":"S00001","data":{"id":"R00001","student":"S00001","site":"North Campus Hospital","specialty":"Internal Medicine","kind":"core","start":"2030-01-07","end":"2030-02-01","team":[%s{"person":"A0001","role":"attending"}]}}' "$team" > "$work/body.json"
per_wrk=400000  # ids each listener's load may use (every configuration has its own store)
node "$shared/gen-pool.js" "$secret" "$work/body.json" $(( 3 * per_wrk )) benchrun "$work/pool.rec" >/dev/null

cpu_of() { local t=0 p; for p in "$@"; do t=$(( t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0) )); done; echo "$t"; }
server_pids() { pgrep -u postgres -f 'postgres|pgbouncer' | tr '\n' ' '; }

printf '| configuration | events/s in | p99 ms (slowest listener) | commits p99 ms, at most (slowest listener) | CPU us/event (all processes) | events/s dispatched |\n'
printf '|---|---:|---:|---:|---:|---:|\n'
bench() {  # label processes store(sqlite|direct|pgbouncer|prepared|pool)
  local label=$1 n=$2 kind=$3 dir="$work/$3-$2" i db url
  mkdir -p "$dir"
  if [ "$kind" = sqlite ]; then
    store="store: {path: $dir/store.db}"
    count() { sqlite3 "$dir/store.db" "$1"; }
  else
    db="bench_${kind}_$n"
    psql "$RAPPORT_TEST_PG" -qXc "CREATE DATABASE $db" >/dev/null
    url="$RAPPORT_TEST_PG dbname=$db"
    [ "$kind" = pgbouncer ] && url="$RAPPORT_TEST_PGBOUNCER dbname=$db"
    store="store: {type: postgresql, url: \"$url\", lease: 10s}"
    [ "$kind" = prepared ] && store="store: {type: postgresql, url: \"$url\", lease: 10s, prepared_statements: true}"
    [ "$kind" = pool ] && store="store: {type: postgresql, url: \"$url\", lease: 10s, pool: 4}"
    count() { psql "$RAPPORT_TEST_PG dbname=$db" -AtXqc "$1"; }
  fi
  local rapport=() ports=() v
  for i in $(seq 1 "$n"); do
    local port=$(( 19100 + i ))
    cat > "$dir/rapport-$i.yaml" <<YAML
$store
listener:
  enabled: true
  listen: 127.0.0.1:$port
  threads: 1
  queue_limit: 100000
sources:
  platform:
    type: webhook
    secret: $secret
    format: mapped
    mapping:
      type: /type
      time: /time
      fields: {id: /data/id, student: /data/student, site: /data/site,
               specialty: /data/specialty, kind: /data/kind, start: /data/start,
               end: /data/end}
      team: /data/team
      team_fields: {person: /person, role: /role}
hooks:
  introductions: {}
engine:
  tick: 1s
log:
  level: warn
YAML
    # Each process in a session of its own, as a service of its own would be (and as the
    # database is: pg_ctl starts it in its own session). With the kernel's autogroup
    # scheduling (sched_autogroup_enabled, on in Debian), a session's threads share one
    # slice of the core: started from this script's session, two or three processes split
    # half of core 0 between all their threads while the database had the other half, and
    # a listener's thread waited behind the engine's (p99 93 to 699 ms in the runs of
    # 2026-12-04, 12 to 16 ms once each process had a session of its own).
    setsid taskset -c 0 "$bin" serve -c "$dir/rapport-$i.yaml" 2>"$dir/serve-$i.log" &
    pids+=($!) rapport+=($!) ports+=("$port")
  done
  sleep 2
  local before; before=$(cpu_of "${rapport[@]}" $(server_pids))
  local start; start=$(date +%s.%N)
  local conns=$(( 64 / n )) k=0
  for port in "${ports[@]}"; do
    WH_POOL=$work/pool.rec WH_BODY=$work/body.json WH_PATH=/v1/sources/platform/events \
      WH_OFFSET=$(( k * per_wrk )) WH_THREADS=1 taskset -c 1 wrk -t1 -c"$conns" -d"${seconds}s" \
      -s "$shared/webhook.lua" "http://127.0.0.1:$port" | grep '^RESULT' > "$dir/wrk-$k.txt" &
    k=$(( k + 1 ))
  done
  wait $(jobs -p | grep -v -F -x -f <(printf '%s\n' "${pids[@]}")) 2>/dev/null || true
  # Where a listener's tail is: its commits' p99 (a request's body read to its durable
  # commit, the bucket of rapport_ingest_seconds it falls in) beside what wrk saw.
  local commit_p99=0
  for port in "${ports[@]}"; do
    v=$(curl -s "http://127.0.0.1:$port/metrics" | awk -F'[{}" ]+' '
      /^rapport_ingest_seconds_bucket/ { le[n] = $3; c[n++] = $NF }
      END { if (n == 0) { print 0; exit } for (i = 0; i < n; i++) if (c[i] >= 0.99 * c[n - 1]) { print (le[i] == "+Inf" ? 1e9 : le[i] * 1000); exit } }')
    commit_p99=$(awk -v a="$commit_p99" -v b="$v" 'BEGIN { print (b > a ? b : a) }')
  done
  # Taken in: every event answered 202 is in the store. Dispatched: every consumer passed it.
  local events; events=$(count "SELECT COUNT(*) FROM inbox")
  local handled=0 deadline=$(( $(date +%s) + 300 ))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    if [ "$kind" = sqlite ]; then
      handled=$(count "SELECT COUNT(*) FROM inbox WHERE seq <= (SELECT MIN(seq) FROM progress WHERE consumer NOT LIKE 'sink:%' AND consumer NOT LIKE 'engine:%')")
    else
      handled=$(count "SELECT COUNT(*) FROM inbox WHERE seq IS NOT NULL AND seq <= (SELECT MIN(seq) FROM progress WHERE consumer NOT LIKE 'sink:%' AND consumer NOT LIKE 'engine:%')")
    fi
    [ "$handled" -ge "$events" ] && break
    sleep 0.2
  done
  local done_at; done_at=$(date +%s.%N)
  local after; after=$(cpu_of "${rapport[@]}" $(server_pids))
  local p99=0
  for f in "$dir"/wrk-*.txt; do
    v=$(sed 's/.*lat_p99_us=\([0-9]*\).*/\1/' "$f"); [ "$v" -gt "$p99" ] && p99=$v
  done
  awk -v l="$label" -v e="$events" -v s="$seconds" -v p="$p99" -v cp="$commit_p99" -v c=$(( (after - before) * 10000 )) \
      -v t0="$start" -v t1="$done_at" -v h="$handled" \
      'BEGIN {printf "| %s | %d | %.1f | %g | %d | %d%s |\n", l, e / s, p / 1000, cp, c / (e > 0 ? e : 1), h / (t1 - t0), (h < e ? " (not all handled in 300 s)" : "")}'
  for p in "${rapport[@]}"; do kill "$p"; wait "$p" 2>/dev/null || true; done
}
bench "1 process, SQLite" 1 sqlite
bench "1 process, PostgreSQL" 1 direct
bench "2 processes, PostgreSQL" 2 direct
bench "3 processes, PostgreSQL" 3 direct
bench "3 processes, PostgreSQL through PgBouncer" 3 pgbouncer
bench "1 process, PostgreSQL, statements prepared" 1 prepared
bench "3 processes, PostgreSQL, statements prepared" 3 prepared
bench "1 process, PostgreSQL, the listener on 4 connections (store.pool)" 1 pool
echo "(${seconds} s of load each; 64 connections in all, split over the listeners)"
