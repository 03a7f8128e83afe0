"""A real SMTP server for tests (Debian's python3-aiosmtpd) on loopback: STARTTLS with a
certificate made here and required before anything else, authentication required (over
TLS only), every message kept. `temporary` answers that many DATA commands with 451 (try
later); addresses in `refuse` are answered 550 at RCPT (refused for good)."""
import os
import socket
import ssl
import subprocess
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER = "rapport-test"
PASSWORD = "a long smtp password"


class Inbox:
    def __init__(self):
        self.lock = threading.Lock()
        self.messages = []  # (mail_from, rcpt_tos, bytes)
        self.data_commands = 0
        self.temporary = 0
        self.refuse = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.data_commands += 1
            if self.temporary > 0:
                self.temporary -= 1
                return "451 4.3.0 try again later"
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"

    def received(self):
        with self.lock:
            return list(self.messages)


def certificate(directory):
    """A self-signed certificate for 127.0.0.1 and localhost: (cert, key) paths."""
    cert, key = os.path.join(directory, "smtp-cert.pem"), os.path.join(directory, "smtp-key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    return cert, key


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpServer:
    def __init__(self, directory):
        self.cert, key = certificate(directory)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, key)
        self.inbox = Inbox()
        self.port = free_port()
        self.authentications = []

        def authenticate(server, session, envelope, mechanism, auth_data):
            ok = (isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode()
                  and auth_data.password == PASSWORD.encode())
            self.authentications.append(ok)
            return AuthResult(success=ok)

        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port,
                                     tls_context=context, require_starttls=True,
                                     authenticator=authenticate, auth_required=True,
                                     auth_require_tls=True)
        self.controller.start()

    @property
    def url(self):
        return f"smtp://127.0.0.1:{self.port}"

    def env(self):
        return {"RAPPORT_SMTP_URL": self.url, "RAPPORT_SMTP_USER": USER,
                "RAPPORT_SMTP_PASSWORD": PASSWORD, "RAPPORT_SMTP_CA": self.cert}

    def stop(self):
        self.controller.stop()
