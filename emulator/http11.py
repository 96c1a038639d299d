"""A small HTTP/1.1 client for callbacks over plain `http://`: one POST at a time per keep-alive connection.

Why not httpx for these: on loopback, httpx costs about ten times the CPU of the bytes it moves
(encode/httpx#3215 and its layers of pools and streams), which caps callback throughput and adds
latency when many destinations are busy. A callback is always the same shape (POST, a body of
known length, a short answer), so an asyncio protocol that writes one prepared request and parses
one answer is enough. What it does not handle goes to httpx instead (see `PlainHttpSender.handles`):
https, credentials in the URL, non-ASCII or space in the URL, and an answer it cannot parse.

Connections are kept per origin in a free list, so concurrent destinations of one origin each get
a connection of their own and reuse it afterwards. Proxies are ignored and redirects are not
followed, as webhook senders do.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

# Read at most this much of an answer; a longer body ends the connection instead of being drained.
MAX_READ_BYTES = 64 * 1024
MAX_HEAD_BYTES = 64 * 1024
MAX_IDLE_PER_ORIGIN = 64
# Printable ASCII without space: what a request target may hold as it is.
_PLAIN_TARGET = re.compile(r"[!-~]*")


class ProtocolError(Exception):
    """The answer was not HTTP/1.1 as this client reads it."""


class ClosedBeforeAnswer(ConnectionError):
    """The connection ended before a single byte of answer: the request may be sent again."""


class ConnectFailed(Exception):
    """No connection could be made (refused, unreachable, unknown host)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Target:
    host: str  # as given to connect (IPv6 without brackets)
    port: int
    host_header: str
    path: str  # request target: path and query


def parse_target(url: str) -> Target | None:
    """The parts of a plain `http://` URL, or None for anything this client leaves to httpx."""
    try:
        parts = urlsplit(url)
        port = parts.port or 80
    except ValueError:
        return None
    host = parts.hostname
    if parts.scheme.lower() != "http" or not host or parts.username is not None or parts.password is not None:
        return None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if not host.isascii() or not _PLAIN_TARGET.fullmatch(path) or not _PLAIN_TARGET.fullmatch(host):
        return None
    shown = f"[{host}]" if ":" in host else host
    return Target(host, port, shown if port == 80 else f"{shown}:{port}", path)


def request_bytes(target: Target, headers: Mapping[str, str], body: bytes) -> bytes:
    lines = [f"POST {target.path} HTTP/1.1", f"Host: {target.host_header}"]
    given = {name.lower() for name in headers}
    lines += [f"{name}: {value}" for name, value in headers.items() if name.lower() not in _OWN_HEADERS]
    if "accept" not in given:
        lines.append("Accept: */*")
    lines.append(f"Content-Length: {len(body)}")
    head = "\r\n".join(lines) + "\r\n\r\n"
    return head.encode("utf-8") + body


_OWN_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})


@dataclass(slots=True)
class Answer:
    status: int
    body: bytes
    reusable: bool


class _Reader:
    """Parses one answer from the bytes received so far; `answer()` is None until it is complete."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.eof = False

    def answer(self) -> Answer | None:
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD_BYTES:
                    raise ProtocolError("the answer's head is too long")
                if self.eof and not self.buffer:
                    raise ClosedBeforeAnswer("the connection closed before any answer")
                if self.eof:
                    raise ProtocolError("the connection closed inside the answer's head")
                return None
            status, headers, keep_alive = _head(bytes(self.buffer[:end]))
            if 100 <= status < 200 and status != 101:
                del self.buffer[: end + 4]  # informational (100 Continue): the real answer follows
                continue
            return self._body(end + 4, status, headers, keep_alive)

    def _body(self, start: int, status: int, headers: dict[str, str], keep_alive: bool) -> Answer | None:
        available = len(self.buffer) - start
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return self._chunked(start, status, keep_alive)
        length_text = headers.get("content-length")
        if length_text is not None:
            if not length_text.strip().isdecimal():
                raise ProtocolError("bad Content-Length")
            length = int(length_text)
            if available >= length:
                return Answer(status, bytes(self.buffer[start : start + length]), keep_alive)
            if available >= MAX_READ_BYTES:
                return Answer(status, bytes(self.buffer[start : start + MAX_READ_BYTES]), False)
            if self.eof:
                raise ProtocolError("the connection closed inside the answer's body")
            return None
        if status in (204, 304):
            return Answer(status, b"", keep_alive)
        # No length: the body runs to the end of the connection.
        if self.eof or available >= MAX_READ_BYTES:
            return Answer(status, bytes(self.buffer[start : start + MAX_READ_BYTES]), False)
        return None

    def _chunked(self, start: int, status: int, keep_alive: bool) -> Answer | None:
        body = bytearray()
        at = start
        while True:
            line_end = self.buffer.find(b"\r\n", at)
            if line_end < 0:
                break
            size_text = bytes(self.buffer[at:line_end]).split(b";")[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise ProtocolError("bad chunk size") from None
            if size == 0:
                trailer_end = self.buffer.find(b"\r\n\r\n", line_end)
                if trailer_end < 0 and self.buffer[line_end : line_end + 4] != b"\r\n\r\n":
                    break
                return Answer(status, bytes(body[:MAX_READ_BYTES]), keep_alive)
            if len(self.buffer) < line_end + 2 + size + 2:
                break
            body += self.buffer[line_end + 2 : line_end + 2 + size]
            at = line_end + 2 + size + 2
            if len(body) >= MAX_READ_BYTES:
                return Answer(status, bytes(body[:MAX_READ_BYTES]), False)
        if self.eof:
            raise ProtocolError("the connection closed inside a chunked answer")
        return None


def _head(raw: bytes) -> tuple[int, dict[str, str], bool]:
    lines = raw.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdecimal():
        raise ProtocolError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    connection = headers.get("connection", "").lower()
    keep_alive = "close" not in connection and (parts[0] != "HTTP/1.0" or "keep-alive" in connection)
    return int(parts[1]), headers, keep_alive


class Connection(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._reader = _Reader()
        self._waiter: asyncio.Future[Answer] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but they have its methods.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._reader.buffer += data
        self._check()

    def eof_received(self) -> bool | None:
        self._reader.eof = True
        self._check()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._reader.eof = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            if exc is not None:
                waiter.set_exception(ConnectionError(f"connection lost: {exc}"))
            else:
                self._check()
                if not waiter.done():
                    waiter.set_exception(ClosedBeforeAnswer("the connection closed before an answer"))

    def _check(self) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        try:
            answer = self._reader.answer()
        except (ProtocolError, ClosedBeforeAnswer) as problem:
            waiter.set_exception(problem)
            return
        if answer is not None:
            waiter.set_result(answer)

    async def post(self, request: bytes) -> Answer:
        if self.transport is None or self.closed:
            raise ConnectionError("the connection is closed")
        self._reader = _Reader()
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        try:
            answer = await self._waiter
        finally:
            self._waiter = None
        if not answer.reusable:
            self.close()
        return answer

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class Pool:
    """Idle keep-alive connections per origin; a connection is out of the pool while it is in use."""

    def __init__(self) -> None:
        self._idle: dict[tuple[str, int], list[Connection]] = {}
        self._all: set[Connection] = set()

    async def post(self, target: Target, request: bytes) -> Answer:
        origin = (target.host, target.port)
        connection, reused = await self._take(origin)
        try:
            answer = await connection.post(request)
        except ClosedBeforeAnswer:
            self._drop(connection)
            if not reused:
                raise
            # The receiver closed an idle keep-alive connection as we reused it (its keep-alive
            # timeout): nothing was answered, so send once more on a fresh connection, as HTTP
            # clients do, rather than count a failure the receiver never saw.
            connection, _ = await self._take(origin, fresh=True)
            try:
                answer = await connection.post(request)
            except BaseException:
                self._drop(connection)
                raise
        except BaseException:
            self._drop(connection)
            raise
        self._give_back(origin, connection)
        return answer

    def _drop(self, connection: Connection) -> None:
        connection.close()
        self._all.discard(connection)

    async def _take(self, origin: tuple[str, int], fresh: bool = False) -> tuple[Connection, bool]:
        idle = self._idle.get(origin)
        while idle and not fresh:
            connection = idle.pop()
            if not connection.closed:  # the server may have closed it while it was idle
                return connection, True
            self._all.discard(connection)
        loop = asyncio.get_running_loop()
        try:
            _, protocol = await loop.create_connection(Connection, origin[0], origin[1])
        except OSError as exc:
            raise ConnectFailed(str(exc) or "refused") from exc
        self._all.add(protocol)
        return protocol, False

    def _give_back(self, origin: tuple[str, int], connection: Connection) -> None:
        idle = self._idle.setdefault(origin, [])
        if connection.closed or len(idle) >= MAX_IDLE_PER_ORIGIN:
            connection.close()
            self._all.discard(connection)
            return
        idle.append(connection)

    def close(self) -> None:
        for connection in self._all:
            connection.close()
        self._all.clear()
        self._idle.clear()
