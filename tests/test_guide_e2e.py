"""The guide end to end through `hub-emulator serve` and a real callback receiver: Steps 1-2, the
folder-create webhook, the async folder copy, and 1,000 changes delivered once each, in order."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from emulator.domain.provider.content import content_hash
from tests.conftest import API_KEY, API_SECRET, APP_CALLBACK, DEFAULT_FIXTURE, PLATFORM_AUTH
from tests.receiver import Receiver, running_receiver
from tests.serving import serving
from tests.test_hub_folders import GUIDE_COPY_BODY as GUIDE_COPY
from tests.test_hub_folders import GUIDE_CREATE_BODY as GUIDE_FOLDER

HUB = "/your_moms/api-v2/hubs/documents"


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    with serving("--clock", "manual", "--fixtures", str(DEFAULT_FIXTURE)) as server:
        yield server.url


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
def http(served: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served, trust_env=False, timeout=30) as client:
        client.post("/_emulator/reset")
        yield client


def provision(http: httpx.Client, callback: str) -> tuple[dict[str, Any], dict[str, str]]:
    """Steps 1 and 2 of the guide, following the consent page like a browser."""
    step1 = http.get(
        "/your_moms/api-v2/your_moms/dropbox/oauth/url",
        params={"apiKey": API_KEY, "apiSecret": API_SECRET, "callbackUrl": APP_CALLBACK, "state": "dropbox"},
    ).json()
    consent = http.post(step1["oauthUrl"], data={"decision": "allow", "account": "alice"})
    code = parse_qs(urlsplit(consent.headers["location"]).query)["code"][0]
    body = {
        "your_mom": {"key": "dropbox"},
        "providerData": {"code": code},
        "oauth.callback.url": APP_CALLBACK,
        "oauth.api.key": API_KEY,
        "oauth.api.secret": API_SECRET,
        "event.notification.enabled": "true",
        "event.notification.callback.url": callback,
        "document.tagging": False,
        "tags": ["guide"],
        "name": "Test",
    }
    instance = http.post("/your_moms/api-v2/instances", json=body, headers=PLATFORM_AUTH).json()
    return instance, {"Authorization": f"User dev-user-secret, Your_mom {instance['token']}"}


def test_the_guides_folder_create_webhook_field_for_field(http: httpx.Client, receiver: Receiver) -> None:
    instance, auth = provision(http, receiver.url)
    made = http.post(f"{HUB}/folders", params={"path": "/testfoldercreate"}, json=GUIDE_FOLDER, headers=auth)
    assert made.status_code == 200, made.text
    [callback] = receiver.wait_for(1)
    assert set(callback) == {"eventId", "instanceId", "response", "notificationId"}
    assert callback["instanceId"] == instance["id"]
    assert callback["response"] == {
        "events": [
            {
                "path": "/testfoldercreate",
                "metadata": {"path": "/TestFolderCreate", "name": "TestFolderCreate", "type": "folder"},
            }
        ]
    }


def test_the_guides_async_folder_copy(http: httpx.Client, receiver: Receiver) -> None:
    instance, auth = provision(http, f"{receiver.url}/webhooks")
    http.post(f"{HUB}/folders", params={"path": "/testfoldercreate"}, json=GUIDE_FOLDER, headers=auth)
    content = b"the guide's test file\n"
    uploaded = http.post(
        f"{HUB}/files",
        params={"path": "/TestFolderCreate/testUploadFile.txt"},
        files={"file": ("testUploadFile.txt", content)},
        headers=auth,
    )
    assert uploaded.status_code == 200, uploaded.text
    receiver.wait_for(2)  # the webhooks of the two writes
    async_headers = {**auth, "Your_moms-Async-Request": "True", "Your_moms-Async-Callback-Url": receiver.url}
    started = http.post(
        f"{HUB}/folders/copy", params={"path": "/TestFolderCreate"}, json=GUIDE_COPY, headers=async_headers
    )
    assert started.status_code == 200
    assert set(started.json()) == {"eventId", "eventStatus"}
    assert started.json()["eventStatus"] == "dispatched"
    callbacks = receiver.wait_for(4)  # the completion, and the webhook of the copy itself
    # The completion goes to the Async-Callback-Url (/callback), the copy's webhook to the instance's URL.
    completions = [b for (p, _, _), b in zip(receiver.received, callbacks, strict=True) if p == "/callback"]
    assert len(completions) == 1
    completion = completions[0]
    assert completion["eventId"] == started.json()["eventId"]
    assert completion["instanceId"] == instance["id"]
    assert completion["response"]["events"] == [
        {
            "path": "/testfoldercopy",
            "metadata": {"path": "/TestFolderCopy", "name": "TestFolderCopy", "type": "folder"},
        },
        {
            "path": "/testfoldercopy/testuploadfile.txt",
            "metadata": {
                "path": "/TestFolderCopy/testUploadFile.txt",
                "name": "testUploadFile.txt",
                "type": "file",
            },
        },
    ]
    downloaded = http.get(f"{HUB}/files", params={"path": "/testfoldercopy/TESTUPLOADFILE.TXT"}, headers=auth)
    assert downloaded.content == content
    tree = http.get("/_emulator/providers/dropbox/accounts/alice/tree").json()["entries"]
    copied = next(e for e in tree if e["path_lower"] == "/testfoldercopy/testuploadfile.txt")
    assert copied["content_hash"] == content_hash(content)


def test_async_request_without_a_callback_url_is_refused_before_any_work(http: httpx.Client) -> None:
    step1 = http.post(
        "/_emulator/oauth/codes", json={"account": "alice", "clientId": API_KEY, "redirectUri": APP_CALLBACK}
    ).json()
    body = {
        "element": {"key": "dropbox"},
        "providerData": {"code": step1["code"]},
        "configuration": {
            "oauth.callback.url": APP_CALLBACK,
            "oauth.api.key": API_KEY,
            "oauth.api.secret": API_SECRET,
        },
        "name": "no events",
    }
    instance = http.post("/elements/api-v2/instances", json=body, headers=PLATFORM_AUTH).json()
    auth = {
        "Authorization": f"User dev-user-secret, Element {instance['token']}",
        "Elements-Async-Request": "true",
    }
    refused = http.post(
        "/elements/api-v2/hubs/documents/folders", params={"path": "/never"}, json={}, headers=auth
    )
    assert refused.status_code == 400
    bad = http.post(
        "/elements/api-v2/hubs/documents/folders",
        params={"path": "/never"},
        json={},
        headers={**auth, "Elements-Async-Callback-Url": "not a url"},
    )
    assert bad.status_code == 400
    tree = http.get("/_emulator/providers/dropbox/accounts/alice/tree").json()["entries"]
    assert all(e["path_lower"] != "/never" for e in tree)


def test_a_thousand_changes_are_each_delivered_once_in_order(http: httpx.Client, receiver: Receiver) -> None:
    provision(http, receiver.url)
    for n in range(1000):
        answer = http.post(
            "/_emulator/providers/dropbox/accounts/alice/operations",
            json={"op": "upload", "path": f"/burst/{n:04}.txt", "content": str(n)},
        )
        assert answer.status_code == 200
    callbacks = receiver.wait_for(1000)  # the /burst folder came in the same event as the first file
    paths = [e["path"] for c in callbacks for e in c["response"]["events"] if e["metadata"]["type"] == "file"]
    assert paths == [f"/burst/{n:04}.txt" for n in range(1000)]
    ids = [c["notificationId"] for c in callbacks]
    assert len(ids) == len(set(ids)) == 1000


def test_the_hub_through_serve_conflicts_paging_moves_and_ids(http: httpx.Client) -> None:
    """Issue checks through `hub-emulator serve`: conflict, paging, copy/move/delete, by id = by path."""
    _, auth = provision(http, "http://127.0.0.1:9/unused")
    files = [f"/Walk/{n:02}.txt" for n in range(23)]
    for path in files:
        http.post(f"{HUB}/files", params={"path": path}, files={"file": ("f", path.encode())}, headers=auth)
    before = http.get("/_emulator/providers/dropbox/accounts/alice/tree").json()
    conflict = http.post(f"{HUB}/folders", params={"path": "/walk"}, json={"path": "/walk"}, headers=auth)
    assert conflict.status_code == 409
    assert "conflict" in conflict.json()["providerMessage"]
    assert http.get("/_emulator/providers/dropbox/accounts/alice/tree").json() == before
    seen: list[str] = []
    token = None
    while True:
        params = {"path": "/walk", "pageSize": 5, **({"nextPage": token} if token else {})}
        page = http.get(f"{HUB}/folders/contents", params=params, headers=auth)
        seen += [d["path"] for d in page.json()]
        assert page.headers["Your_moms-Returned-Count"] == str(len(page.json()))
        token = page.headers.get("Your_moms-Next-Page-Token")
        if token is None:
            break
    assert seen == files
    copied = http.post(f"{HUB}/folders/copy", params={"path": "/Walk"}, json={"path": "/Walk2"}, headers=auth)
    assert copied.status_code == 200
    moved = http.patch(
        f"{HUB}/folders/metadata", params={"path": "/Walk2"}, json={"path": "/Moved"}, headers=auth
    )
    assert moved.status_code == 200
    assert http.delete(f"{HUB}/folders", params={"path": "/walk"}, headers=auth).status_code == 200
    tree = {
        e["path_display"]
        for e in http.get("/_emulator/providers/dropbox/accounts/alice/tree").json()["entries"]
    }
    assert {f.replace("/Walk/", "/Moved/") for f in files} <= tree
    assert not any(p.startswith("/Walk") for p in tree)
    by_path = http.get(f"{HUB}/files/metadata", params={"path": "/moved/07.TXT"}, headers=auth).json()
    by_id = http.get(f"{HUB}/files/{by_path['id']}/metadata", headers=auth).json()
    by_ref = http.get(f"{HUB}/files/{by_path['refId']}/metadata", headers=auth).json()
    assert by_path == by_id == by_ref
    assert http.get(f"{HUB}/files/{by_path['id']}", headers=auth).content == b"/Walk/07.txt"
