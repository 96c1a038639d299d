"""Step 1 of the guide: the OAuth URL, the fake Dropbox consent page, and the codes it issues."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.testclient import TestClient

from emulator.runtime import Runtime
from tests.conftest import API_KEY, API_SECRET, APP_CALLBACK, consent_code

PARAMS = {"apiKey": API_KEY, "apiSecret": API_SECRET, "callbackUrl": APP_CALLBACK, "state": "dropbox"}


@pytest.mark.parametrize(("dialect", "json_key"), [("elements", "element"), ("your_moms", "your_mom")])
def test_oauth_url_answers_in_the_dialect_of_the_path(
    client: TestClient, dialect: str, json_key: str
) -> None:
    answer = client.get(f"/{dialect}/api-v2/{dialect}/dropbox/oauth/url", params=PARAMS)
    assert answer.status_code == 200
    body = answer.json()
    assert body[json_key] == "dropbox"
    url = urlsplit(body["oauthUrl"])
    assert (url.scheme, url.netloc, url.path) == ("http", "testserver", "/oauth2/authorize")
    assert parse_qs(url.query) == {
        "response_type": ["code"],
        "client_id": [API_KEY],
        "redirect_uri": [APP_CALLBACK],
        "state": ["dropbox"],
    }


def test_older_oauth_path_answers_the_same(client: TestClient) -> None:
    new = client.get("/elements/api-v2/elements/dropbox/oauth/url", params=PARAMS).json()
    old = client.get("/elements/api-v2/elements/dropbox/oauth", params=PARAMS).json()
    assert new == old


def test_missing_parameters_are_each_named(client: TestClient) -> None:
    answer = client.get("/elements/api-v2/elements/dropbox/oauth/url", params={"state": "x"})
    assert answer.status_code == 400
    message = answer.json()["message"]
    for name in ("apiKey", "apiSecret", "callbackUrl"):
        assert name in message
    assert "requestId" in answer.json()


def test_unknown_connector_is_404(client: TestClient) -> None:
    answer = client.get("/elements/api-v2/elements/nosuch/oauth/url", params=PARAMS)
    assert answer.status_code == 404


def test_consent_page_offers_every_account_with_allow_and_deny(client: TestClient) -> None:
    url = client.get("/elements/api-v2/elements/dropbox/oauth/url", params=PARAMS).json()["oauthUrl"]
    page = client.get(url)
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    for text in ('value="alice"', 'value="bob"', 'value="allow"', 'value="deny"', 'method="post"'):
        assert text in page.text


def test_allow_redirects_with_code_and_state(client: TestClient, runtime: Runtime) -> None:
    code = consent_code(client, account="bob")
    issued = runtime.state.tenants["default"].provider.oauth.codes[code]
    assert (issued.account, issued.client_id, issued.redirect_uri) == ("bob", API_KEY, APP_CALLBACK)


def test_deny_redirects_with_error_and_no_code(client: TestClient, runtime: Runtime) -> None:
    url = client.get("/elements/api-v2/elements/dropbox/oauth/url", params=PARAMS).json()["oauthUrl"]
    answer = client.post(url, data={"decision": "deny"})
    assert answer.status_code == 302
    location = urlsplit(answer.headers["location"])
    query = parse_qs(location.query)
    assert f"{location.scheme}://{location.netloc}{location.path}" == APP_CALLBACK
    assert query["error"] == ["access_denied"]
    assert query["state"] == ["dropbox"]
    assert "code" not in query
    assert runtime.state.tenants["default"].provider.oauth.codes == {}


def test_auto_consent_redirects_at_once(client: TestClient, runtime: Runtime) -> None:
    runtime.state.tenants["default"].provider.consent = "auto"
    url = client.get("/elements/api-v2/elements/dropbox/oauth/url", params=PARAMS).json()["oauthUrl"]
    answer = client.get(url)
    assert answer.status_code == 302
    assert "code" in parse_qs(urlsplit(answer.headers["location"]).query)


def test_registered_redirect_uris_are_enforced(client: TestClient, runtime: Runtime) -> None:
    from emulator.domain.provider.oauth import OAuthApp

    runtime.state.tenants["default"].provider.oauth.apps = (OAuthApp(API_KEY, API_SECRET, (APP_CALLBACK,)),)
    params = {**PARAMS, "callbackUrl": "https://elsewhere.example/cb"}
    url = client.get("/elements/api-v2/elements/dropbox/oauth/url", params=params).json()["oauthUrl"]
    assert client.get(url).status_code == 400
    assert client.post(url, data={"decision": "allow"}).status_code == 400


def test_side_channel_lists_and_issues_codes(client: TestClient) -> None:
    issued = client.post(
        "/_emulator/oauth/codes", json={"account": "alice", "clientId": API_KEY, "redirectUri": APP_CALLBACK}
    )
    assert issued.status_code == 201
    listed = client.get("/_emulator/oauth/codes").json()
    assert [c["code"] for c in listed] == [issued.json()["code"]]
    assert listed[0]["used"] is False


def test_side_channel_refuses_unknown_account(client: TestClient) -> None:
    answer = client.post(
        "/_emulator/oauth/codes", json={"account": "zed", "clientId": API_KEY, "redirectUri": APP_CALLBACK}
    )
    assert answer.status_code == 404
    assert client.get("/_emulator/oauth/codes").json() == []
