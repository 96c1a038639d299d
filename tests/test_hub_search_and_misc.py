"""The Documents hub as a whole: search, storage, ping, who may call it, and the instance header."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import PLATFORM_AUTH, provision
from tests.test_hub_files import Hub

PATHS_UNDER_ETE = ["/Photos/Été 2025/beach.jpg", "/Photos/Été 2025/Sunset.JPG"]


@pytest.fixture
def hub(client: TestClient) -> Hub:
    return Hub(client, provision(client))


def found(hub: Hub, **params: Any) -> list[str]:
    answer = hub.call("GET", "/search", params=params)
    assert answer.status_code == 200, answer.text
    return [d["path"] for d in answer.json()]


# -- search ----------------------------------------------------------------------------------
def test_search_text_is_a_case_insensitive_substring_of_names_below_the_path(hub: Hub) -> None:
    assert found(hub, text="NOTES") == ["/Documents/notes.txt", "/Documents/Ünïcödé notes.txt"]
    assert found(hub, text="notes", path="/documents") == [
        "/Documents/notes.txt",
        "/Documents/Ünïcödé notes.txt",
    ]
    assert found(hub, text="notes", path="/Photos") == []
    assert found(hub, text="ÉTÉ") == ["/Photos/Été 2025"]


def test_search_is_recursive_and_excludes_the_folder_searched(hub: Hub) -> None:
    assert found(hub, path="/Photos/Été 2025") == PATHS_UNDER_ETE
    assert "/Photos" not in found(hub, path="/Photos")
    assert set(PATHS_UNDER_ETE) <= set(found(hub, path="/Photos"))


def test_search_dates_filter_on_the_modified_date(hub: Hub) -> None:
    # The fixture's beach.jpg was modified 2025-07-14T10:00:00Z, Sunset.JPG 2025-07-14T20:41:00Z.
    assert found(hub, startDate="2025-07-14", endDate="2025-07-14") == PATHS_UNDER_ETE
    assert found(hub, startDate="2025-07-14T12:00:00Z", endDate="2025-07-31") == PATHS_UNDER_ETE[1:]
    assert found(hub, endDate="2025-07-14T10:00:00Z", text=".jpg") == PATHS_UNDER_ETE[:1]
    assert found(hub, startDate="2030-01-01") == []


def test_search_by_tags(hub: Hub) -> None:
    hub.call("PATCH", "/files/metadata", params={"path": "/hello.txt"}, json={"tags": ["greeting", "x"]})
    hub.call("PATCH", "/folders/metadata", params={"path": "/Photos"}, json={"tags": ["pics"]})
    assert found(hub, **{"tags[]": "greeting"}) == ["/hello.txt"]
    assert found(hub, **{"tags[]": ["pics", "greeting"]}) == ["/hello.txt", "/Photos"]
    assert found(hub, **{"tags[]": "pics"}, text="hello") == []


def test_search_pages_like_contents(hub: Hub) -> None:
    everything = found(hub, path="/")
    walked: list[str] = []
    params: dict[str, Any] = {"path": "/", "pageSize": 4}
    while True:
        answer = hub.call("GET", "/search", params=params)
        walked += [d["path"] for d in answer.json()]
        assert answer.headers["Elements-Returned-Count"] == str(len(answer.json()))
        token = answer.headers.get("Elements-Next-Page-Token")
        if token is None:
            break
        params["nextPage"] = token
    assert walked == everything
    assert len(everything) > 4
    first = hub.call("GET", "/search", params={"path": "/", "pageSize": 1}).headers[
        "Elements-Next-Page-Token"
    ]
    assert hub.call("GET", "/search", params={"path": "/", "text": "a", "nextPage": first}).status_code == 400


@pytest.mark.parametrize(
    "params", [{"startDate": "yesterday"}, {"endDate": "2025-13-01"}, {"path": "/a/../b"}]
)
def test_search_refuses_bad_parameters(hub: Hub, params: dict[str, str]) -> None:
    assert hub.call("GET", "/search", params=params).status_code == 400


def test_search_under_a_file_or_nothing(hub: Hub) -> None:
    assert hub.call("GET", "/search", params={"path": "/hello.txt"}).status_code == 400
    assert hub.call("GET", "/search", params={"path": "/missing"}).status_code == 404


# -- storage and ping ------------------------------------------------------------------------
def test_storage_counts_the_bytes_of_every_file(hub: Hub) -> None:
    before = hub.call("GET", "/storage").json()
    assert set(before) == {"shared", "total", "used"}
    assert before["used"] == sum(e["size"] for e in hub.tree().values() if e[".tag"] == "file")
    assert before["used"] < before["total"]
    hub.upload("/more.bin", b"x" * 1000)
    assert hub.call("GET", "/storage").json()["used"] == before["used"] + 1000


def test_ping_answers_with_the_instance(hub: Hub) -> None:
    answer = hub.call("GET", "/ping")
    assert answer.status_code == 200
    assert answer.headers["Elements-Element-Instance-Id"] == str(hub.instance["id"])


# -- who may call ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "template",
    [
        "User dev-user-secret, Organization dev-org-secret, Element {t}",
        "Element: {t}, User dev-user-secret, Organization dev-org-secret",
        "User dev-user-secret, Your_mom {t}",
        "user dev-user-secret, element {t}",
    ],
)
def test_every_authorization_spelling_is_accepted(client: TestClient, hub: Hub, template: str) -> None:
    headers = {"Authorization": template.format(t=hub.instance["token"])}
    answer = client.get("/elements/api-v2/hubs/documents/ping", headers=headers)
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize(
    "template",
    [
        "User dev-user-secret, Organization dev-org-secret",
        "User wrong, Element {t}",
        "User dev-user-secret, Organization wrong, Element {t}",
        "User dev-user-secret, Element not-a-token",
    ],
)
def test_missing_or_wrong_credentials_are_401(client: TestClient, hub: Hub, template: str) -> None:
    headers = {"Authorization": template.format(t=hub.instance["token"])}
    answer = client.get("/elements/api-v2/hubs/documents/folders/contents?path=/", headers=headers)
    assert answer.status_code == 401
    assert set(answer.json()) == {"requestId", "message"}
    assert client.get("/elements/api-v2/hubs/documents/ping").status_code == 401


def test_a_disabled_instance_gets_403_with_its_header_and_changes_nothing(
    client: TestClient, hub: Hub
) -> None:
    instance_id = hub.instance["id"]
    client.delete(f"/elements/api-v2/instances/{instance_id}/enabled", headers=PLATFORM_AUTH)
    before = hub.tree()
    refused = hub.call("POST", "/folders", params={"path": "/blocked"})
    assert refused.status_code == 403
    assert refused.headers["Elements-Element-Instance-Id"] == str(instance_id)
    assert hub.tree() == before
    client.put(f"/elements/api-v2/instances/{instance_id}/enabled", headers=PLATFORM_AUTH)
    assert hub.call("POST", "/folders", params={"path": "/blocked"}).status_code == 200


def test_a_deleted_instances_token_gets_401(client: TestClient, hub: Hub) -> None:
    client.delete(f"/elements/api-v2/instances/{hub.instance['id']}", headers=PLATFORM_AUTH)
    refused = hub.call("GET", "/ping")
    assert refused.status_code == 401
    assert "Elements-Element-Instance-Id" not in refused.headers


def test_the_instance_header_is_on_every_answer_in_the_requests_dialect(client: TestClient) -> None:
    guide = Hub(client, provision(client, "your_moms"), "your_moms", "Your_mom")
    for method, path, options in [
        ("GET", "/ping", {}),
        ("GET", "/files?path=/missing.txt", {}),
        ("GET", "/files/metadata?path=/a/../b", {}),
        ("POST", "/folders", {"json": {"path": "/Documents"}}),
        (
            "PATCH",
            "/files/metadata?path=/hello.txt",
            {"content": b"{not json", "headers": {"Content-Type": "application/json"}},
        ),
    ]:
        answer = guide.call(method, path, **options)
        assert answer.headers["Your_moms-Your_mom-Instance-Id"] == str(guide.instance["id"]), (
            path,
            answer.text,
        )
        assert "Elements-Element-Instance-Id" not in answer.headers


def test_a_hub_path_that_does_not_exist_is_404(hub: Hub) -> None:
    assert hub.call("GET", "/nothing-here").status_code == 404


def test_the_instance_sees_only_its_own_account(client: TestClient) -> None:
    alice = Hub(client, provision(client))
    bob = Hub(client, provision(client, account="bob"))
    assert bob.call("GET", "/files", params={"path": "/todo.txt"}).content == b"Reply to Alice.\n"
    assert alice.call("GET", "/files", params={"path": "/todo.txt"}).status_code == 404
    bob.call("POST", "/folders", params={"path": "/only-bob"})
    assert alice.call("GET", "/folders/metadata", params={"path": "/only-bob"}).status_code == 404


# -- writes go through the async dispatcher ----------------------------------------------------
def test_an_async_write_without_a_callback_url_is_refused_and_changes_nothing(hub: Hub) -> None:
    before = hub.tree()
    answer = hub.call(
        "POST", "/folders", params={"path": "/later"}, headers={"Elements-Async-Request": "true"}
    )
    assert answer.status_code == 400
    assert answer.headers["Elements-Element-Instance-Id"] == str(hub.instance["id"])
    assert hub.tree() == before
