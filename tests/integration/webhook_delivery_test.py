"""The `webhook` sink against a real receiver over loopback, with the real daemon: the
retry schedule, Retry-After, timeouts, dead letters, replay, 410, allow-list, audit.

usage: webhook_delivery_test.py RAPPORT_BINARY"""
import datetime
import json
import os
import re
import sqlite3
import ssl
import subprocess
import sys
import time
import unittest

from rapport_daemon import (OUT_SECRET, Daemon, Receiver, listener_config, rotation_event,
                            verify, wait_for)

BINARY = None
CONFIG = listener_config() + """hooks:
  introductions: {}
sinks:
  platform_actions:
    type: webhook
    url: @URL@
    secret: %s
    timeout: 1s
    retry_schedule: [0s, 1s, 1s]
    breaker_min_requests: 1000
    fields: [type, student, contact, due, reason, contact_details.name, contact_details.role]
engine:
  tick: 200ms
""" % OUT_SECRET


def live_rotation(student, attending="att-1"):
    today = datetime.date.today()
    return rotation_event(f"ev-{student}", student=student, rotation=f"rot-{student}",
                          start=str(today - datetime.timedelta(days=1)),
                          end=str(today + datetime.timedelta(days=20)),
                          team=[{"person": attending, "role": "attending"}])


class ContentModes(unittest.TestCase):
    def test_structured_binary_and_json_modes_as_the_http_binding_defines_them(self):
        receivers = {mode: Receiver() for mode in ("structured", "binary", "json")}
        sinks = "".join(f"""
  to_{mode}:
    type: webhook
    url: {r.url}
    secret: {OUT_SECRET}
    content_mode: {mode}
    timeout: 2s""" for mode, r in receivers.items())
        config = CONFIG.split("sinks:")[0] + "sinks:" + sinks + "\nengine:\n  tick: 200ms\n"
        d = Daemon(BINARY, config).start()
        try:
            self.assertEqual(d.post_event(live_rotation("stu-modes"))[0], 202)
            for mode, r in receivers.items():
                self.assertTrue(wait_for(lambda r=r: r.about("stu-modes")), mode)
            _, headers, body, _ = receivers["structured"].about("stu-modes")[0][:4]
            self.assertTrue(headers["content-type"].startswith("application/cloudevents+json"))
            event = json.loads(body)
            self.assertEqual(event["specversion"], "1.0")
            self.assertEqual(event["dataschema"], "urn:rapport:v1")
            self.assertTrue(verify(OUT_SECRET, headers, body))

            _, headers, body, _ = receivers["binary"].about("stu-modes")[0][:4]
            self.assertEqual(headers["content-type"], "application/json")
            self.assertEqual(headers["ce-specversion"], "1.0")
            self.assertEqual(headers["ce-type"], "rapport.action.introduce")
            self.assertEqual(headers["ce-id"], event["id"])
            self.assertEqual(headers["ce-source"], event["source"])
            self.assertEqual(headers["ce-dataschema"], "urn:rapport:v1")
            self.assertNotIn("ce-data", headers)
            self.assertEqual(json.loads(body)["student"], "stu-modes")  # the data alone
            self.assertTrue(verify(OUT_SECRET, headers, body))  # signed as sent

            _, headers, body, _ = receivers["json"].about("stu-modes")[0][:4]
            self.assertEqual(headers["content-type"], "application/json")
            self.assertEqual(json.loads(body)["specversion"], "1.0")
            self.assertTrue(verify(OUT_SECRET, headers, body))
        finally:
            self.assertEqual(d.stop(), 0)
            for r in receivers.values():
                r.close()


class Delivery(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.receiver = Receiver()
        cls.d = Daemon(BINARY, CONFIG.replace("@URL@", cls.receiver.url)).start()

    @classmethod
    def tearDownClass(cls):
        code = cls.d.stop()
        cls.receiver.close()
        assert code == 0, f"serve exited {code}"

    def push(self, student):
        status, _, data = self.d.post_event(live_rotation(student))
        self.assertEqual(status, 202, data)

    def listing(self, *extra):
        r = self.d.command("deliveries", "list", *extra)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def test_a_delivered_action_is_signed_limited_to_its_fields_and_disclosed(self):
        person = {"specversion": "1.0", "id": "person-att-1", "source": "platform",
                  "type": "person.updated", "time": "2029-12-01T09:00:00Z", "subject": "att-1",
                  "data": {"id": "att-1", "role": "attending", "name": "Dr Synthetic One",
                           "email": "one@example.test"}}
        self.assertEqual(self.d.post_event(person)[0], 202)
        self.push("stu-ok")
        got = wait_for(lambda: self.receiver.about("stu-ok"))
        self.assertEqual(len(got), 1)
        _, headers, body, _ = got[0]
        self.assertTrue(verify(OUT_SECRET, headers, body))
        event = json.loads(body)
        self.assertEqual(headers["webhook-id"], event["id"])  # the action's id
        # A non-default port is part of Host (RFC 9110), and dataschema is an absolute URI.
        self.assertEqual(headers["host"], f"127.0.0.1:{self.receiver.port}")
        self.assertEqual(event["dataschema"], "urn:rapport:v1")
        data = event["data"]
        self.assertEqual(data["type"], "introduce")
        self.assertEqual(data["contact"], "att-1")
        self.assertNotIn("evidence", data)  # outside the allow-list
        self.assertEqual(data["contact_details"], {"role": "attending",
                                                   "name": "Dr Synthetic One"})
        self.assertTrue(wait_for(lambda: f"{event['id']}  sink=platform_actions  state=delivered"
                                 in self.listing()))
        audit = self.d.command("audit", "--student", "stu-ok")
        self.assertEqual(audit.returncode, 0, audit.stderr)
        self.assertIn(f"action={event['id']}", audit.stdout)
        self.assertIn("contact=att-1", audit.stdout)
        self.assertIn("endpoint=http://127.0.0.1:", audit.stdout)
        self.assertIn("basis=consent", audit.stdout)
        fields = audit.stdout.split("fields=")[1].split()[0].split(",")
        self.assertEqual(sorted(fields), ["contact", "contact_details.name",
                                          "contact_details.role", "due", "reason", "student",
                                          "type"])
        self.assertNotIn("evidence", audit.stdout)

    def test_retention_purges_the_attempts_of_finished_deliveries_only(self):
        self.push("stu-retained")
        self.assertTrue(wait_for(lambda: self.receiver.about("stu-retained")))
        mine = ("SELECT a.rowid FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery"
                " JOIN outbox o ON o.action_id = d.action_id WHERE o.student_id = 'stu-retained'"
                " AND d.state = 'delivered'")
        self.assertTrue(wait_for(lambda: self.query(f"SELECT COUNT(*) FROM ({mine})") == 1))
        # This test's attempt made long ago (the other tests' deliveries, still going on in
        # this daemon, keep their recent ones); and a delivery still pending (of a sink this
        # daemon does not have, so that nothing sends it meanwhile), with an old attempt.
        db = sqlite3.connect(self.d.store)
        try:
            db.execute(f"UPDATE delivery_attempts SET at = '2020-01-01T00:00:00Z'"
                       f" WHERE rowid IN ({mine})")
            pending = db.execute(
                "INSERT INTO deliveries (sink, action_seq, action_id, state, next_at)"
                " VALUES ('elsewhere', 0, 'act_pending', 'pending', '2999-01-01T00:00:00Z')"
            ).lastrowid
            db.execute("INSERT INTO delivery_attempts VALUES (?, 1, '2020-01-01T00:00:00Z', 1,"
                       " 503, 'retry', 'kept')", (pending,))
            db.commit()
        finally:
            db.close()
        dry = self.d.command("purge", "--dry-run")
        self.assertEqual(dry.returncode, 0, dry.stderr)
        self.assertIn("delivery attempts    1", dry.stdout)
        self.assertEqual(self.query(f"SELECT COUNT(*) FROM ({mine})"), 1)  # counted only
        done = self.d.command("purge")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("delivery attempts    1", done.stdout)
        self.assertEqual(self.query(f"SELECT COUNT(*) FROM ({mine})"), 0)
        self.assertEqual(self.query(
            f"SELECT COUNT(*) FROM delivery_attempts WHERE delivery = {pending}"), 1)

    def query(self, sql):
        db = sqlite3.connect(self.d.store)
        try:
            return db.execute(sql).fetchone()[0]
        finally:
            db.close()

    def test_connections_are_kept_alive_and_after_an_answer_saying_close_a_new_one_is_used(self):
        students = [f"stu-alive-{i}" for i in range(5)]
        for s in students:
            self.push(s)
            self.assertTrue(wait_for(lambda s=s: self.receiver.about(s)))
        with self.receiver.lock:
            ports = {self.receiver.peers[s][0] for s in students}
        # One connection, or two where another test's delivery was under way meanwhile.
        self.assertLessEqual(len(ports), 2, ports)
        # The receiver closes after answering: the next action goes on a new connection,
        # delivered at its first attempt.
        self.receiver.script("stu-close", (200, {"Connection": "close"}, 0, False))
        self.push("stu-close")
        self.assertTrue(wait_for(lambda: self.receiver.about("stu-close")))
        self.push("stu-after-close")
        self.assertTrue(wait_for(lambda: self.receiver.about("stu-after-close")))
        self.assertEqual(len(self.receiver.about("stu-after-close")), 1)
        with self.receiver.lock:
            self.assertNotEqual(self.receiver.peers["stu-close"][0],
                                self.receiver.peers["stu-after-close"][0])
        listing = self.d.command("deliveries", "list").stdout
        self.assertNotIn("state=pending", "\n".join(
            l for l in listing.splitlines() if "stu-after-close" in l))

    def test_a_2xx_with_a_large_body_is_delivered_once(self):
        self.receiver.script("stu-big", (200, {"x-big-body": "1"}, 0, False))
        self.push("stu-big")
        self.assertTrue(wait_for(lambda: self.receiver.about("stu-big")))
        self.assertTrue(wait_for(lambda: "state=delivered  attempts=1  last_status=200"
                                 in self.listing()))
        time.sleep(1)
        self.assertEqual(len(self.receiver.about("stu-big")), 1)

    def test_500s_are_retried_with_the_same_webhook_id(self):
        self.receiver.script("stu-500", (500, {}, 0, False), (503, {}, 0, False))
        self.push("stu-500")
        got = wait_for(lambda: len(self.receiver.about("stu-500")) >= 3 and
                       self.receiver.about("stu-500"), timeout=15)
        self.assertEqual([g[3] for g in got], [500, 503, 200])
        self.assertEqual(len({g[1]["webhook-id"] for g in got}), 1)
        for g in got:
            self.assertTrue(verify(OUT_SECRET, g[1], g[2]))
        time.sleep(0.5)
        self.assertEqual(len(self.receiver.about("stu-500")), 3)  # nothing after the 2xx

    def test_a_receiver_down_then_up(self):
        self.receiver.script("stu-down", (0, {}, 0, True), (0, {}, 0, True))
        self.push("stu-down")
        got = wait_for(lambda: len(self.receiver.about("stu-down")) >= 3 and
                       self.receiver.about("stu-down"), timeout=15)
        self.assertEqual([g[3] for g in got], [0, 0, 200])

    def test_retry_after_is_honoured(self):
        self.receiver.script("stu-429", (429, {"Retry-After": "3"}, 0, False))
        self.push("stu-429")
        got = wait_for(lambda: len(self.receiver.about("stu-429")) >= 2 and
                       self.receiver.about("stu-429"), timeout=15)
        self.assertEqual([g[3] for g in got], [429, 200])
        self.assertGreaterEqual(got[1][0] - got[0][0], 2.95)  # the schedule alone says 0s

    def test_a_slow_receiver_times_out_goes_to_dead_letters_and_is_replayed(self):
        slow = (200, {}, 2.5, False)
        self.receiver.script("stu-slow", slow, slow, slow, slow)
        self.push("stu-slow")
        # Three attempts (the schedule's length), each cut at the 1 s timeout, then the dead
        # letter list.
        failed = wait_for(lambda: "state=dead  attempts=3" in self.listing("--failed") and
                          self.listing("--failed"), timeout=30)
        self.assertTrue(failed)
        self.assertIn("timed out", failed)
        action_id = [line.split()[0] for line in failed.splitlines()
                     if "state=dead  attempts=3" in line][0]
        time.sleep(3)  # the slow answers finish on the receiver's side
        before = len(self.receiver.about("stu-slow"))
        r = self.d.command("deliveries", "replay", "--id", action_id)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("1 delivery queued", r.stdout)
        self.assertTrue(wait_for(lambda: len(self.receiver.about("stu-slow")) > before))
        self.assertTrue(wait_for(lambda: f"{action_id}  sink=platform_actions  state=delivered"
                                 in self.listing()))

    def test_a_permanent_4xx_is_a_dead_letter_at_once(self):
        self.receiver.script("stu-400", (400, {}, 0, False))
        self.push("stu-400")
        self.assertTrue(wait_for(lambda: "state=dead  attempts=1  last_status=400"
                                 in self.listing("--failed")))
        time.sleep(1.5)
        self.assertEqual(len(self.receiver.about("stu-400")), 1)
        r = self.d.command("deliveries", "replay", "--id", "no-such-action")
        self.assertEqual(r.returncode, 1)
        # Everything made since a date, dead letters included, goes out again.
        r = self.d.command("deliveries", "replay", "--since", "2000-01-01",
                           "--endpoint", "platform_actions")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"^[1-9]\d* deliver(y|ies) queued")
        self.assertTrue(wait_for(lambda: len(self.receiver.about("stu-400")) == 2))


class Breaker(unittest.TestCase):
    def test_the_circuit_opens_on_a_failing_endpoint_and_the_other_sink_goes_on(self):
        failing, healthy = Receiver(), Receiver()
        config = CONFIG.replace("@URL@", failing.url).replace(
            "    breaker_min_requests: 1000\n",
            "    breaker_min_requests: 3\n    breaker_cooldown: 2s\n    max_in_flight: 1\n")
        config = config.replace("retry_schedule: [0s, 1s, 1s]",
                                "retry_schedule: [0s, 1s, 1s, 1s, 1s, 1s, 1s, 1s]")
        config = config.replace("engine:\n", f"""  mirror:
    type: webhook
    url: {healthy.url}
    secret: {OUT_SECRET}
engine:
""")
        d = Daemon(BINARY, config).start()
        try:
            students = [f"stu-brk-{i}" for i in range(6)]
            for s in students:
                failing.script(s, *[(500, {}, 0, False)] * 3)
            started = time.time()
            for s in students:
                self.assertEqual(d.post_event(live_rotation(s))[0], 202)
            # The healthy endpoint gets everything while the failing one is cut off.
            self.assertTrue(wait_for(lambda: len(healthy.all()) == 6, timeout=10))
            time.sleep(max(0, started + 1.5 - time.time()))
            self.assertEqual(len(failing.all()), 3)  # opened after 3 failures
            self.assertTrue(wait_for(lambda: "circuit opened" in d.log_text()))
            # Half-open probes after the cooldown; once the endpoint answers, all arrive.
            for s in students:
                failing.script(s)
            self.assertTrue(wait_for(lambda: all(any(r[3] == 200 for r in failing.about(s))
                                                 for s in students), timeout=30))
            self.assertIn("circuit closed", d.log_text())
        finally:
            self.assertEqual(d.stop(), 0)
            failing.close()
            healthy.close()


class ReceiverDown(unittest.TestCase):
    def test_a_receiver_that_is_down_then_up_gets_the_action(self):
        receiver = Receiver()
        port = receiver.port
        # Retries for about half a minute: under a sanitizer each `deliveries list` takes
        # a while, and the test must see the delivery still pending after a failure.
        config = CONFIG.replace("@URL@", receiver.url).replace(
            "retry_schedule: [0s, 1s, 1s]", "retry_schedule: [0s" + ", 1s" * 30 + "]")
        d = Daemon(BINARY, config).start()
        try:
            receiver.close()  # nothing listens on the port now: connections are refused

            def failed_at_least_once():
                listed = d.command("deliveries", "list").stdout
                m = re.search(r"state=pending\s+attempts=(\d+)", listed)
                return listed if m and int(m.group(1)) >= 2 else None

            self.assertEqual(d.post_event(live_rotation("stu-refused"))[0], 202)
            failed = wait_for(failed_at_least_once, timeout=15)
            self.assertTrue(failed)
            self.assertIn("status=0", failed)
            receiver = Receiver(port)  # up again
            got = wait_for(lambda: receiver.about("stu-refused"), timeout=15)
            self.assertEqual(len(got), 1)
            self.assertTrue(wait_for(lambda: "state=delivered" in
                                     d.command("deliveries", "list").stdout))
        finally:
            self.assertEqual(d.stop(), 0)
            receiver.close()


class RateLimit(unittest.TestCase):
    def test_the_rate_limit_spaces_requests(self):
        receiver = Receiver()
        config = CONFIG.replace("@URL@", receiver.url).replace(
            "    breaker_min_requests: 1000\n", "    breaker_min_requests: 1000\n    rate: 2\n")
        d = Daemon(BINARY, config).start()
        try:
            for i in range(6):
                self.assertEqual(d.post_event(live_rotation(f"stu-rate-{i}"))[0], 202)
            self.assertTrue(wait_for(lambda: len(receiver.all()) == 6, timeout=20))
            times = sorted(r[0] for r in receiver.all())
            # A burst of 2, then 2 per second: the last arrives 2 s after the first at least.
            self.assertGreaterEqual(times[-1] - times[0], 1.8)
        finally:
            self.assertEqual(d.stop(), 0)
            receiver.close()


class OldTls(unittest.TestCase):
    def test_a_receiver_offering_only_tls_1_1_is_refused_even_where_openssl_allows_it(self):
        d = Daemon(BINARY, "")
        cert, key = os.path.join(d.dir, "cert.pem"), os.path.join(d.dir, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", cert], check=True, capture_output=True)
        # A system whose OpenSSL configuration lets TLS 1.0 and 1.1 through: Rapport's own
        # minimum (TLS 1.2) is then the only thing that refuses them.
        loose = os.path.join(d.dir, "openssl.cnf")
        with open(loose, "w") as f:
            f.write("openssl_conf = init\n[init]\nssl_conf = ssl\n[ssl]\nsystem_default = sys\n"
                    "[sys]\nMinProtocol = TLSv1\nCipherString = DEFAULT@SECLEVEL=0\n")

        def receiver(version):
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            ctx.minimum_version = ctx.maximum_version = version
            return Receiver(tls=ctx)
        old, modern = receiver(ssl.TLSVersion.TLSv1_1), receiver(ssl.TLSVersion.TLSv1_2)
        config = CONFIG.replace("@URL@", old.url).replace(
            "    breaker_min_requests: 1000\n", f"    breaker_min_requests: 1000\n    ca_file: {cert}\n")
        config = config.replace("engine:", f"""  modern:
    type: webhook
    url: {modern.url}
    secret: {OUT_SECRET}
    ca_file: {cert}
engine:""")
        with open(d.config_path, "w") as f:
            f.write(config.replace("@DIR@", d.dir))
        d.env["OPENSSL_CONF"] = loose
        d.start()
        try:
            status, _, data = d.post_event(live_rotation("stu-tls"))
            self.assertEqual(status, 202, data)
            self.assertTrue(wait_for(lambda: modern.about("stu-tls"), timeout=15))
            time.sleep(1.5)  # the old receiver's attempts have been made by now
            self.assertEqual(old.about("stu-tls"), [])
            listing = d.command("deliveries", "list", "--endpoint", "platform_actions")
            self.assertIn("protocol version", listing.stdout)
            # Over TLS too, one kept-alive connection carries the next actions.
            for student in ("stu-tls-2", "stu-tls-3"):
                self.assertEqual(d.post_event(live_rotation(student))[0], 202)
                self.assertTrue(wait_for(lambda s=student: modern.about(s), timeout=15))
            with modern.lock:
                ports = {modern.peers[s][0] for s in ("stu-tls", "stu-tls-2", "stu-tls-3")}
            self.assertEqual(len(ports), 1, ports)
        finally:
            self.assertEqual(d.stop(), 0)
            old.close()
            modern.close()


class Gone(unittest.TestCase):
    def test_410_disables_the_endpoint_until_enabled(self):
        receiver = Receiver()
        d = Daemon(BINARY, CONFIG.replace("@URL@", receiver.url)).start()
        try:
            receiver.script("stu-gone", (410, {}, 0, False))
            self.assertEqual(d.post_event(live_rotation("stu-gone"))[0], 202)
            self.assertTrue(wait_for(lambda: receiver.about("stu-gone")))
            self.assertTrue(wait_for(lambda: "sink disabled" in d.log_text()))
            self.assertEqual(d.post_event(live_rotation("stu-after"))[0], 202)
            time.sleep(1.5)
            self.assertEqual(len(receiver.about("stu-gone")), 1)
            self.assertEqual(receiver.about("stu-after"), [])
            status = d.command("status")
            self.assertIn("DISABLED: the receiver answered 410 Gone", status.stdout)
            # For monitoring: the same as data, and judged (a disabled sink is critical).
            check = d.command("status", "--check")
            self.assertEqual(check.returncode, 2, check.stdout)
            self.assertTrue(check.stdout.startswith(
                "RAPPORT CRITICAL - sink platform_actions disabled"), check.stdout)
            self.assertEqual(check.stdout.count("\n"), 1)
            data = json.loads(d.command("status", "--json").stdout)
            sink = [c for c in data["consumers"] if c["name"] == "platform_actions"][0]
            self.assertIn("410", sink["disabled"])
            r = d.command("deliveries", "enable", "--endpoint", "platform_actions")
            self.assertEqual(r.returncode, 0, r.stderr)
            check = d.command("status", "--check")
            self.assertEqual(check.returncode, 0, check.stdout)
            self.assertTrue(check.stdout.startswith("RAPPORT OK"), check.stdout)
            self.assertTrue(wait_for(lambda: receiver.about("stu-after")))
            self.assertTrue(wait_for(lambda: len(receiver.about("stu-gone")) == 2))
        finally:
            self.assertEqual(d.stop(), 0)
            receiver.close()


if __name__ == "__main__":
    BINARY = sys.argv.pop(1)
    unittest.main(verbosity=2)
