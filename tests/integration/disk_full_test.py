"""A full disk under the real daemon: the store and the JSON-lines output on a small tmpfs
that is filled up while webhooks arrive, then freed. Nothing acknowledged is lost, nothing
is acknowledged that was not committed, the listener answers 503 with a JSON body meanwhile,
and everything recovers once space returns.

usage: disk_full_test.py RAPPORT_BINARY   (mounts a tmpfs: needs root, else skipped)"""
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

from rapport_daemon import Daemon, rotation_event, wait_for

BINARY = None

CONFIG = """
store:
  path: @FS@/store.db
  busy_timeout: 1s
listener:
  enabled: true
  listen: 127.0.0.1:0
sources:
  platform:
    type: webhook
    secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
hooks:
  introductions: {}
sinks:
  out:
    type: jsonl
    path: @FS@/actions.jsonl
engine:
  tick: 200ms
"""


def live(i):
    import datetime
    today = datetime.date.today()
    return rotation_event(f"ev-full-{i}", student=f"stu-full-{i}", rotation=f"rot-full-{i}",
                          start=str(today - datetime.timedelta(days=1)),
                          end=str(today + datetime.timedelta(days=20)),
                          team=[{"person": f"att-{i}", "role": "attending"}])


class DiskFull(unittest.TestCase):
    def setUp(self):
        self.top = tempfile.mkdtemp(prefix="rapport-full-")
        self.fs = os.path.join(self.top, "fs")
        os.mkdir(self.fs)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", self.fs],
                           capture_output=True, text=True)
        if r.returncode != 0:
            self.skipTest("cannot mount a tmpfs here: " + r.stderr.strip())

    def tearDown(self):
        subprocess.run(["umount", self.fs], capture_output=True)

    def mount(self, path, size):
        os.mkdir(path)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", path],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.addCleanup(subprocess.run, ["umount", path], capture_output=True)

    def fill(self, fs=None):
        """Fills the file system to the last byte; returns the filler's path."""
        filler = os.path.join(fs or self.fs, "filler")
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, b"\0" * 4096) > 0:
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        return filler

    def test_a_full_disk_loses_nothing_acknowledged_and_recovers(self):
        d = Daemon(BINARY, CONFIG.replace("@FS@", self.fs), workdir=self.top).start()
        try:
            accepted = set()
            for i in range(5):
                status, _, data = d.post_event(live(i))
                self.assertEqual(status, 202, data)
                accepted.add(f"ev-full-{i}")
            self.assertTrue(wait_for(lambda: os.path.getsize(
                os.path.join(self.fs, "actions.jsonl")) > 0, timeout=10))
            filler = self.fill()
            answers = {}
            for i in range(5, 40):
                status, headers, data = d.post_event(live(i))
                answers[i] = status
                if status == 202:
                    accepted.add(f"ev-full-{i}")
                else:
                    self.assertEqual(status, 503, data)
                    self.assertEqual(json.loads(data)["error"]["code"], "store_unavailable")
                    self.assertIn("retry-after", headers)
            self.assertIn(503, answers.values(), "a full disk never refused an event")
            ready = d.request("GET", "/readyz")
            self.assertEqual(ready[0], 503)
            self.assertIn("store", [f["component"] for f in json.loads(ready[2])["failing"]])
            self.assertIsNone(d.proc.poll(), "the daemon died of a full disk")
            os.unlink(filler)  # space returns
            status, _, data = wait_for(lambda: (lambda r: r if r[0] == 202 else None)(
                d.post_event(live(99))), timeout=15)
            self.assertEqual(status, 202, data)
            accepted.add("ev-full-99")
            self.assertEqual(d.request("GET", "/readyz")[0], 200)
            # Every acknowledged event is in the store, and its actions reach the file.
            db = sqlite3.connect(os.path.join(self.fs, "store.db"))
            stored = {r[0] for r in db.execute("SELECT event_id FROM inbox")}
            db.close()
            self.assertLessEqual(accepted, stored)

            def written():
                with open(os.path.join(self.fs, "actions.jsonl")) as f:
                    students = {json.loads(line)["subject"] for line in f if line.strip()}
                return {s.replace("stu-", "ev-") for s in students} >= accepted
            self.assertTrue(wait_for(written, timeout=20), "actions missing after recovery")
        finally:
            self.assertEqual(d.stop(), 0)
        self.assertIn("cannot commit to the store", d.log_text())


    def test_a_full_disk_under_the_json_lines_output_delays_actions_without_tearing_them(self):
        out = os.path.join(self.top, "out")
        self.mount(out, "64k")
        config = CONFIG.replace("@FS@/actions.jsonl", out + "/actions.jsonl")
        d = Daemon(BINARY, config.replace("@FS@", self.fs), workdir=self.top).start()
        try:
            filler = self.fill(out)
            for i in range(30):
                status, _, data = d.post_event(live(i))
                self.assertEqual(status, 202, data)
            self.assertTrue(wait_for(lambda: "sink is not accepting actions" in d.log_text(),
                                     timeout=10))
            os.unlink(filler)

            def lines():
                with open(os.path.join(out, "actions.jsonl"), "rb") as f:
                    return f.read().split(b"\n")
            self.assertTrue(wait_for(lambda: len(lines()) >= 31, timeout=20))
            time.sleep(0.5)
            text = lines()
            self.assertEqual(text[-1], b"")  # ends with a whole line
            ids = [json.loads(line)["id"] for line in text[:-1]]  # every line is whole JSON
            self.assertEqual(len(ids), len(set(ids)), "an action was written twice")
            self.assertEqual({json.loads(line)["subject"] for line in text[:-1]},
                             {f"stu-full-{i}" for i in range(30)})
        finally:
            self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    BINARY = sys.argv.pop(1)
    unittest.main(verbosity=2)
