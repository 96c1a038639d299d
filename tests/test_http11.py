"""The small HTTP/1.1 callback client: answers of every shape, keep-alive reuse, and what goes to httpx."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

import pytest

from emulator import http11
from emulator.transport import PlainHttpSender, SendResult

WAIT = 5.0

Script = Callable[[bytes], list[bytes]]  # a request's bytes -> the chunks to answer with ([] closes)


class ScriptedServer:
    """Answers each request on a connection with the next script's chunks; records what it got."""

    def __init__(self, *scripts: Script, close_after: bool = False, hold: bool = False) -> None:
        self.scripts = list(scripts)
        self.close_after = close_after
        self.hold = hold  # keep the connection open once the scripts are done
        self.requests: list[bytes] = []
        self.connections = 0
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while self.scripts:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    ),
                    0,
                )
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                for chunk in self.scripts.pop(0)(request):
                    writer.write(chunk)
                    await writer.drain()
                if self.close_after:
                    break
            if self.hold:
                await reader.read()  # until the client gives up and closes
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


async def _serve(server: ScriptedServer) -> asyncio.Server:
    found = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    server.port = found.sockets[0].getsockname()[1]
    return found


def answer(*chunks: bytes) -> Script:
    return lambda _request: list(chunks)


T = TypeVar("T")


def run(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(main(), WAIT)

    return asyncio.run(bounded())


async def _post(server: ScriptedServer, sender: PlainHttpSender, path: str = "/hook") -> SendResult:
    return await sender.send(f"http://127.0.0.1:{server.port}{path}", {"X-Id": "7"}, b'{"a":1}', WAIT)


@pytest.mark.parametrize(
    ("chunks", "status", "snippet"),
    [
        ([b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"], 200, "hello"),
        ([b"HTTP/1.1 201 Created\r\nContent-Len", b"gth: 2\r\n\r\no", b"k"], 201, "ok"),
        (
            [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"],
            200,
            "abcde",
        ),
        ([b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 500 Oops\r\nContent-Length: 4\r\n\r\nfail"], 500, "fail"),
        ([b"HTTP/1.1 204 No Content\r\n\r\n"], 204, ""),
        ([b"HTTP/1.0 200 OK\r\n\r\nto the end"], 200, "to the end"),
    ],
)
def test_answers_of_every_shape_are_read(chunks: list[bytes], status: int, snippet: str) -> None:
    server = ScriptedServer(answer(*chunks))

    async def main() -> SendResult:
        async with await _serve(server):
            sender = PlainHttpSender()
            try:
                return await _post(server, sender)
            finally:
                await sender.aclose()

    result = run(main)
    assert isinstance(result, SendResult)
    assert (result.status_code, result.error, result.response_snippet) == (status, None, snippet)


def test_the_request_carries_host_length_and_the_given_headers() -> None:
    server = ScriptedServer(answer(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))

    async def main() -> None:
        async with await _serve(server):
            sender = PlainHttpSender()
            await _post(server, sender, "/hook/a?x=1")
            await sender.aclose()

    run(main)
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /hook/a?x=1 HTTP/1.1"
    assert f"Host: 127.0.0.1:{server.port}" in lines
    assert "X-Id: 7" in lines and "Content-Length: 7" in lines
    assert body == b'{"a":1}'


def test_a_keep_alive_connection_is_reused_and_a_closed_one_is_not() -> None:
    ok = answer(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    kept = ScriptedServer(ok, ok, ok)
    closing = ScriptedServer(ok, ok, close_after=True)

    async def main() -> None:
        async with await _serve(kept), await _serve(closing):
            sender = PlainHttpSender()
            for _ in range(3):
                assert (await _post(kept, sender)).status_code == 200
            for _ in range(2):
                assert (await _post(closing, sender)).status_code == 200
                await asyncio.sleep(0.05)  # the close reaches the client before the next send
            await sender.aclose()

    run(main)
    assert kept.connections == 1
    assert closing.connections == 2


def test_a_refused_connection_and_a_garbled_answer_are_errors() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free = sock.getsockname()[1]
    garbled = ScriptedServer(answer(b"SMTP ready\r\n\r\n"))

    async def main() -> tuple[SendResult, SendResult]:
        async with await _serve(garbled):
            sender = PlainHttpSender()
            refused = await sender.send(f"http://127.0.0.1:{free}/x", {}, b"", WAIT)
            bad = await _post(garbled, sender)
            await sender.aclose()
            return refused, bad

    refused, bad = run(main)
    assert refused.status_code is None and refused.error and refused.error.startswith("connection failed")
    assert bad.status_code is None and bad.error and bad.error.startswith("ProtocolError")


def test_an_answer_that_never_comes_times_out() -> None:
    silent = ScriptedServer(answer(), hold=True)  # reads the request, answers nothing, keeps the connection

    async def main() -> SendResult:
        async with await _serve(silent):
            sender = PlainHttpSender()
            result = await sender.send(f"http://127.0.0.1:{silent.port}/x", {}, b"", 0.2)
            await sender.aclose()
            return result

    result = run(main)
    assert isinstance(result, SendResult)
    assert (result.status_code, result.error) == (None, "timed out after 0.2 s")


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1:1/x",
        "http://user:secret@127.0.0.1:1/x",
        "http://127.0.0.1:1/a b",
        "http://bücher.example/x",
    ],
)
def test_what_the_small_client_does_not_handle_goes_to_httpx(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []

    async def fake_send(
        self: object, url: str, headers: Mapping[str, str], body: bytes, timeout: float
    ) -> SendResult:
        seen.append(url)
        return SendResult(299, None, 0.0, "")

    monkeypatch.setattr("emulator.transport.HttpxSender.send", fake_send)
    assert http11.parse_target(url) is None

    async def main() -> SendResult:
        sender = PlainHttpSender()
        result = await sender.send(url, {}, b"", WAIT)
        await sender.aclose()
        return result

    result = run(main)
    assert isinstance(result, SendResult) and result.status_code == 299
    assert seen == [url]


def test_targets_keep_the_query_and_name_the_port_only_when_needed() -> None:
    assert http11.parse_target("http://example.com/a?b=1") == http11.Target(
        "example.com", 80, "example.com", "/a?b=1"
    )
    assert http11.parse_target("http://[::1]:8080") == http11.Target("::1", 8080, "[::1]:8080", "/")


def test_a_keep_alive_connection_closed_by_the_receiver_is_replaced_not_failed() -> None:
    """A receiver's keep-alive timeout closing an idle connection must not turn into a failed try."""
    answers: list[int] = []

    async def scenario() -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            await reader.readexactly(2)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            writer.close()  # as a receiver whose keep-alive timeout has passed: no Connection: close

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        pool = http11.Pool()
        target = http11.parse_target(f"http://127.0.0.1:{port}/hook")
        assert target is not None
        request = http11.request_bytes(target, {"Content-Type": "application/json"}, b"{}")
        for _ in range(3):
            answers.append((await pool.post(target, request)).status)
        pool.close()
        server.close()
        await server.wait_closed()

    asyncio.run(scenario())
    assert answers == [200, 200, 200]


OK_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
# Answers a lenient reader takes for a success (or reads with the wrong length, desynchronising the
# kept-alive connection); each must be a failed attempt naming the problem.
MALFORMED = {
    "two Content-Lengths": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
        "conflicting Content-Length",
    ),
    "a Content-Length list": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nok",
        "conflicting Content-Length",
    ),
    "a signed Content-Length": (b"HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok", "bad Content-Length"),
    "a 0x chunk size": (CHUNKED + b"0x2\r\nok\r\n0\r\n\r\n", "illegal chunk header"),
    "a negative chunk size": (CHUNKED + b"-1\r\nok\r\n0\r\n\r\n", "illegal chunk header"),
    "a chunk size with spaces": (CHUNKED + b"2 ; junk\r\nok\r\n0\r\n\r\n", "illegal chunk header"),
    "a chunk longer than its size": (CHUNKED + b"2\r\nokXX\r\n0\r\n\r\n", "malformed chunk footer"),
    "a folded header": (
        b"HTTP/1.1 200 OK\r\nX-Note: a\r\n Content-Length: 9\r\nContent-Length: 2\r\n\r\nok",
        "folded header line",
    ),
    "a folded header by tab": (
        b"HTTP/1.1 200 OK\r\nX-Note: a\r\n\tb\r\nContent-Length: 2\r\n\r\nok",
        "folded",
    ),
    "a first header line starting with a space": (
        b"HTTP/1.1 200 OK\r\n Content-Length: 2\r\n\r\nok",
        "continuation line at start of headers",
    ),
    "a space before the colon": (b"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok", "illegal header line"),
    "two Transfer-Encodings": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "multiple Transfer-Encoding",
    ),
    "Transfer-Encoding and Content-Length": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        "both Transfer-Encoding and Content-Length",
    ),
    "a status of four digits": (b"HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok", "illegal status line"),
    "an unasked-for upgrade": (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", "malformed answer"),
    "a head over 64 KiB": (b"HTTP/1.1 200 OK\r\nX-Pad: " + b"a" * (65 * 1024), "Receive buffer too long"),
    "a folded header after 100 Continue": (
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nX-Note: a\r\n b\r\nContent-Length: 2\r\n\r\nok",
        "folded header line",
    ),
}


@pytest.mark.parametrize(("raw", "reason"), list(MALFORMED.values()), ids=list(MALFORMED))
def test_a_malformed_answer_is_a_failed_attempt_and_its_connection_is_dropped(
    raw: bytes, reason: str
) -> None:
    # The receiver keeps its end open after the bad answer: only the client can end the connection.
    server = ScriptedServer(answer(raw), answer(OK_ANSWER), hold=True)

    async def main() -> tuple[SendResult, SendResult]:
        async with await _serve(server):
            sender = PlainHttpSender()
            try:
                # A timeout well inside `run`'s bound: a reader that waits for more is caught as such.
                bad = await sender.send(f"http://127.0.0.1:{server.port}/hook", {}, b"{}", 2.0)
                after = await _post(server, sender)
            finally:
                await sender.aclose()
            return bad, after

    bad, after = run(main)
    assert bad.status_code is None and bad.response_snippet is None
    assert bad.error is not None and bad.error.startswith("ProtocolError: malformed answer"), bad.error
    assert reason in bad.error
    assert len(bad.error) < 300  # h11 quotes the offending line: a 64 KiB head is not journaled
    # The next callback goes out on a new connection and reads its own answer, not the leftovers.
    assert (after.status_code, after.error, after.response_snippet) == (200, None, "ok")
    assert server.connections == 2


@pytest.mark.parametrize(
    "answer_bytes",
    [
        OK_ANSWER + b"HTTP/1.1 500 Smuggled\r\nContent-Length: 0\r\n\r\n",  # two answers to one request
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
    ],
    ids=["a second answer", "Connection: close"],
)
def test_a_connection_is_not_reused_after_extra_bytes_or_a_close(answer_bytes: bytes) -> None:
    server = ScriptedServer(answer(answer_bytes), answer(OK_ANSWER), hold=True)

    async def main() -> list[SendResult]:
        async with await _serve(server):
            sender = PlainHttpSender()
            try:
                return [await _post(server, sender), await _post(server, sender)]
            finally:
                await sender.aclose()

    results = run(main)
    assert [(r.status_code, r.response_snippet) for r in results] == [(200, "ok"), (200, "ok")]
    assert server.connections == 2


@pytest.mark.parametrize(
    ("chunks", "reason"),
    [
        ([b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nok"], "without sending complete message body"),
        ([CHUNKED + b"2\r\nok\r\n"], "incomplete chunked read"),
        ([b"HTTP/1.1 200 OK\r\nContent-"], "peer unexpectedly closed"),
    ],
    ids=["short body", "unfinished chunks", "half a head"],
)
def test_an_answer_cut_short_by_a_close_is_a_failed_attempt(chunks: list[bytes], reason: str) -> None:
    server = ScriptedServer(answer(*chunks), close_after=True)

    async def main() -> SendResult:
        async with await _serve(server):
            sender = PlainHttpSender()
            try:
                return await _post(server, sender)
            finally:
                await sender.aclose()

    result = run(main)
    assert result.status_code is None and result.error is not None
    assert result.error.startswith("ProtocolError: malformed answer") and reason in result.error, result.error


def test_a_long_body_is_cut_at_the_read_limit_and_its_connection_dropped() -> None:
    big = b"x" * (http11.MAX_READ_BYTES + 10)
    server = ScriptedServer(
        answer(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(big), big), answer(OK_ANSWER), hold=True
    )

    async def main() -> list[SendResult]:
        async with await _serve(server):
            sender = PlainHttpSender()
            try:
                return [await _post(server, sender), await _post(server, sender)]
            finally:
                await sender.aclose()

    first, second = run(main)
    assert first.status_code == 200 and first.response_snippet == "x" * http11.MAX_READ_BYTES
    assert (second.status_code, second.response_snippet) == (200, "ok")
    assert server.connections == 2
