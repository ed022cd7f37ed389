"""Real mail servers for the mailbox tests: Dovecot (IMAP) and aiosmtpd (SMTP), on localhost.

Dovecot runs with a throwaway configuration in a temporary directory: its own base_dir, one
passwd-file user, plaintext logins allowed (localhost only), maildir storage, free ports, and a
certificate from a throwaway CA for the TLS and STARTTLS tests. As root (CI) its internal
processes run as Debian's `dovecot`/`dovenull` users and the mail as `nobody`; otherwise all of
it runs as the current user.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import http.server
import imaplib
import ipaddress
import json
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
DOVEADM = shutil.which("doveadm") or "/usr/bin/doveadm"
HAVE_DOVECOT = Path(DOVECOT).exists() and Path(DOVEADM).exists()
WHY_NO_DOVECOT = (
    "Dovecot is not installed (apt-get install dovecot-imapd): the mailbox tests run against a "
    "real IMAP server"
)
USER = "support@shop.test"
PASSWORD = "mailbox-secret-1"
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Certificates:
    """A throwaway CA and a server certificate for localhost, as files and a client context."""

    directory: Path
    ca: Path = field(init=False)
    cert: Path = field(init=False)
    key: Path = field(init=False)

    def __post_init__(self) -> None:
        now = dt.datetime.now(dt.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mailbox tests CA")])
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        self.ca = self.directory / "ca.pem"
        self.cert = self.directory / "cert.pem"
        self.key = self.directory / "key.pem"
        self.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
        self.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.key.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))


class Introspection:
    """The OAuth2 token introspection endpoint Dovecot asks about XOAUTH2 tokens (RFC 7662)."""

    def __init__(self) -> None:
        self.valid: set[str] = set()
        self.asked: list[str] = []
        valid, asked = self.valid, self.asked

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                token = (form.get("token") or [""])[0]
                asked.append(token)
                found = {"active": True, "email": USER} if token in valid else {"active": False}
                body = json.dumps(found).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer((HOST, 0), Handler)
        self.url = f"http://{HOST}:{self.server.server_address[1]}/introspect"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Dovecot:
    """One Dovecot instance with one user; start, stop, kick, and a plain imaplib client.

    The user signs in with its password (PLAIN, LOGIN) or an OAuth2 token (XOAUTH2) that
    `introspection.valid` holds.
    """

    def __init__(self) -> None:
        self.introspection = Introspection()
        # Not pytest's tmp_path: as root, the mail user must be able to reach its maildir.
        self.root = Path(tempfile.mkdtemp(prefix="dovecot-test-"))
        self.root.chmod(0o755)
        self.port = free_port()
        self.tls_port = free_port()
        self.certificates = Certificates(self.root)
        self.config = self.root / "dovecot.conf"
        self.log = self.root / "dovecot.log"
        as_root = os.geteuid() == 0
        me = getpass.getuser()
        mail_user = pwd.getpwnam("nobody") if as_root else pwd.getpwuid(os.getuid())
        self.home = self.root / "home"
        self.home.mkdir()
        if as_root:
            os.chown(self.home, mail_user.pw_uid, mail_user.pw_gid)
        (self.root / "oauth2.conf").write_text(
            f"introspection_mode = post\nintrospection_url = {self.introspection.url}\n"
            "username_attribute = email\nactive_attribute = active\nactive_value = true\n"
        )
        (self.root / "passwd").write_text(
            f"{USER}:{{PLAIN}}{PASSWORD}:{mail_user.pw_uid}:{mail_user.pw_gid}::{self.home}\n"
        )
        self.config.write_text(
            _CONFIG.format(
                root=self.root,
                port=self.port,
                tls_port=self.tls_port,
                internal_user="dovecot" if as_root else me,
                login_user="dovenull" if as_root else me,
                first_uid=min(mail_user.pw_uid, 1000) or 1,
                instance=self.root.name,
            )
        )

    def start(self) -> None:
        subprocess.run([DOVECOT, "-c", str(self.config)], check=True, timeout=30)
        _wait_for_port(self.port, up=True)

    def stop(self) -> None:
        """Stop the server and end its sessions, which would otherwise outlive it."""
        subprocess.run([DOVECOT, "-c", str(self.config), "stop"], check=False, timeout=30)
        self.drop_sessions()
        _wait_for_port(self.port, up=False)

    def kick(self) -> None:
        """Drop every connection of the user (the server stays up)."""
        subprocess.run([DOVEADM, "-c", str(self.config), "kick", USER], check=False, timeout=30)

    def drop_sessions(self) -> None:
        """End this instance's processes still holding its ports after `dovecot stop` (by pid)."""
        for connection in psutil.net_connections(kind="tcp"):
            local = connection.laddr
            # Login processes hold the listening sockets too, with a half-done TLS handshake.
            if connection.pid and local and local.port in (self.port, self.tls_port):
                with contextlib.suppress(psutil.Error):
                    psutil.Process(connection.pid).terminate()

    def logins(self) -> int:
        """How many times the user logged in so far (from the server's log)."""
        if not self.log.exists():
            return 0
        return self.log.read_text(errors="replace").count(f"Login: user=<{USER}>")

    def client(self) -> imaplib.IMAP4:
        client = imaplib.IMAP4(HOST, self.port, timeout=10)
        client.login(USER, PASSWORD)
        return client

    def deliver(self, raw: bytes, folder: str = "INBOX") -> None:
        """Put a message in a folder, as the mail server's delivery would."""
        with _session(self) as client:
            status, _ = client.append(_q(folder), "", imaplib.Time2Internaldate(time.time()), raw)
            assert status == "OK"

    def create(self, folder: str) -> None:
        with _session(self) as client:
            client.create(_q(folder))

    def delete(self, folder: str) -> None:
        with _session(self) as client:
            client.delete(_q(folder))

    def messages(self, folder: str = "INBOX") -> list[tuple[bytes, bytes]]:
        """Every message in a folder: (flags, bytes)."""
        with _session(self) as client:
            status, _ = client.select(_q(folder), readonly=True)
            assert status == "OK", folder
            _, found = client.uid("SEARCH", "ALL")
            result: list[tuple[bytes, bytes]] = []
            for uid in (found[0] or b"").split():
                _, data = client.uid("FETCH", uid.decode(), "(FLAGS BODY.PEEK[])")
                head, body = data[0]
                result.append((head, body))
            return result

    def uidvalidity(self, folder: str = "INBOX") -> int:
        with _session(self) as client:
            _, data = client.status(_q(folder), "(UIDVALIDITY)")
            return int(data[0].split()[-1].rstrip(b")"))

    def cleanup(self) -> None:
        self.stop()
        self.introspection.close()
        shutil.rmtree(self.root, ignore_errors=True)


def _q(folder: str) -> str:
    """imaplib sends arguments as they are: a name with a space must be quoted here."""
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _session:
    def __init__(self, server: Dovecot) -> None:
        self.server = server

    def __enter__(self) -> imaplib.IMAP4:
        self.client = self.server.client()
        return self.client

    def __exit__(self, *exc: object) -> None:
        try:
            self.client.logout()
        except (OSError, imaplib.IMAP4.error):
            pass


def _wait_for_port(port: int, *, up: bool, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                if up:
                    return
        except OSError:
            if not up:
                return
        time.sleep(0.05)
    raise TimeoutError(f"port {port} did not go {'up' if up else 'down'}")


_CONFIG = """
base_dir = {root}/run
state_dir = {root}/state
instance_name = {instance}
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
default_internal_user = {internal_user}
default_login_user = {login_user}
first_valid_uid = {first_uid}
disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
ssl_min_protocol = TLSv1.2
mail_location = maildir:~/Maildir
mail_max_userip_connections = 50
passdb {{
  driver = oauth2
  mechanisms = xoauth2
  args = {root}/oauth2.conf
}}
passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/passwd
}}
service imap-login {{
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = {tls_port}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service submission-login {{
  inet_listener submission {{
    port = 0
  }}
}}
service lmtp {{
  unix_listener lmtp {{
    mode = 0600
  }}
}}
"""


@dataclass
class Received:
    """What the SMTP server was given: envelope and message."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes


class RecordingHandler:
    """aiosmtpd handler: records accepted messages; can refuse or drop on demand."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.data_reply: str | None = None
        """Answer DATA with this instead of accepting (e.g. "550 5.7.1 no")."""
        self.drop_after_data = False
        """Close the connection after the message, before answering."""
        self.token: str | None = None
        """The OAuth2 access token XOAUTH2 accepts (None: XOAUTH2 fails)."""

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.drop_after_data:
            assert server.transport is not None
            server.transport.close()
            return "250 dropped"
        if self.data_reply is not None:
            return self.data_reply
        self.received.append(
            Received(
                mail_from=str(envelope.mail_from),
                rcpt_tos=list(envelope.rcpt_tos),
                data=bytes(envelope.original_content or b""),
            )
        )
        return "250 2.0.0 queued"

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        import base64

        try:
            decoded = base64.b64decode(args[1]).decode()
        except (IndexError, ValueError):
            return AuthResult(success=False, handled=False)
        fields = dict(part.split("=", 1) for part in decoded.split("\x01") if "=" in part)
        ok = fields.get("user") == USER and fields.get("auth") == f"Bearer {self.token}"
        return AuthResult(success=ok, handled=False)


def _authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    ok = (
        isinstance(data, LoginPassword)
        and data.login == USER.encode()
        and data.password == PASSWORD.encode()
    )
    # handled=False: aiosmtpd answers the refusal itself (535).
    return AuthResult(success=ok, handled=False)


class SmtpServer:
    """aiosmtpd on a free port: STARTTLS (a throwaway CA) and then PLAIN/LOGIN or XOAUTH2."""

    def __init__(self) -> None:
        self.handler = RecordingHandler()
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="smtp-test-"))
        self.certificates = Certificates(self.directory)
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_context.load_cert_chain(self.certificates.cert, self.certificates.key)
        self.controller = Controller(
            self.handler,
            hostname=HOST,
            port=self.port,
            authenticator=_authenticate,
            auth_required=True,
            tls_context=server_context,
            require_starttls=True,
        )

    def client_context(self) -> ssl.SSLContext:
        return self.certificates.client_context()

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
