"""Email digests from the real `rapport run` to a real SMTP server on loopback (Debian's
python3-aiosmtpd: STARTTLS required, authentication required), on the demo institution:

- deploy/examples/digest.yaml runs unchanged: every digest arrives once, to the student's
  own address, as MIME with a plain-text and an HTML part, List-Unsubscribe (RFC 8058),
  and, where it has reminders, an iCalendar file that python3-icalendar reads, with one
  VEVENT per thank-you and follow-up whose UID is the action's id; students who opted out
  get nothing; each digest's actions are in the disclosure log; status counts them.
- A server answering 451 is tried again with the same message (no digest twice); a 550
  is final and recorded as dead.
- `rapport preview` shows the digest a student would get next, without sending it.
- Staff chat channels (webhook sinks with format: slack and teams, audience: staff) get a
  daily summary within Slack's documented Block Kit limits and an Adaptive Card 1.5 that
  Microsoft's own adaptivecards library parses without a warning (tests/interop), and a
  notices channel hears of dead letters; no student's name, id or email is in any of them.

usage: email_digest_test.py RAPPORT_BINARY"""
import base64
import email
import http.server
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from email import policy

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
try:
    import aiosmtpd  # noqa: F401
    import icalendar
except ImportError:
    # Debian's packages live in dist-packages; a python3 first on PATH that is not
    # Debian's (pyenv) is given that folder (both are pure Python).
    sys.path.append("/usr/lib/python3/dist-packages")
    import icalendar
from smtp_server import SmtpServer  # noqa: E402

BINARY = None
EXAMPLE = os.path.join(HERE, "..", "..", "deploy", "examples", "digest.yaml")
INTEROP = os.path.join(HERE, "..", "interop")
SLACK_BLOCKS = {"header", "section", "divider", "context"}  # the ones the renderer uses


class Receiver(http.server.ThreadingHTTPServer):
    """Keeps every POST; /reject answers 400 (a receiver refusing for good), /gone 410."""

    def __init__(self):
        self.posts = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.posts.append((self.path, self.headers.get("Content-Type"), body))
                self.send_response({"/reject": 400, "/gone": 410}.get(self.path, 200))
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def bodies(self, path):
        return [json.loads(b) for p, _, b in self.posts if p == path]


def rapport(*args, env=None, check=True):
    r = subprocess.run([BINARY, *args], capture_output=True, text=True, env=env, timeout=600)
    if check and r.returncode != 0:
        raise AssertionError(f"rapport {' '.join(args)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r


def parsed(raw):
    return email.message_from_bytes(raw, policy=policy.default)


class EmailDigests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="rapport-email-")
        cls.env = dict(os.environ, RAPPORT_DEMO_DIR=cls.dir)
        rapport("demo", "--dir", cls.dir, env=cls.env)  # builds the institution
        cls.smtp = SmtpServer(cls.dir)
        cls.env.update(cls.smtp.env())
        with sqlite3.connect(os.path.join(cls.dir, "institution.db")) as db:
            cls.addresses = {row[0]: row[1] for row in
                             db.execute("SELECT learner_id, email FROM learners")}
            cls.opted_out = {row[0] for row in
                             db.execute("SELECT email FROM learners WHERE ferpa_optout = 'Y'")}

    @classmethod
    def tearDownClass(cls):
        cls.smtp.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def derived(self, name, extra):
        """digest.yaml with its own store and `extra` lines under the email sink."""
        with open(EXAMPLE) as f:
            text = f.read().replace("/digest.db", f"/{name}.db")
        text = text.replace("    from: \"Clinical", extra + "    from: \"Clinical")
        path = os.path.join(self.dir, name + ".yaml")
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_1_the_example_unchanged_sends_each_student_their_digests(self):
        out = rapport("validate", "-c", EXAMPLE, env=self.env)
        self.assertIn("valid", out.stdout)
        before = len(self.smtp.inbox.received())
        rapport("run", "-c", EXAMPLE, "--from", "2026-12-28", "--to", "2027-07-15", env=self.env)
        received = self.smtp.inbox.received()[before:]
        self.assertGreater(len(received), 100)
        self.assertTrue(self.smtp.authentications and all(self.smtp.authentications))
        ids, uids = set(), set()
        by_student = {}
        for mail_from, rcpt, raw in received:
            self.assertEqual(mail_from, "rotations@example.edu")
            self.assertEqual(len(rcpt), 1)
            self.assertNotIn(rcpt[0], self.opted_out, "a student who opted out got a digest")
            m = parsed(raw)
            self.assertEqual(m["To"].addresses[0].addr_spec, rcpt[0])
            self.assertNotIn(m["Message-ID"], ids, "a digest arrived twice")
            ids.add(m["Message-ID"])
            self.assertTrue(m["List-Unsubscribe"].startswith("<https://example.edu/"))
            self.assertEqual(m["List-Unsubscribe-Post"], "List-Unsubscribe=One-Click")
            self.assertEqual(m.get_content_type(), "multipart/mixed")
            text = m.get_body(preferencelist=("plain",)).get_content()
            html = m.get_body(preferencelist=("html",)).get_content()
            self.assertIn("Example School of Medicine", text)
            self.assertIn("<!DOCTYPE html>", html)
            by_student.setdefault(rcpt[0], 0)
            by_student[rcpt[0]] += 1
            for part in m.iter_attachments():
                self.assertEqual(part.get_content_type(), "text/calendar")
                calendar = icalendar.Calendar.from_ical(part.get_content())
                events = [c for c in calendar.walk() if c.name == "VEVENT"]
                self.assertGreater(len(events), 0)
                for event in events:
                    uid = str(event["UID"])
                    self.assertTrue(uid.endswith("@rapport"), uid)
                    self.assertNotIn(uid, uids, "one reminder in two digests")
                    uids.add(uid)
        self.assertGreater(len(uids), 0, "no digest had a reminder")
        # Each reminder's UID is a thank-you's or a follow-up's id.
        kinds = {}
        with open(os.path.join(self.dir, "digest-actions.jsonl")) as f:
            for line in f:
                a = json.loads(line)
                kinds[a["id"]] = a["type"]
        for uid in uids:
            self.assertIn(kinds.get(uid[: -len("@rapport")]),
                          ("rapport.action.thank_you", "rapport.action.follow_up"), uid)
        # status counts them, the disclosure log has them.
        status = json.loads(rapport("status", "-c", EXAMPLE, "--json", env=self.env).stdout)
        sink = [c for c in status["consumers"] if c["name"] == "digest"][0]
        self.assertEqual(sink["deliveries"]["sent"], len(received))
        student = next(s for s, a in self.addresses.items() if a == received[0][1][0])
        audit = rapport("audit", "-c", EXAMPLE, "--student", student, env=self.env).stdout
        self.assertIn("digest", audit)

    def test_2_a_451_is_retried_as_the_same_message_and_a_550_is_dead(self):
        config = self.derived("retry", "    retry_schedule: [0s, 1s, 1s]\n")
        refused = self.addresses["L0002"]
        self.smtp.inbox.refuse.add(refused)
        self.smtp.inbox.temporary = 3
        before = len(self.smtp.inbox.received())
        commands = self.smtp.inbox.data_commands
        try:
            # Daily steps at midnight: the Monday 07:00 digests are composed on Tuesday's.
            rapport("run", "-c", config, "--from", "2026-12-28", "--to", "2027-01-05",
                    env=self.env)
            status = json.loads(rapport("status", "-c", config, "--json", env=self.env).stdout)
            digests = [c for c in status["consumers"] if c["name"] == "digest"][0]["deliveries"]
            self.assertEqual(digests.get("dead"), 1, digests)
            # The refused ones are tried again a second later: in this run's last steps,
            # or, if it ended first, in the next run.
            time.sleep(2)
            rapport("run", "-c", config, "--from", "2027-01-05", "--to", "2027-01-05",
                    env=self.env)
        finally:
            self.smtp.inbox.refuse.clear()
        received = self.smtp.inbox.received()[before:]
        ids = [parsed(raw)["Message-ID"] for _, _, raw in received]
        self.assertEqual(len(ids), len(set(ids)), "a digest arrived twice")
        self.assertNotIn(refused, [r[0] for _, r, _ in received])
        status = json.loads(rapport("status", "-c", config, "--json", env=self.env).stdout)
        digests = [c for c in status["consumers"] if c["name"] == "digest"][0]["deliveries"]
        self.assertEqual(digests.get("sent"), len(received), digests)
        self.assertNotIn("pending", digests)
        self.assertEqual(self.smtp.inbox.data_commands - commands, len(received) + 3)

    def test_3_preview_shows_the_next_digest_without_sending_it(self):
        config = self.derived("preview", "")
        rapport("run", "-c", config, "--from", "2026-12-28", "--to", "2027-01-04T05:00:00Z",
                env=self.env)
        before = len(self.smtp.inbox.received())
        out = rapport("preview", "-c", config, "--student", "L0001", "--at",
                      "2027-01-04T06:00:00Z", env=self.env).stdout
        self.assertIn("Subject: Example School of Medicine:", out)
        self.assertIn("Introduce yourself", out)
        self.assertIn("<!DOCTYPE html>", out)
        files = os.path.join(self.dir, "preview-files")
        rapport("preview", "-c", config, "--student", "L0001", "--out", files, env=self.env)
        with open(os.path.join(files, "digest.eml"), "rb") as f:
            m = parsed(f.read())
        self.assertEqual(m["To"].addresses[0].addr_spec, self.addresses["L0001"])
        self.assertEqual(len(self.smtp.inbox.received()), before, "preview sent something")

    def test_4_staff_chat_channels_get_summaries_and_notices_and_no_student(self):
        receiver = Receiver()
        base = f"http://127.0.0.1:{receiver.server_address[1]}"
        secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
        sinks = f"""  coordinators_slack:
    type: webhook
    url: {base}/slack
    format: slack
    audience: staff
    hour: 6
    title: Clinical rotations
  coordinators_teams:
    type: webhook
    url: {base}/teams
    format: teams
    audience: staff
    hour: 6
  operations:
    type: webhook
    url: {base}/notices
    format: slack
    audience: staff
    summary: notices
  archived_channel:
    type: webhook
    url: {base}/gone
    format: slack
    audience: staff
    summary: notices
  refusing_platform:
    type: webhook
    url: {base}/reject
    secret: {secret}
    retry_schedule: [0s]
"""
        with open(EXAMPLE) as f:
            text = f.read().replace("/digest.db", "/chat.db")
        text = text.replace("\nlog:", sinks + "\nlog:")
        # Far from UTC: the 06:00 summary is of the local day (rotations start at local
        # midnight, which is the day before in UTC).
        text += "\nengine:\n  timezone: Pacific/Auckland\n"
        config = os.path.join(self.dir, "chat.yaml")
        with open(config, "w") as f:
            f.write(text)
        try:
            rapport("run", "-c", config, "--from", "2026-12-28", "--to", "2027-01-12", env=self.env)
        finally:
            receiver.shutdown()
        slack, teams = receiver.bodies("/slack"), receiver.bodies("/teams")
        self.assertGreater(len(slack), 0)
        self.assertEqual(len(slack), len(teams))
        for message in slack:
            blocks = message["blocks"]
            self.assertLessEqual(len(blocks), 50)
            self.assertTrue({b["type"] for b in blocks} <= SLACK_BLOCKS, blocks)
            for b in blocks:
                if b["type"] == "header":
                    self.assertLessEqual(len(b["text"]["text"]), 150)
                if b["type"] == "section":
                    self.assertLessEqual(len(b["text"]["text"]), 3000)
        self.assertIn("rotations starting", json.dumps(slack))
        self.assertTrue(os.path.isdir(os.path.join(INTEROP, "node_modules", "adaptivecards")),
                        "run `npm ci` in tests/interop (the README's test command does)")
        for message in teams:
            r = subprocess.run(["node", os.path.join(INTEROP, "adaptive_card.mjs")],
                               input=json.dumps(message), capture_output=True, text=True,
                               timeout=60)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("Family Medicine: 9 rotations starting", json.dumps(slack))
        notices = receiver.bodies("/notices")
        self.assertTrue(any("given up on" in json.dumps(n) for n in notices), notices)
        # A channel that is gone is told once, then disabled: not a message per step.
        self.assertLessEqual(len(receiver.bodies("/gone")), 1)
        # Nothing about a student by name, id or address reaches a chat channel.
        chat = json.dumps(slack + teams + notices)
        with sqlite3.connect(os.path.join(self.dir, "institution.db")) as db:
            for learner, name, address in db.execute(
                    "SELECT learner_id, display_name, email FROM learners"):
                for value in (learner, name, address):
                    self.assertNotIn(value, chat)
        self.assertNotIn("recommendation", chat.lower())  # no letter candidate
        status = json.loads(rapport("status", "-c", config, "--json", env=self.env).stdout)
        sink = [c for c in status["consumers"] if c["name"] == "coordinators_slack"][0]
        self.assertEqual(sink["deliveries"]["sent"], len(slack))
        gone = [c for c in status["consumers"] if c["name"] == "archived_channel"][0]
        self.assertIn("410", gone.get("disabled", ""))


if __name__ == "__main__":
    BINARY = sys.argv.pop(1)
    unittest.main(verbosity=2)
