"""A fast callback receiver for the benchmark: an asyncio protocol that stamps each POST's arrival.

It answers every POST `200 ok` at once and remembers when it arrived (`time.monotonic_ns()`, one
clock for every process on Linux), its path and the number after `bench-` in its body, which is
how the runner ties a callback to the change that caused it. Its own paths under `/_bench/`:
`GET /_bench/arrivals` (and clear them), `GET /_bench/wait?count=N&timeout=S` (answers once N
arrived). Run it as `python -m emulator.bench.receiver --port N`; loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

MARKER = re.compile(rb"bench-(\d+)")
MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_WAIT_SECONDS = 120.0
OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok"

Arrival = tuple[int, str, int]  # monotonic ns, path, marker (-1 when the body has none)


class Arrivals:
    """What arrived, and the waiters of `/_bench/wait`."""

    def __init__(self) -> None:
        self.items: list[Arrival] = []
        self._changed = asyncio.Event()

    def add(self, path: str, body: bytes) -> None:
        found = MARKER.search(body)
        self.items.append((time.monotonic_ns(), path, int(found.group(1)) if found else -1))
        self._changed.set()

    async def wait(self, count: int, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(timeout, MAX_WAIT_SECONDS)
        while len(self.items) < count:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                return len(self.items) >= count
        return True


class ReceiverProtocol(asyncio.Protocol):
    """HTTP/1.1 with keep-alive and pipelining; bodies by Content-Length (what webhook senders send)."""

    def __init__(self, arrivals: Arrivals) -> None:
        self.arrivals = arrivals
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but they have its methods.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None and (request := self._next_request()) is not None:
            self._answer(*request)

    def _next_request(self) -> tuple[str, str, bytes] | None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > MAX_HEAD_BYTES:
                self._close()
            return None
        head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        method, target = [*head[0].split(" "), "", ""][:2]
        length = 0
        for line in head[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip() or 0)
        if length > MAX_BODY_BYTES:
            self._close()
            return None
        if len(self.buffer) < end + 4 + length:
            return None
        body = bytes(self.buffer[end + 4 : end + 4 + length])
        del self.buffer[: end + 4 + length]
        return method, target, body

    def _answer(self, method: str, target: str, body: bytes) -> None:
        assert self.transport is not None
        if not target.startswith("/_bench/"):
            if method == "POST":
                self.arrivals.add(target, body)
            self.transport.write(OK)
            return
        asyncio.get_running_loop().create_task(self._control(method, target))

    async def _control(self, method: str, target: str) -> None:
        url = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        payload: Any
        if url.path == "/_bench/wait":
            reached = await self.arrivals.wait(
                int(query.get("count", "0")), float(query.get("timeout", "10"))
            )
            payload = {"count": len(self.arrivals.items), "reached": reached}
        elif url.path == "/_bench/arrivals":
            payload = self.arrivals.items
            if query.get("clear") == "1":
                self.arrivals.items = []
        else:
            payload = {"count": len(self.arrivals.items)}
        data = json.dumps(payload).encode()
        if self.transport is not None and not self.transport.is_closing():
            head = f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(data)}\r\n\r\n"
            self.transport.write(head.encode() + data)

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def serve(port: int, ready_line: bool = True) -> None:
    """Serves on 127.0.0.1:`port` until the process is stopped."""
    arrivals = Arrivals()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: ReceiverProtocol(arrivals), "127.0.0.1", port)
    if ready_line:
        print(f"receiver ready on {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def run_loop(main: Any) -> None:
    """Runs a coroutine on uvloop where installed, as the servers do."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    uvloop.run(main)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    run_loop(serve(args.port))


if __name__ == "__main__":
    main()
