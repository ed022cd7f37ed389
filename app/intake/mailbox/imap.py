"""The IMAP commands the mailbox needs, on `aioimaplib`, with one error type for every failure.

Only this module knows the library. Every command races the connection: a dropped connection or
a server that stops answering raises `MailboxUnavailable` at once (the poller reconnects), and a
refusal by the server (`NO`, `BAD`) raises `ImapRefused`. Folder names are quoted and written in
IMAP's modified UTF-7, so `[Gmail]/Sent Mail` or `Éléments envoyés` work as configured.
"""

from __future__ import annotations

import asyncio
import base64
import re
import ssl
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import aioimaplib

from app.intake.mailbox.oauth import Credentials

T = TypeVar("T")
Security = Literal["tls", "starttls", "none"]

_UID = re.compile(rb"\bUID (\d+)")
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")
_LITERAL = re.compile(rb"\{(\d+)\}$")
_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]")
_UIDNEXT = re.compile(rb"\[UIDNEXT (\d+)\]")
_EXISTS = re.compile(rb"^(\d+) EXISTS$")
_PUSHED = re.compile(rb"^\d+ (?:EXISTS|RECENT)$")


class MailboxUnavailable(Exception):
    """The server could not be reached, dropped the connection, or stopped answering."""


class ImapRefused(MailboxUnavailable):
    """The server answered a command with NO or BAD (wrong password, unknown folder...)."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where the IMAP server is and how to talk to it."""

    host: str
    port: int
    security: Security
    timeout: float = 30.0
    ssl_context: ssl.SSLContext | None = None
    """The TLS context (tests trust their own CA); None: the system's trusted CAs."""


@dataclass(frozen=True, slots=True)
class FolderState:
    """What SELECT says about a folder."""

    uidvalidity: int
    uidnext: int | None
    exists: int


def folder_name(name: str) -> str:
    """A folder name as an IMAP quoted string, in modified UTF-7 (RFC 3501 §5.1.3)."""
    encoded: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            data = base64.b64encode("".join(pending).encode("utf-16-be")).rstrip(b"=")
            encoded.append("&" + data.decode("ascii").replace("/", ",") + "-")
            pending.clear()

    for char in name:
        if " " <= char <= "~":
            flush()
            encoded.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return quoted("".join(encoded))


def quoted(text: str) -> str:
    """An IMAP quoted string (RFC 3501 §9): backslash and double quote escaped."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class ImapConnection:
    """One logged-in IMAP connection."""

    def __init__(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint
        self._lost = asyncio.Event()
        context: ssl.SSLContext | None = None
        if endpoint.security == "tls":
            context = endpoint.ssl_context or ssl.create_default_context()
        self._client = aioimaplib.IMAP4(
            host=endpoint.host,
            port=endpoint.port,
            timeout=endpoint.timeout,
            conn_lost_cb=lambda _exc: self._lost.set(),
            ssl_context=context,
        )

    @classmethod
    async def open(cls, endpoint: Endpoint, credentials: Credentials) -> ImapConnection:
        """Connect, secure the connection as configured, and log in."""
        connection = cls(endpoint)
        try:
            await connection._run(connection._client.wait_hello_from_server())
            if endpoint.security == "starttls":
                await connection._starttls()
            await connection._login(credentials)
            await connection._capabilities_after_login()
        except BaseException:
            connection.abort()
            raise
        return connection

    @property
    def capabilities(self) -> frozenset[str]:
        """What the server announced (upper case)."""
        caps: set[str] = self._client.protocol.capabilities
        return frozenset(c.upper() for c in caps)

    async def _starttls(self) -> None:
        if "STARTTLS" not in self.capabilities:
            raise MailboxUnavailable("the server does not offer STARTTLS")
        protocol = self._client.protocol
        command = aioimaplib.Command("STARTTLS", protocol.new_tag(), loop=protocol.loop)
        self._check(await self._run(protocol.execute(command)), "STARTTLS")
        context = self._endpoint.ssl_context or ssl.create_default_context()
        loop = asyncio.get_running_loop()
        transport = await self._run(
            loop.start_tls(
                protocol.transport, protocol, context, server_hostname=self._endpoint.host
            )
        )
        protocol.transport = transport
        # What the server said before TLS may have been altered on the way: ask again.
        await self._run(protocol.capability())

    async def _login(self, credentials: Credentials) -> None:
        user = credentials.user
        if credentials.oauth is None:
            password = credentials.password.get_secret_value() if credentials.password else ""
            response = await self._run(self._client.login(quoted(user), password))
            self._check(response, "LOGIN")
            return
        response = await self._xoauth2(user, await credentials.oauth.token())
        if response.result != "OK":
            # The cached token may have been revoked early: one more try with a fresh one.
            response = await self._xoauth2(user, await credentials.oauth.token(fresh=True))
        self._check(response, "AUTHENTICATE XOAUTH2")

    async def _xoauth2(self, user: str, token: str) -> Any:
        """AUTHENTICATE XOAUTH2, answering the server's error challenge as the protocol asks.

        A refused token comes back as a `+` line carrying the error, and the server waits for an
        empty line before it says NO (Gmail, Dovecot); the library would wait for NO forever.
        """
        protocol = self._client.protocol
        attempt = asyncio.ensure_future(self._client.xoauth2(user, token))
        answered = False
        deadline = asyncio.get_running_loop().time() + self._endpoint.timeout * 2
        while not attempt.done() and asyncio.get_running_loop().time() < deadline:
            await asyncio.wait({attempt}, timeout=0.05)
            pending = protocol.pending_sync_command
            if answered or pending is None or pending.name != "AUTHENTICATE":
                continue
            if any(line.startswith(b"+") for line in _byte_lines(pending.response.lines)):
                protocol.transport.write(b"\r\n")
                answered = True
        return await self._run(attempt)

    async def _capabilities_after_login(self) -> None:
        # Servers announce more (IDLE, MOVE) once a user is logged in.
        await self._run(self._client.protocol.capability())

    async def select(self, folder: str) -> FolderState:
        """Open a folder read-write."""
        response = await self._run(self._client.select(folder_name(folder)))
        self._check(response, f"SELECT {folder}")
        uidvalidity = uidnext = None
        exists = 0
        for line in _byte_lines(response.lines):
            if found := _UIDVALIDITY.search(line):
                uidvalidity = int(found.group(1))
            if found := _UIDNEXT.search(line):
                uidnext = int(found.group(1))
            if found := _EXISTS.match(line):
                exists = int(found.group(1))
        if uidvalidity is None:
            raise MailboxUnavailable(f"SELECT {folder} gave no UIDVALIDITY")
        return FolderState(uidvalidity=uidvalidity, uidnext=uidnext, exists=exists)

    async def uids_after(self, last_uid: int) -> list[int]:
        """The folder's UIDs above `last_uid`, ascending."""
        response = await self._run(self._client.uid_search(f"UID {last_uid + 1}:*", charset=None))
        self._check(response, "UID SEARCH")
        found: set[int] = set()
        for line in _byte_lines(response.lines[:-1]):
            found.update(int(word) for word in line.split() if word.isdigit())
        # "n:*" always matches the highest UID, even one below n.
        return sorted(uid for uid in found if uid > last_uid)

    async def sizes(self, uids: list[int]) -> dict[int, int]:
        """Each message's size in bytes (RFC822.SIZE), without fetching it."""
        if not uids:
            return {}
        response = await self._run(
            self._client.uid("fetch", ",".join(map(str, uids)), "(UID RFC822.SIZE)")
        )
        self._check(response, "UID FETCH RFC822.SIZE")
        sizes: dict[int, int] = {}
        for line in _byte_lines(response.lines):
            uid, size = _UID.search(line), _SIZE.search(line)
            if uid and size:
                sizes[int(uid.group(1))] = int(size.group(1))
        return sizes

    async def fetch(self, uid: int, *, header_bytes: int | None = None) -> bytes | None:
        """The message's bytes exactly as stored (or its first `header_bytes` of header).

        None when the message is gone (expunged meanwhile). `BODY.PEEK` leaves it unread.
        """
        part = f"BODY.PEEK[HEADER]<0.{header_bytes}>" if header_bytes else "BODY.PEEK[]"
        # A large message may take a while; the library also times out a stalled transfer.
        response = await self._run(
            self._client.uid("fetch", str(uid), f"(UID {part})"), self._endpoint.timeout * 20
        )
        self._check(response, "UID FETCH")
        lines = response.lines
        for index, line in enumerate(lines[:-1]):
            if not isinstance(line, bytes) or not _LITERAL.search(line):
                continue
            found = _UID.search(line)
            body = lines[index + 1]
            if found and int(found.group(1)) == uid and isinstance(body, bytes | bytearray):
                return bytes(body)
        return None

    async def add_flag(self, uid: int, flag: str) -> None:
        """Set a flag or keyword on one message."""
        response = await self._run(self._client.uid("store", str(uid), f"+FLAGS.SILENT ({flag})"))
        self._check(response, "UID STORE")

    async def move(self, uid: int, folder: str) -> None:
        """Move one message (MOVE, else COPY, flag it deleted, and UID EXPUNGE only that one)."""
        target = folder_name(folder)
        if "MOVE" in self.capabilities:
            self._check(await self._run(self._client.uid("move", str(uid), target)), "UID MOVE")
            return
        self._check(await self._run(self._client.uid("copy", str(uid), target)), "UID COPY")
        await self.add_flag(uid, "\\Deleted")
        if "UIDPLUS" in self.capabilities:
            # Without UIDPLUS an EXPUNGE would also remove what a person marked deleted.
            self._check(await self._run(self._client.uid("expunge", str(uid))), "UID EXPUNGE")

    async def create(self, folder: str) -> None:
        """Create a folder; one that exists already is fine."""
        await self._run(self._client.create(folder_name(folder)))

    async def append(self, folder: str, message: bytes, flags: str = "\\Seen") -> None:
        """Add a message to a folder."""
        response = await self._run(self._client.append(message, folder_name(folder), flags))
        self._check(response, f"APPEND {folder}")

    async def wait_for_mail(self, seconds: float) -> bool:
        """Wait up to `seconds` for news: IDLE, or where it is missing a pause and then NOOP.

        True when the server pushed new mail. The caller looks for new mail afterwards either
        way, so a push missed between two IDLEs only waits for the next round.
        """
        if "IDLE" not in self.capabilities:
            await self._run(asyncio.sleep(seconds), seconds + self._endpoint.timeout)
            response = await self._run(self._client.noop())
            return any(_PUSHED.match(line) for line in _byte_lines(response.lines))
        idle = await self._run(self._client.idle_start(timeout=seconds))
        try:
            pushed = await self._run(
                self._client.wait_server_push(timeout=seconds + 5), seconds + 10
            )
        finally:
            if self._client.has_pending_idle() and not self._lost.is_set():
                self._client.idle_done()
        await self._run(idle)
        if not isinstance(pushed, list) or pushed == aioimaplib.STOP_WAIT_SERVER_PUSH:
            return False
        return any(_PUSHED.match(line) for line in _byte_lines(pushed))

    async def logout(self) -> None:
        """Log out politely; a connection already gone is fine."""
        try:
            if not self._lost.is_set():
                await self._run(self._client.logout(), 5.0)
        except MailboxUnavailable:
            pass
        finally:
            self.abort()

    def abort(self) -> None:
        """Close the connection at once."""
        transport = self._client.protocol.transport
        if transport is not None:
            transport.close()

    async def _run(self, work: Awaitable[T], seconds: float | None = None) -> T:
        """Await `work`, unless the connection drops or the server stops answering first."""
        task = asyncio.ensure_future(work)
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            done, _ = await asyncio.wait(
                {task, lost},
                timeout=seconds or self._endpoint.timeout * 2,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            lost.cancel()
        if task in done:
            try:
                return task.result()
            except (OSError, TimeoutError, aioimaplib.AioImapException, ssl.SSLError) as exc:
                raise MailboxUnavailable(f"{type(exc).__name__}: {exc}") from exc
        task.cancel()
        if self._lost.is_set():
            raise MailboxUnavailable("the server closed the connection")
        raise MailboxUnavailable("the server stopped answering")

    @staticmethod
    def _check(response: Any, what: str) -> None:
        if response.result != "OK":
            said = b" ".join(_byte_lines(response.lines[-1:])).decode("utf-8", "replace")
            raise ImapRefused(f"{what}: {response.result} {said[:200]}".strip())


def _byte_lines(lines: list[Any]) -> list[bytes]:
    return [bytes(line) for line in lines if isinstance(line, bytes)]
