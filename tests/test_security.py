"""Security defaults: loopback unless told, a control token off loopback, no secrets or traces given out."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from starlette.testclient import TestClient

from emulator.assemble import load_runtime
from emulator.cli import build_parser
from emulator.domain.platform.hub import DocumentsHub
from emulator.runtime import Runtime, RuntimeOptions
from emulator.web.app import create_app
from emulator.web.control_guard import COOKIE, control_token_problem
from tests.conftest import API_SECRET, DEFAULT_FIXTURE, PLATFORM_AUTH, ROOT, hub_auth, provision

TOKEN = "s3cret-control-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
READY = re.compile(r"hub-emulator ready on (http://\S+)")
SIGNATURE_KEY = "whsec-signature-key-value"


# -- listening ---------------------------------------------------------------------------------
def test_serve_listens_on_loopback_unless_told() -> None:
    assert build_parser().parse_args(["serve"]).host == "127.0.0.1"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_loopback_needs_no_token(host: str) -> None:
    assert control_token_problem(host, None) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "10.0.0.1", "myhost.example"])
def test_any_other_address_needs_a_token(host: str) -> None:
    problem = control_token_problem(host, None)
    assert problem is not None and "--control-token" in problem
    assert control_token_problem(host, TOKEN) is None


@pytest.mark.parametrize("token", ["", "with space", "semi;colon", 'quote"d', "ünïcode"])
def test_a_token_must_be_plain(token: str) -> None:
    assert control_token_problem("127.0.0.1", token) is not None


def test_serve_refuses_to_start_off_loopback_without_a_token() -> None:
    environment = {k: v for k, v in os.environ.items() if k != "HUB_EMULATOR_CONTROL_TOKEN"}
    result = subprocess.run(
        [sys.executable, "-m", "emulator", "serve", "--host", "0.0.0.0", "--port", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
    )
    assert result.returncode == 2
    assert "--control-token" in result.stderr and "0.0.0.0" in result.stderr
    assert "ready on" not in result.stdout


# -- the control token ---------------------------------------------------------------------------
@pytest.fixture
def guarded() -> Iterator[TestClient]:
    runtime = load_runtime(DEFAULT_FIXTURE, options=RuntimeOptions(control_token=TOKEN))
    with TestClient(create_app(runtime), follow_redirects=False) as client:
        yield client


def _unauthorized(answer: httpx.Response) -> None:
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"] == "unauthorized"
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert TOKEN not in answer.text


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"X-Emulator-Token": ""},
        {"X-Emulator-Token": TOKEN.upper()},
        {"Cookie": f"{COOKIE}=wrong"},
        {"Cookie": "garbage;;=="},
        PLATFORM_AUTH,
    ],
)
def test_the_control_plane_refuses_without_the_token(guarded: TestClient, headers: dict[str, str]) -> None:
    now = guarded.get("/_emulator/clock", headers=BEARER).json()["now"]
    for method, path in (
        ("POST", "/_emulator/reset"),
        ("GET", "/_emulator/state"),
        ("PUT", "/_emulator/state"),
        ("POST", "/_emulator/clock/advance"),
        ("GET", "/_emulator/ui/"),
        ("GET", "/_emulator/openapi.json"),
        ("GET", "/_emulator/no-such-route"),
    ):
        _unauthorized(guarded.request(method, path, headers=headers, json={"hours": 1}))
    assert guarded.get("/_emulator/clock", headers=BEARER).json()["now"] == now


def test_the_token_opens_the_control_plane(guarded: TestClient) -> None:
    assert guarded.post("/_emulator/clock/advance", json={"seconds": 1}, headers=BEARER).status_code == 200
    answer = guarded.post(
        "/_emulator/clock/advance", json={"seconds": 1}, headers={"X-Emulator-Token": TOKEN}
    )
    assert answer.status_code == 200


def test_health_stays_open(guarded: TestClient) -> None:
    assert guarded.get("/_emulator/health").status_code == 200


def test_the_emulated_api_keeps_its_own_secrets(guarded: TestClient) -> None:
    assert guarded.get("/elements/api-v2/instances", headers=PLATFORM_AUTH).status_code == 200
    assert guarded.get("/elements/api-v2/instances").status_code == 401


def test_a_page_opened_with_the_token_passes_it_on_by_cookie(guarded: TestClient) -> None:
    page = guarded.get("/_emulator/ui/", params={"token": TOKEN})
    assert page.status_code == 200, page.text
    cookie = page.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/_emulator" in cookie
    # The page's own requests carry the cookie (the TestClient keeps it, as a browser would).
    assert guarded.get("/_emulator/clock").status_code == 200
    guarded.cookies.clear()
    _unauthorized(guarded.get("/_emulator/clock"))


def test_the_query_token_works_for_reading_only(guarded: TestClient) -> None:
    _unauthorized(guarded.post("/_emulator/reset", params={"token": TOKEN}))
    _unauthorized(guarded.get("/_emulator/clock", params={"token": "wrong"}))


# -- secrets in responses ------------------------------------------------------------------------
def test_the_api_never_answers_a_secret(client: TestClient, runtime: Runtime) -> None:
    config = {
        "event.notification.enabled": "true",
        "event.notification.callback.url": "http://127.0.0.1:9/hook",
        "event.notification.signature.key": SIGNATURE_KEY,
    }
    instance = provision(client, **config)
    stored = runtime.state.instances[instance["id"]].configuration
    secrets = [API_SECRET, SIGNATURE_KEY, stored["oauth.user.token"]]
    base = "/elements/api-v2"
    answers = [
        client.get(f"{base}/instances", headers=PLATFORM_AUTH),
        client.get(f"{base}/instances/{instance['id']}", headers=PLATFORM_AUTH),
        client.get(f"{base}/instances/{instance['id']}/configuration", headers=PLATFORM_AUTH),
        client.patch(f"{base}/instances/{instance['id']}", json={"name": "renamed"}, headers=PLATFORM_AUTH),
        client.put(f"{base}/instances/{instance['id']}/enabled", headers=PLATFORM_AUTH),
        client.get(f"{base}/instances/events", headers=PLATFORM_AUTH),
        client.get(f"{base}/hubs/documents/ping", headers=hub_auth(instance["token"])),
        client.post(
            f"{base}/instances",
            json={"configuration": {"oauth.api.secret": API_SECRET}},
            headers=PLATFORM_AUTH,
        ),
    ]
    assert "********" in answers[1].text
    for answer in answers:
        assert not [s for s in secrets if s in answer.text], answer.text


def test_an_error_never_echoes_a_whole_secret(client: TestClient) -> None:
    answer = client.get(
        "/elements/api-v2/instances", headers={"Authorization": "Secret dev-org-secret-and-more"}
    )
    assert answer.status_code == 401
    assert "dev-org-secret" not in answer.text


# -- no stack traces on the wire -----------------------------------------------------------------
def _boom(*_: Any, **__: Any) -> Any:
    raise RuntimeError("internal detail: /etc/secret-path and dev-org-secret")


def _is_bare_500(answer: httpx.Response, keys: set[str]) -> None:
    assert answer.status_code == 500
    assert answer.headers["content-type"].startswith("application/json")
    assert set(answer.json()) == keys
    for leak in ("Traceback", "RuntimeError", "secret-path", "dev-org-secret", "<html", 'File "'):
        assert leak not in answer.text


def test_an_unexpected_error_is_a_bare_json_500(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(DocumentsHub, "storage", _boom)
    monkeypatch.setattr(Runtime, "reset", _boom)
    with TestClient(create_app(runtime), raise_server_exceptions=False, follow_redirects=False) as client:
        token = provision(client)["token"]
        _is_bare_500(
            client.get("/elements/api-v2/hubs/documents/storage", headers=hub_auth(token)),
            {"requestId", "message"},
        )
        _is_bare_500(client.post("/_emulator/reset"), {"error", "message"})
    assert "secret-path" in caplog.text  # the log has the whole story; the wire has none of it


# -- secrets in the log --------------------------------------------------------------------------
def _serve_with_log(log: IO[str], *args: str) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "emulator", "serve", "--port", "0", "--clock", "manual"]
    process = subprocess.Popen(
        [*command, "--log-level", "debug", *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True
    )
    assert process.stdout is not None
    match = READY.search(process.stdout.readline())
    assert match, "no ready line"
    return process, match.group(1)


def test_no_log_line_holds_a_secret(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with log.open("w") as sink:
        process, url = _serve_with_log(
            sink, "--control-token", TOKEN, "--state", str(tmp_path / "state.json")
        )
        try:
            secrets = _exercise(url)
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=15) == 0
            assert process.stdout is not None
            process.stdout.close()
    text = log.read_text()
    assert "DEBUG" in text or "INFO" in text, "the server logged nothing: the test would prove nothing"
    found = [secret for secret in secrets if secret in text]
    assert not found, text


def _exercise(url: str) -> list[str]:
    """A tour that handles every kind of secret: secrets, tokens, OAuth codes, keys; answers them."""
    with httpx.Client(base_url=url, trust_env=False, headers=BEARER) as http:
        code = http.post(
            "/_emulator/oauth/codes",
            json={
                "account": "alice",
                "clientId": "fake_Dropbox_api_key",
                "redirectUri": "https://app.test/auth",
            },
        ).json()["code"]
        body = {
            "element": {"key": "dropbox"},
            "providerData": {"code": code},
            "configuration": {
                "oauth.callback.url": "https://app.test/auth",
                "oauth.api.key": "fake_Dropbox_api_key",
                "oauth.api.secret": API_SECRET,
                "event.notification.enabled": "true",
                "event.notification.callback.url": "http://127.0.0.1:9/refused",
                "event.notification.signature.key": SIGNATURE_KEY,
            },
            "name": "logged",
        }
        instance = http.post("/elements/api-v2/instances", json=body, headers=PLATFORM_AUTH).json()
        auth = hub_auth(instance["token"])
        http.post("/elements/api-v2/hubs/documents/folders", params={"path": "/Logged"}, headers=auth)
        http.post("/elements/api-v2/instances", json=body, headers=PLATFORM_AUTH)  # the code again: refused
        http.get(
            "/elements/api-v2/instances", headers={"Authorization": "User wrong, Organization dev-org-secret"}
        )
        http.get("/_emulator/state", headers={"Authorization": "Bearer wrong"})
        http.get("/_emulator/deliveries/wait", params={"attempts": 1, "timeout": 10})
        http.post("/_emulator/state/save")
        tenant = http.post("/_emulator/tenants").json()
        return [
            TOKEN,
            code,
            instance["token"],
            "dev-org-secret",
            "dev-user-secret",
            API_SECRET,
            SIGNATURE_KEY,
            tenant["organizationSecret"],
            tenant["userSecret"],
        ]


def test_scenarios_and_sink_deliveries_work_behind_the_token() -> None:
    """Callbacks to a built-in sink carry no token (the delivery engine sends them): they must pass,
    and a scenario run through the control plane calls the control plane with the token it got."""
    from emulator.server import ServerThread

    runtime = load_runtime(DEFAULT_FIXTURE, options=RuntimeOptions(control_token=TOKEN))
    server = ServerThread(runtime).start()
    try:
        with httpx.Client(base_url=server.url, trust_env=False, timeout=60) as http:
            assert http.post("/_emulator/scenarios/guide-folder-create/run").status_code == 401
            report = http.post("/_emulator/scenarios/guide-folder-create/run", headers=BEARER)
            assert report.status_code == 200, report.text
            assert http.get("/_emulator/sinks/x").status_code == 401  # reading a sink still needs it
    finally:
        server.stop()
