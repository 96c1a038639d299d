"""Every tenant has its own OAuth app: a client written from the guide alone (Step 1 sends no
Authorization) lands in its tenant by its apiKey, and a code taken to the wrong tenant says so."""

from __future__ import annotations

import subprocess
import sys
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.testclient import TestClient

from tests.conftest import API_KEY, API_SECRET, APP_CALLBACK, ROOT

API = "/your_moms/api-v2"


def step1(client: TestClient, api_key: str, api_secret: str, **headers: str) -> str:
    params = {"apiKey": api_key, "apiSecret": api_secret, "callbackUrl": APP_CALLBACK, "state": "dropbox"}
    answer = client.get(f"{API}/your_moms/dropbox/oauth/url", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    url: str = answer.json()["oauthUrl"]
    return url


def allow(client: TestClient, oauth_url: str) -> str:
    answer = client.post(oauth_url, data={"decision": "allow", "account": "alice"})
    assert answer.status_code == 302, answer.text
    return parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]


def step2(client: TestClient, tenant: dict[str, Any], code: str, api_key: str, api_secret: str) -> Any:
    body = {
        "your_mom": {"key": "dropbox"},
        "providerData": {"code": code},
        "oauth.callback.url": APP_CALLBACK,
        "oauth.api.key": api_key,
        "oauth.api.secret": api_secret,
        "name": "Test",
    }
    auth = f"User {tenant['userSecret']}, Organization {tenant['organizationSecret']}"
    return client.post(f"{API}/instances", json=body, headers={"Authorization": auth})


def new_tenant(client: TestClient) -> dict[str, Any]:
    made: dict[str, Any] = client.post("/_emulator/tenants").json()
    return made


def test_a_tenant_has_an_oauth_app_of_its_own(client: TestClient) -> None:
    first, second = new_tenant(client), new_tenant(client)
    assert first["apiKey"] != second["apiKey"] != API_KEY
    assert first["apiSecret"] != second["apiSecret"]


def test_step_1_without_authorization_finds_the_tenant_by_its_api_key(client: TestClient) -> None:
    tenant = new_tenant(client)
    key, secret = tenant["apiKey"], tenant["apiSecret"]
    code = allow(client, step1(client, key, secret))
    made = step2(client, tenant, code, key, secret)
    assert made.status_code == 200, made.text
    listed = client.get("/_emulator/oauth/codes", params={"tenant": tenant["id"]}).json()
    assert [c["code"] for c in listed] == [code]
    assert client.get("/_emulator/oauth/codes").json() == []  # nothing issued in the default tenant


def test_a_code_taken_to_another_tenant_says_where_it_was_issued(client: TestClient) -> None:
    tenant = new_tenant(client)
    code = allow(client, step1(client, API_KEY, API_SECRET))  # the fixture's app: the default tenant
    refused = step2(client, tenant, code, API_KEY, API_SECRET)
    assert refused.status_code == 400
    message = refused.json()["message"]
    assert "issued in tenant 'default'" in message and repr(tenant["id"]) in message
    assert "apiKey" in message
    # Nothing was spent: the code still works in its own tenant.
    own = step2(
        client,
        {"userSecret": "dev-user-secret", "organizationSecret": "dev-org-secret"},
        code,
        API_KEY,
        API_SECRET,
    )
    assert own.status_code == 200, own.text


def test_authorization_in_step_1_still_chooses_the_tenant(client: TestClient) -> None:
    tenant = new_tenant(client)
    auth = f"User {tenant['userSecret']}, Organization {tenant['organizationSecret']}"
    code = allow(client, step1(client, API_KEY, API_SECRET, Authorization=auth))
    assert step2(client, tenant, code, API_KEY, API_SECRET).status_code == 200


def test_a_tenant_keeps_its_app_through_a_reset_and_a_state_round_trip(client: TestClient) -> None:
    tenant = new_tenant(client)
    assert client.post(f"/_emulator/tenants/{tenant['id']}/reset").status_code == 200
    state = client.get("/_emulator/state").json()
    assert client.put("/_emulator/state", json=state).status_code == 200
    key, secret = tenant["apiKey"], tenant["apiSecret"]
    code = allow(client, step1(client, key, secret))
    assert step2(client, tenant, code, key, secret).status_code == 200


def test_the_guide_client_example_passes_under_default_isolation_in_two_workers() -> None:
    """examples/guide_client: Step 1 without Authorization, under the plugin's tenant-per-test, -n 2."""
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "examples/guide_client",
            "-o",
            "addopts=",
            "-q",
            "-n",
            "2",
            "-p",
            "no:cacheprovider",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "4 passed" in run.stdout
