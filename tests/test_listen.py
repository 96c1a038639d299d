"""`hub-emulator listen`: a running emulator's callbacks printed as they happen, and forwarded."""

from __future__ import annotations

import io
import json
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from emulator.listen import Printer, follow, server_sent_events
from tests.conftest import ROOT, provision_by_side_channel
from tests.serving import Served, serving

HUB = "/elements/api-v2/hubs/documents"


def _notification(number: int, url: str = "http://app.test/hook") -> dict[str, Any]:
    return {
        "notificationId": number,
        "eventId": number,
        "instanceId": 7,
        "url": url,
        "createdDate": "2026-01-01T00:00:00Z",
        "body": {"eventId": number, "notificationId": number},
    }


def _attempt(number: int, outcome: str, **extra: Any) -> dict[str, Any]:
    return {
        "notificationId": number,
        "tryNumber": 1,
        "outcome": outcome,
        "startedDate": "2026-01-01T00:00:01Z",
        "statusCode": extra.get("statusCode"),
        "error": extra.get("error"),
        "latencyMs": 1.0,
    }


def test_the_past_is_not_news_and_an_attempt_waits_for_its_notification() -> None:
    out = io.StringIO()
    follow(
        iter(
            [
                ("notification", _notification(1)),  # before `synced`: history
                ("synced", {}),
                ("attempt", _attempt(1, "delivered", statusCode=200)),  # history's retry: shown, no body
                ("attempt", _attempt(2, "failed", error="connection failed")),  # before its notification
                ("notification", _notification(2)),
                ("notification", _notification(2)),  # told again (status changed): printed once
            ]
        ),
        Printer(out, as_json=False),
    )
    lines = out.getvalue().splitlines()
    assert lines[0] == "2026-01-01T00:00:01Z  notification 1  try 1: 200 in 1.0 ms"
    assert lines[1].endswith("notification 2  event 2  instance 7  -> http://app.test/hook")
    assert lines[-1] == "2026-01-01T00:00:01Z  notification 2  try 1: FAILED: connection failed"
    assert sum("notification 2  event 2" in line for line in lines) == 1
    assert json.loads("\n".join(lines[2:-1])) == {"eventId": 2, "notificationId": 2}


def test_server_sent_events_are_parsed_with_comments_skipped() -> None:
    lines = [
        "event: hello",
        'data: {"version": "x"}',
        "",
        ": keep-alive",
        "",
        "event: synced",
        "data: {}",
        "",
    ]
    assert list(server_sent_events(iter(lines))) == [("hello", {"version": "x"}), ("synced", {})]


@contextmanager
def listening(served: Served, *args: str) -> Iterator[Callable[[Callable[[str], bool]], list[str]]]:
    """`hub-emulator listen` on `served`; yields `until(predicate)`: its lines up to the first matching."""
    process = subprocess.Popen(
        [sys.executable, "-m", "emulator", "listen", "--url", served.url, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    reader = threading.Thread(target=lambda: [lines.put(line.rstrip("\n")) for line in process.stdout or []])
    reader.start()

    def until(wanted: Callable[[str], bool]) -> list[str]:
        seen = []
        while True:
            line = lines.get(timeout=20)
            seen.append(line)
            if wanted(line):
                return seen

    try:
        yield until
    finally:
        process.terminate()
        process.wait(timeout=10)
        reader.join(timeout=10)
        process.stdout.close()


def test_listen_prints_the_callback_url_then_each_callback_and_its_outcome() -> None:
    with serving() as served, httpx.Client(base_url=served.url) as http, listening(served) as until:
        [banner] = [
            line for line in until(lambda line: line.startswith("Callback URL:")) if "Callback" in line
        ]
        callback_url = banner.split()[2]
        assert callback_url == served.url + "/_emulator/sinks/listen"
        instance = provision_by_side_channel(http, callback_url)
        auth = {"Authorization": f"User dev-user-secret, Element {instance['token']}"}
        assert (
            http.post(HUB + "/folders", json={"path": "/TestFolderCreate"}, headers=auth).status_code == 200
        )
        lines = until(lambda line: "try 1:" in line)
        assert f"instance {instance['id']}  -> {callback_url}" in lines[0]
        body = json.loads("\n".join(lines[1:-1]))
        assert body["response"]["events"][0]["metadata"]["name"] == "TestFolderCreate"
        assert lines[-1].endswith("try 1: 200 in " + lines[-1].split(" in ")[1])
        received = http.get("/_emulator/sinks/listen").json()
        assert [c["body"]["notificationId"] for c in received["received"]] == [body["notificationId"]]


class _App:
    """An app's callback endpoint that answers what it is told to."""

    def __init__(self, status: int) -> None:
        got: queue.Queue[dict[str, Any]] = queue.Queue()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                got.put(
                    {"body": json.loads(body), "signature": self.headers.get("Elements-Webhook-Signature")}
                )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.got = got
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_forward_to_relays_each_callback_and_answers_with_the_apps_answer() -> None:
    app = _App(status=503)
    try:
        with (
            serving() as served,
            httpx.Client(base_url=served.url) as http,
            listening(served, "--forward-to", app.url) as until,
        ):
            [banner] = [
                line for line in until(lambda line: line.startswith("Callback URL:")) if "Callback" in line
            ]
            relay = banner.split()[2]
            instance = provision_by_side_channel(
                http, relay, **{"event.notification.signature.key": "s3cret"}
            )
            auth = {"Authorization": f"User dev-user-secret, Element {instance['token']}"}
            http.post(HUB + "/folders", json={"path": "/Relayed"}, headers=auth)
            forwarded = app.got.get(timeout=20)
            assert forwarded["body"]["instanceId"] == instance["id"]
            assert forwarded["signature"] and forwarded["signature"].startswith("sha256=")  # headers pass on
            lines = until(lambda line: "try 1:" in line)
            assert any(line.strip() == f"forwarded to {app.url}: 503" for line in lines)
            assert lines[-1].endswith("try 1: FAILED: HTTP 503")  # the app's answer is the emulator's
    finally:
        app.close()


def test_a_failed_callback_is_logged_by_serve_with_its_url_and_reason() -> None:
    with serving() as served, httpx.Client(base_url=served.url) as http:
        nobody = "http://127.0.0.1:9/events"  # the discard port: nothing listens there
        instance = provision_by_side_channel(http, nobody)
        auth = {"Authorization": f"User dev-user-secret, Element {instance['token']}"}
        http.post(HUB + "/folders", json={"path": "/Unheard"}, headers=auth)
        line = served.read_line()
        while "emulator.deliveries" not in line:
            line = served.read_line()
        assert line.startswith(f"INFO emulator.deliveries: callback to {nobody} failed: connection failed")
        assert "(notification " in line and "try 1)" in line
