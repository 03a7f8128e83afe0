"""The inbound listener through real HTTP over loopback, against the real daemon.

usage: webhook_listener_test.py RAPPORT_BINARY"""
import base64
import datetime
import http.client
import json
import os
import re
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
import unittest

from rapport_daemon import (SECRET, Daemon, listener_config, rotation_event, sign, signed_headers,
                            wait_for)

BINARY = None

CONFIG = """
store:
  path: @DIR@/store.db
  busy_timeout: 1s
listener:
  enabled: true
  listen: 127.0.0.1:0
  body_limit: 4096
  header_limit: 2048
  read_timeout: 1s
  idle_timeout: 2s
  queue_limit: 2
sources:
  platform:
    type: webhook
    secret: whsec_bm90LXRoZS1jdXJyZW50LW9uZS1vZi1yb3RhdGlvbg== whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
  hub:
    type: webhook
    verify: github
    secret: hub-secret
  token:
    type: webhook
    verify: bearer
    secret: t0k3n
  open:
    type: webhook
    verify: none
    insecure: true
  native:
    type: webhook
    secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
    format: mapped
    mapping:
      type: /event
      types: {placement.created: rotation.scheduled, eval.done: evaluation.submitted}
      id: /uuid
      time: /sent_at
      fields:
        id: /placement/id
        student: /placement/learner/id
        site: /placement/location
        specialty: /placement/discipline
        kind: /placement/type
        start: /placement/begins
        end: /placement/ends
        rotation: /evaluation/placement_id
        evaluator: /evaluation/by
        submitted: /sent_at
        score: /evaluation/score
      fields_by_type:
        evaluation.submitted: {id: /evaluation/id}
      constants: {scale.min: "1", scale.max: "9"}
      team: /placement/staff
      team_fields: {person: /user, role: /code}
      values:
        role: {ATT: attending, RES: resident, RN: nurse}
        kind: {CORE: core, ELEC: elective}
hooks:
  introductions: {}
sinks:
  out:
    type: jsonl
    path: @DIR@/actions.jsonl
"""


def inbox(daemon):
    db = sqlite3.connect(daemon.store)
    try:
        return db.execute("SELECT source, event_id, type, subject, payload FROM inbox"
                          " ORDER BY seq").fetchall()
    finally:
        db.close()


def read_all(s):
    """Everything the server sends until it closes the connection."""
    out = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return out
        out += chunk


def raw(daemon, data, read=True, timeout=5):
    s = socket.create_connection(("127.0.0.1", daemon.port), timeout=timeout)
    try:
        s.sendall(data)
        if not read:
            return s
        return read_all(s)
    finally:
        if read:
            s.close()


class Listener(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(BINARY, CONFIG).start()

    @classmethod
    def tearDownClass(cls):
        code = cls.d.stop()
        assert code == 0, f"serve exited {code}"

    def error(self, status, expected_status, data, code=None, says=None):
        self.assertEqual(status, expected_status, data)
        body = json.loads(data)
        self.assertIn("error", body)
        self.assertIn("message", body["error"])
        if code:
            self.assertEqual(body["error"]["code"], code)
        if says:
            self.assertIn(says, body["error"]["message"])

    def test_signed_event_is_committed_then_a_repeat_is_a_duplicate(self):
        today = datetime.date.today()
        live = rotation_event("ev-commit", student="stu-commit", rotation="rot-commit",
                              start=str(today - datetime.timedelta(days=1)),
                              end=str(today + datetime.timedelta(days=20)))
        body = json.dumps(live).encode()
        headers = signed_headers(body)
        status, _, data = self.d.request("POST", "/v1/sources/platform/events", body, headers)
        self.assertEqual(status, 202, data)
        self.assertEqual(json.loads(data), {"accepted": 1, "duplicate": False})
        # 202 means durable: the row is there now, not later.
        self.assertIn(("platform", "ev-commit", "rotation.scheduled", "stu-commit"),
                      [r[:4] for r in inbox(self.d)])
        status, _, data = self.d.request("POST", "/v1/sources/platform/events", body, headers)
        self.assertEqual((status, json.loads(data)), (200, {"duplicate": True}))
        # Same event id under a new webhook-id: still one row.
        status, _, data = self.d.post_event(live)
        self.assertEqual((status, json.loads(data)), (200, {"duplicate": True}))
        self.assertEqual(sum(1 for r in inbox(self.d) if r[1] == "ev-commit"), 1)
        # The hooks ran: the introduction action reached the sink.
        self.assertTrue(wait_for(lambda: os.path.exists(self.d.dir + "/actions.jsonl") and
                                 "stu-commit" in open(self.d.dir + "/actions.jsonl").read()))

    def test_cloudevents_binary_mode_optional_time_and_data_base64(self):
        # Binary content mode, the JS SDK's default: ce-* headers, the data as the body.
        data = {"id": "rot-bin", "student": "stu-bin", "site": "north", "specialty": "surgery",
                "kind": "core", "start": "2030-01-07", "end": "2030-02-01"}
        body = json.dumps(data).encode()
        headers = signed_headers(body)
        headers.update({"ce-specversion": "1.0", "ce-id": "ev-binary", "ce-source": "platform",
                        "ce-type": "rotation.scheduled", "ce-time": "2029-12-01T09:00:00Z",
                        "ce-subject": "stu-bin"})
        status, _, reply = self.d.request("POST", "/v1/sources/platform/events", body, headers)
        self.assertEqual(status, 202, reply)
        self.assertIn(("platform", "ev-binary", "rotation.scheduled", "stu-bin"),
                      [r[:4] for r in inbox(self.d)])
        # A bearer token signs no header: binary mode is refused there.
        token = {"content-type": "application/json", "authorization": "Bearer t0k3n",
                 "ce-specversion": "1.0", "ce-id": "ev-bin-token", "ce-source": "x",
                 "ce-type": "rotation.scheduled"}
        status, _, reply = self.d.request("POST", "/v1/sources/token/events", body, token)
        self.error(status, 400, reply, code="binary_mode_unsigned")
        # No time: the message's (signed) time is used.
        untimed = rotation_event("ev-untimed", student="stu-untimed", rotation="rot-untimed")
        del untimed["time"]
        body = json.dumps(untimed).encode()
        headers = signed_headers(body, timestamp=int(time.time()) - 60)
        status, _, reply = self.d.request("POST", "/v1/sources/platform/events", body, headers)
        self.assertEqual(status, 202, reply)
        db = sqlite3.connect(self.d.store)
        try:
            occurred = db.execute("SELECT occurred_at FROM inbox WHERE event_id = 'ev-untimed'"
                                  ).fetchone()[0]
        finally:
            db.close()
        expected = datetime.datetime.fromtimestamp(int(headers["webhook-timestamp"]),
                                                   datetime.timezone.utc)
        self.assertEqual(occurred, expected.strftime("%Y-%m-%dT%H:%M:%SZ"))
        # data_base64 holding JSON is the data; other media types are refused by name.
        encoded = rotation_event("ev-b64", student="stu-b64", rotation="rot-b64")
        encoded["data_base64"] = base64.b64encode(json.dumps(encoded.pop("data")).encode()
                                                  ).decode()
        encoded["datacontenttype"] = "application/json"
        status, _, reply = self.d.post_event(encoded)
        self.assertEqual(status, 202, reply)
        encoded["id"] = "ev-b64-xml"
        encoded["datacontenttype"] = "application/xml"
        status, _, reply = self.d.post_event(encoded)
        self.error(status, 400, reply, code="invalid_event", says="application/xml")
        no_data = rotation_event("ev-nodata")
        del no_data["data"]
        status, _, reply = self.d.post_event(no_data)
        self.error(status, 400, reply, code="invalid_event", says="without data is valid")

    def test_an_array_of_events_is_one_request(self):
        events = [rotation_event(f"ev-array-{i}", student=f"stu-array-{i}", rotation=f"rot-a{i}")
                  for i in range(3)]
        status, _, data = self.d.post_event(events)
        self.assertEqual(status, 202, data)
        self.assertEqual(json.loads(data)["accepted"], 3)
        ids = [r[1] for r in inbox(self.d)]
        for i in range(3):
            self.assertIn(f"ev-array-{i}", ids)

    def test_the_source_comes_from_the_url_not_the_body(self):
        event = rotation_event("ev-spoof", student="stu-spoof")
        event["source"] = "registrar"
        self.assertEqual(self.d.post_event(event)[0], 202)
        self.assertIn(("platform", "ev-spoof"), [r[:2] for r in inbox(self.d)])

    def test_400_malformed_json_and_schema_violations_name_the_field(self):
        body = b'{"specversion": "1.0", '
        status, _, data = self.d.request("POST", "/v1/sources/platform/events", body,
                                         signed_headers(body))
        self.error(status, 400, data, "invalid_event", "not JSON")
        event = rotation_event("ev-bad")
        del event["data"]["site"]
        status, _, data = self.d.post_event(event)
        self.error(status, 400, data, "invalid_event", "field 'data.site'")  # the full path
        event = rotation_event("ev-bad-role")
        event["data"]["team"][0]["role"] = "wizard"
        status, _, data = self.d.post_event(event)
        self.error(status, 400, data, "invalid_event", "field 'data.team[0].role'")
        team = dict(rotation_event("ev-bad-team"), type="team.changed", data={"add": []})
        status, _, data = self.d.post_event(team)
        self.error(status, 400, data, "invalid_event", "field 'data.rotation'")
        self.assertNotIn("data.data", data.decode())
        event = rotation_event("ev-bad2")
        event["type"] = "rotation.exploded"
        status, _, data = self.d.post_event([rotation_event("ev-ok-in-bad"), event])
        self.error(status, 400, data, "invalid_event", "event [1]")
        self.assertNotIn("ev-ok-in-bad", [r[1] for r in inbox(self.d)])  # all or nothing

    def test_401_bad_missing_or_stale_signatures(self):
        body = json.dumps(rotation_event("ev-401")).encode()
        headers = signed_headers(body)
        headers["webhook-signature"] = sign(SECRET, "another-id", headers["webhook-timestamp"], body)
        status, _, data = self.d.request("POST", "/v1/sources/platform/events", body, headers)
        self.error(status, 401, data, "unauthorized", "no signature matches")
        status, _, data = self.d.request("POST", "/v1/sources/platform/events", body,
                                         {"content-type": "application/json"})
        self.error(status, 401, data, "unauthorized", "missing")
        stale = signed_headers(body, timestamp=int(time.time()) - 301)
        status, _, data = self.d.request("POST", "/v1/sources/platform/events", body, stale)
        self.error(status, 401, data, "unauthorized", "tolerance")
        wrong_secret = signed_headers(body, secret="whsec_" + "QUFBQUFBQUFBQUFBQUFBQQ==")
        status, _, data = self.d.request("POST", "/v1/sources/platform/events", body, wrong_secret)
        self.error(status, 401, data)
        self.assertNotIn("ev-401", [r[1] for r in inbox(self.d)])

    def test_404_405_411_413_415(self):
        status, _, data = self.d.post_event(rotation_event("ev-404"), source="nobody")
        self.error(status, 404, data, "unknown_source")
        status, _, data = self.d.request("GET", "/v2/whatever")
        self.error(status, 404, data, "not_found")
        status, headers, data = self.d.request("GET", "/v1/sources/platform/events")
        self.error(status, 405, data, "method_not_allowed")
        self.assertEqual(headers.get("allow"), "POST")
        status, headers, data = self.d.request("POST", "/healthz", b"{}",
                                               {"content-type": "application/json"})
        self.error(status, 405, data)
        out = raw(self.d, b"POST /v1/sources/platform/events HTTP/1.1\r\nHost: x\r\n"
                          b"Content-Type: application/json\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 411"), out)
        self.assertIn(b'"length_required"', out)
        big = json.dumps(rotation_event("ev-413", team=[{"person": f"p-{i}", "role": "nurse"}
                                                         for i in range(200)])).encode()
        self.assertGreater(len(big), 4096)
        status, _, data = self.d.request("POST", "/v1/sources/platform/events", big,
                                         signed_headers(big))
        self.error(status, 413, data, "body_too_large")
        # Chunked: the limit holds without a Content-Length too.
        chunk = b"x" * 3000
        request = (b"POST /v1/sources/platform/events HTTP/1.1\r\nHost: x\r\n"
                   b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
                   (b"%x\r\n" % len(chunk) + chunk + b"\r\n") * 2 + b"0\r\n\r\n")
        out = raw(self.d, request)
        self.assertTrue(out.startswith(b"HTTP/1.1 413"), out[:200])
        body = json.dumps(rotation_event("ev-415")).encode()
        headers = signed_headers(body)
        headers["content-type"] = "text/plain"
        status, _, data = self.d.request("POST", "/v1/sources/platform/events", body, headers)
        self.error(status, 415, data, "unsupported_media_type")
        status, _, data = self.d.request("GET", "/healthz", headers={"x": "y" * 3000})
        self.assertEqual(status, 431)

    def rss_kib(self):
        with open(f"/proc/{self.d.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def flood(self, head, filler, total=40 << 20):
        """Sends head, then filler until total bytes or the server cuts the connection."""
        s = socket.create_connection(("127.0.0.1", self.d.port), timeout=5)
        sent = 0
        try:
            s.sendall(head)
            block = filler * (65536 // len(filler))
            while sent < total:
                s.sendall(block)
                sent += len(block)
        except OSError:
            pass
        finally:
            s.close()
        return sent

    def test_endless_chunk_lines_and_trailers_are_refused_with_memory_bounded(self):
        chunked = (b"POST /v1/sources/platform/events HTTP/1.1\r\nHost: x\r\n"
                   b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        # A chunk's size line with too long an extension, and a trailer too long: 400, closed.
        for tail, what in ((b"1;ext=" + b"a" * 16384, "extension"),
                           (b"0\r\nX-Trailer: " + b"a" * 16384, "trailer")):
            out = raw(self.d, chunked + tail)
            self.assertTrue(out.startswith(b"HTTP/1.1 400"), (what, out[:200]))
            self.assertIn(b'"chunk_line_too_long"', out, what)
            self.assertIn(b"Connection: close", out, what)
        # Endless ones: the daemon's memory does not follow what the client sends.
        before = self.rss_kib()
        for filler in (b"a", b"b"):
            head = chunked + (b"1;ext=" if filler == b"a" else b"0\r\nX-Trailer: ")
            self.flood(head, filler)
        grown = self.rss_kib() - before
        # Under ASan, freed buffers wait in its quarantine (up to 256 MiB) before they are
        # reused: RSS grows by what the quarantine holds (20 MiB seen), still well short of
        # the 80 MiB sent.
        bound = (40 << 10) if "ASAN_OPTIONS" in os.environ else (16 << 10)
        self.assertLess(grown, bound, f"RSS grew by {grown} KiB for 80 MiB of chunk lines")
        # Many small chunks that add up to a valid, signed event are one event.
        body = json.dumps(rotation_event("ev-chunks", student="stu-chunks",
                                         rotation="rot-chunks")).encode()
        headers = b"".join(b"%s: %s\r\n" % (k.encode(), v.encode())
                           for k, v in signed_headers(body).items() if k.lower() != "content-type")
        request = (b"POST /v1/sources/platform/events HTTP/1.1\r\nHost: x\r\n"
                   b"Content-Type: application/json\r\nConnection: close\r\n" + headers +
                   b"Transfer-Encoding: chunked\r\n\r\n" +
                   b"".join(b"1\r\n" + body[i:i + 1] + b"\r\n" for i in range(len(body))) +
                   b"0\r\n\r\n")
        out = raw(self.d, request)
        self.assertTrue(out.startswith(b"HTTP/1.1 202"), out[:300])
        self.assertIn("ev-chunks", [r[1] for r in inbox(self.d)])
        status, _, data = self.d.request("GET", "/healthz")
        self.assertEqual(status, 200, data)

    def test_an_unreadable_opt_out_counts_as_opted_out_and_is_logged_by_id(self):
        person = {"specversion": "1.0", "id": "p-maybe", "source": "platform",
                  "type": "person.updated", "time": "2029-12-01T09:00:00Z", "subject": "stu-maybe",
                  "data": {"id": "stu-maybe", "role": "student", "name": "Synthetic Maybe",
                           "opted_out": "maybe"}}
        status, _, data = self.d.post_event(person)
        self.assertEqual(status, 202, data)
        self.assertTrue(wait_for(lambda: '"person":"stu-maybe"' in self.d.log_text()))
        self.assertNotIn("Synthetic Maybe", self.d.log_text())

    def test_a_second_request_on_a_kept_alive_connection_is_read_under_read_timeout(self):
        # idle_timeout (2 s) bounds the wait for a next request; once its first bytes are
        # here, the rest must come within read_timeout (1 s).
        s = socket.create_connection(("127.0.0.1", self.d.port), timeout=10)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertIn(b'{"status":"ok"}', s.recv(65536))
        s.sendall(b"GET /heal")
        started = time.time()
        self.assertEqual(s.recv(1), b"")  # closed by the server
        closed_after = time.time() - started
        s.close()
        self.assertLess(closed_after, 1.7)
        self.assertGreater(closed_after, 0.8)

    def test_slow_and_idle_connections_are_cut_off(self):
        # slowloris: a header trickling in one byte at a time never completes.
        s = socket.create_connection(("127.0.0.1", self.d.port), timeout=10)
        started = time.time()
        closed_after = None
        try:
            for byte in b"POST /v1/sources/platform/events HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
                s.send(bytes([byte]))
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            closed_after = time.time() - started
        if closed_after is None:
            self.assertEqual(s.recv(1), b"")  # closed by the server
            closed_after = time.time() - started
        s.close()
        self.assertLess(closed_after, 4.0)
        # A kept-alive connection that says nothing more is closed after idle_timeout.
        c = self.d.conn()
        c.request("GET", "/healthz")
        self.assertEqual(c.getresponse().read(), b'{"status":"ok"}')
        time.sleep(2.5)
        with self.assertRaises((http_errors())):
            c.request("GET", "/healthz")
            c.getresponse().read()
        c.close()

    def test_keep_alive_serves_many_requests_on_one_connection(self):
        c = self.d.conn()
        for i in range(5):
            body = json.dumps(rotation_event(f"ev-ka-{i}", student="stu-ka",
                                             rotation=f"rot-ka-{i}")).encode()
            c.request("POST", "/v1/sources/platform/events", body, signed_headers(body))
            r = c.getresponse()
            self.assertEqual(r.status, 202, r.read())
            r.read()
        c.close()

    def test_pipelined_requests_are_each_answered_in_order(self):
        # Requests sent back to back in one write, and one whose header arrives in two
        # pieces after them: each is read from what the connection has buffered (or waits
        # for the rest), answered once, in order; the last asks to close.
        def request(i, close=False):
            body = json.dumps(rotation_event(f"ev-pipe-{i}", student="stu-pipe",
                                             rotation=f"rot-pipe-{i}")).encode()
            head = "".join(f"{k}: {v}\r\n" for k, v in signed_headers(body).items())
            return (f"POST /v1/sources/platform/events HTTP/1.1\r\nHost: x\r\n{head}"
                    f"Content-Length: {len(body)}\r\n"
                    + ("Connection: close\r\n" if close else "") + "\r\n").encode() + body

        last = request(3, close=True)
        s = raw(self.d, request(0) + request(1) + request(2) + last[:40], read=False)
        time.sleep(0.3)
        s.sendall(last[40:])
        out = read_all(s)
        s.close()
        statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", out)
        self.assertEqual(statuses, [b"202"] * 4, out.decode(errors="replace"))
        self.assertEqual(out.count(b'{"accepted":1,"duplicate":false}'), 4)
        db = sqlite3.connect(self.d.store)
        ids = [r[0] for r in db.execute(
            "SELECT event_id FROM inbox WHERE event_id LIKE 'ev-pipe-%' ORDER BY seq")]
        db.close()
        self.assertEqual(ids, [f"ev-pipe-{i}" for i in range(4)])

    def test_github_bearer_and_insecure_sources(self):
        body = json.dumps(rotation_event("ev-hub", student="stu-hub")).encode()
        import hashlib
        import hmac
        mac = hmac.new(b"hub-secret", body, hashlib.sha256).hexdigest()
        status, _, data = self.d.request("POST", "/v1/sources/hub/events", body,
                                         {"content-type": "application/json",
                                          "X-Hub-Signature-256": "sha256=" + mac,
                                          "X-GitHub-Delivery": "delivery-1"})
        self.assertEqual(status, 202, data)
        status, _, data = self.d.request("POST", "/v1/sources/hub/events", body,
                                         {"content-type": "application/json",
                                          "X-Hub-Signature-256": "sha256=" + "0" * 64})
        self.error(status, 401, data)
        # The delivery id is not signed: a captured body replayed under the id of a genuine
        # delivery to come does not make that delivery a duplicate.
        status, _, data = self.d.request("POST", "/v1/sources/hub/events", body,
                                         {"content-type": "application/json",
                                          "X-Hub-Signature-256": "sha256=" + mac,
                                          "X-GitHub-Delivery": "delivery-2"})
        self.assertEqual((status, json.loads(data)), (200, {"duplicate": True}))
        genuine = json.dumps(rotation_event("ev-hub-2", student="stu-hub",
                                            rotation="rot-hub-2")).encode()
        genuine_mac = hmac.new(b"hub-secret", genuine, hashlib.sha256).hexdigest()
        status, _, data = self.d.request("POST", "/v1/sources/hub/events", genuine,
                                         {"content-type": "application/json",
                                          "X-Hub-Signature-256": "sha256=" + genuine_mac,
                                          "X-GitHub-Delivery": "delivery-2"})
        self.assertEqual(status, 202, data)
        self.assertIn("ev-hub-2", [r[1] for r in inbox(self.d)])
        status, _, data = self.d.request("POST", "/v1/sources/hub/events", genuine,
                                         {"content-type": "application/json",
                                          "X-Hub-Signature-256": "sha256=" + genuine_mac,
                                          "X-GitHub-Delivery": "d" * 300})
        self.error(status, 400, data, "invalid_message_id")
        status, _, data = self.d.request("POST", "/v1/sources/token/events", body,
                                         {"content-type": "application/json",
                                          "Authorization": "Bearer t0k3n"})
        self.assertEqual(status, 202, data)
        status, _, data = self.d.request("POST", "/v1/sources/token/events", body,
                                         {"content-type": "application/json",
                                          "Authorization": "Bearer nope"})
        self.error(status, 401, data)
        status, _, data = self.d.request("POST", "/v1/sources/open/events", body,
                                         {"content-type": "application/json"})
        self.assertEqual(status, 202, data)

    def test_a_platforms_own_payload_is_read_through_the_mapping(self):
        placement = {
            "event": "placement.created", "uuid": 9001, "sent_at": "2029-12-02T10:00:00Z",
            "placement": {"id": 77, "learner": {"id": "L-5"}, "location": "east",
                          "discipline": "pediatrics", "type": "ELEC",
                          "begins": "2030-03-04", "ends": "2030-03-29",
                          "staff": [{"user": 501, "code": "ATT"}, {"user": 502, "code": "RN"}]},
        }
        status, _, data = self.d.post_event(placement, source="native")
        self.assertEqual(status, 202, data)
        row = [r for r in inbox(self.d) if r[0] == "native" and r[1] == "9001"]
        self.assertEqual(len(row), 1)
        self.assertEqual(row[0][2:4], ("rotation.scheduled", "L-5"))
        payload = json.loads(row[0][4])
        self.assertEqual(payload["id"], "77")
        self.assertEqual(payload["kind"], "elective")
        self.assertEqual(payload["team"], [{"person": "501", "role": "attending"},
                                           {"person": "502", "role": "nurse"}])
        evaluation = {"event": "eval.done", "uuid": "e-1", "sent_at": "2029-12-20T10:00:00Z",
                      "placement": {"learner": {"id": "L-5"}},
                      "evaluation": {"id": "ev-77-1", "placement_id": 77, "by": 501,
                                     "score": 8}}
        status, _, data = self.d.post_event(evaluation, source="native")
        self.assertEqual(status, 202, data)
        payload = json.loads([r for r in inbox(self.d) if r[1] == "e-1"][0][4])
        self.assertEqual(payload["scale"], {"min": 1.0, "max": 9.0})
        # Unknown codes and event names are 400s naming what is wrong.
        placement["uuid"] = 9002
        placement["placement"]["staff"][0]["code"] = "XYZ"
        status, _, data = self.d.post_event(placement, source="native")
        self.error(status, 400, data, "invalid_event", "XYZ")
        placement["event"] = "placement.exploded"
        status, _, data = self.d.post_event(placement, source="native")
        self.error(status, 400, data, "invalid_event", "/event")

    def test_operations_endpoints(self):
        c = self.d.conn()  # HEAD: headers only, and the connection stays usable
        c.request("HEAD", "/healthz")
        r = c.getresponse()
        self.assertEqual((r.status, r.read(), r.getheader("content-length")), (200, b"", "15"))
        c.request("GET", "/healthz")
        self.assertEqual(c.getresponse().read(), b'{"status":"ok"}')
        c.close()
        status, _, data = self.d.request("GET", "/healthz")
        self.assertEqual((status, json.loads(data)), (200, {"status": "ok"}))
        status, _, data = self.d.request("GET", "/readyz")
        self.assertEqual((status, json.loads(data)), (200, {"status": "ready"}))
        self.d.post_event(rotation_event("ev-metrics", student="stu-metrics"))
        status, headers, data = self.d.request("GET", "/metrics")
        text = data.decode()
        self.assertEqual(status, 200)
        self.assertTrue(headers["content-type"].startswith("text/plain"))
        self.assertRegex(text, r'rapport_http_requests_total\{route="events",source="platform",'
                               r'status="202"\} \d+')
        self.assertIn("rapport_ingest_seconds_bucket{le=\"+Inf\"}", text)
        self.assertIn("rapport_inbox_depth", text)
        self.assertIn('rapport_outbox_depth{sink="out"}', text)

    def test_metrics_count_every_answer_on_a_kept_alive_connection(self):
        # A connection keeps the counters of its last answer: each answer still counts once,
        # under its own status, and events accepted count per source.
        def metric(name, labels):
            _, _, data = self.d.request("GET", "/metrics")
            for line in data.decode().splitlines():
                if line.startswith(name + "{" + labels + "} "):
                    return float(line.split(" ")[1])
            return 0.0

        accepted = 'route="events",source="platform",status="202"'
        refused = 'route="events",source="platform",status="401"'
        before = (metric("rapport_http_requests_total", accepted),
                  metric("rapport_http_requests_total", refused),
                  metric("rapport_events_accepted_total", 'source="platform"'))
        c = self.d.conn()
        sent = [rotation_event("ev-count-%d" % i, student="stu-count") for i in range(3)]
        for i, statuses in enumerate([202, 202, 401, 202, 200]):
            event = sent[min(i, 2)] if statuses != 200 else sent[0]
            body = json.dumps(event).encode()
            headers = signed_headers(body, msg_id="msg-count-%d" % i)
            if statuses == 401:
                headers["webhook-signature"] = "v1,AAAA"
            c.request("POST", "/v1/sources/platform/events", body=body, headers=headers)
            r = c.getresponse()
            r.read()
            self.assertEqual(r.status, statuses)
        c.close()
        after = (metric("rapport_http_requests_total", accepted),
                 metric("rapport_http_requests_total", refused),
                 metric("rapport_events_accepted_total", 'source="platform"'))
        self.assertEqual([a - b for a, b in zip(after, before)], [3, 1, 3])

    def test_store_locked_gives_429_then_503_and_readyz_names_the_store(self):
        # Another process holds the store's write lock: commits wait (busy_timeout 1s), the
        # queue (2 events) fills and the listener answers 429; then the commit fails: 503.
        db = sqlite3.connect(self.d.store, timeout=0, isolation_level=None)
        db.execute("BEGIN IMMEDIATE")
        results = []

        def send(i):
            results.append(self.d.post_event(rotation_event(f"ev-lock-{i}", student="stu-lock",
                                                            rotation=f"rot-lock-{i}")))
        threads = [threading.Thread(target=send, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
            time.sleep(0.05)
        for t in threads:
            t.join()
        ready = self.d.request("GET", "/readyz")
        statuses = sorted(r[0] for r in results)
        self.assertIn(429, statuses)
        self.assertIn(503, statuses)
        for status, headers, data in results:
            if status in (429, 503):
                self.assertIn("retry-after", headers)
                self.assertIn("error", json.loads(data))
        self.assertEqual(ready[0], 503, ready)
        self.assertEqual(json.loads(ready[2])["failing"][0]["component"], "store")
        db.execute("ROLLBACK")
        db.close()
        status, _, data = self.d.post_event(rotation_event("ev-after-lock", student="stu-lock"))
        self.assertEqual(status, 202, data)
        self.assertEqual(self.d.request("GET", "/readyz")[0], 200)
        self.assertIn("ev-after-lock", {r[1] for r in inbox(self.d)})


class Operations(unittest.TestCase):
    """listener.ops_listen: operations endpoints on their own address."""

    def test_ops_listen_takes_the_operations_endpoints_off_the_main_address(self):
        config = CONFIG.replace("  queue_limit: 2\n", "  queue_limit: 2\n  ops_listen: 127.0.0.1:0\n")
        d = Daemon(BINARY, config).start(ops=True)
        try:
            ops = http.client.HTTPConnection("127.0.0.1", d.ops_port, timeout=10)
            for path in ("/healthz", "/readyz", "/metrics"):
                self.assertEqual(d.request("GET", path)[0], 404, path)
                ops.request("GET", path)
                r = ops.getresponse()
                self.assertEqual(r.status, 200, (path, r.read()))
                r.read()
            body = json.dumps(rotation_event("ev-ops")).encode()
            ops.request("POST", "/v1/sources/platform/events", body, signed_headers(body))
            r = ops.getresponse()
            self.assertEqual(r.status, 404, r.read())
            ops.close()
            self.assertEqual(d.post_event(rotation_event("ev-main"))[0], 202)
        finally:
            self.assertEqual(d.stop(), 0)

    def test_ops_listen_runs_without_the_listener_and_readyz_shows_no_driver_text(self):
        # A PostgreSQL source that cannot connect: the driver's error names host, user, db.
        config = CONFIG.replace("  enabled: true\n", "  enabled: false\n  ops_listen: 127.0.0.1:0\n")
        config = config.replace("sources:\n", """sources:
  registrar:
    type: sql
    backend: postgresql
    connection: "host=127.0.0.1 port=1 dbname=secretdb user=secretuser connect_timeout=1"
    poll_interval: 1s
    queries:
      rotations: {sql: "SELECT * FROM rotations"}
""", 1)
        d = Daemon(BINARY, config).start(events=False, ops=True)
        try:
            self.assertIsNone(d.port)
            def down():
                c = http.client.HTTPConnection("127.0.0.1", d.ops_port, timeout=10)
                c.request("GET", "/readyz")
                r = c.getresponse()
                data = r.read()
                c.close()
                return (r.status, data) if r.status == 503 else None
            status, data = wait_for(down)
            body = json.loads(data)
            self.assertIn({"component": "source:registrar", "state": "failing"}, body["failing"])
            self.assertNotIn(b"secretuser", data)
            self.assertNotIn(b"secretdb", data)
            self.assertNotIn(b"127.0.0.1", data)
        finally:
            self.assertEqual(d.stop(), 0)

    def test_the_wal_stays_near_its_limit_while_the_engine_is_idle(self):
        # The listener's connection never checkpoints (a checkpoint inside a commit held its
        # requests): a thread of the daemon does. With a long tick the engine commits
        # nothing, and the WAL grew by every group's pages for as long as writes went on.
        config = listener_config().replace("  path: @DIR@/store.db\n",
                                           "  path: @DIR@/store.db\n  wal_limit: 65536\n")
        config += "engine:\n  tick: 1h\n"
        d = Daemon(BINARY, config).start()
        try:
            team = [{"person": f"att-{i}", "role": "attending"} for i in range(20)]
            c = d.conn()
            for i in range(600):
                body = json.dumps(rotation_event(f"ev-wal-{i}", rotation=f"rot-{i}",
                                                 team=team)).encode()
                c.request("POST", "/v1/sources/platform/events", body, signed_headers(body))
                r = c.getresponse()
                self.assertEqual(r.status, 202, r.read())
                r.read()
            c.close()
            time.sleep(0.2)  # a last pass off the turn, as after any burst
            wal = os.path.getsize(d.store + "-wal")
            db = os.path.getsize(d.store)
            # The events reached the database file itself (checkpoints ran), and the WAL
            # was written again from its start. Measured: a database of 1.09 MB and a WAL
            # of 0.38 MB; on the binary before, 4 KB and 15.6 MB. The bounds leave room
            # for a fast machine's groups between two passes.
            self.assertGreater(db, 700_000)
            self.assertLess(wal, 4_000_000, (wal, db))
            self.assertEqual(len(inbox(d)), 600)
        finally:
            self.assertEqual(d.stop(), 0)


def http_errors():
    import http.client
    return (ConnectionError, http.client.HTTPException, OSError)


class Limits(unittest.TestCase):
    def test_the_connection_cap_holds(self):
        config = CONFIG.replace("queue_limit: 2", "queue_limit: 2\n  max_connections: 3")
        d = Daemon(BINARY, config).start()
        try:
            held = [socket.create_connection(("127.0.0.1", d.port)) for _ in range(3)]
            time.sleep(0.2)
            out = raw(d, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertTrue(out.startswith(b"HTTP/1.1 503"), out)
            self.assertIn(b"too_many_connections", out)
            for s in held:
                s.close()
            time.sleep(0.2)
            self.assertEqual(d.request("GET", "/healthz")[0], 200)
        finally:
            self.assertEqual(d.stop(), 0)

    def test_readyz_names_a_source_that_is_down(self):
        config = CONFIG.replace("sources:\n", """sources:
  registrar:
    type: sql
    backend: sqlite
    connection: @DIR@/no/such/dir/platform.db
    poll_interval: 1s
    queries:
      rotations:
        sql: SELECT * FROM rotations
""", 1)
        d = Daemon(BINARY, config).start()
        try:
            ready = wait_for(lambda: (lambda r: r if r[0] == 503 else None)(
                d.request("GET", "/readyz")), timeout=15)
            self.assertTrue(ready)
            failing = json.loads(ready[2])["failing"]
            self.assertEqual(failing[0], {"component": "source:registrar", "state": "failing"})
            self.assertEqual(d.request("GET", "/healthz")[0], 200)  # alive all the same
        finally:
            self.assertEqual(d.stop(), 0)

    def test_tls(self):
        d = Daemon(BINARY, CONFIG)
        cert, key = os.path.join(d.dir, "cert.pem"), os.path.join(d.dir, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", cert], check=True, capture_output=True)
        text = open(d.config_path).read().replace(
            "  listen: 127.0.0.1:0\n", f"  listen: 127.0.0.1:0\n  tls_certificate: {cert}\n  tls_key: {key}\n")
        open(d.config_path, "w").write(text)
        d.start()
        try:
            import http.client
            context = ssl.create_default_context(cafile=cert)
            c = http.client.HTTPSConnection("127.0.0.1", d.port, context=context, timeout=10)
            body = json.dumps(rotation_event("ev-tls", student="stu-tls")).encode()
            c.request("POST", "/v1/sources/platform/events", body, signed_headers(body))
            r = c.getresponse()
            self.assertEqual(r.status, 202, r.read())
            r.read()
            c.request("GET", "/healthz")  # kept alive over TLS
            self.assertEqual(c.getresponse().status, 200)
            c.close()
            # Plain HTTP to the TLS port gets nothing.
            out = raw(d, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertFalse(out.startswith(b"HTTP/1.1 200"))
        finally:
            self.assertEqual(d.stop(), 0)


class GracefulShutdown(unittest.TestCase):
    def test_a_request_under_way_at_sigterm_is_answered_and_one_that_stalls_is_cut_off(self):
        config = CONFIG.replace("  queue_limit: 2\n", "  queue_limit: 2\n  shutdown_grace: 3s\n")
        config = config.replace("  read_timeout: 1s\n", "  read_timeout: 30s\n")
        d = Daemon(BINARY, config).start()
        event = rotation_event("ev-graceful", student="stu-graceful", rotation="rot-graceful")
        body = json.dumps(event).encode()
        head = "".join(f"{k}: {v}\r\n" for k, v in signed_headers(body).items())
        finishing = socket.create_connection(("127.0.0.1", d.port))
        finishing.sendall(f"POST /v1/sources/platform/events HTTP/1.1\r\nHost: x\r\n{head}"
                          f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:20])
        stalling = socket.create_connection(("127.0.0.1", d.port))
        stalling.sendall(f"POST /v1/sources/platform/events HTTP/1.1\r\nHost: x\r\n{head}"
                         f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:20])
        time.sleep(0.3)
        stopped_at = time.time()
        d.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        finishing.sendall(body[20:])  # the rest, after SIGTERM, within the grace period
        finishing.settimeout(5)
        answer = finishing.recv(65536)
        self.assertIn(b"HTTP/1.1 202", answer)
        self.assertIn(b"connection: close", answer.lower())  # its last answer
        code = d.proc.wait(timeout=10)
        elapsed = time.time() - stopped_at
        self.assertEqual(code, 0)
        self.assertGreater(elapsed, 2.5)  # the stalled request was waited for...
        self.assertLess(elapsed, 6)  # ...up to the grace period, not for ever
        self.assertIn("ev-graceful", [r[1] for r in inbox(d)])  # answered 202, so stored
        self.assertIn("cutting off requests still under way", d.log_text())
        finishing.close()
        stalling.close()
        d.log.close()


if __name__ == "__main__":
    BINARY = sys.argv.pop(1)
    unittest.main(verbosity=2)
