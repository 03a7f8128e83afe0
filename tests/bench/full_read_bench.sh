#!/usr/bin/env bash
# Full reads of view-like queries (no cursor: joins, date clean-up, GROUP BY merging a
# roster's duplicated rows), the way many schools' admins write them, on SQLite: a school of
# 2,000 students, 24,000 rotations and about 73,000 roster rows. Baseline, in the same run:
# the queries' own execution (sqlite3 reading every row). Reports the first poll (every row
# new), an unchanged poll, and a simulated stretch polled daily, each as a ratio.
#   tests/bench/full_read_bench.sh [DAYS]   (default 30; 365 for the year the issue asks)
# RAPPORT_BENCH_STORE=postgresql: rapport's store on a PostgreSQL server it starts (the
# school's database stays SQLite; needs the test packages).
# Needs a release build (build/release/rapport), sqlite3 and python3. Measures, never fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${RAPPORT_BENCH_BIN:-build/release/rapport}  # another build to compare
days=${1:-30}
work=$(mktemp -d /tmp/rapport-fullread-XXXXXX)
trap 'rm -rf "$work"' EXIT
store="{path: $work/rapport.db, synchronous: normal}"
if [ "${RAPPORT_BENCH_STORE:-sqlite}" = postgresql ]; then
  chmod 755 "$work"
  mkdir -p "$work/db"
  trap 'deploy/test-services.sh stop "$work/db"; rm -rf "$work"' EXIT
  deploy/test-services.sh start "$work/db" >/dev/null
  # shellcheck disable=SC1091
  source "$work/db/env"
  store="{type: postgresql, url: \"$RAPPORT_TEST_PG\"}"
fi
calc() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; }
now() { date +%s.%N; }

python3 - "$work/school.db" <<'PY'
import random, sqlite3, sys
random.seed(7)
db = sqlite3.connect(sys.argv[1])
db.executescript(open("tests/support/small_institution.sql").read().split("INSERT INTO")[0])
roles = ["ATT", "RES", "RN", "PHARM", "SW"]
services = ["Internal Medicine", "Surgery", "Pediatrics", "Psychiatry", "Neurology",
            "Emergency Medicine", "Obstetrics", "Family Medicine"]
db.executemany("INSERT INTO sites VALUES (?, ?, ?)",
               [(f"S{i:03}", f"Site {i}", services[i % 8]) for i in range(40)])
db.executemany("INSERT INTO staff_directory VALUES (?, ?, ?, ?, ?, ?, NULL, '2026-01-01')",
               [(f"E{i:05}", f"Staff {i}", f"e{i}@example.test", roles[i % 5], services[i % 8],
                 f"S{i % 40:03}") for i in range(3000)])
db.executemany("INSERT INTO learners VALUES (?, ?, ?, ?, 'N', '2026-01-01')",
               [(f"L{i:05}", f"Learner {i}", f"l{i}@example.test", services[i % 8])
                for i in range(2000)])
rotations, team = [], []
for i in range(24000):
    block = f"B{i:06}"
    month = 1 + (i // 2000) % 12
    start, end = f"{month:02}/04/2027", f"{month:02}/28/2027"
    # Codes as exports have them: padded, mixed case.
    rotations.append((block, f"L{i % 2000:05}", f"S{i % 40:03}", services[i % 8],
                      random.choice(["CORE", " core ", "ELEC"]), start, end, "CONF"))
    for j in range(3):
        staff = f"E{(i * 3 + j * 7) % 3000:05}"
        team.append((block, staff, roles[j], None, None))
        if random.random() < 0.02:  # a roster row split around a weekend
            team.append((block, staff + " ", roles[j], f"{month:02}/04/2027", f"{month:02}/14/2027"))
db.executemany("INSERT INTO block_schedule VALUES (?, ?, ?, ?, ?, ?, ?, ?, '2026-01-01')",
               rotations)
# block_team's primary key would refuse the duplicates a platform's export carries.
db.executescript("""
CREATE TABLE roster_export (block_id TEXT, staff_no TEXT, team_role TEXT, from_date TEXT,
                            to_date TEXT);
""")
db.executemany("INSERT INTO roster_export VALUES (?, ?, ?, ?, ?)", team)
db.commit()
print(f"school: 2000 students, 3000 staff, {len(rotations)} rotations, {len(team)} roster rows",
      file=sys.stderr)
PY

# The admin's queries: view-like, read whole at every poll.
people="SELECT trim(staff_no) AS id, role_code, display_name, email, dept, 'N' AS optout, program_name
          FROM staff_directory
        UNION ALL
        SELECT trim(learner_id), 'STU', display_name, email, career_interest, ferpa_optout, NULL
          FROM learners"
rotations="SELECT b.block_id, trim(b.learner_id) AS learner_id, s.site_name, b.service,
             upper(trim(b.block_type)) AS block_type, b.begins, b.ends, b.state
        FROM block_schedule b JOIN sites s ON s.site_code = b.site_code
       WHERE b.state <> 'X'"
team="SELECT r.block_id, trim(r.staff_no) AS staff_no, MIN(r.team_role) AS team_role,
             MIN(r.from_date) AS from_date, MAX(r.to_date) AS to_date, COUNT(*) AS copies
        FROM roster_export r JOIN block_schedule b ON b.block_id = r.block_id
        JOIN staff_directory d ON d.staff_no = trim(r.staff_no)
       GROUP BY r.block_id, trim(r.staff_no)"
indent() { sed 's/^/          /'; }
cat >"$work/rapport.yaml" <<YAML
store: $store
sources:
  registrar:
    type: sql
    backend: sqlite
    connection: $work/school.db
    clock: engine
    poll_interval: 1d
    queries:
      people:
        sql: >
$(indent <<<"$people")
        columns: {role: role_code, name: display_name, specialty: dept, opted_out: optout,
                  program: program_name}
        values:
          role: {ATT: attending, RES: resident, RN: nurse, PHARM: pharmacist,
                 SW: social_worker, STU: student}
      rotations:
        sql: >
$(indent <<<"$rotations")
        columns: {id: block_id, student: learner_id, site: site_name, specialty: service,
                  kind: block_type, start: begins, end: ends, status: state}
        values:
          kind: {CORE: core, ELEC: elective}
          status: {CONF: scheduled}
        date_format: "%m/%d/%Y"
      team:
        sql: >
$(indent <<<"$team")
        columns: {rotation: block_id, person: staff_no, role: team_role, start: from_date,
                  end: to_date}
        values:
          role: {ATT: attending, RES: resident, RN: nurse, PHARM: pharmacist, SW: social_worker}
        date_format: "%m/%d/%Y"
hooks: {}
log: {level: warn}
YAML

# Baseline: the queries' own execution, every row read, by sqlite3.
start=$(now)
for q in "$people" "$rotations" "$team"; do sqlite3 "$work/school.db" "$q" >/dev/null; done
query_s=$(calc "$(now) - $start" 3)

run() { "$bin" run -c "$work/rapport.yaml" --from "$1" --to "$2" --step 1d >/dev/null 2>&1; }
start=$(now); run 2026-12-01 2026-12-01; first_s=$(calc "$(now) - $start" 3)
start=$(now); run 2026-12-02 2026-12-02; again_s=$(calc "$(now) - $start" 3)
last=$(date -d "2026-12-03 + $((days - 1)) days" +%F)
start=$(now); run 2026-12-03 "$last"; stretch_s=$(calc "$(now) - $start" 3)

echo "the queries themselves (sqlite3, every row):  ${query_s} s"
echo "first poll (every row new, events stored):     ${first_s} s  ($(calc "$first_s / $query_s" 1)x the queries)"
echo "an unchanged poll (every row read and hashed):  ${again_s} s  ($(calc "$again_s / $query_s" 1)x the queries)"
echo "$days days simulated, polled daily:              ${stretch_s} s  ($(calc "$stretch_s / $days" 2) s a day; a year: $(calc "$stretch_s / $days * 365 / 60" 1) min)"
