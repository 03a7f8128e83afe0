"""Starts the real `rapport serve` for the webhook tests and talks to it over loopback.

Signing here uses Python's own hmac module: an implementation independent of ours."""
import base64
import hashlib
import hmac
import http.client
import json
import os
import atexit
import re
import shutil
import signal
import subprocess
import tempfile
import time

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
# What the tests' webhook sinks sign with (and receivers verify).
OUT_SECRET = "whsec_c2lnbmluZy1rZXktb2YtcmFwcG9ydC10ZXN0cw=="


def listener_config(secret=SECRET):
    """Where every webhook test's configuration starts: the store in the daemon's directory
    (@DIR@), the listener on a free loopback port, and one webhook source, `platform`."""
    return f"""
store:
  path: @DIR@/store.db
listener:
  enabled: true
  listen: 127.0.0.1:0
sources:
  platform:
    type: webhook
    secret: {secret}
"""


def sign(secret, msg_id, timestamp, body):
    key = base64.b64decode(secret[len("whsec_"):])
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def signed_headers(body, secret=SECRET, msg_id=None, timestamp=None):
    msg_id = msg_id or f"msg_{time.time_ns()}"
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
    }


def rotation_event(event_id, student="stu-1", rotation="rot-1", start="2030-01-07",
                   end="2030-02-01", team=None, kind="rotation.scheduled"):
    team = team if team is not None else [{"person": "att-1", "role": "attending"}]
    return {
        "specversion": "1.0", "id": event_id, "source": "platform", "type": kind,
        "time": "2029-12-01T09:00:00Z", "subject": student,
        "data": {"id": rotation, "student": student, "site": "north", "specialty": "surgery",
                 "kind": "core", "start": start, "end": end, "team": team},
    }


class Daemon:
    """One `rapport serve` process with its own directory, store and config."""

    def __init__(self, binary, config, workdir=None, env=None, config_path=None):
        self.binary = binary
        self.dir = workdir or tempfile.mkdtemp(prefix="rapport-wh-")
        if not workdir and not os.environ.get("RAPPORT_KEEP_TEST_DIRS"):
            atexit.register(shutil.rmtree, self.dir, True)
        self.config_path = config_path or os.path.join(self.dir, "rapport.yaml")
        self.store = os.path.join(self.dir, "store.db")
        if not config_path:
            with open(self.config_path, "w") as f:
                f.write(config.replace("@DIR@", self.dir))
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self.port = None
        self.ops_port = None
        self.log_path = os.path.join(self.dir, "serve.log")

    def start(self, timeout=20, events=True, ops=False):
        """Waits for the listener (events) and/or the operations address (ops) to listen."""
        self.log = open(self.log_path, "a")
        offset = self.log.tell()
        self.proc = subprocess.Popen([self.binary, "serve", "-c", self.config_path],
                                     stdout=self.log, stderr=self.log, env=self.env)
        deadline = time.time() + timeout
        while time.time() < deadline:
            with open(self.log_path) as f:
                f.seek(offset)
                text = f.read()
            m = re.search(r'"msg":"listening".*?"port":(\d+)', text)
            o = re.search(r'"msg":"operations endpoints listening".*?"port":(\d+)', text)
            if m:
                self.port = int(m.group(1))
            if o:
                self.ops_port = int(o.group(1))
            if (m or not events) and (o or not ops):
                return self
            if self.proc.poll() is not None:
                raise RuntimeError("rapport serve exited:\n" + text)
            time.sleep(0.02)
        raise RuntimeError("rapport serve did not start listening")

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            code = self.proc.wait(timeout=30)
        else:
            code = self.proc.returncode if self.proc else None
        self.log.close()
        return code

    def kill(self):
        return self.stop(signal.SIGKILL)

    def conn(self, timeout=10):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, timeout=10):
        c = self.conn(timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data
        finally:
            c.close()

    def post_event(self, events, source="platform", secret=SECRET, **kw):
        body = json.dumps(events).encode()
        return self.request("POST", f"/v1/sources/{source}/events", body,
                            signed_headers(body, secret, **kw))

    def command(self, *args):
        return subprocess.run([self.binary, *args, "-c", self.config_path], capture_output=True,
                              text=True, env=self.env, timeout=60)

    def log_text(self):
        with open(self.log_path) as f:
            return f.read()


def wait_for(predicate, timeout=20, interval=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


class Receiver:
    """A real HTTP receiver of our webhooks. Per student, a script of answers consumed in
    order: (status, headers, delay seconds, close_without_answer); then 200."""

    def __init__(self, port=0, tls=None):
        """tls: an ssl.SSLContext (server side) to answer over HTTPS."""
        import http.server
        import threading
        self.lock = threading.Lock()
        self.received = []  # (time, headers dict, body bytes, status answered)
        self.peers = {}  # student -> the client ports their requests came from
        self.arrived = []  # (student, webhook-id) as each request arrives, before its answer
        self.scripts = {}
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("content-length", 0))
                body = self.rfile.read(length)
                try:
                    doc = json.loads(body)
                    # structured or json mode: the event; binary mode: its data alone
                    student = (doc.get("data") or doc).get("student", "")
                except (ValueError, AttributeError):
                    student = ""
                with receiver.lock:
                    receiver.peers.setdefault(student, []).append(self.client_address[1])
                    receiver.arrived.append((student, self.headers.get("webhook-id", "")))
                    script = receiver.scripts.get(student) or []
                    answer = script.pop(0) if script else (200, {}, 0, False)
                status, headers, delay, drop = answer
                if delay:
                    time.sleep(delay)
                with receiver.lock:
                    receiver.received.append((time.time(), {k.lower(): v for k, v in
                                                            self.headers.items()},
                                              body, 0 if drop else status))
                if drop:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                payload = b'{"ok":true}'
                if "x-big-body" in headers:  # an answer far beyond what we keep of it
                    payload = b"x" * 200_000
                self.send_response(status)
                for k, v in headers.items():
                    if k != "x-big-body":
                        self.send_header(k, v)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # a sender that timed out and left: expected in these tests

        self.server = Server(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        if tls:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}/hooks/rapport"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def script(self, student, *answers):
        with self.lock:
            self.scripts[student] = list(answers)

    def about(self, student):
        with self.lock:
            return [r for r in self.received
                    if (json.loads(r[2]).get("data") or json.loads(r[2])).get("student") ==
                    student]

    def all(self):
        with self.lock:
            return list(self.received)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def verify(secret, headers, body):
    """Checks a webhook we sent, the way a receiver would (independent of our code)."""
    expected = sign(secret, headers["webhook-id"], headers["webhook-timestamp"], body)
    return hmac.compare_digest(expected, headers["webhook-signature"].split(" ")[0])
