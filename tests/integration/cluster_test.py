"""Three `rapport serve` processes on one PostgreSQL store, once directly and once through
PgBouncer in transaction pooling mode (two server connections for many clients), with one
shared receiver. Signed webhooks are spread over the three listeners while the process
that runs the engine is killed with SIGKILL, and the one that takes over is stopped with
SIGSTOP past its lease and then resumed; meanwhile rotations keep arriving in a school's
PostgreSQL database that a SQL source polls (deploy/examples/cluster.yaml with that source
added; the poller runs only in the process holding the engine lease, so it moves with it).
At the end: every event answered 202 is in the store and handled once, every polled
rotation (before the kill, between kill and pause, after the pause) introduced once, each
student whose rotation started and ended before it arrived introduced before thanked, every
action delivered (repeats carry the same webhook-id), no action made twice, the engine
lease moved at the kill and at the pause (a new epoch each time, never back), and the
resumed process stood by instead of completing work another had taken over. Then a process
is stopped with a webhook out: the delivery passes to another once its claim runs out, and
the stopped one's late answer is refused; every live process sent some actions.

usage: cluster_test.py RAPPORT_BINARY   (RAPPORT_TEST_PG, RAPPORT_TEST_PGBOUNCER: the servers)"""
import json
import os
import datetime
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
import tempfile
import unittest

from rapport_daemon import SECRET, Daemon, Receiver, rotation_event, signed_headers, verify, \
    wait_for
from webhook_delivery_test import OUT_SECRET, live_rotation

BINARY = None
SOURCE = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EVENTS = 240
SENDERS = 6
LEASE = 4  # seconds: store.lease
SEND_TIMEOUT = 4  # seconds: the webhook sink's timeout
# The server ends a paused process's transaction after this (twice the lease, at least a
# minute): a process paused inside one may hold the lease row that long (docs/postgresql.md).
IDLE_LIMIT = max(2 * LEASE, 60)

# The school's own database, polled: text columns as exports have them, a cursor that
# orders by time as text (the source's default time_format, with microseconds).
SCHOOL_SCHEMA = """
CREATE TABLE placements (placement_id TEXT PRIMARY KEY, learner TEXT, site TEXT,
  service TEXT, starts TEXT, ends TEXT,
  changed TEXT NOT NULL DEFAULT to_char(clock_timestamp() AT TIME ZONE 'UTC',
                                        'YYYY-MM-DD HH24:MI:SS.US'));
CREATE TABLE placement_team (placement_id TEXT, staff TEXT, team_role TEXT,
  changed TEXT NOT NULL DEFAULT to_char(clock_timestamp() AT TIME ZONE 'UTC',
                                        'YYYY-MM-DD HH24:MI:SS.US'));
"""
POLLED_SOURCE = """sources:
  registrar:
    type: sql
    backend: postgresql
    connection: ${RAPPORT_SCHOOL_DB}
    poll_interval: 300ms
    queries:
      rotations:
        sql: SELECT placement_id, learner, site, service, starts, ends, changed FROM placements
        cursor: changed
        columns: {id: placement_id, student: learner, specialty: service, start: starts,
                  end: ends}
      team:
        sql: SELECT placement_id, staff, team_role, changed FROM placement_team
        cursor: changed
        columns: {rotation: placement_id, person: staff, role: team_role}
"""


def psql(url, sql):
    out = subprocess.run(["psql", url, "-AtXq", "-c", sql], capture_output=True, text=True,
                         timeout=60)
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    return [line.split("|") for line in out.stdout.splitlines() if line]


class Cluster(unittest.TestCase):
    def workdir(self):
        path = tempfile.mkdtemp(prefix="rapport-cluster-")
        self.addCleanup(shutil.rmtree, path, True)
        return path

    def run_cluster(self, through):
        server = os.environ["RAPPORT_TEST_PG"]
        name = f"rapport_cluster_{os.getpid()}_{through}"
        psql(server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        psql(server, f"CREATE DATABASE {name}")
        self.addCleanup(psql, server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        direct = f"{server} dbname={name}"
        url = direct if through == "direct" else \
            f"{os.environ['RAPPORT_TEST_PGBOUNCER']} dbname={name}"
        school_name = f"rapport_school_{os.getpid()}_{through}"
        psql(server, f"DROP DATABASE IF EXISTS {school_name} WITH (FORCE)")
        psql(server, f"CREATE DATABASE {school_name}")
        self.addCleanup(psql, server, f"DROP DATABASE IF EXISTS {school_name} WITH (FORCE)")
        school = f"{server} dbname={school_name}"
        psql(school, SCHOOL_SCHEMA)
        receiver = Receiver()
        self.addCleanup(receiver.close)
        # deploy/examples/cluster.yaml, its settings from the environment, with the school's
        # database added as a polled source.
        with open(os.path.join(SOURCE, "deploy/examples/cluster.yaml")) as f:
            example_text = f.read()
        self.assertIn("\nsources:\n", example_text)
        example = os.path.join(self.workdir(), "cluster.yaml")
        with open(example, "w") as f:
            # A send lasts 4 s at most: a delivery's claim runs out 8 s after it was taken.
            self.assertIn("timeout: 15s", example_text)
            f.write(example_text.replace("\nsources:\n", "\n" + POLLED_SOURCE, 1)
                    .replace("timeout: 15s", f"timeout: {SEND_TIMEOUT}s", 1))
        env = {"RAPPORT_SCHOOL_DB": school, "RAPPORT_STORE_URL": url, "RAPPORT_STORE_LEASE": f"{LEASE}s", "RAPPORT_TICK": "100ms",
               "RAPPORT_LISTEN": "127.0.0.1:0", "RAPPORT_INBOUND_SECRET": SECRET,
               "RAPPORT_OUTBOUND_URL": receiver.url, "RAPPORT_OUTBOUND_SECRET": OUT_SECRET}
        daemons = [Daemon(BINARY, None, env=env, config_path=example) for _ in range(3)]
        # All three at once: the store is migrated once, under its lock.
        starters = [threading.Thread(target=d.start) for d in daemons]
        for t in starters:
            t.start()
        for t in starters:
            t.join()
        for d in daemons:
            self.assertIsNotNone(d.port, d.log_text())

        def lease():
            rows = psql(direct, "SELECT holder, epoch FROM leases WHERE name = 'engine'")
            return (rows[0][0], int(rows[0][1])) if rows else None

        def holder_daemon():
            holder, _ = wait_for(lease)
            pid = int(holder.split(":")[1])
            return next(d for d in daemons if d.proc.pid == pid)

        students = [f"stu-{through}-{i:03d}" for i in range(EVENTS)]
        acknowledged, lock = [], threading.Lock()
        down = set()  # daemons not answering (killed, stopped)

        def sender(share):
            rng = random.Random()
            for student in share:
                event = live_rotation(student)
                body = json.dumps(event).encode()
                msg_id = f"msg-{student}"
                while True:
                    target = rng.choice([d for d in daemons if d not in down])
                    try:
                        status, _, _ = target.request("POST", "/v1/sources/platform/events", body,
                                                      signed_headers(body, msg_id=msg_id),
                                                      timeout=2)
                    except OSError:
                        status = None
                    if status in (200, 202):
                        with lock:
                            acknowledged.append(event["id"])
                        break
                    time.sleep(0.05)
                time.sleep(0.02)

        threads = [threading.Thread(target=sender, args=(students[i::SENDERS],))
                   for i in range(SENDERS)]
        for t in threads:
            t.start()

        polled = []

        def place(count):
            """Rotations (each with its attending) arriving in the school's database."""
            today = datetime.date.today()
            for _ in range(count):
                n = len(polled)
                learner, pid = f"pol-{through}-{n:03d}", f"pl-{through}-{n:03d}"
                psql(school, f"INSERT INTO placement_team (placement_id, staff, team_role)"
                             f" VALUES ('{pid}', 'att-1', 'attending');"
                             f" INSERT INTO placements (placement_id, learner, site, service,"
                             f" starts, ends) VALUES ('{pid}', '{learner}', 'North Campus',"
                             f" 'Internal Medicine', '{today - datetime.timedelta(days=1)}',"
                             f" '{today + datetime.timedelta(days=20)}')")
                polled.append(learner)

        # The engine's process dies mid-run: another takes the lease over, epoch + 1.
        place(8)
        time.sleep(1.0)
        _, first_epoch = wait_for(lease)
        killed = holder_daemon()
        down.add(killed)
        killed.kill()
        self.assertTrue(wait_for(lambda: lease()[1] >= first_epoch + 1, timeout=LEASE * 5))
        place(8)
        # The one that took over is paused past its lease: a third takes over, epoch + 2.
        paused = holder_daemon()
        self.assertIsNot(paused, killed)
        down.add(paused)
        paused.proc.send_signal(signal.SIGSTOP)
        paused_epoch = lease()[1]
        # The dispatch partitions it held as it stopped (none if it stopped before its first
        # claim, as a slow machine may have it).
        paused_parts = int(psql(direct, "SELECT COUNT(*) FROM leases WHERE name LIKE"
                                        f" 'dispatch:%' AND holder LIKE '%:{paused.proc.pid}:%'"
                                        " AND until > to_char(now() AT TIME ZONE 'UTC',"
                                        " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")[0][0])
        self.assertTrue(wait_for(lambda: lease()[1] > paused_epoch,
                                 timeout=LEASE * 5 + IDLE_LIMIT))
        runner = holder_daemon()
        self.assertNotIn(runner, (killed, paused))
        place(8)
        time.sleep(1.0)
        paused.proc.send_signal(signal.SIGCONT)
        down.discard(paused)
        place(8)
        # Per-student order: rotations that started two days ago and ended yesterday. Their
        # start and end enter the inbox from timers, in that order, and the per-student
        # hooks of whichever process holds their partition must handle the start first:
        # each student's introduction comes before their thank-you in the outbox.
        today = datetime.date.today()
        ordered = [f"ord-{through}-{i:02d}" for i in range(12)]
        for student in ordered:
            event = rotation_event(f"ev-{student}", student=student, rotation=f"rot-{student}",
                                   start=str(today - datetime.timedelta(days=2)),
                                   end=str(today - datetime.timedelta(days=1)))
            body = json.dumps(event).encode()
            self.assertTrue(wait_for(lambda: runner.request(
                "POST", "/v1/sources/platform/events", body,
                signed_headers(body, msg_id=f"msg-{student}"), timeout=5)[0] in (200, 202),
                timeout=30))

        for t in threads:
            t.join(timeout=180)
        self.assertEqual(len(acknowledged), EVENTS)
        # Every acknowledged event is in the store, once, and every consumer passed it.
        stored = [r[0] for r in psql(direct, "SELECT event_id FROM inbox")]
        self.assertEqual(len(stored), len(set(stored)))
        self.assertEqual(set(acknowledged) - set(stored), set())
        # (An event is numbered when the engine first reads after it arrived: none is left
        # unnumbered, none is past the slowest consumer, and no timer that is due (a
        # rotation that started yesterday starts now: its event comes from a timer) is left.)
        self.assertTrue(wait_for(lambda: psql(
            direct, "SELECT (SELECT COUNT(*) FROM inbox WHERE seq IS NULL OR seq > (SELECT"
                    " MIN(seq) FROM progress WHERE consumer NOT LIKE 'sink:%'"
                    " AND consumer NOT LIKE 'engine:%')) + (SELECT COUNT(*) FROM timers WHERE"
                    " due_at <= to_char(now() AT TIME ZONE 'UTC',"
                    " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))")[0][0] == "0", timeout=90))
        # An introduction per student, sent or polled, each action made once (the outbox
        # keeps one of each id whoever made it) and delivered (at least once; repeats carry
        # the same id). The last polled rows are read at the runner's next poll.
        def introduced():
            return sorted(r[0] for r in psql(direct, "SELECT student_id FROM outbox"
                                                     " WHERE type = 'introduce'"))
        wait_for(lambda: set(introduced()) >= set(students + polled + ordered), timeout=60)
        self.assertEqual(introduced(), sorted(students + polled + ordered))

        def order_of(student):
            return [r[0] for r in psql(direct, "SELECT type FROM outbox WHERE student_id ="
                                               f" '{student}' AND type IN ('introduce',"
                                               " 'thank_you') ORDER BY seq")]
        self.assertTrue(wait_for(lambda: all(len(order_of(s)) == 2 for s in ordered),
                                 timeout=60), {s: order_of(s) for s in ordered})
        for student in ordered:
            self.assertEqual(order_of(student), ["introduce", "thank_you"], student)
        actions = {r[0]: r[1] for r in psql(direct, "SELECT action_id, student_id FROM outbox")}
        self.assertTrue(wait_for(lambda: {json.loads(r[2])["id"] for r in receiver.all()
                                          if r[3] == 200} >= set(actions), timeout=120))
        seen = {}
        for _, headers, body, _ in receiver.all():
            self.assertTrue(verify(OUT_SECRET, headers, body))
            event = json.loads(body)
            self.assertEqual(headers["webhook-id"], event["id"])
            self.assertIn(event["id"], actions)
            seen.setdefault(event["id"], 0)
            seen[event["id"]] += 1
        # The lease moved at the death and at the pause (and, on a loaded machine, wherever a
        # step outlasted the lease: the other live process took over, each time with a new
        # epoch, and nothing above was made or recorded twice); never back to the dead one.
        # The resumed process stands by (asserted from its own account), and its listener
        # still takes events in.
        self.assertGreaterEqual(lease()[1], first_epoch + 2)
        self.assertIsNot(holder_daemon(), killed)
        # (It logged "standing by" at its start too: what counts is that it lost the lease
        # it held, in one of the two places that can tell.)
        self.assertTrue(wait_for(lambda: "another process took the engine lease over" in
                                 paused.log_text() or "went to another process mid-step" in
                                 paused.log_text(), timeout=10), paused.log_text()[-3000:])
        late = live_rotation(f"stu-{through}-late")
        status, _, _ = paused.post_event(late)
        self.assertEqual(status, 202)
        self.assertTrue(wait_for(lambda: any(json.loads(r[2])["data"]["student"] ==
                                             f"stu-{through}-late" for r in receiver.all()),
                                 timeout=30))
        # A process stops with a send out: once that delivery's claim has run out (the
        # sink's timeout plus the lease) the other live process takes it over, sends it
        # again (same webhook-id) and records it; the stopped one's answer, when it resumes,
        # is refused (asserted from its own count) and nothing of it is written.
        slow = f"stu-{through}-slow"
        receiver.script(slow, (200, {}, SEND_TIMEOUT - 1.5, False))
        status, _, _ = runner.post_event(live_rotation(slow))
        self.assertEqual(status, 202)
        first = wait_for(lambda: next((w for s, w in list(receiver.arrived) if s == slow), None),
                         timeout=30)
        self.assertTrue(first)
        claimer = psql(direct, f"SELECT claimed_by FROM deliveries WHERE action_id = '{first}'")
        stopped = next(d for d in daemons if d.proc.pid == int(claimer[0][0].split(":")[1]))
        stopped.proc.send_signal(signal.SIGSTOP)
        # (Stopped inside a transaction, it holds its rows until the server ends that
        # transaction, IDLE_LIMIT at most: the others' steps wait that long at worst.)
        self.assertTrue(wait_for(lambda: sum(1 for s, w in list(receiver.arrived) if w == first)
                                 >= 2, timeout=SEND_TIMEOUT + LEASE + IDLE_LIMIT + 10))
        self.assertTrue(wait_for(lambda: psql(
            direct, f"SELECT state, claimed_by FROM deliveries WHERE action_id = '{first}'")[0]
            [0] == "delivered", timeout=20))
        stopped.proc.send_signal(signal.SIGCONT)

        def refused():
            status, _, text = stopped.request("GET", "/metrics")
            lines = [line for line in text.decode().splitlines()
                     if line.startswith("rapport_delivery_results_refused_total")]
            return sum(float(line.split()[-1]) for line in lines)
        self.assertTrue(wait_for(lambda: refused() >= 1, timeout=20), stopped.log_text()[-3000:])
        taker = psql(direct, f"SELECT claimed_by FROM deliveries WHERE action_id = '{first}'")
        self.assertNotEqual(taker[0][0], claimer[0][0])
        self.assertEqual(len(psql(direct, "SELECT 1 FROM delivery_attempts a JOIN deliveries d"
                                          f" ON d.id = a.delivery WHERE d.action_id = '{first}'")),
                         1)
        # Every live process sent some of the actions: the sending is shared.
        senders = psql(direct, "SELECT COUNT(DISTINCT claimed_by) FROM deliveries"
                               " WHERE state = 'delivered'")
        self.assertGreaterEqual(int(senders[0][0]), 2)
        # The process table: the two live processes, one of them holding the engine lease,
        # the dispatch partitions (engine.partitions: 8) shared between them, four each.
        def live():
            status = json.loads(runner.command("status", "--json").stdout)
            return sorted(p["leases"] for p in status["processes"])

        def shared():
            leases = live()
            if len(leases) != 2 or sum(1 for held in leases if "engine" in held.split()) != 1:
                return False
            parts = [sorted(int(n) for held in [w for w in line.split()
                                                if w.startswith("dispatch:")]
                            for n in held[len("dispatch:"):].split(",") if n) for line in leases]
            return sorted(len(p) for p in parts) == [4, 4] and \
                sorted(parts[0] + parts[1]) == list(range(8))
        self.assertTrue(wait_for(shared, timeout=3 * LEASE + 5), live())
        # Partitions the paused process held were taken over, and it let them go when it
        # resumed (what it had under way was refused at commit).
        if paused_parts:
            self.assertIn("took a dispatch partition over", paused.log_text())
        print(f"\n{through}: {EVENTS} events over 3 listeners, {len(actions)} actions, "
              f"{sum(seen.values()) - len(seen)} repeated deliveries (same webhook-id), "
              f"{senders[0][0]} processes sent, "
              f"engine lease epochs {first_epoch}..{lease()[1]}")
        for d in daemons:
            if d is not killed:
                self.assertEqual(d.stop(), 0, d.log_text()[-3000:])

    def test_directly(self):
        self.run_cluster("direct")

    def test_through_pgbouncer(self):
        self.run_cluster("pgbouncer")


if __name__ == "__main__":
    BINARY = sys.argv.pop(1)
    unittest.main(verbosity=2)
