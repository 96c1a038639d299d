"""Shared test fixtures: an in-process emulator on the default fixture, and a provisioning helper."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.testclient import TestClient

from emulator.assemble import load_runtime, state_seed
from emulator.loading import load_fixture
from emulator.runtime import Runtime
from emulator.transport import SendResult
from emulator.web.app import create_app

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FIXTURE = ROOT / "fixtures" / "default.yaml"
PLATFORM_AUTH = {"Authorization": "User dev-user-secret, Organization dev-org-secret"}
API_KEY = "fake_Dropbox_api_key"
API_SECRET = "fake_Dropbox_api_secret"
APP_CALLBACK = "https://www.mycoolapp.com/auth"


@pytest.fixture
def runtime() -> Runtime:
    return load_runtime(DEFAULT_FIXTURE)


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime), follow_redirects=False) as test_client:
        yield test_client


def consent_code(client: TestClient, dialect: str = "elements", account: str = "alice") -> str:
    """Steps of the guide a browser would take: get the oauthUrl, Allow on the consent page."""
    answer = client.get(
        f"/{dialect}/api-v2/{dialect}/dropbox/oauth/url",
        params={"apiKey": API_KEY, "apiSecret": API_SECRET, "callbackUrl": APP_CALLBACK, "state": "dropbox"},
    )
    assert answer.status_code == 200, answer.text
    redirect = client.post(answer.json()["oauthUrl"], data={"decision": "allow", "account": account})
    assert redirect.status_code == 302, redirect.text
    return parse_qs(urlsplit(redirect.headers["location"]).query)["code"][0]


def instance_body(code: str, dialect: str = "elements", **config: str) -> dict[str, Any]:
    key = "element" if dialect == "elements" else "your_mom"
    return {
        key: {"key": "dropbox"},
        "providerData": {"code": code},
        "configuration": {
            "oauth.callback.url": APP_CALLBACK,
            "oauth.api.key": API_KEY,
            "oauth.api.secret": API_SECRET,
            **config,
        },
        "tags": ["test"],
        "name": "Test",
    }


def provision(
    client: TestClient, dialect: str = "elements", account: str = "alice", **config: str
) -> dict[str, Any]:
    code = consent_code(client, dialect, account)
    answer = client.post(
        f"/{dialect}/api-v2/instances", json=instance_body(code, dialect, **config), headers=PLATFORM_AUTH
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def hub_auth(token: str, word: str = "Element") -> dict[str, str]:
    return {"Authorization": f"User dev-user-secret, Organization dev-org-secret, {word} {token}"}


class RecordingSender:
    """Stands in for HTTP in in-process tests: records each callback, answers scripted statuses."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        self.script: dict[str, list[int | None]] = {}

    def fail(self, url: str, *statuses: int | None) -> None:
        """The next answers for `url`: a status, or None for a refused connection."""
        self.script.setdefault(url, []).extend(statuses)

    async def send(self, url: str, headers: Mapping[str, str], body: bytes, timeout: float) -> SendResult:
        self.received.append((url, dict(headers), body))
        planned = self.script.get(url)
        if planned:
            status = planned.pop(0)
            if status is None:
                return SendResult(None, "connection refused", 0.1, None)
            return SendResult(status, None, 0.1, "scripted failure")
        return SendResult(200, None, 0.1, "ok")

    def bodies(self, url: str | None = None) -> list[dict[str, Any]]:
        return [json.loads(body) for u, _, body in self.received if url is None or u == url]


@pytest.fixture
def sender() -> RecordingSender:
    return RecordingSender()


@pytest.fixture
def events_runtime(sender: RecordingSender) -> Runtime:
    fixture = load_fixture(DEFAULT_FIXTURE)
    return Runtime(state_seed(fixture), source=str(DEFAULT_FIXTURE), sender=sender)


@pytest.fixture
def events_client(events_runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(events_runtime), follow_redirects=False) as test_client:
        yield test_client


def provision_by_side_channel(
    http: httpx.Client,
    callback_url: str,
    *,
    name: str = "Test",
    tenant: str | None = None,
    auth: Mapping[str, str] = PLATFORM_AUTH,
    **config: str,
) -> dict[str, Any]:
    """An instance with events to `callback_url`, its code from `POST /_emulator/oauth/codes`
    (no consent page): for tests about something else than the OAuth steps."""
    issued = {"account": "alice", "clientId": API_KEY, "redirectUri": APP_CALLBACK}
    code = http.post("/_emulator/oauth/codes", json={**issued, **({"tenant": tenant} if tenant else {})})
    assert code.status_code == 201, code.text
    settings = {
        "event.notification.enabled": "true",
        "event.notification.callback.url": callback_url,
        **config,
    }
    body = instance_body(code.json()["code"], **settings)
    body["name"] = name
    answer = http.post("/elements/api-v2/instances", json=body, headers=dict(auth))
    assert answer.status_code == 200, answer.text
    created: dict[str, Any] = answer.json()
    return created
