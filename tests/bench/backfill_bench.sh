#!/usr/bin/env bash
# Backfill from PostgreSQL of a synthetic consortium, beside psql's \copy of the same
# queries in the same run; reports rows per second, the ratio and rapport's peak memory.
#   tests/bench/backfill_bench.sh [rotations ...]   (default: 100000 200000; 8 team rows each)
# RAPPORT_BENCH_STORE=postgresql: the store on PostgreSQL too (a database of the same server).
# Needs a release build (build/release/rapport) and the test packages. Measures, never fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=build/release/rapport
work=$(mktemp -d /tmp/rapport-bench-XXXXXX)
chmod 755 "$work"
calc() { awk "BEGIN { printf \"%.${2:-0}f\", $1 }"; }
trap 'deploy/test-services.sh stop "$work/db"; rm -rf "$work"' EXIT
mkdir -p "$work/db"
deploy/test-services.sh start "$work/db" >/dev/null
# shellcheck disable=SC1091
source "$work/db/env"
pg_port=$(sed 's/.*port=\([0-9]*\).*/\1/' <<<"$RAPPORT_TEST_PG")
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
psql() { runuser -u postgres -- "$pgbin/psql" -qX -h 127.0.0.1 -p "$pg_port" -U postgres "$@"; }

for n in "${@:-100000 200000}"; do
  for rotations in $n; do
    db=bench_$rotations
    psql -c "CREATE DATABASE $db" >/dev/null
    sed 's/VARCHAR(64) PRIMARY KEY/VARCHAR(64) PRIMARY KEY/' tests/support/small_institution.sql |
      grep -E '^CREATE TABLE' | psql -d "$db" >/dev/null
    psql -d "$db" >/dev/null <<SQL
INSERT INTO sites SELECT 'S' || i, 'Site ' || i, 'Service ' || (i % 8) FROM generate_series(1, 400) i;
INSERT INTO staff_directory SELECT 'E' || i, 'Staff ' || i, NULL, (ARRAY['ATT','RES','RN','PHARM','SW'])[1 + i % 5],
  'Service ' || (i % 8), 'S' || (1 + i % 400), NULL, '2024-01-01 00:00:00' FROM generate_series(1, 12000) i;
INSERT INTO learners SELECT 'L' || i, 'Learner ' || i, NULL, 'Service ' || (i % 8), 'N', '2024-01-01 00:00:00'
  FROM generate_series(1, $rotations / 12) i;
INSERT INTO block_schedule SELECT 'B' || i, 'L' || (1 + i % ($rotations / 12)), 'S' || (1 + i % 400),
  'Service ' || (i % 8), 'CORE', '01/06/2025', '02/02/2025', 'CONF',
  to_char(timestamp '2024-06-01' + i * interval '1 second', 'YYYY-MM-DD HH24:MI:SS')
  FROM generate_series(1, $rotations) i;
INSERT INTO block_team SELECT 'B' || i, 'E' || (1 + (i * 8 + j) % 12000), (ARRAY['ATT','RES','RN','PHARM','SW'])[1 + j % 5],
  NULL, NULL, to_char(timestamp '2024-06-01' + i * interval '1 second', 'YYYY-MM-DD HH24:MI:SS')
  FROM generate_series(1, $rotations) i, generate_series(0, 7) j;
-- A platform indexes its change-time columns; paging in (cursor, key) order relies on it.
CREATE INDEX ON block_schedule (last_modified, block_id);
CREATE INDEX ON block_team (last_modified, block_id, staff_no);
CREATE INDEX ON staff_directory (last_modified, staff_no);
CREATE INDEX ON learners (last_modified, learner_id);
ANALYZE;
SQL
    conn="host=127.0.0.1 port=$pg_port dbname=$db user=postgres"
    # The queries rapport runs, from the example config, read whole by \copy.
    copy_start=$(date +%s.%N)
    for q in "SELECT * FROM staff_directory" "SELECT * FROM learners" \
             "SELECT b.*, s.site_name FROM block_schedule b JOIN sites s ON s.site_code = b.site_code" \
             "SELECT * FROM block_team" "SELECT * FROM assessments"; do
      psql -d "$db" -c "\\copy ($q) to /dev/null"
    done
    copy_s=$(calc "$(date +%s.%N) - $copy_start" 2)
    rows=$((12000 + rotations / 12 + rotations + rotations * 8))
    store="{path: $work/store-$rotations.db, synchronous: normal}"
    if [ "${RAPPORT_BENCH_STORE:-sqlite}" = postgresql ]; then
      psql -c "CREATE DATABASE store_$rotations" >/dev/null
      store="{type: postgresql, url: \"host=127.0.0.1 port=$pg_port dbname=store_$rotations user=postgres\"}"
    fi
    cat > "$work/config.yaml" <<YAML
store: $store
$(sed -n '/^sources:/,/^hooks:/p' deploy/examples/postgresql.yaml | sed '$d' |
  sed "s|connection: .*|connection: \"$conn\"|; s|batch: 1000|batch: 5000|")
hooks: {introductions: {}, thank_you: {}}
log: {level: warn}
YAML
    ${RAPPORT_BENCH_PROFILE:+perf record --call-graph dwarf,16384 -F 499 -o /tmp/rapport-backfill.perf --} \
      /usr/bin/time -f "%e %M %U %S" -o "$work/time" "$bin" backfill -c "$work/config.yaml" --source registrar 2>"$work/log"
    grep -E "imported|indexes built|done in" "$work/log" | sed 's/^/  /' 
    read -r backfill_s peak_kib user_s sys_s < "$work/time"
    echo "$rotations rotations, $((rotations * 8)) team rows ($rows rows): \\copy ${copy_s}s" \
         "($(calc "$rows / $copy_s") rows/s); rapport backfill ${backfill_s}s" \
         "($(calc "$rows / $backfill_s") rows/s, $(calc "$backfill_s / $copy_s" 1)x \\copy)," \
         "peak memory $((peak_kib / 1024)) MiB, rapport CPU $(calc "$user_s + $sys_s" 1)s"
  done
done
