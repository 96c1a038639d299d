"""A small HTTP/1.1 client for callbacks over plain `http://`: one POST at a time per keep-alive connection.

Why not httpx for these: on loopback, httpx costs about ten times the CPU of the bytes it moves
(encode/httpx#3215 and its layers of pools and streams), which caps callback throughput and adds
latency when many destinations are busy. A callback is always the same shape (POST, a body of
known length, a short answer), so an asyncio protocol that writes one prepared request by hand
and reads one answer is enough. The answer is read by h11 (what uvicorn reads requests with):
receivers are untrusted, and a strict reader of framing and headers is what keeps a hostile or
broken answer from passing for a success or from desynchronising a kept-alive connection. An
answer h11 refuses is a failed attempt (`ProtocolError`), and its connection is closed. What the
client does not handle goes to httpx instead (see `parse_target`): https, credentials in the URL,
non-ASCII or space in the URL.

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

import h11

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


# h11 tracks a request/answer cycle, so it is told of each request as sent; the request itself is
# written by hand (`request_bytes`) and the bytes h11 would write are dropped. Only the method
# matters to how h11 reads the answer (HEAD and CONNECT answers have no body), and this client
# sends POSTs; the load generator of the benchmarks sends GETs too, read alike.
_SENT_REQUEST = h11.Request(method=b"POST", target=b"/", headers=[(b"Host", b"callback")])
_SENT_END = h11.EndOfMessage()
# Longest h11 message kept in an error: it may quote a line of the answer up to MAX_HEAD_BYTES long.
MAX_ERROR_CHARS = 200


class Connection(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time; h11 reads each answer.

    h11 refuses what a lenient reader would guess at: conflicting Content-Length headers, a
    chunk size that is not plain hex, a header line that is not `name: value`, a second
    Transfer-Encoding. Two things h11 accepts are refused here too, as RFC 9112 allows for
    both: a folded header line (obs-fold, which h11 joins to the line before) and an answer
    with both Transfer-Encoding and Content-Length (§6.3: "ought to be handled as an error").
    A refused answer ends the connection: what follows it on the wire cannot be trusted.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._parser = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_BYTES)
        self._waiter: asyncio.Future[Answer] | None = None
        self._status: int | None = None  # the final answer's status, once its head is read
        self._body = bytearray()
        self._heads = bytearray()  # the bytes received until the final head is read (obs-fold check)
        self._received = False  # any byte of the current answer
        self._eof = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but they have its methods.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            # Bytes nobody asked for (between answers, or after one): the next answer could not
            # be told from them, so the connection is not used again.
            self.close()
            return
        self._received = True
        if self._status is None:
            self._heads += data
        self._parser.receive_data(data)
        self._check()

    def eof_received(self) -> bool | None:
        self._end_of_input()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self._waiter
        if waiter is not None and not waiter.done() and exc is not None:
            waiter.set_exception(ConnectionError(f"connection lost: {exc}"))
            return
        self._end_of_input()

    def _end_of_input(self) -> None:
        self.closed = True  # half-closed by the receiver: it carries no further request
        told, self._eof = self._eof, True
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if not self._received:
            waiter.set_exception(ClosedBeforeAnswer("the connection closed before any answer"))
            return
        if not told:
            self._parser.receive_data(b"")
            self._check()
        if not waiter.done():  # h11 ends or refuses an answer at its end of input: never reached
            waiter.set_exception(ProtocolError("the connection closed inside the answer"))

    def _check(self) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        try:
            answer = self._read()
        except ProtocolError as problem:
            waiter.set_exception(problem)
            self.close()
            return
        except h11.ProtocolError as problem:
            waiter.set_exception(ProtocolError(f"malformed answer: {str(problem)[:MAX_ERROR_CHARS]}"))
            self.close()
            return
        if answer is not None:
            waiter.set_result(answer)

    def _read(self) -> Answer | None:
        """The answer once complete, None while more bytes are needed; raises if it is malformed."""
        parser = self._parser
        while True:
            event = parser.next_event()
            # Compared by type, not isinstance: h11's events are final classes under an ABC, whose
            # isinstance checks cost more than the rest of this loop.
            kind = type(event)
            if kind is h11.Data:
                self._body += cast(h11.Data, event).data
                if len(self._body) >= MAX_READ_BYTES:  # enough to show: the rest is not drained
                    return self._answer(bytes(self._body[:MAX_READ_BYTES]), reusable=False)
            elif kind is h11.Response:
                response = cast(h11.Response, event)
                self._check_head(response)
                self._status = response.status_code
                self._heads.clear()
            elif kind is h11.InformationalResponse:  # 100 Continue and the like: the answer follows
                self._check_head(cast(h11.InformationalResponse, event))
                # Keep only what h11 has not read yet: endless 1xx heads must not pile up here.
                del self._heads[: len(self._heads) - len(parser.trailing_data[0])]
            elif kind is h11.EndOfMessage:
                reusable = (
                    parser.our_state is h11.DONE
                    and parser.their_state is h11.DONE
                    and not parser.trailing_data[0]  # a second answer to one request
                )
                return self._answer(bytes(self._body), reusable)
            elif event is h11.NEED_DATA:
                return None
            elif kind is h11.ConnectionClosed:
                raise ProtocolError("the connection closed inside the answer")
            else:  # PAUSED: h11 waits for a new cycle, which only a finished answer starts
                raise ProtocolError("the answer did not end where h11 expected it to")

    def _answer(self, body: bytes, reusable: bool) -> Answer:
        if self._status is None:  # h11 gives the head before any body: never reached
            raise ProtocolError("an answer without a status")
        return Answer(self._status, body, reusable)

    def _check_head(self, head: h11.Response | h11.InformationalResponse) -> None:
        heads = self._heads
        if heads.find(b"\n ") >= 0 or heads.find(b"\n\t") >= 0:
            # Perhaps only in the body that came with the head: what h11 has consumed so far is
            # exactly the heads read, the rest is still in its buffer.
            consumed = len(heads) - len(self._parser.trailing_data[0])
            if heads.find(b"\n ", 0, consumed) >= 0 or heads.find(b"\n\t", 0, consumed) >= 0:
                raise ProtocolError("malformed answer: a folded header line (obs-fold)")
        # Both framings named: the byte search only spares the look at every header of every answer.
        if type(head) is h11.Response and b"transfer-encoding" in heads.lower():
            names = {name for name, _ in head.headers}
            if b"transfer-encoding" in names and b"content-length" in names:
                raise ProtocolError("malformed answer: both Transfer-Encoding and Content-Length")

    async def post(self, request: bytes) -> Answer:
        if self.transport is None or self.closed:
            raise ConnectionError("the connection is closed")
        parser = self._parser
        if parser.our_state is h11.DONE and parser.their_state is h11.DONE:
            parser.start_next_cycle()
        elif parser.our_state is not h11.IDLE:
            raise ConnectionError("the connection is not ready for another request")
        parser.send(_SENT_REQUEST)
        parser.send(_SENT_END)
        self._status = None
        self._body = bytearray()
        self._heads.clear()
        self._received = False
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
