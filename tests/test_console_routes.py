"""The web console's routes in-process: its files, its control-plane reads, and the live stream (SSE)."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from emulator.assemble import load_runtime
from emulator.runtime import Runtime
from emulator.server import ServerThread
from tests.conftest import API_KEY, API_SECRET, APP_CALLBACK, DEFAULT_FIXTURE, PLATFORM_AUTH, RecordingSender
from tests.conftest import provision as provision_in_process

STATIC = Path(__file__).resolve().parent.parent / "emulator" / "web" / "static" / "console"
SSE = {"Accept": "text/event-stream"}


# -- the console's files ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("/_emulator/ui/", "text/html"),
        ("/_emulator/ui/oauth-return?code=x&state=dropbox", "text/html"),
        ("/_emulator/ui/console.js", "text/javascript"),
        ("/_emulator/ui/console.css", "text/css"),
        ("/_emulator/ui/icon.svg", "image/svg+xml"),
        ("/favicon.ico", "image/svg+xml"),
    ],
)
def test_files_are_served_with_their_content_type(client: TestClient, path: str, media_type: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 200
    assert answer.headers["content-type"].split(";")[0] == media_type
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'self'" in answer.headers["content-security-policy"]


def test_the_page_without_its_slash_redirects_to_it(client: TestClient) -> None:
    answer = client.get("/_emulator/ui")
    assert answer.status_code == 307
    assert answer.headers["location"] == "/_emulator/ui/"


@pytest.mark.parametrize("name", ["nothing.js", "..%2Fapp.py", "%2E%2E%2Fconsole_routes.py", "index.htm"])
def test_only_the_console_files_are_served(client: TestClient, name: str) -> None:
    answer = client.get(f"/_emulator/ui/{name}")
    assert answer.status_code == 404
    assert answer.json()["error"] == "not_found"


def test_every_module_the_page_imports_is_served(client: TestClient) -> None:
    imported = set()
    for script in STATIC.glob("*.js"):
        imported |= set(re.findall(r'from "\./([\w-]+\.js)"', script.read_text(encoding="utf-8")))
    page = client.get("/_emulator/ui/").text
    imported |= set(re.findall(r'src="([\w-]+\.js)"', page)) | set(re.findall(r'href="([\w-]+\.css)"', page))
    assert "console.js" in imported and "store.js" in imported
    for name in sorted(imported):
        assert client.get(f"/_emulator/ui/{name}").status_code == 200, name


def test_nothing_is_fetched_from_elsewhere() -> None:
    """No CDN, no font service: the page must work on a closed network."""
    for item in STATIC.iterdir():
        text = item.read_text(encoding="utf-8")
        assert not re.search(r"""(src|href|url)\s*[=(]\s*["']?(https?:)?//""", text), item.name
        assert "@import" not in text, item.name


# -- control-plane reads ------------------------------------------------------------------------
def test_organizations_list_users_with_their_secrets(client: TestClient) -> None:
    [org] = client.get("/_emulator/organizations").json()
    assert org["secret"] == "dev-org-secret" and org["tenant"] == "default"
    assert org["users"][0]["secret"] == "dev-user-secret"
    assert org["users"][0]["email"] == "dev@example.com"


def test_organizations_include_tenants(client: TestClient) -> None:
    tenant = client.post("/_emulator/tenants").json()
    found = {o["secret"]: o for o in client.get("/_emulator/organizations").json()}
    assert found[tenant["organizationSecret"]]["tenant"] == tenant["id"]


def test_apps_are_the_fixtures_registered_apps(client: TestClient) -> None:
    apps = client.get("/_emulator/providers/dropbox/apps").json()
    assert apps == [{"key": API_KEY, "secret": API_SECRET, "redirectUris": []}]


def test_instances_carry_their_subscription_state(
    events_client: TestClient, events_runtime: Runtime, sender: RecordingSender
) -> None:
    url = "http://receiver.test/hook"
    quiet = provision_in_process(events_client)
    events = {"event.notification.enabled": "true", "event.notification.callback.url": url}
    loud = provision_in_process(events_client, "your_moms", **events)
    states = {i["id"]: i for i in events_client.get("/_emulator/instances").json()}
    assert states[quiet["id"]]["subscription"]["state"] == "off"
    assert states[loud["id"]]["subscription"]["state"] == "active"
    assert states[loud["id"]]["dialect"] == "your_moms"
    assert states[loud["id"]]["account"] == "alice"
    assert states[loud["id"]]["callbackUrl"] == url
    assert states[loud["id"]]["token"] == loud["token"]
    assert states[loud["id"]]["configuration"]["oauth.api.secret"] == "********"
    sender.fail(url, 500)
    operate(events_client, {"op": "mkdir", "path": "/Retried"})

    def subscription() -> dict[str, Any]:
        found: dict[str, Any] = events_client.get("/_emulator/instances").json()[1]["subscription"]
        return found

    wait_until(lambda: subscription()["state"] == "retrying")
    retrying = subscription()
    assert retrying["failures"] == 1 and retrying["pending"] == 1
    assert retrying["nextRetryAt"] == events_runtime.state.clock.now() + 4


def test_a_file_downloads_with_its_bytes(client: TestClient) -> None:
    answer = client.get("/_emulator/providers/dropbox/accounts/alice/files", params={"path": "/HELLO.txt"})
    assert answer.status_code == 200
    assert answer.content == b"Hello from the emulated Dropbox!\n"
    assert answer.headers["content-type"].startswith("text/plain")
    assert "filename*=UTF-8''hello.txt" in answer.headers["content-disposition"]


@pytest.mark.parametrize(
    ("params", "status"), [({}, 400), ({"path": "/Documents"}, 400), ({"path": "/nope.txt"}, 404)]
)
def test_a_download_names_an_existing_file(client: TestClient, params: dict[str, str], status: int) -> None:
    answer = client.get("/_emulator/providers/dropbox/accounts/alice/files", params=params)
    assert answer.status_code == status
    assert set(answer.json()) == {"error", "message"}


def test_the_stream_wants_to_be_asked_for_a_stream(client: TestClient) -> None:
    answer = client.get("/_emulator/stream")
    assert answer.status_code == 406
    assert "text/event-stream" in answer.json()["message"]


def operate(client: TestClient | httpx.Client, operation: dict[str, Any]) -> dict[str, Any]:
    answer = client.post("/_emulator/providers/dropbox/accounts/alice/operations", json=operation)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def wait_until(condition: Any, timeout: float = 5.0) -> None:
    """For in-process deliveries, which the transport sends on the app's own loop."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


# -- the live stream, over a real socket --------------------------------------------------------
class EventReader:
    """Reads Server-Sent Events off a streaming response, one message at a time."""

    def __init__(self, lines: Iterator[str]) -> None:
        self.lines = lines

    def next(self) -> tuple[str, Any]:
        kind, data = "message", None
        for line in self.lines:
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                data = json.loads(line.removeprefix("data: "))
            elif line == "" and data is not None:
                return kind, data
        raise AssertionError("the stream ended")

    def until(self, kind: str, **fields: Any) -> dict[str, Any]:
        """The first `kind` message whose data has these fields; every message before it is skipped."""
        while True:
            found, data = self.next()
            if found == kind and all(data.get(k) == v for k, v in fields.items()):
                result: dict[str, Any] = data
                return result


@pytest.fixture(scope="module")
def served() -> Iterator[ServerThread]:
    server = ServerThread(load_runtime(DEFAULT_FIXTURE)).start()
    yield server
    server.stop()


@pytest.fixture
def http(served: ServerThread) -> Iterator[httpx.Client]:
    httpx.post(served.url + "/_emulator/reset").raise_for_status()
    # A read timeout bounds every wait on the stream: a missing message fails, never hangs.
    with httpx.Client(base_url=served.url, timeout=10.0) as client:
        yield client


def provision(http: httpx.Client, callback: str) -> dict[str, Any]:
    code = http.post(
        "/_emulator/oauth/codes", json={"account": "alice", "clientId": API_KEY, "redirectUri": APP_CALLBACK}
    ).json()["code"]
    body = {
        "element": {"key": "dropbox"},
        "providerData": {"code": code},
        "configuration": {
            "oauth.callback.url": APP_CALLBACK,
            "oauth.api.key": API_KEY,
            "oauth.api.secret": API_SECRET,
            "event.notification.enabled": "true",
            "event.notification.callback.url": callback,
        },
        "name": "Streamed",
    }
    answer = http.post("/elements/api-v2/instances", json=body, headers=PLATFORM_AUTH)
    assert answer.status_code == 200, answer.text
    created: dict[str, Any] = answer.json()
    return created


def test_the_stream_tells_of_a_delivery_as_it_happens(http: httpx.Client, served: ServerThread) -> None:
    with http.stream("GET", "/_emulator/stream", headers=SSE) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        events = EventReader(stream.iter_lines())
        events.until("hello")
        events.until("synced")
        instance = provision(http, served.url + "/_emulator/sinks/stream-test")
        assert events.until("instance", id=instance["id"])["subscription"]["state"] == "active"
        operate(http, {"op": "mkdir", "path": "/Streamed"})
        assert events.until("account", account="alice")["tenant"] == "default"
        event = events.until("event", instanceId=instance["id"])
        assert event["notifiedData"]["events"][0]["path"] == "/streamed"
        attempt = events.until("attempt", instanceId=instance["id"])
        assert attempt["outcome"] == "delivered" and attempt["statusCode"] == 200
        delivered = events.until("notification", status="delivered")
        assert delivered["body"]["eventId"] == event["id"]
        assert delivered["attempts"][0]["latencyMs"] is not None


def test_a_new_connection_first_tells_everything(http: httpx.Client, served: ServerThread) -> None:
    instance = provision(http, served.url + "/_emulator/sinks/stream-test")
    operate(http, {"op": "mkdir", "path": "/Before"})
    http.get("/_emulator/deliveries/wait", params={"count": 1}).raise_for_status()
    with http.stream("GET", "/_emulator/stream", headers=SSE) as stream:
        events = EventReader(stream.iter_lines())
        told = []
        while (message := events.next())[0] != "synced":
            told.append(message)
    kinds = {kind for kind, _ in told}
    assert {"hello", "event", "notification", "instance", "subscription", "clock"} <= kinds
    assert any(kind == "instance" and data["id"] == instance["id"] for kind, data in told)


def test_a_reset_is_told(http: httpx.Client) -> None:
    with http.stream("GET", "/_emulator/stream", headers=SSE) as stream:
        events = EventReader(stream.iter_lines())
        events.until("synced")
        http.post("/_emulator/reset").raise_for_status()
        events.until("reset")
        events.until("synced")  # everything again, as after hello


def test_an_open_stream_does_not_hold_the_server_at_shutdown() -> None:
    server = ServerThread(load_runtime(DEFAULT_FIXTURE)).start()
    ended = threading.Event()

    def listen() -> None:
        with httpx.stream("GET", server.url + "/_emulator/stream", headers=SSE, timeout=30.0) as stream:
            for _ in stream.iter_lines():
                pass
        ended.set()

    reader = threading.Thread(target=listen, daemon=True)
    reader.start()
    wait_until(lambda: _streams(server) == 1)
    started = time.monotonic()
    server.stop()
    assert not server.thread.is_alive()
    assert ended.wait(5.0), "the stream did not end with the server"
    assert time.monotonic() - started < 5.0


def _streams(server: ServerThread) -> int:
    app = server.server.config.app
    hub = getattr(app.state, "console_streams", None)
    return 0 if hub is None else len(hub.watches)
