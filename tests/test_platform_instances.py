"""Step 2 of the guide and the rest of the instances API: shapes, errors, and nothing changed by a refusal."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from starlette.testclient import TestClient

from emulator.runtime import Runtime
from tests.conftest import PLATFORM_AUTH, consent_code, instance_body, provision

GUIDE_FIELDS = {
    "id",
    "name",
    "token",
    "provisionInteractions",
    "valid",
    "disabled",
    "maxCacheSize",
    "cacheTimeToLive",
    "eventsEnabled",
    "cachingEnabled",
}
DROPBOX_FIELDS = {
    "id": 22,
    "name": "Dropbox",
    "key": "dropbox",
    "image": "your_moms/provider_dropbox.png",
    "active": True,
    "deleted": False,
    "typeOauth": True,
    "trialAccount": False,
    "transformationsEnabled": False,
    "authentication": {"type": "oauth2"},
    "hub": "documents",
}


def snapshot(client: TestClient) -> Any:
    return client.get("/elements/api-v2/instances", headers=PLATFORM_AUTH).json()


@pytest.mark.parametrize(("dialect", "json_key"), [("elements", "element"), ("your_moms", "your_mom")])
def test_provisioning_answers_the_guides_shape(client: TestClient, dialect: str, json_key: str) -> None:
    created = provision(
        client,
        dialect,
        **{"event.notification.enabled": "true", "event.notification.callback.url": "https://a.b/c"},
    )
    assert set(created) >= GUIDE_FIELDS
    assert created[json_key].items() >= DROPBOX_FIELDS.items()
    assert created[json_key]["description"].startswith("Add a Dropbox Instance")
    assert (created["valid"], created["disabled"], created["eventsEnabled"]) == (True, False, True)
    assert created["provisionInteractions"] == []
    assert created["configuration"]["oauth.api.secret"] == "********"
    assert created["user"] == {
        "id": 1,
        "emailAddress": "dev@example.com",
        "firstName": "Dev",
        "lastName": "User",
    }
    assert created["tags"] == ["test"]


def test_events_disabled_by_default(client: TestClient) -> None:
    assert provision(client)["eventsEnabled"] is False


def test_guides_top_level_configuration_keys_are_accepted(client: TestClient) -> None:
    code = consent_code(client, "your_moms")
    body = instance_body(code, "your_moms")
    body.update(body.pop("configuration"))
    answer = client.post("/your_moms/api-v2/instances", json=body, headers=PLATFORM_AUTH)
    assert answer.status_code == 200, answer.text


def test_older_generations_of_bodies_are_accepted(client: TestClient) -> None:
    code = consent_code(client)
    body = instance_body(code)
    body["provisionCode"] = body.pop("providerData")
    body["configs"] = [{"key": k, "propertyValue": v} for k, v in body.pop("configuration").items()]
    assert client.post("/elements/api-v2/instances", json=body, headers=PLATFORM_AUTH).status_code == 200


REQUIRED = ["oauth.callback.url", "oauth.api.key", "oauth.api.secret"]


@pytest.mark.parametrize("entry", [*REQUIRED, "event.notification.callback.url", "providerData.code", "name"])
def test_each_missing_required_entry_is_named_and_changes_nothing(client: TestClient, entry: str) -> None:
    code = consent_code(client)
    body = instance_body(
        code, **{"event.notification.enabled": "true", "event.notification.callback.url": "http://x.y/"}
    )
    if entry in body["configuration"]:
        del body["configuration"][entry]
    elif entry == "providerData.code":
        del body["providerData"]
    else:
        del body[entry]
    before = snapshot(client)
    answer = client.post("/elements/api-v2/instances", json=body, headers=PLATFORM_AUTH)
    assert answer.status_code == 400
    assert entry in answer.json()["message"]
    assert snapshot(client) == before
    # The code was not spent by the refusal.
    fixed = instance_body(code)
    assert client.post("/elements/api-v2/instances", json=fixed, headers=PLATFORM_AUTH).status_code == 200


def test_every_missing_entry_is_named_at_once(client: TestClient) -> None:
    answer = client.post(
        "/elements/api-v2/instances", json={"element": {"key": "dropbox"}}, headers=PLATFORM_AUTH
    )
    assert answer.status_code == 400
    for entry in [*REQUIRED, "providerData.code", "name"]:
        assert entry in answer.json()["message"]


@pytest.mark.parametrize(
    "header",
    [
        "User wrong, Organization dev-org-secret",
        "User dev-user-secret, Organization wrong",
        "User dev-user-secret",
        "Organization dev-org-secret",
        "Bearer x",
    ],
)
def test_wrong_or_missing_secrets_are_401(client: TestClient, header: str) -> None:
    for method, path in [("GET", "/elements/api-v2/instances"), ("POST", "/elements/api-v2/instances")]:
        answer = client.request(method, path, headers={"Authorization": header}, json={})
        assert answer.status_code == 401
        assert set(answer.json()) == {"requestId", "message"}
    assert client.get("/elements/api-v2/instances").status_code == 401


def test_reused_code_is_refused_with_dropbox_words(client: TestClient) -> None:
    code = consent_code(client)
    assert (
        client.post("/elements/api-v2/instances", json=instance_body(code), headers=PLATFORM_AUTH).status_code
        == 200
    )
    before = snapshot(client)
    again = client.post("/elements/api-v2/instances", json=instance_body(code), headers=PLATFORM_AUTH)
    assert again.status_code == 400
    assert "invalid_grant" in again.json()["providerMessage"]
    assert snapshot(client) == before


def test_expired_code_is_refused(client: TestClient, runtime: Runtime) -> None:
    code = consent_code(client)
    runtime.state.clock.advance(601)
    answer = client.post("/elements/api-v2/instances", json=instance_body(code), headers=PLATFORM_AUTH)
    assert answer.status_code == 400
    assert "expired" in answer.json()["providerMessage"]


def test_code_bound_to_key_and_redirect(client: TestClient) -> None:
    code = consent_code(client)
    other_key = instance_body(code)
    other_key["configuration"]["oauth.api.key"] = "another_key"
    assert client.post("/elements/api-v2/instances", json=other_key, headers=PLATFORM_AUTH).status_code == 400
    other_redirect = instance_body(code)
    other_redirect["configuration"]["oauth.callback.url"] = "https://other.example/auth"
    answer = client.post("/elements/api-v2/instances", json=other_redirect, headers=PLATFORM_AUTH)
    assert answer.status_code == 400
    assert "redirect_uri" in answer.json()["providerMessage"]


@pytest.mark.parametrize(
    ("raw", "content_type", "status"),
    [
        ("{not json", "application/json", 400),
        ("[1, 2]", "application/json", 400),
        ("a=b", "application/x-www-form-urlencoded", 415),
    ],
)
def test_malformed_bodies_are_clear_4xx(client: TestClient, raw: str, content_type: str, status: int) -> None:
    headers = {**PLATFORM_AUTH, "Content-Type": content_type}
    answer = client.post("/elements/api-v2/instances", content=raw, headers=headers)
    assert answer.status_code == status
    assert "message" in answer.json()


def test_list_get_and_tag_filter(client: TestClient) -> None:
    first = provision(client)
    second = provision(client, account="bob")
    client.patch(f"/elements/api-v2/instances/{second['id']}", json={"tags": ["blue"]}, headers=PLATFORM_AUTH)
    ids = [i["id"] for i in client.get("/elements/api-v2/instances", headers=PLATFORM_AUTH).json()]
    assert ids == [first["id"], second["id"]]
    blue = client.get("/elements/api-v2/instances", params={"tags[]": "blue"}, headers=PLATFORM_AUTH).json()
    assert [i["id"] for i in blue] == [second["id"]]
    got = client.get(f"/elements/api-v2/instances/{first['id']}", headers=PLATFORM_AUTH).json()
    assert got["token"] == first["token"]


def test_patch_replaces_tags_and_merges_configuration(client: TestClient) -> None:
    created = provision(client)
    answer = client.patch(
        f"/elements/api-v2/instances/{created['id']}",
        json={"name": "Renamed", "tags": ["a", "b"], "configuration": {"event.vendor.type": "polling"}},
        headers=PLATFORM_AUTH,
    )
    assert answer.status_code == 200
    body = answer.json()
    assert (body["name"], body["tags"]) == ("Renamed", ["a", "b"])
    assert body["configuration"]["event.vendor.type"] == "polling"
    assert body["configuration"]["oauth.api.key"] == "fake_Dropbox_api_key"


def test_bad_update_changes_nothing(client: TestClient) -> None:
    created = provision(client)
    before = copy.deepcopy(snapshot(client))
    answer = client.put(
        f"/elements/api-v2/instances/{created['id']}",
        json={"name": "X", "configuration": {"event.notification.enabled": "true"}},
        headers=PLATFORM_AUTH,
    )
    assert answer.status_code == 400
    assert "event.notification.callback.url" in answer.json()["message"]
    assert snapshot(client) == before


def test_provider_code_on_update_relinks_account(client: TestClient, runtime: Runtime) -> None:
    created = provision(client)
    code = consent_code(client, account="bob")
    answer = client.patch(
        f"/elements/api-v2/instances/{created['id']}",
        json={"providerData": {"code": code}},
        headers=PLATFORM_AUTH,
    )
    assert answer.status_code == 200
    assert runtime.state.instances[created["id"]].account == "bob"


def test_configuration_list_and_single_entry_patch(client: TestClient) -> None:
    created = provision(client)
    entries = client.get(
        f"/elements/api-v2/instances/{created['id']}/configuration", headers=PLATFORM_AUTH
    ).json()
    by_key = {e["key"]: e for e in entries}
    assert by_key["oauth.api.secret"]["propertyValue"] == "********"
    entry = by_key["event.poller.refresh_interval"]
    answer = client.patch(
        f"/elements/api-v2/instances/{created['id']}/configuration/{entry['id']}",
        json={"propertyValue": "5"},
        headers=PLATFORM_AUTH,
    )
    assert answer.status_code == 200
    assert answer.json() == {**entry, "propertyValue": "5"}
    bad = client.patch(
        f"/elements/api-v2/instances/{created['id']}/configuration/{entry['id']}",
        json={"propertyValue": "-3"},
        headers=PLATFORM_AUTH,
    )
    assert bad.status_code == 400


def test_disable_and_enable(client: TestClient) -> None:
    created = provision(client)
    path = f"/elements/api-v2/instances/{created['id']}/enabled"
    assert client.delete(path, headers=PLATFORM_AUTH).json()["disabled"] is True
    assert client.put(path, headers=PLATFORM_AUTH).json()["disabled"] is False


def test_delete_makes_instance_unknown_and_token_refused(client: TestClient, runtime: Runtime) -> None:
    created = provision(client)
    assert (
        client.delete(f"/elements/api-v2/instances/{created['id']}", headers=PLATFORM_AUTH).status_code == 200
    )
    assert client.get(f"/elements/api-v2/instances/{created['id']}", headers=PLATFORM_AUTH).status_code == 404
    assert created["token"] not in runtime.state.instances_by_token


def test_an_organization_never_sees_anothers_instances(client: TestClient) -> None:
    created = provision(client)
    tenant = client.post("/_emulator/tenants").json()
    other = {"Authorization": f"User {tenant['userSecret']}, Organization {tenant['organizationSecret']}"}
    assert client.get("/elements/api-v2/instances", headers=other).json() == []
    for method in ("GET", "DELETE"):
        answer = client.request(method, f"/elements/api-v2/instances/{created['id']}", headers=other)
        assert answer.status_code == 404
    assert client.get(f"/elements/api-v2/instances/{created['id']}", headers=PLATFORM_AUTH).status_code == 200


def test_catalog_in_both_dialects(client: TestClient) -> None:
    for dialect in ("elements", "your_moms"):
        listed = client.get(f"/{dialect}/api-v2/{dialect}", headers=PLATFORM_AUTH).json()
        assert [c["key"] for c in listed] == ["dropbox"]
        one = client.get(f"/{dialect}/api-v2/{dialect}/dropbox", headers=PLATFORM_AUTH).json()
        assert one.items() >= DROPBOX_FIELDS.items()
