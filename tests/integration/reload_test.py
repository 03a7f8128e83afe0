"""SIGHUP reloads `rapport serve`'s configuration under webhook load: a valid file takes
over (a rotated secret works, a new hook runs) without one refused or lost request; an
invalid one is refused with file:line:column and the running one stays; a change to a
restart-only section is named and not applied.

usage: reload_test.py RAPPORT_BINARY"""
import datetime
import os
import re
import signal
import sqlite3
import sys
import threading
import time
import unittest

from rapport_daemon import (OUT_SECRET, SECRET, Daemon, Receiver, listener_config,
                            rotation_event, wait_for)

BINARY = None
NEW_SECRET = OUT_SECRET  # a second key for the platform source, while rotating

CONFIG = listener_config("@SECRETS@") + """hooks:
  introductions: {}@HOOKS@
sinks:
  actions:
    type: jsonl
    path: @DIR@/actions.jsonl
  platform_actions:
    type: webhook
    url: @URL@
    secret: @OUT@
    timeout: 5s
engine:
  tick: 100ms
"""


RECEIVER = None


def config(d, secrets, hooks="", listen="127.0.0.1:0"):
    text = CONFIG.replace("@DIR@", d.dir).replace("@SECRETS@", secrets).replace("@HOOKS@", hooks)
    text = text.replace("@URL@", RECEIVER.url).replace("@OUT@", OUT_SECRET)
    return text.replace("listen: 127.0.0.1:0", f"listen: {listen}")


def live_rotation(student):
    today = datetime.date.today()
    return rotation_event(f"ev-{student}", student=student, rotation=f"rot-{student}",
                          start=str(today - datetime.timedelta(days=1)),
                          end=str(today + datetime.timedelta(days=20)))


class Reload(unittest.TestCase):
    def test_sighup_under_load(self):
        global RECEIVER
        RECEIVER = Receiver()
        self.addCleanup(RECEIVER.close)
        d = Daemon(BINARY, CONFIG.replace("@SECRETS@", SECRET).replace("@HOOKS@", "")
                   .replace("@URL@", RECEIVER.url).replace("@OUT@", OUT_SECRET))
        d.start()
        # An action whose delivery is under way when the reload comes (the receiver takes
        # 1.5 s to answer): it finishes with the engine that sent it, and is sent once.
        RECEIVER.script("stu-slow", (200, {}, 1.5, False))
        self.assertEqual(d.post_event(live_rotation("stu-slow"))[0], 202)
        statuses, stop, sent = [], threading.Event(), []

        def load():
            n = 0
            while not stop.is_set():
                n += 1
                event = rotation_event(f"ev-load-{n}", student=f"stu-load-{n}",
                                       rotation=f"rot-load-{n}")
                try:
                    status, _, _ = d.post_event(event)
                except OSError as e:  # a refused or dropped connection
                    status = repr(e)
                statuses.append(status)
                if status == 202:
                    sent.append(event["id"])
        worker = threading.Thread(target=load)
        worker.start()
        try:
            def reloaded(count):
                return wait_for(lambda: d.log_text().count('"configuration reloaded"') >= count)

            # 1. A valid file: two secrets while rotating, and one more hook.
            time.sleep(0.7)
            with open(d.config_path, "w") as f:
                f.write(config(d, f"{SECRET} {NEW_SECRET}", "\n  thank_you: {}"))
            d.proc.send_signal(signal.SIGHUP)
            self.assertTrue(reloaded(1), d.log_text()[-2000:])
            status, _, data = d.post_event(rotation_event("ev-new-secret", student="stu-new"),
                                           secret=NEW_SECRET)
            self.assertEqual(status, 202, data)
            self.assertIn('"kept_until_restart":"none"', d.log_text())
            time.sleep(0.5)  # the load goes on under the new configuration

            # 2. An invalid file: refused where it is wrong; the running one stays.
            with open(d.config_path, "w") as f:
                f.write(config(d, NEW_SECRET).replace("tick: 100ms", "tick: soon"))
            d.proc.send_signal(signal.SIGHUP)
            self.assertTrue(wait_for(lambda: "the configuration is not valid" in d.log_text()))
            self.assertRegex(d.log_text(), r'rapport\.yaml:\d+:\d+: error: engine\.tick')
            status, _, _ = d.post_event(rotation_event("ev-old-secret", student="stu-old"))
            self.assertEqual(status, 202)  # the first secret still works: nothing changed

            # The load signs with the first secret, which the next file rotates out.
            stop.set()
            worker.join()

            # 3. A restart-only section changed: named, and the running listener stays.
            with open(d.config_path, "w") as f:
                f.write(config(d, NEW_SECRET, listen="127.0.0.1:1"))
            d.proc.send_signal(signal.SIGHUP)
            self.assertTrue(reloaded(2))
            self.assertIn('"section":"listener"', d.log_text())
            self.assertIn('"kept_until_restart":"listener"', d.log_text())
            status, _, _ = d.post_event(rotation_event("ev-after", student="stu-after"),
                                        secret=NEW_SECRET)
            self.assertEqual(status, 202)  # on the port it was listening on
            status, _, _ = d.post_event(rotation_event("ev-old-gone", student="stu-gone"))
            self.assertEqual(status, 401)  # the first secret was rotated out
            time.sleep(0.3)
        finally:
            stop.set()
            worker.join()
            code = d.stop()
        self.assertEqual(code, 0)
        refused = [s for s in statuses if s not in (202, 200)]
        self.assertEqual(refused, [], "requests refused during the reloads")
        self.assertGreater(len(sent), 20)
        db = sqlite3.connect(d.store)
        stored = {row[0] for row in db.execute("SELECT event_id FROM inbox")}
        db.close()
        self.assertEqual([e for e in sent if e not in stored], [])  # nothing acknowledged lost
        # The hook the first reload added ran (its progress is recorded).
        db = sqlite3.connect(d.store)
        consumers = {row[0] for row in db.execute("SELECT consumer FROM progress")}
        db.close()
        self.assertIn("thank_you", consumers)
        self.assertEqual(len(RECEIVER.about("stu-slow")), 1)  # sent once, not again
        db = sqlite3.connect(d.store)
        states = db.execute("SELECT d.state, d.attempts FROM deliveries d JOIN outbox o"
                            " ON o.action_id = d.action_id WHERE o.student_id = 'stu-slow'"
                            " AND d.sink = 'platform_actions'").fetchall()
        db.close()
        self.assertEqual(states, [("delivered", 1)])


if __name__ == "__main__":
    BINARY = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
