"""Crash test: clients send signed events concurrently while the daemon is killed with
SIGKILL at random moments and restarted. Every event answered 202 must be in the store;
the receiver must end up with every resulting action at least once, and every webhook-id
it saw must name one action (so it can deduplicate).

With RAPPORT_TEST_STORE=postgresql, the store is a fresh PostgreSQL database on the test
server (RAPPORT_TEST_PG) instead of a SQLite file, and the listener commits on four
connections at once (store.pool: 4). A second case sends the same message from many
clients at once: one is accepted, the others are answered as duplicates, one event stored.

usage: webhook_crash_test.py RAPPORT_BINARY"""
import json
import os
import random
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import unittest

from rapport_daemon import Daemon, Receiver, signed_headers, verify, wait_for
from webhook_delivery_test import OUT_SECRET, live_rotation

BINARY = None
EVENTS = 400
SENDERS = 8


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def psql(url, sql):
    out = subprocess.run(["psql", url, "-AtXq", "-c", sql], capture_output=True, text=True,
                         timeout=60, check=True)
    return [line.split("|", 1) for line in out.stdout.splitlines() if line]


class Crash(unittest.TestCase):
    def store_under_test(self, tag, daemon):
        """The store section for RAPPORT_TEST_STORE's backend (PostgreSQL: a fresh database
        on the test server, the listener on four connections) and a function that runs a
        query on it; `daemon()` is the daemon whose SQLite file it is."""
        if os.environ.get("RAPPORT_TEST_STORE") == "postgresql":
            server = os.environ["RAPPORT_TEST_PG"]
            name = f"rapport_{tag}_{os.getpid()}"
            psql(server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            psql(server, f"CREATE DATABASE {name}")
            self.addCleanup(psql, server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            url = f"{server} dbname={name}"
            return f'store: {{type: postgresql, url: "{url}", pool: 4}}', lambda sql: psql(url, sql)

        def query(sql):
            db = sqlite3.connect(daemon().store)
            try:
                return list(db.execute(sql))
            finally:
                db.close()
        return "store:\n  path: @DIR@/store.db", query

    def test_sigkill_loses_no_acknowledged_event_and_no_action(self):
        receiver = Receiver()
        port = free_port()
        store, query = self.store_under_test("crash", lambda: d)
        config = f"""
{store}
listener:
  enabled: true
  listen: 127.0.0.1:{port}
sources:
  platform:
    type: webhook
    secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
hooks:
  introductions: {{}}
sinks:
  platform_actions:
    type: webhook
    url: {receiver.url}
    secret: {OUT_SECRET}
    retry_schedule: [0s, 1s, 1s, 1s, 1s, 1s, 1s, 1s, 1s, 1s]
engine:
  tick: 100ms
"""
        d = Daemon(BINARY, config).start()
        students = [f"stu-crash-{i:03d}" for i in range(EVENTS)]
        acknowledged = []
        refused = []  # attempts that met the daemon down: the kills landed mid-sending
        lock = threading.Lock()

        def sender(share):
            for student in share:
                event = live_rotation(student)
                body = json.dumps(event).encode()
                msg_id = f"msg-{student}"  # a platform retries with the same webhook-id
                while True:
                    try:
                        d.port = port
                        status, _, _ = d.request("POST", "/v1/sources/platform/events", body,
                                                 signed_headers(body, msg_id=msg_id), timeout=5)
                    except OSError:
                        status = None
                    if status in (200, 202):
                        with lock:
                            acknowledged.append(event["id"])
                        break
                    with lock:
                        refused.append(event["id"])
                    time.sleep(0.05)
                time.sleep(0.005)  # a steady stream, so that the kills land while it flows

        threads = [threading.Thread(target=sender, args=(students[i::SENDERS],))
                   for i in range(SENDERS)]
        for t in threads:
            t.start()
        random.seed()
        for _ in range(2):
            time.sleep(random.uniform(0.05, 0.3))
            d.kill()
            d.start()
        for t in threads:
            t.join(timeout=120)
        self.assertEqual(len(acknowledged), EVENTS)
        self.assertTrue(refused, "the daemon was killed after the clients had finished")

        stored = {row[0] for row in query("SELECT event_id FROM inbox")}
        self.assertEqual(set(acknowledged) - stored, set())
        self.assertTrue(wait_for(lambda: {json.loads(r[2])["data"]["student"]
                                          for r in receiver.all() if r[3] == 200}
                                 >= set(students), timeout=90))
        actions = {row[0]: json.loads(row[1])["data"] for row in
                   query("SELECT action_id, body FROM outbox")}
        seen = {}
        for _, headers, body, _ in receiver.all():
            self.assertTrue(verify(OUT_SECRET, headers, body))
            event = json.loads(body)
            self.assertEqual(headers["webhook-id"], event["id"])
            self.assertIn(event["id"], actions)
            what = (event["data"]["type"], event["data"]["student"], event["data"]["contact"])
            self.assertEqual(seen.setdefault(event["id"], what), what)
        self.assertEqual(set(seen), set(actions))
        duplicates = len(receiver.all()) - len(seen)
        print(f"\n{EVENTS} events, {len(refused)} attempts refused while the daemon was down, "
              f"{len(actions)} actions, {duplicates} repeated deliveries "
              f"(deduplicated by webhook-id)")
        self.assertEqual(d.stop(), 0)
        receiver.close()

    def test_the_same_message_from_many_clients_at_once_is_stored_once(self):
        port = free_port()
        store, query = self.store_under_test("same", lambda: d)
        d = Daemon(BINARY, f"""
{store}
listener:
  enabled: true
  listen: 127.0.0.1:{port}
sources:
  platform:
    type: webhook
    secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
engine:
  tick: 1h
""").start()
        d.port = port
        for round_ in range(5):
            event = live_rotation(f"stu-same-{round_}")
            # Two messages per round, each sent by twelve clients at the same moment: one
            # with its event's id as its message id, one carrying it under another id.
            for event_id, msg_id in ((event["id"], event["id"]),
                                     (event["id"] + "-b", f"msg-same-{round_}")):
                body = json.dumps(dict(event, id=event_id)).encode()
                statuses, barrier = [], threading.Barrier(12)

                def send():
                    barrier.wait()
                    status, _, _ = d.request("POST", "/v1/sources/platform/events", body,
                                             signed_headers(body, msg_id=msg_id), timeout=10)
                    statuses.append(status)
                clients = [threading.Thread(target=send) for _ in range(12)]
                for t in clients:
                    t.start()
                for t in clients:
                    t.join()
                self.assertEqual(sorted(statuses), [200] * 11 + [202], msg_id)
        self.assertEqual(int(query("SELECT COUNT(*) FROM inbox")[0][0]), 10)
        self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    BINARY = sys.argv.pop(1)
    unittest.main(verbosity=2)
