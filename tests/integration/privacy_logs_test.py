"""Proof, not promise: with every log at debug, nothing Rapport writes to its logs, its
metrics or its error bodies carries a name or an email address of the people it handles,
and a person forgotten on request stays out of what a webhook pushes.
usage: privacy_logs_test.py RAPPORT_BINARY"""
import datetime
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import unittest

from rapport_daemon import Daemon, listener_config, rotation_event, wait_for

BINARY = None
CONFIG = listener_config() + """hooks:
  introductions: {}
  thank_you: {}
sinks:
  out:
    type: jsonl
    path: @DIR@/actions.jsonl
log:
  level: debug
"""

# Synthetic people, each name and email distinctive enough to be found anywhere.
PEOPLE = [
    ("stu-zz1", "student", "Zelda Quillfeather", "zelda.quillfeather@example.edu"),
    ("att-zz1", "attending", "Dr. Ottoline Bramblewick", "o.bramblewick@example.edu"),
    ("rn-zz1", "nurse", "Perpetua Wintergreen", "perpetua.w@example.edu"),
]


def person_event(pid, role, name, email):
    return {"specversion": "1.0", "id": f"p-{pid}", "source": "platform",
            "type": "person.updated", "time": "2029-12-01T09:00:00Z", "subject": pid,
            "data": {"id": pid, "role": role, "name": name, "email": email}}


class NoNamesInLogs(unittest.TestCase):
    def test_logs_metrics_and_error_bodies_carry_ids_only(self):
        d = Daemon(BINARY, CONFIG).start(ops=False)
        try:
            for p in PEOPLE:
                status, _, data = d.post_event(person_event(*p))
                self.assertEqual(status, 202, data)
            team = [{"person": "att-zz1", "role": "attending"},
                    {"person": "rn-zz1", "role": "nurse"}]
            today = datetime.date.today()
            status, _, data = d.post_event(rotation_event(
                "ev-zz-rot", student="stu-zz1", rotation="rot-zz1",
                start=str(today - datetime.timedelta(days=1)),
                end=str(today + datetime.timedelta(days=20)), team=team))
            self.assertEqual(status, 202, data)
            # Bad requests whose bodies carry a name: the error bodies must not echo it.
            bad = person_event("stu-zz2", "wizard", "Zelda Quillfeather",
                               "zelda.quillfeather@example.edu")
            status, _, body = d.post_event(bad)
            self.assertEqual(status, 400, body)
            bad_date = rotation_event("ev-zz-bad", student="stu-zz1", rotation="rot-zz2",
                                      start="Zelda Quillfeather")
            status, _, body2 = d.post_event(bad_date)
            self.assertEqual(status, 400, body2)
            def introduced():
                if not os.path.exists(d.dir + "/actions.jsonl"):
                    return False
                with open(d.dir + "/actions.jsonl") as f:
                    return "att-zz1" in f.read()
            self.assertTrue(wait_for(introduced))
            _, _, metrics = d.request("GET", "/metrics")

            # Forgotten on request: a webhook about them is answered 202, nothing stored.
            forgot = d.command("forget", "--student", "stu-zz1", "--requested-by", "office",
                               "--reason", "test")
            self.assertEqual(forgot.returncode, 0, forgot.stderr)
            again = person_event(*PEOPLE[0])
            again["id"] = "p-stu-zz1-again"
            status, _, data = d.post_event(again)
            self.assertEqual(status, 202, data)
            db = sqlite3.connect(d.store)
            try:
                rows = db.execute("SELECT COUNT(*) FROM inbox WHERE subject = 'stu-zz1'")
                self.assertEqual(rows.fetchone()[0], 0)
            finally:
                db.close()
        finally:
            self.assertEqual(d.stop(), 0)
        log = d.log_text()
        self.assertIn('"level":"debug"', log)  # debug really was on
        for pid, _, name, email in PEOPLE:
            for text, what in ((log, "the log"), (metrics.decode(), "the metrics"),
                               (body.decode(), "an error body"), (body2.decode(), "an error body"),
                               (forgot.stdout + forgot.stderr, "forget's output")):
                self.assertNotIn(name, text, f"{name} in {what}")
                self.assertNotIn(email, text, f"{email} in {what}")
                for part in name.split():
                    if len(part) > 6:  # the distinctive surnames alone
                        self.assertNotIn(part, text, f"{part} in {what}")

    def test_a_simulated_semester_at_debug_logs_ids_only(self):
        """The SQL source, the engine and every hook over the small institution."""
        work = tempfile.mkdtemp(prefix="rapport-privacy-")
        source_dir = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        with open(os.path.join(source_dir, "tests/support/small_institution.sql")) as f:
            sql = f.read()
        db = sqlite3.connect(os.path.join(work, "institution.db"))
        db.executescript(sql)
        names = db.execute("SELECT display_name, email FROM staff_directory"
                           " UNION ALL SELECT display_name, email FROM learners").fetchall()
        db.close()
        with open(os.path.join(source_dir, "deploy/examples/demo.yaml")) as f:
            config = f.read()
        config = config.replace("log:\n  level: warn", "log:\n  level: debug")
        path = os.path.join(work, "demo.yaml")
        with open(path, "w") as f:
            f.write(config)
        env = dict(os.environ, RAPPORT_DEMO_DIR=work)
        r = subprocess.run([BINARY, "run", "-c", path, "--from", "2027-01-01", "--to",
                            "2027-03-01"], capture_output=True, text=True, env=env, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        self.assertIn('"level":"debug"', r.stderr)
        self.assertGreater(len(names), 5)
        for name, email in names:
            self.assertNotIn(name, r.stderr)
            self.assertNotIn(email, r.stderr)


if __name__ == "__main__":
    BINARY = os.path.abspath(sys.argv.pop(1))
    unittest.main()
