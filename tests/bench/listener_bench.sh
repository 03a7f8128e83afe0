#!/usr/bin/env bash
# Webhook listener benchmark: the full path (verify, parse, durable group commit, 202)
# against the no-op Beast baseline of ../shared/bench and its Node.js peer (fastify +
# better-sqlite3: verify, parse, one INSERT per request), side by side in the same run in
# interleaved rounds, all pinned to core 0, loaded by wrk on core 1 with the same signed
# ~1 KB event (a distinct webhook-id per request, so every request is a new event). Prints
# req/s, p50/p99 and CPU per request (from /proc) for each, the ratios, and medians. The
# daemon's CPU is read once it has dispatched everything it took in (at most a minute after
# the load stops), so that its figure includes the dispatch of those requests.
# A figure, not a test: it never fails on time.
#   tests/bench/listener_bench.sh [SHARED_BENCH_DIR] [RUNS] [SECONDS]
# Needs wrk and node (deploy/install-deps.sh --bench) and a release build. The Node peer
# needs Node.js 20 or later and the npm registry: its packages are installed once into
# RAPPORT_BENCH_CACHE (default ~/.cache/rapport-bench), better-sqlite3 built from source
# against the system's Node headers (prebuilt binaries come from GitHub, not reachable
# here); without them the peer's row is skipped, with the reason.
set -euo pipefail
cd "$(dirname "$0")/../.."
shared=$(cd "${1:-../shared/bench}" && pwd)
runs=${2:-3}
seconds=${3:-10}
bin=build/release/rapport
[ -x "$bin" ] || { echo "build the release preset first" >&2; exit 2; }
command -v wrk >/dev/null && command -v node >/dev/null || { echo "needs wrk and node: deploy/install-deps.sh --bench" >&2; exit 2; }
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

secret=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
team=$(for i in $(seq 1 6); do printf '{"person":"E%04d","role":"nurse"},' "$i"; done)
printf '{"specversion":"1.0","id":"fixed","source":"platform","type":"rotation.scheduled","time":"2030-01-01T00:00:00Z","subject":"S00001","data":{"id":"R00001","student":"S00001","site":"North Campus Hospital","specialty":"Internal Medicine","kind":"core","start":"2030-01-07","end":"2030-02-01","team":[%s{"person":"A0001","role":"attending"}]},"platform":{"block":"B3","term":"2029-2030","location":{"building":"Tower A","floor":"4","unit":"4 West","campus":"North"},"links":{"self":"https://platform.example.test/api/v2/placements/R00001","learner":"https://platform.example.test/api/v2/learners/S00001","site":"https://platform.example.test/api/v2/sites/north-campus"},"updated_by":"sync-service","revision":17,"tags":["core","inpatient","block-3"]}}' "$team" > "$work/body.json"
echo "body: $(wc -c < "$work/body.json") bytes"

for mode in ingest daemon; do
  if [ $mode = ingest ]; then port=18998 tick=1h; else port=18997 tick=1s; fi
  mkdir -p "$work/$mode"
cat > "$work/$mode/rapport.yaml" <<YAML
store:
  path: $work/$mode/store.db
listener:
  enabled: true
  listen: 127.0.0.1:$port
  threads: 1
  queue_limit: 100000
sources:
  platform:
    type: webhook
    secret: $secret
    format: mapped      # the event id is the webhook-id: every request is a new event
    mapping:
      type: /type
      time: /time
      fields: {id: /data/id, student: /data/student, site: /data/site,
               specialty: /data/specialty, kind: /data/kind, start: /data/start,
               end: /data/end}
      team: /data/team
      team_fields: {person: /person, role: /role}
engine:
  tick: $tick
log:
  level: warn
YAML
done

g++ -std=c++20 -O2 -o "$work/noop_server" "$shared/noop_server.cpp" -lpthread
taskset -c 0 "$work/noop_server" 18999 & pids+=($!)
taskset -c 0 "$bin" serve -c "$work/ingest/rapport.yaml" 2>"$work/ingest.log" & pids+=($!)
taskset -c 0 "$bin" serve -c "$work/daemon/rapport.yaml" 2>"$work/daemon.log" & pids+=($!)
noop_pid=${pids[0]} ingest_pid=${pids[1]} daemon_pid=${pids[2]}

# The Node peer, run from ../shared/bench with its packages from the cache.
peer_pid=""
cache=${RAPPORT_BENCH_CACHE:-$HOME/.cache/rapport-bench}/node-peer
prepare_peer() {
  [ "$(node -p 'process.versions.node.split(".")[0]')" -ge 20 ] || { echo "Node.js < 20"; return 1; }
  [ -f "$cache/node_modules/better-sqlite3/build/Release/better_sqlite3.node" ] && return 0
  mkdir -p "$cache"
  cp "$shared/node-peer/package.json" "$shared/node-peer/package-lock.json" "$cache/"
  (cd "$cache" && npm ci --no-audit --no-fund --ignore-scripts >/dev/null 2>&1 &&
     npm_config_nodedir=/usr npm rebuild better-sqlite3 --ignore-scripts=false >/dev/null 2>&1) ||
    { echo "npm ci or the build of better-sqlite3 failed in $cache"; return 1; }
}
if why=$(prepare_peer); then
  MODE=work PORT=18996 DB="$work/peer.db" WEBHOOK_SECRET=$secret NODE_PATH="$cache/node_modules" \
    taskset -c 0 node "$shared/node-peer/server.js" 2>"$work/peer.log" & pids+=($!)
  peer_pid=$!
else
  echo "node peer: skipped ($why)"
fi
sleep 1
total=$(( runs * 4 * 200000 + 100000 ))
node "$shared/gen-pool.js" "$secret" "$work/body.json" "$total" benchrun "$work/pool.rec" >/dev/null

cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
offset=0
declare -A rps p50 p99 cpu_us
# RAPPORT_BENCH_PROFILE=1 (or ingest, daemon, peer): a perf profile of that server's
# first run, printed at the end.
profiled=${RAPPORT_BENCH_PROFILE:-}
[ "$profiled" = 1 ] && profiled=ingest
run() {  # name pid port [path]
  local before after line
  if [ -n "$profiled" ] && [ "$1" = "$profiled" ]; then
    perf record -q -g -p "$2" -o "$work/perf.data" -- sleep "$seconds" 2>/dev/null &
    perf_pid=$!
  fi
  before=$(cpu "$2")
  line=$(WH_POOL=$work/pool.rec WH_BODY=$work/body.json WH_PATH=${4:-/v1/sources/platform/events} \
    WH_OFFSET=$offset WH_THREADS=1 taskset -c 1 wrk -t1 -c64 -d"${seconds}s" \
    -s "$shared/webhook.lua" "http://127.0.0.1:$3" | grep '^RESULT')
  # The daemon's CPU counts the dispatch of what it acknowledged in the window: dispatch
  # runs at each tick and trails the load, so part of it comes after the load stops (read
  # in the window only, the figure left out up to a third of the daemon's CPU).
  if [ "$1" = daemon ]; then
    local waited=0
    until [ "$(sqlite3 "$work/daemon/store.db" "SELECT COALESCE((SELECT seq FROM progress
             WHERE consumer = 'mirror'), 0) >= (SELECT COALESCE(MAX(seq), 0) FROM inbox)" \
             2>/dev/null)" = 1 ] || [ $waited -ge 600 ]; do
      sleep 0.1; waited=$((waited + 1))
    done
  fi
  after=$(cpu "$2")
  offset=$(sed 's/.*next_offset=\([0-9]*\).*/\1/' <<<"$line")
  local requests status; requests=$(sed 's/.*RESULT requests=\([0-9]*\).*/\1/' <<<"$line")
  status=$(sed 's/.*err_status=\([0-9]*\).*/\1/' <<<"$line")
  local r=$(( requests / seconds ))
  local c  # clock ticks (10 ms) -> us, to a tenth (a whole microsecond is 8 % of the no-op's)
  c=$(awk -v t=$((after - before)) -v n="$requests" 'BEGIN {printf "%.1f", t * 10000 / (n > 0 ? n : 1)}')
  echo "$1 run: $r req/s, p50 $(sed 's/.*lat_p50_us=\([0-9]*\).*/\1/' <<<"$line") us, p99 $(sed 's/.*lat_p99_us=\([0-9]*\).*/\1/' <<<"$line") us, CPU $c us/req, non-2xx $status"
  rps[$1]+="$r " p50[$1]+="$(sed 's/.*lat_p50_us=\([0-9]*\).*/\1/' <<<"$line") "
  p99[$1]+="$(sed 's/.*lat_p99_us=\([0-9]*\).*/\1/' <<<"$line") " cpu_us[$1]+="$c "
}
for i in $(seq 1 "$runs"); do
  run noop "$noop_pid" 18999
  [ -n "$peer_pid" ] && run peer "$peer_pid" 18996 /webhook
  run ingest "$ingest_pid" 18998
  run daemon "$daemon_pid" 18997
done
median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
n_rps=$(median "${rps[noop]}") n_cpu=$(median "${cpu_us[noop]}")
echo
echo "medians of $runs runs of ${seconds}s, wrk -t1 -c64, servers on core 0, wrk on core 1"
echo "| server | req/s | vs noop | p50 us | p99 us | CPU us/req | CPU vs noop |"
echo "|---|---:|---:|---:|---:|---:|---:|"
row() {  # label key
  local r c; r=$(median "${rps[$2]}") c=$(median "${cpu_us[$2]}")
  awk -v l="$1" -v r="$r" -v nr="$n_rps" -v p50="$(median "${p50[$2]}")" \
      -v p99="$(median "${p99[$2]}")" -v c="$c" -v nc="$n_cpu" \
      'BEGIN {printf "| %s | %d | %.2f | %d | %d | %.1f | %.2fx |\n", l, r, r / nr, p50, p99, c, (nc > 0 ? c / nc : 0)}'
}
row "noop_server (baseline)" noop
[ -n "$peer_pid" ] && row "Node.js peer: fastify + better-sqlite3, one INSERT per request" peer
row "rapport: verify, parse, group commit, 202 (engine idle)" ingest
row "rapport daemon as shipped (also dispatching each 1 s tick)" daemon
if [ -n "$peer_pid" ]; then
  p_rps=$(median "${rps[peer]}")
  for key in ingest daemon; do
    awk -v k="$key" -v r="$(median "${rps[$key]}")" -v p="$p_rps" \
      'BEGIN {printf "%s: throughput %.1fx the Node peer'"'"'s\n", k, (p > 0 ? r / p : 0)}'
  done
fi
for mode in ingest daemon; do
  echo "$mode: events in the inbox $(sqlite3 "$work/$mode/store.db" 'SELECT COUNT(*) FROM inbox' 2>/dev/null || echo '?')"
done
if [ -n "$profiled" ]; then
  wait "$perf_pid"
  perf report -i "$work/perf.data" --no-children --sort dso,symbol -g none --stdio 2>/dev/null | grep -v "^#" | grep "%" | cut -c1-150 | head -60
fi
