"""`hub-emulator listen`: a running emulator's callbacks, printed as they happen, optionally forwarded.

In the spirit of a webhook CLI's `listen`. It follows the delivery journal's event stream
(`GET /_emulator/stream`), so it shows every callback the emulator sends, to any URL, with the
outcome of each attempt: a callback URL where nothing listens shows as a refused connection, not
as silence. It prints the callback URL to give an instance: the built-in sink
`/_emulator/sinks/listen` (it answers 200 and keeps what it got), or, with `--forward-to URL`, a
relay on this machine that hands each callback to URL and answers the emulator with URL's own
answer, so that the app under development decides what is delivered and what is retried.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, TextIO

from emulator.cli_client import DEFAULT_URL, URL_ENV, default_url

if TYPE_CHECKING:
    import httpx

DEFAULT_SINK = "listen"
TOKEN_ENV = "HUB_EMULATOR_CONTROL_TOKEN"
# Headers the relay does not pass on: they describe one hop, not the callback.
HOP_HEADERS = frozenset({"host", "content-length", "connection", "keep-alive", "transfer-encoding"})
MAX_RELAYED_BYTES = 16 * 1024 * 1024


def add_command(commands: Any) -> None:
    listen = commands.add_parser(
        "listen", help="print a running emulator's callbacks as they happen (optionally forward them)"
    )
    listen.add_argument(
        "--url", default=default_url(), help=f"the emulator (default ${URL_ENV}, else {DEFAULT_URL})"
    )
    listen.add_argument(
        "--forward-to",
        metavar="URL",
        help="relay each callback sent to the printed callback URL to URL (your app's endpoint) and "
        "answer the emulator with its answer",
    )
    listen.add_argument(
        "--port", type=int, default=0, help="the relay's port with --forward-to (default: free)"
    )
    listen.add_argument(
        "--sink",
        default=DEFAULT_SINK,
        help=f"the built-in sink to offer without --forward-to ({DEFAULT_SINK})",
    )
    listen.add_argument("--json", action="store_true", help="one JSON object a line, for scripts")
    listen.add_argument("--token", default=None, help=f"the control token, if any (default: ${TOKEN_ENV})")


@dataclass
class Printer:
    """What the stream says, as lines a person reads (or JSON lines); thread-safe."""

    out: TextIO
    as_json: bool
    lock: threading.Lock = field(default_factory=threading.Lock)
    told: set[int] = field(default_factory=set)  # notifications whose body was printed
    held: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # attempts before their notification

    def say(self, text: str) -> None:
        with self.lock:
            print(text, file=self.out, flush=True)

    def record(self, kind: str, data: dict[str, Any]) -> None:
        if self.as_json:
            self.say(json.dumps({"type": kind, **data}, ensure_ascii=False, separators=(",", ":")))
        elif kind == "forward":
            self.say(f"    forwarded to {data['url']}: {data['outcome']}")
        else:
            self.say(data["text"])

    def notification(self, data: dict[str, Any]) -> None:
        number = int(data["notificationId"])
        if number in self.told:
            return
        self.told.add(number)
        if self.as_json:
            self.record("notification", data)
        else:
            self.say(
                f"{data['createdDate']}  notification {number}  event {data['eventId']}  "
                f"instance {data['instanceId']}  -> {data['url']}"
            )
            self.say(json.dumps(data.get("body"), indent=2, ensure_ascii=False))
        for attempt in self.held.pop(number, []):
            self.attempt(attempt)

    def attempt(self, data: dict[str, Any]) -> None:
        number = int(data["notificationId"])
        if number not in self.told:
            self.held.setdefault(number, []).append(data)
            return
        if data.get("outcome") == "in_flight":
            return
        if self.as_json:
            self.record("attempt", data)
            return
        if data.get("outcome") == "delivered":
            result = f"{data['statusCode']} in {data.get('latencyMs') or 0:.1f} ms"
        else:
            reason = data.get("error") or (f"HTTP {data['statusCode']}" if data.get("statusCode") else "")
            result = f"FAILED: {reason or data.get('outcome')}"
        self.say(f"{data['startedDate']}  notification {number}  try {data['tryNumber']}: {result}")

    def forget(self) -> None:
        self.told.clear()
        self.held.clear()
        if self.as_json:
            self.record("reset", {})
        else:
            self.say("-- the emulator's journal was reset --")


def server_sent_events(lines: Iterator[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event, data) of each Server-Sent Event; comments and events without data are skipped."""
    kind, data = "message", ""
    for line in lines:
        if line == "":
            if data:
                yield kind, json.loads(data)
            kind, data = "message", ""
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("data:"):
            data += line[5:].strip()


def follow(stream: Iterator[tuple[str, dict[str, Any]]], printer: Printer) -> None:
    """Print what happens after the stream's first full picture (`synced`); the past is not news."""
    synced = False
    for kind, data in stream:
        if not synced:
            if kind == "notification":
                printer.told.add(int(data["notificationId"]))
            synced = kind == "synced"
        elif kind == "notification":
            printer.notification(data)
        elif kind == "attempt":
            printer.attempt(data)
        elif kind == "reset":
            printer.forget()
            synced = False  # the stream now sends everything again, then `synced`


class Relay:
    """`--forward-to`: a local receiver that hands each callback to the app and answers with its answer."""

    def __init__(self, target: str, port: int, printer: Printer, http: httpx.Client) -> None:
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_RELAYED_BYTES:
                    self.send_error(413)
                    return
                status, body = relay.forward(self.rfile.read(length), dict(self.headers.items()))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return  # the printer says what happened

        self.target = target
        self.printer = printer
        self.http = http
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="listen-relay", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def forward(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        import httpx

        kept = {k: v for k, v in headers.items() if k.lower() not in HOP_HEADERS}
        try:
            answer = self.http.post(self.target, content=body, headers=kept)
        except httpx.HTTPError as error:
            self.printer.record("forward", {"url": self.target, "outcome": f"FAILED: {error}"})
            return 502, b""
        self.printer.record("forward", {"url": self.target, "outcome": str(answer.status_code)})
        return answer.status_code, answer.content

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    import httpx

    token = args.token or os.environ.get(TOKEN_ENV)
    headers = {"Accept": "text/event-stream", **({"Authorization": f"Bearer {token}"} if token else {})}
    base = args.url.rstrip("/")
    printer = Printer(out, args.json)
    relay: Relay | None = None
    # No read timeout: the stream is quiet between callbacks (it sends a comment every 15 s).
    timeout = httpx.Timeout(10.0, read=None)
    with httpx.Client(timeout=timeout, trust_env=False) as http:
        try:
            if args.forward_to:
                relay = Relay(args.forward_to, args.port, printer, http)
                relay.start()
            callback_url = relay.url if relay else f"{base}/_emulator/sinks/{args.sink}"
            with http.stream("GET", f"{base}/_emulator/stream", headers=headers) as answer:
                if answer.status_code != 200:
                    answer.read()
                    refusal = f"{base} answered {answer.status_code}: {answer.text}"
                    print(f"hub-emulator listen: {refusal}", file=sys.stderr)
                    return 1
                _banner(printer, base, callback_url, args.forward_to)
                follow(server_sent_events(answer.iter_lines()), printer)
        except KeyboardInterrupt:
            return 0
        except httpx.HTTPError as error:
            print(f"hub-emulator listen: {base}: {error}", file=sys.stderr)
            return 1
        finally:
            if relay is not None:
                relay.stop()
    return 0


def _banner(printer: Printer, base: str, callback_url: str, forward_to: str | None) -> None:
    if printer.as_json:
        printer.record("listening", {"emulator": base, "callbackUrl": callback_url, "forwardTo": forward_to})
        return
    printer.say(f"Listening to the callbacks of {base} (Ctrl-C to stop).")
    printer.say(f"Callback URL: {callback_url}  (give it as event.notification.callback.url)")
    if forward_to:
        printer.say(f"Each callback to it is forwarded to {forward_to}, and answered with its answer.")
