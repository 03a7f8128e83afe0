"""deploy/examples/webhooks.yaml started unchanged, its settings from the environment, and
the README's first signed event (deploy/examples/send-event.sh: curl and openssl alone).

usage: webhook_example_test.py RAPPORT_BINARY SOURCE_DIR"""
import json
import os
import subprocess
import sys
import unittest

from rapport_daemon import Daemon, Receiver, verify, wait_for
from webhook_crash_test import free_port

BINARY = SOURCE = None
INBOUND = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OUTBOUND = "whsec_c2lnbmluZy1rZXktb2YtcmFwcG9ydC10ZXN0cw=="


class Example(unittest.TestCase):
    def test_the_example_runs_unchanged_and_the_first_event_becomes_an_action(self):
        receiver = Receiver()
        port = free_port()
        d = Daemon(BINARY, None, config_path=os.path.join(SOURCE, "deploy/examples/webhooks.yaml"))
        d.env.update({"RAPPORT_LISTEN": f"127.0.0.1:{port}",
                      "RAPPORT_STORE": os.path.join(d.dir, "rapport.db"),
                      "RAPPORT_INBOUND_SECRET": INBOUND,
                      "RAPPORT_OUTBOUND_URL": receiver.url,
                      "RAPPORT_OUTBOUND_SECRET": OUTBOUND})
        d.start()
        try:
            self.assertEqual(d.port, port)
            sent = subprocess.run([os.path.join(SOURCE, "deploy/examples/send-event.sh"),
                                   f"http://127.0.0.1:{port}"],
                                  env=d.env, capture_output=True, text=True, timeout=30)
            self.assertEqual(sent.returncode, 0, sent.stderr)
            self.assertEqual(sent.stdout.split()[-1], "202", sent.stdout)
            got = wait_for(lambda: receiver.all(), timeout=20)
            self.assertTrue(got)
            _, headers, body, _ = got[0]
            self.assertTrue(verify(OUTBOUND, headers, body))
            data = json.loads(body)["data"]
            self.assertEqual((data["type"], data["student"], data["contact"]),
                             ("introduce", "S1", "A1"))
            self.assertNotIn("evidence", data)  # the example's allow-list
            again = subprocess.run([os.path.join(SOURCE, "deploy/examples/send-event.sh"),
                                    f"http://127.0.0.1:{port}"],
                                   env=d.env, capture_output=True, text=True, timeout=30)
            self.assertEqual(again.stdout.split()[-1], "200", again.stdout)  # same event id
        finally:
            self.assertEqual(d.stop(), 0)
            receiver.close()


if __name__ == "__main__":
    BINARY, SOURCE = sys.argv.pop(1), sys.argv.pop(1)
    unittest.main(verbosity=2)
