"""A callback receiver for tests: a real HTTP server that records every request and answers as told.

One `SinkServer` (ThreadingHTTPServer on 127.0.0.1, a free port, a thread per connection) holds
any number of `CallbackSink`s, each at its own URL path, so a test session needs one server and
each test gets a sink of its own:

    with CallbackSink.start() as sink:
        ...  # give sink.url to the emulator as the callback URL
        [callback] = sink.wait_for(count=1, timeout=5)
        assert callback.json["instanceId"] == instance.id
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from emulator.api import WaitTimeout

Where = Callable[["Callback"], bool] | Mapping[str, Any]
PREFIX = "/sink/"
SHUTDOWN_POLL = 0.05  # seconds: how often serve_forever looks for shutdown(); bounds how long a stop takes


@dataclass(frozen=True)
class Callback:
    """One request a sink received: headers and raw body as sent, the body parsed if it is JSON."""

    method: str
    path: str  # below the sink's URL: "" for the URL itself, "/events" for `sink.url + "/events"`
    query: str
    headers: dict[str, str]
    body: bytes
    json: Any  # None when the body is not JSON
    received_at: float  # wall time (time.time()): when it arrived
    status: int  # what the sink answered

    def header(self, name: str) -> str | None:
        """A header's value by case-insensitive name."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)


@dataclass
class _Plan:
    statuses: list[int] = field(default_factory=list)
    delay: float = 0.0


class CallbackSink:
    """One receiver URL: what it received (`received`), waiting for it (`wait_for`), its answers."""

    def __init__(self, server: SinkServer, name: str) -> None:
        self._server = server
        self.name = name
        self.url = f"{server.origin}{PREFIX}{name}"
        self._received: list[Callback] = []
        self._plan = _Plan()
        self._changed = threading.Condition()

    @classmethod
    def start(cls) -> CallbackSink:
        """A sink on a server of its own; `close()` (or a `with` block) stops that server."""
        return SinkServer.start().sink(owned=True)

    @property
    def received(self) -> list[Callback]:
        """Everything received so far, oldest first (a copy)."""
        with self._changed:
            return list(self._received)

    def fail_next(self, count: int = 1, status: int = 500) -> None:
        """Answer the next `count` requests with `status` instead of 200."""
        self.respond(*([status] * count))

    def respond(self, *statuses: int) -> None:
        """Answer the next requests with these statuses, in order; then 200 again."""
        if any(not 200 <= s <= 599 for s in statuses):
            raise ValueError("statuses must be HTTP statuses from 200 to 599")
        with self._changed:
            self._plan.statuses.extend(statuses)

    def delay(self, seconds: float) -> None:
        """Answer every request `seconds` late (wall time) from now on; `delay(0)` stops that."""
        if seconds < 0:
            raise ValueError("a delay cannot be negative")
        with self._changed:
            self._plan.delay = seconds

    def clear(self) -> None:
        """Forget what was received and every planned answer."""
        with self._changed:
            self._received.clear()
            self._plan = _Plan()

    def wait_for(self, count: int = 1, where: Where | None = None, timeout: float = 10.0) -> list[Callback]:
        """Block until `count` received callbacks match `where`; those callbacks. Raises WaitTimeout.

        `where` is a predicate on a Callback, or a mapping that the JSON body must contain
        (`{"instanceId": 7}`); none matches everything, failed answers included.
        """
        matches = _matcher(where)
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(found := [c for c in self._received if matches(c)]) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise WaitTimeout(
                        f"sink {self.url}: waited {timeout:g} s for {count} callbacks; {len(found)} matched "
                        f"of {len(self._received)} received",
                        found,
                    )
                self._changed.wait(remaining)
            return found[:count] if count else found

    def close(self) -> None:
        """Detach from the server (and stop it, for a sink made by `CallbackSink.start()`)."""
        self._server.detach(self)

    def __enter__(self) -> CallbackSink:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<CallbackSink {self.url} received={len(self._received)}>"

    # -- called by the server's handler threads -------------------------------------------------
    def _answer(self) -> tuple[int, float]:
        with self._changed:
            status = self._plan.statuses.pop(0) if self._plan.statuses else 200
            return status, self._plan.delay

    def _record(self, callback: Callback) -> None:
        with self._changed:
            self._received.append(callback)
            self._changed.notify_all()


def _matcher(where: Where | None) -> Callable[[Callback], bool]:
    if where is None:
        return lambda _callback: True
    if isinstance(where, Mapping):
        expected = dict(where)
        return lambda c: isinstance(c.json, dict) and all(c.json.get(k) == v for k, v in expected.items())
    return where


class SinkServer:
    """The HTTP server behind sinks: `/sink/<name>[/...]` reaches the sink `<name>`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._httpd = _HTTPServer((host, port), _Handler)
        self._httpd.sink_server = self
        self.origin = f"http://{host}:{self._httpd.server_address[1]}"
        self._sinks: dict[str, CallbackSink] = {}
        self._owned: set[str] = set()
        self._names = itertools.count(1)
        self._lock = threading.Lock()
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(SHUTDOWN_POLL,), name="callback-sink", daemon=True
        )
        self.stopping = threading.Event()  # cuts scripted delays short when the server stops

    @classmethod
    def start(cls, host: str = "127.0.0.1") -> SinkServer:
        """Listening when this returns: the socket is bound and listening before the thread starts."""
        server = cls(host)
        server._thread.start()
        return server

    def sink(self, *, owned: bool = False) -> CallbackSink:
        """A new sink at a URL of its own."""
        with self._lock:
            name = str(next(self._names))
            made = CallbackSink(self, name)
            self._sinks[name] = made
            if owned:
                self._owned.add(name)
        return made

    def find(self, name: str) -> CallbackSink | None:
        with self._lock:
            return self._sinks.get(name)

    def detach(self, sink: CallbackSink) -> None:
        with self._lock:
            self._sinks.pop(sink.name, None)
            owned = sink.name in self._owned
        if owned:
            self.stop()

    def stop(self) -> None:
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # an idle keep-alive connection must not hold up the end of the process
    request_queue_size = 128  # bursts of concurrent callbacks: the default backlog of 5 refuses some
    sink_server: SinkServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as webhook senders use it
    # Head and body are written separately: without this, Nagle and delayed ACKs add 40 ms to each.
    disable_nagle_algorithm = True
    server: _HTTPServer

    def _receive(self) -> None:
        path, _, query = self.path.partition("?")
        name, _, rest = path.removeprefix(PREFIX).partition("/")
        sink = self.server.sink_server.find(name) if path.startswith(PREFIX) else None
        body = self._body()
        if sink is None:
            self._reply(404, {"error": "no such sink"})
            return
        status, delay = sink._answer()
        sink._record(
            Callback(
                self.command,
                "/" + rest if rest else "",
                query,
                dict(self.headers.items()),
                body,
                _json(body),
                time.time(),
                status,
            )
        )
        if delay:
            self.server.sink_server.stopping.wait(delay)
        self._reply(status, {"received": True, "status": status})

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._chunked()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _chunked(self) -> bytes:
        parts: list[bytes] = []
        while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
            parts.append(self.rfile.read(size))
            self.rfile.readline()
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass  # trailers
        return b"".join(parts)

    def _reply(self, status: int, body: Mapping[str, Any]) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _receive

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a test's output is no place for an access log."""


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None
