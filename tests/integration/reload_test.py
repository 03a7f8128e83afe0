"""SIGHUP reloads `rapport serve`'s configuration under webhook load: a valid file takes
over (a rotated secret works, a new hook runs) without one refused or lost request; an
invalid one is refused with file:line:column and the running one stays; a change to a
restart-only section is named and not applied.

usage: reload_test.py RAPPORT_BINARY"""
import json
import os
import re
import signal
import sqlite3
import sys
import threading
import time
import unittest

from rapport_daemon import SECRET, Daemon, rotation_event, wait_for

BINARY = None
NEW_SECRET = "whsec_c2lnbmluZy1rZXktb2YtcmFwcG9ydC10ZXN0cw=="

CONFIG = """
store:
  path: @DIR@/store.db
listener:
  enabled: true
  listen: 127.0.0.1:0
sources:
  platform:
    type: webhook
    secret: @SECRETS@
hooks:
  introductions: {}@HOOKS@
sinks:
  actions:
    type: jsonl
    path: @DIR@/actions.jsonl
engine:
  tick: 100ms
"""


def config(d, secrets, hooks="", listen="127.0.0.1:0"):
    text = CONFIG.replace("@DIR@", d.dir).replace("@SECRETS@", secrets).replace("@HOOKS@", hooks)
    return text.replace("listen: 127.0.0.1:0", f"listen: {listen}")


class Reload(unittest.TestCase):
    def test_sighup_under_load(self):
        d = Daemon(BINARY, CONFIG.replace("@SECRETS@", SECRET).replace("@HOOKS@", ""))
        d.start()
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
            time.sleep(0.5)
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
            self.assertTrue(wait_for(lambda: "the running one stays" in d.log_text()))
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


if __name__ == "__main__":
    BINARY = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
