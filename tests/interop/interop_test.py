"""Rapport against the official JavaScript libraries of the standards it speaks: the
CloudEvents SDK (`cloudevents` 9.0.0) and Standard Webhooks (`standardwebhooks` 1.0.0),
pinned in tests/interop/package.json and installed by `npm ci` (deploy/test.sh does it).

- Every action of the demo institution, as the JSON-lines sink writes it and as the
  webhook sink sends it (structured and binary content modes), is a valid CloudEvent to
  the SDK under strict validation, and its signature verifies with Webhook.verify.
- Events made by the SDK and signed by Webhook.sign reach the real listener in
  structured, binary and batched mode; a replay is a duplicate.

usage: interop_test.py RAPPORT_BINARY"""
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from rapport_daemon import (OUT_SECRET, SECRET, Daemon, listener_config,  # noqa: E402
                            rotation_event, wait_for)

BINARY = None
SCRIPT = os.path.join(HERE, "interop.mjs")
DEMO_CONFIG = os.path.join(HERE, "..", "..", "deploy", "examples", "demo.yaml")


def node(*args, timeout=120):
    r = subprocess.run(["node", SCRIPT, *args], capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError(f"node {args[0]} failed:\n{r.stderr}")
    return json.loads(r.stdout)


class NodeReceiver:
    """The SDK's receiving side over real HTTP: verifies, parses, validates each request."""

    def __init__(self, workdir):
        self.port_file = os.path.join(workdir, f"receiver-{time.time_ns()}.port")
        self.out = self.port_file.replace(".port", ".jsonl")
        open(self.out, "w").close()
        self.proc = subprocess.Popen(["node", SCRIPT, "receive", OUT_SECRET, self.port_file,
                                      self.out])
        def port():
            if not os.path.exists(self.port_file):
                return None
            with open(self.port_file) as f:
                return f.read().strip()
        if not wait_for(port, timeout=20):
            raise RuntimeError("the node receiver did not start")
        self.url = f"http://127.0.0.1:{port()}/rapport"

    def records(self):
        with open(self.out) as f:
            return [json.loads(line) for line in f if line.strip()]

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def demo_config(sinks):
    with open(DEMO_CONFIG) as f:
        text = f.read()
    head, tail = text.split("\nsinks:\n", 1)
    return head + "\nsinks:\n" + sinks + "\nlog:" + tail.split("\nlog:", 1)[1]


class Outbound(unittest.TestCase):
    def test_every_demo_action_is_a_valid_cloudevent_to_the_sdk_in_jsonl_and_by_webhook(self):
        work = tempfile.mkdtemp(prefix="rapport-interop-")
        self.addCleanup(shutil.rmtree, work, True)
        demo = subprocess.run([BINARY, "demo", "--dir", work], capture_output=True, text=True,
                              timeout=600)
        self.assertEqual(demo.returncode, 0, demo.stderr)
        period = re.search(r"from (\S+) to (\S+) on a simulated clock", demo.stdout)
        self.assertIsNotNone(period, demo.stdout)
        # The JSON-lines sink's lines.
        lines = node("lines", os.path.join(work, "actions.jsonl"))
        self.assertGreater(lines["lines"], 1000)
        self.assertEqual(lines["valid"], lines["lines"], lines["errors"])

        # The same semester through the webhook sink, in both CloudEvents content modes.
        receivers = {mode: NodeReceiver(work) for mode in ("structured", "binary")}
        try:
            sinks = "".join(f"""  to_{mode}:
    type: webhook
    url: {r.url}
    secret: {OUT_SECRET}
    content_mode: {mode}
    max_in_flight: 32
""" for mode, r in receivers.items())
            again = os.path.join(work, "webhooks")
            os.mkdir(again)
            shutil.copy(os.path.join(work, "institution.db"), again)
            config = os.path.join(again, "rapport.yaml")
            with open(config, "w") as f:
                f.write(demo_config(sinks))
            # Hourly steps, paced (1 ms of real time per simulated hour): a step starts at most
            # max_in_flight deliveries, and a simulated semester runs faster than any
            # receiver answers, so that unpaced, actions would expire before their turn.
            run = subprocess.run([BINARY, "run", "-c", config, "--from", period.group(1),
                                  "--to", period.group(2), "--step", "1h", "--pace", "1ms"],
                                 capture_output=True, text=True,
                                 env=dict(os.environ, RAPPORT_DEMO_DIR=again), timeout=900)
            self.assertEqual(run.returncode, 0, run.stderr)
            db = sqlite3.connect(os.path.join(again, "rapport.db"))
            actions = db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
            for mode, r in receivers.items():
                sink = f"to_{mode}"
                states = dict(db.execute("SELECT state, COUNT(*) FROM deliveries WHERE sink = ?"
                                         " GROUP BY state", (sink,)).fetchall())
                delivered = {row[0] for row in db.execute(
                    "SELECT action_id FROM deliveries WHERE sink = ? AND state = 'delivered'",
                    (sink,))}
                records = r.records()
                print(f"{sink}: deliveries {states}, {len(records)} requests", file=sys.stderr)
                bad = [x for x in records if not x["ok"]]
                self.assertEqual(bad[:3], [], mode)
                self.assertEqual(states.get("dead", 0), 0, (mode, states))
                self.assertEqual(len(delivered), actions, (mode, states))  # every action
                self.assertEqual({x["id"] for x in records}, delivered, mode)
                self.assertTrue(all(x["mode"] == ("binary" if mode == "binary" else
                                                  "application/cloudevents+json")
                                    for x in records), mode)
            db.close()
        finally:
            for r in receivers.values():
                r.close()


INBOUND = listener_config(SECRET)


class Inbound(unittest.TestCase):
    def test_the_sdk_s_structured_binary_and_batched_events_signed_by_the_library(self):
        d = Daemon(BINARY, INBOUND).start()
        try:
            url = f"http://127.0.0.1:{d.port}/v1/sources/platform/events"

            def event(event_id, student, with_time=True):
                e = rotation_event(event_id, student=student, rotation=f"rot-{event_id}")
                spec = {k: e[k] for k in ("id", "type", "subject", "data")}
                if with_time:
                    spec["time"] = e["time"]
                return spec
            requests = [
                {"mode": "structured", "events": [event("sdk-structured", "stu-s")]},
                {"mode": "binary", "events": [event("sdk-binary", "stu-b")]},
                {"mode": "batch", "id": "msg-sdk-batch",
                 "events": [event("sdk-batch-1", "stu-c"), event("sdk-batch-2", "stu-d")]},
                {"mode": "structured", "events": [event("sdk-no-time", "stu-t", False)]},
                # The same event again, under the same webhook-id: a duplicate.
                {"mode": "structured", "events": [event("sdk-structured", "stu-s")]},
            ]
            results = node("send", url, SECRET, json.dumps(requests))
            self.assertEqual([r["status"] for r in results], [202, 202, 202, 202, 200],
                             results)
            self.assertEqual(json.loads(results[2]["body"])["accepted"], 2)
            self.assertTrue(json.loads(results[4]["body"])["duplicate"])
            db = sqlite3.connect(d.store)
            ids = {row[0]: row[1] for row in db.execute("SELECT event_id, subject FROM inbox")}
            db.close()
            self.assertEqual(ids, {"sdk-structured": "stu-s", "sdk-binary": "stu-b",
                                   "sdk-batch-1": "stu-c", "sdk-batch-2": "stu-d",
                                   "sdk-no-time": "stu-t"})
        finally:
            self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    BINARY = os.path.abspath(sys.argv.pop(1))
    if not os.path.isdir(os.path.join(HERE, "node_modules", "cloudevents")):
        sys.exit("tests/interop: run `npm ci` there first (deploy/test.sh does)")
    unittest.main(verbosity=2)
