"""End to end: `hub-emulator serve --port 0` as a subprocess, provisioned through real HTTP like a browser."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.conftest import API_KEY, API_SECRET, APP_CALLBACK, DEFAULT_FIXTURE, PLATFORM_AUTH
from tests.serving import serving

READY = re.compile(r"hub-emulator ready on (http://\S+)")


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    with serving("--fixtures", str(DEFAULT_FIXTURE)) as server:
        yield server.url


def test_health_answers_ok(served: str) -> None:
    answer = httpx.get(f"{served}/_emulator/health")
    assert answer.status_code == 200
    assert answer.json()["status"] == "ok"


@pytest.mark.parametrize(("dialect", "json_key"), [("your_moms", "your_mom"), ("elements", "element")])
def test_guide_steps_1_and_2_through_real_http(served: str, dialect: str, json_key: str) -> None:
    with httpx.Client(base_url=served) as http:
        step1 = http.get(
            f"/{dialect}/api-v2/{dialect}/dropbox/oauth/url",
            params={
                "apiKey": API_KEY,
                "apiSecret": API_SECRET,
                "callbackUrl": APP_CALLBACK,
                "state": "dropbox",
            },
        )
        assert step1.status_code == 200
        oauth_url = step1.json()["oauthUrl"]
        assert oauth_url.startswith(served)
        page = http.get(oauth_url)
        assert page.status_code == 200 and 'value="allow"' in page.text
        consent = http.post(oauth_url, data={"decision": "allow", "account": "alice"})
        assert consent.status_code == 302
        location = urlsplit(consent.headers["location"])
        assert f"{location.scheme}://{location.netloc}{location.path}" == APP_CALLBACK
        query = parse_qs(location.query)
        assert query["state"] == ["dropbox"]
        body = {
            json_key: {"key": "dropbox"},
            "providerData": {"code": query["code"][0]},
            "configuration": {
                "oauth.callback.url": APP_CALLBACK,
                "oauth.api.key": API_KEY,
                "oauth.api.secret": API_SECRET,
                "event.notification.enabled": "true",
                "event.notification.callback.url": "https://console.cloud-your_moms.com/your_moms/api-v2/events/dropbox",
                "document.tagging": False,
            },
            "tags": ["guide"],
            "name": "Test",
        }
        step2 = http.post(f"/{dialect}/api-v2/instances", json=body, headers=PLATFORM_AUTH)
        assert step2.status_code == 200, step2.text
        created = step2.json()
        assert created["name"] == "Test"
        assert created[json_key]["key"] == "dropbox"
        assert created["eventsEnabled"] is True
        assert created["token"]
        again = http.post(f"/{dialect}/api-v2/instances", json=body, headers=PLATFORM_AUTH)
        assert again.status_code == 400
