"""A real HTTP callback receiver for end-to-end tests: records every POST, answers scripted statuses."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        self.failures: list[int] = []
        self._arrived = threading.Condition()
        self.url = ""

    def record(self, path: str, headers: dict[str, str], body: bytes) -> int:
        with self._arrived:
            self.received.append((path, headers, body))
            status = self.failures.pop(0) if self.failures else 200
            self._arrived.notify_all()
        return status

    def wait_for(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Blocks until `count` callbacks arrived (each one wakes it): no polling."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.received) >= count, timeout):
                raise AssertionError(f"only {len(self.received)} of {count} callbacks arrived")
            return [json.loads(body) for _, _, body in self.received]


@contextmanager
def running_receiver(port: int = 0) -> Iterator[Receiver]:
    """A receiver on `port` (0: a free one) of 127.0.0.1, for as long as the block runs."""
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: without this, Nagle and delayed ACKs cost 40 ms each.
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status = receiver.record(self.path, dict(self.headers.items()), body)
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read the records
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/callback"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
