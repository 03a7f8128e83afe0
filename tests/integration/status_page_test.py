"""The admins' status page of the real `rapport serve`, over real HTTP on loopback, on the
demo institution's store:

- Basic authentication against scrypt hashes: no or wrong credentials are 401 with a
  challenge, the page lives on the operations address only, other methods are 405, a
  non-loopback client without TLS is 403 (where this machine has a non-loopback
  address), TLS serves it, and a reload (SIGHUP) changes the accounts.
- In Debian's Chromium (puppeteer-core, tests/interop): the pages load with no console
  error and no request leaving the page, the overview's numbers equal `rapport status
  --json`, a student's picture and table show their contacts, and no score or evaluation
  shows anywhere on it; the form finds the student.
- Each view of a student's page is in the disclosure log with the account's name
  (`rapport audit`), and the log file names no student by name.

usage: status_page_test.py RAPPORT_BINARY"""
import base64
import http.client
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from rapport_daemon import Daemon, wait_for  # noqa: E402

BINARY = None
INTEROP = os.path.join(HERE, "..", "interop")
DEMO_CONFIG = os.path.join(HERE, "..", "..", "deploy", "examples", "demo.yaml")
PASSWORD = "correct horse battery staple"
OTHER_PASSWORD = "another long passphrase"


def hash_password(password):
    r = subprocess.run([BINARY, "hash-password"], input=password + "\n", capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def basic(account, password):
    return "Basic " + base64.b64encode(f"{account}:{password}".encode()).decode()


def get(port, path, authorization=None, method="GET", host="127.0.0.1", context=None):
    c = (http.client.HTTPSConnection(host, port, context=context, timeout=30) if context
         else http.client.HTTPConnection(host, port, timeout=30))
    try:
        c.request(method, path, headers={"Authorization": authorization} if authorization else {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode()
    finally:
        c.close()


def flatten(status):
    """Where each number of `rapport status --json` is, named as the page's data-status."""
    out = {}
    for key in ("inbox_events", "outbox_actions", "timers_pending", "held_actions", "withdrawn"):
        out[key] = status[key]
    for key, value in status["expired"].items():
        out[f"expired.{key}"] = value
    for key, value in status.get("prompts", {}).items():
        out[f"prompts.{key}"] = value
    for s in status["sources"]:
        out[f"sources.{s['name']}.up"] = s["up"]
    for c in status["consumers"]:
        base = f"consumers.{c['kind']}.{c['name']}"
        out[base + ".at"], out[base + ".behind"] = c["at"], c["behind"]
        for state, n in c.get("deliveries", {}).items():
            out[f"{base}.deliveries.{state}"] = n
    for r in status["reports"]:
        out[f"reports.{r['consumer']}.{r['kind']}.count"] = r["count"]
    return out


def non_loopback_address():
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # no packet is sent: only picks the route's source
            address = s.getsockname()[0]
        return None if address.startswith("127.") else address
    except OSError:
        return None


class StatusPage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="rapport-status-page-")
        demo = subprocess.run([BINARY, "demo", "--dir", cls.work], capture_output=True,
                              text=True, timeout=600)
        assert demo.returncode == 0, demo.stderr
        cls.as_of = re.search(r"from \S+ to (\S+) on a simulated clock", demo.stdout).group(1)
        with open(DEMO_CONFIG) as f:
            text = f.read()
        cls.cert = os.path.join(cls.work, "cert.pem")
        cls.key = os.path.join(cls.work, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", cls.key, "-out", cls.cert], check=True, capture_output=True)
        # One step at the start, then an hour's rest: the store holds still while the
        # page and `rapport status --json` are compared.
        cls.base_config = text.replace("  level: warn", "  level: info") + f"""
engine:
  tick: 1h
listener:
  ops_listen: 0.0.0.0:0
status_page:
  accounts:
    coordinator: "{hash_password(PASSWORD)}"
"""
        cls.daemon = Daemon(BINARY, cls.base_config, workdir=cls.work,
                            env={"RAPPORT_DEMO_DIR": cls.work})
        cls.daemon.start(events=False, ops=True)
        cls.port = cls.daemon.ops_port
        db = sqlite3.connect(os.path.join(cls.work, "rapport.db"))
        # The student with the most contacts: the busiest picture.
        cls.student = db.execute(
            "SELECT r.student_id FROM rotations r JOIN team_rows t ON t.rotation_id = r.id"
            " GROUP BY r.student_id ORDER BY COUNT(DISTINCT t.person_id) DESC, r.student_id"
            " LIMIT 1").fetchone()[0]
        db.close()

    @classmethod
    def tearDownClass(cls):
        if cls.daemon.proc and cls.daemon.proc.poll() is None:
            cls.daemon.stop()
        if not os.environ.get("RAPPORT_KEEP_TEST_DIRS"):
            shutil.rmtree(cls.work, True)

    def status_json(self):
        r = self.daemon.command("status", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def explain(self):
        r = self.daemon.command("explain", "--student", self.student, "--at", self.as_of,
                                "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def test_1_authentication_and_routes(self):
        status, headers, _ = get(self.port, "/status")
        self.assertEqual(status, 401)
        self.assertIn('Basic realm="Rapport status"', headers["www-authenticate"])
        self.assertEqual(get(self.port, "/status", basic("coordinator", "wrong password"))[0], 401)
        self.assertEqual(get(self.port, "/status", basic("nobody", PASSWORD))[0], 401)
        self.assertEqual(get(self.port, "/status", "Bearer abc")[0], 401)
        self.assertEqual(get(self.port, "/status", "Basic %%%")[0], 401)
        status, headers, body = get(self.port, "/status", basic("coordinator", PASSWORD))
        self.assertEqual(status, 200, body)
        self.assertTrue(headers["content-type"].startswith("text/html"))
        self.assertEqual(headers["cache-control"], "no-store")
        self.assertIn("default-src 'none'", headers["content-security-policy"])
        self.assertNotIn("<script", body)
        self.assertIn("<th>last poll</th>", body)
        self.assertNotIn("not by this process", body)  # the daemon polled its source
        # The SQL source's cursors show where they stand, never the rows they read (their
        # keys and digests would give an evaluation away).
        db = sqlite3.connect(os.path.join(self.work, "rapport.db"))
        evaluation_ids = [row[0] for row in db.execute("SELECT id FROM evaluations")]
        db.close()
        self.assertGreater(len(evaluation_ids), 10)
        for evaluation in evaluation_ids:
            self.assertNotIn(f">{evaluation}<", body)
            self.assertNotIn(f"&quot;{evaluation}&quot;", body)
        self.assertNotIn("&quot;read&quot;", body)
        # HEAD shows nothing, so it is not a disclosure; another site's link is refused.
        before = self.daemon.command("audit", "--student", self.student).stdout
        status, _, _ = get(self.port, f"/status/student?id={self.student}",
                           basic("coordinator", PASSWORD), "HEAD")
        self.assertEqual(status, 200)
        self.assertEqual(self.daemon.command("audit", "--student", self.student).stdout, before)
        # A link from another site cannot look a student up in the admin's name.
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        c.request("GET", f"/status/student?id={self.student}",
                  headers={"Authorization": basic("coordinator", PASSWORD),
                           "Sec-Fetch-Site": "cross-site"})
        self.assertEqual(c.getresponse().status, 403)
        c.close()
        self.assertEqual(self.daemon.command("audit", "--student", self.student).stdout, before)
        self.assertEqual(get(self.port, "/status", basic("coordinator", PASSWORD), "POST")[0], 405)
        self.assertEqual(get(self.port, "/status/nothing", basic("coordinator", PASSWORD))[0], 404)
        # An unknown student, and markup in the id, answered as text.
        status, _, body = get(self.port, "/status/student?id=%3Cscript%3Ex", basic("coordinator", PASSWORD))
        self.assertEqual(status, 404)
        self.assertIn("&lt;script&gt;x", body)
        self.assertNotIn("<script>x", body)
        # Not a webhook listener: the main address does not exist (listener.enabled false),
        # and the log names the account refused, never a password.
        log = self.daemon.log_text()
        self.assertIn('"account":"coordinator"', log)
        self.assertNotIn("wrong password", log)

    def test_2_a_non_loopback_client_without_tls_is_refused(self):
        address = non_loopback_address()
        if not address:
            self.skipTest("this machine has no non-loopback IPv4 address")
        status, headers, body = get(self.port, "/status", basic("coordinator", PASSWORD),
                                    host=address)
        self.assertEqual(status, 403, body)
        self.assertNotIn("www-authenticate", headers)  # no password invited in clear
        self.assertIn("TLS", body)

    def test_3_in_chromium_numbers_equal_status_json_and_the_student_page_shows_no_score(self):
        if not shutil.which("node"):
            self.fail("node is missing: deploy/install-deps.sh --test installs it")
        if not os.path.isdir(os.path.join(INTEROP, "node_modules", "puppeteer-core")):
            self.fail("tests/interop/node_modules is missing: run `npm ci` in tests/interop "
                      "(deploy/test.sh does)")
        before = self.status_json()
        shots = os.path.join(self.work, "screenshots")
        os.makedirs(shots, exist_ok=True)
        r = subprocess.run(["node", os.path.join(INTEROP, "status_page.mjs"),
                            f"http://127.0.0.1:{self.port}", "coordinator", PASSWORD,
                            self.student, self.as_of, shots], capture_output=True, text=True, timeout=180)
        self.assertEqual(r.returncode, 0, r.stderr)
        seen = json.loads(r.stdout)
        after = self.status_json()
        self.assertEqual(before, after, "the store changed during the test")

        self.assertIn("ERR_INVALID_AUTH_CREDENTIALS", str(seen["without_credentials"]))
        self.assertEqual(seen["overview_status"], 200)
        self.assertEqual(seen["overview_errors"], [])
        self.assertEqual(seen["student_errors"], [])
        base = f"http://127.0.0.1:{self.port}/"
        self.assertEqual([u for u in seen["requests"] if not u.startswith(base)], [],
                         "the pages load nothing from elsewhere")
        # Every number of `rapport status --json` is on the page, and equal.
        cells = {}
        for key, value in seen["overview_cells"]:
            cells.setdefault(key, value)
        expected = flatten(after)
        for key, value in expected.items():
            self.assertIn(key, cells, f"{key} is not on the page")
            shown = cells[key]
            want = ("true" if value else "false") if isinstance(value, bool) else str(value)
            self.assertEqual(shown, want, key)
        self.assertEqual(set(cells) - set(expected), set(), "cells without a status number")
        self.assertGreater(len(expected), 15)

        # The student's page, reached with the form.
        self.assertEqual(seen["form_status"], 200)
        self.assertEqual(seen["student_status"], 200)
        self.assertIn(f"/status/student?id={self.student}", seen["student_url"])
        network = self.explain()
        contacts = [c["id"] for c in network["contacts"]]
        self.assertGreater(len(contacts), 3)
        self.assertEqual(sorted(seen["listed"]), sorted(contacts))
        by_days = sorted(network["contacts"], key=lambda c: -c["days_together"])
        drawn_days = sorted(c["days_together"] for c in by_days[:len(seen["drawn"])])
        self.assertEqual(len(seen["drawn"]), min(40, len(contacts)))
        self.assertEqual(sorted(c["days_together"] for c in network["contacts"]
                                if c["id"] in seen["drawn"]), drawn_days)
        self.assertGreater(seen["svg_size"][0], 300)
        # No score: nothing with decimals (days and ranks are whole numbers), no evaluation id,
        # the letter candidates by rank only.
        text = seen["student_text"]
        self.assertIsNone(re.search(r"\d\.\d", text), re.search(r".{40}\d\.\d.{20}", text))
        html = seen["student_html"]
        evaluations = [e for c in network["contacts"] for e in c["evaluations"]]
        self.assertGreater(len(evaluations), 0, "the demo student has evaluations to hide")
        for e in evaluations:
            self.assertNotIn(e["id"], html)
        self.assertGreater(len(network["letter_candidates"]), 0)
        self.assertEqual(seen["letters"], [c["attending"] for c in
                                           sorted(network["letter_candidates"],
                                                  key=lambda c: c["rank"])])
        self.assertNotIn("score", html.lower().replace("letter scores are not shown", ""))

        # The views are in the disclosure log with the account's name; the log has ids only.
        audit = self.daemon.command("audit", "--student", self.student)
        self.assertEqual(audit.returncode, 0, audit.stderr)
        self.assertIn("status_page", audit.stdout)
        self.assertIn("account:coordinator", audit.stdout)
        log = self.daemon.log_text()
        self.assertIn(f'"student":"{self.student}"', log)
        name = network["student"]["name"]
        self.assertNotIn(name, log)

    def test_4_tls_serves_the_page_and_a_reload_changes_the_accounts(self):
        self.daemon.stop()
        config = self.base_config.replace(
            "  ops_listen: 0.0.0.0:0\n",
            f"  ops_listen: 127.0.0.1:0\n  ops_tls_certificate: {self.cert}\n"
            f"  ops_tls_key: {self.key}\n")
        with open(self.daemon.config_path, "w") as f:
            f.write(config)
        self.daemon.start(events=False, ops=True)
        port = self.daemon.ops_port
        context = ssl.create_default_context(cafile=self.cert)
        status, _, body = get(port, f"/status/student?id={self.student}",
                              basic("coordinator", PASSWORD), context=context)
        self.assertEqual(status, 200, body)
        with open(self.daemon.config_path, "w") as f:
            f.write(re.sub(r"    coordinator: .*\n",
                           f'    registrar: "{hash_password(OTHER_PASSWORD)}"\n', config))
        offset = len(self.daemon.log_text())
        self.daemon.proc.send_signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: "configuration reloaded" in
                                 self.daemon.log_text()[offset:], timeout=30))
        self.assertEqual(get(port, "/status", basic("coordinator", PASSWORD),
                             context=context)[0], 401)
        self.assertEqual(get(port, "/status", basic("registrar", OTHER_PASSWORD),
                             context=context)[0], 200)


if __name__ == "__main__":
    BINARY = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
