"""Changes made "at Dropbox" through the control plane: same store, same change log as hub calls."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from emulator.domain.provider.content import content_hash
from tests.conftest import provision
from tests.test_hub_files import ACCOUNTS, Hub


def operate(
    client: TestClient, body: dict[str, Any], account: str = "alice", **params: str
) -> httpx.Response:
    return client.post(f"{ACCOUNTS}/{account}/operations", json=body, params=params)


def test_accounts_are_listed(client: TestClient) -> None:
    accounts = client.get(ACCOUNTS).json()
    assert [a["key"] for a in accounts] == ["alice", "bob"]
    assert accounts[0]["accountId"] == "dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc"
    assert accounts[0]["cursor"] == 0


def test_the_tree_lists_every_entry_pre_order(client: TestClient) -> None:
    tree = client.get(f"{ACCOUNTS}/bob/tree").json()
    assert [e["path_display"] for e in tree["entries"]] == ["/Shared", "/Shared/plan.txt", "/todo.txt"]
    assert tree["entries"][1][".tag"] == "file"
    assert tree["entries"][1]["content_hash"] == content_hash(b"Q2 plan: ship the emulator.\n")


def test_an_upload_at_dropbox_is_seen_by_the_hub(client: TestClient) -> None:
    hub = Hub(client, provision(client))
    answer = operate(client, {"op": "upload", "path": "/From Phone/photo.txt", "content": "snap"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["metadata"]["path_display"] == "/From Phone/photo.txt"
    assert body["metadata"]["content_hash"] == content_hash(b"snap")
    assert body["cursor"] == 2  # the missing parent folder, then the file
    assert hub.call("GET", "/files", params={"path": "/from phone/PHOTO.txt"}).content == b"snap"
    assert (
        hub.call("GET", f"/files/{body['metadata']['id']}/metadata").json()["path"] == "/From Phone/photo.txt"
    )


def test_upload_content_may_be_base64_or_generated(client: TestClient) -> None:
    raw = bytes(range(256))
    encoded = operate(client, {"op": "upload", "path": "/raw.bin", "base64": base64.b64encode(raw).decode()})
    assert encoded.json()["metadata"]["content_hash"] == content_hash(raw)
    generated = operate(client, {"op": "upload", "path": "/gen.bin", "size": 5000}).json()["metadata"]
    assert generated["size"] == 5000
    client.post("/_emulator/reset")
    again = operate(client, {"op": "upload", "path": "/gen.bin", "size": 5000}).json()["metadata"]
    assert again["content_hash"] == generated["content_hash"]


def test_upload_overwrites_by_default_and_add_mode_conflicts(client: TestClient) -> None:
    first = operate(client, {"op": "upload", "path": "/hello.txt", "content": "v2"}).json()["metadata"]
    original = client.get(f"{ACCOUNTS}/alice/tree").json()["entries"]
    assert next(e for e in original if e["path_display"] == "/hello.txt")["id"] == first["id"]
    cursor = client.get(f"{ACCOUNTS}/alice/changes").json()["cursor"]
    refused = operate(client, {"op": "upload", "path": "/hello.txt", "content": "v3", "mode": "add"})
    assert refused.status_code == 409
    assert refused.json()["error"] == "conflict"
    assert client.get(f"{ACCOUNTS}/alice/changes?cursor={cursor}").json()["changes"] == []
    renamed = operate(
        client, {"op": "upload", "path": "/hello.txt", "content": "v3", "mode": "add", "autorename": True}
    )
    assert renamed.json()["metadata"]["path_display"] == "/hello (1).txt"


def test_mkdir_move_copy_and_delete_at_dropbox(client: TestClient) -> None:
    assert operate(client, {"op": "mkdir", "path": "/Inbox"}).status_code == 200
    moved = operate(client, {"op": "move", "path": "/hello.txt", "to": "/Inbox/hello.txt"}).json()
    assert moved["metadata"]["path_display"] == "/Inbox/hello.txt"
    copied = operate(client, {"op": "copy", "path": "/Inbox", "to": "/Inbox copy"}).json()
    assert copied["metadata"][".tag"] == "folder"
    deleted = operate(client, {"op": "delete", "path": "/inbox"}).json()
    assert deleted["metadata"]["path_display"] == "/Inbox"
    paths = [e["path_display"] for e in client.get(f"{ACCOUNTS}/alice/tree").json()["entries"]]
    assert "/Inbox copy/hello.txt" in paths
    assert not any(p == "/hello.txt" or p.startswith("/Inbox/") for p in paths)


def test_operations_and_hub_calls_share_one_change_log(client: TestClient) -> None:
    hub = Hub(client, provision(client))
    hub.call("POST", "/folders", params={"path": "/Shared"})
    operate(client, {"op": "upload", "path": "/shared/from-dropbox.txt", "content": "d"})
    hub.upload("/Shared/from-hub.txt", b"h")
    operate(client, {"op": "delete", "path": "/Shared/from-hub.txt"})
    log = client.get(f"{ACCOUNTS}/alice/changes?cursor=0").json()
    assert [(c["seq"], c[".tag"], c["path_display"]) for c in log["changes"]] == [
        (1, "folder", "/Shared"),
        (2, "file", "/Shared/from-dropbox.txt"),
        (3, "file", "/Shared/from-hub.txt"),
        (4, "deleted", "/Shared/from-hub.txt"),
    ]
    assert [c["batch"] for c in log["changes"]] == [1, 2, 3, 4]
    assert (log["cursor"], log["hasMore"]) == (4, False)


def test_the_change_log_pages_from_a_cursor(client: TestClient) -> None:
    for name in "abc":
        operate(client, {"op": "upload", "path": f"/{name}.txt", "content": name})
    page = client.get(f"{ACCOUNTS}/alice/changes", params={"cursor": 1, "limit": 1}).json()
    assert [c["path_display"] for c in page["changes"]] == ["/b.txt"]
    assert (page["cursor"], page["hasMore"]) == (2, True)
    assert client.get(f"{ACCOUNTS}/alice/changes", params={"cursor": 99}).status_code == 400
    assert client.get(f"{ACCOUNTS}/alice/changes", params={"cursor": "x"}).status_code == 400


@pytest.mark.parametrize(
    "body",
    [
        {"op": "explode", "path": "/x"},
        {"op": "mkdir"},
        {"op": "mkdir", "path": "/x", "typo": 1},
        {"op": "move", "path": "/hello.txt"},
        {"op": "upload", "path": "/x.txt"},
        {"op": "upload", "path": "/x.txt", "content": "a", "size": 1},
        {"op": "upload", "path": "/x.txt", "base64": "%%%"},
        {"op": "upload", "path": "/x.txt", "content": "a", "mode": "replace"},
        {"op": "upload", "path": "/x.txt", "content": "a", "modified": "last week"},
        {"op": "mkdir", "path": "/a/../b"},
        {"op": "delete", "path": "/"},
    ],
)
def test_bad_operations_are_400_in_the_control_planes_shape_and_change_nothing(
    client: TestClient, body: dict[str, Any]
) -> None:
    answer = operate(client, body)
    assert answer.status_code == 400
    assert answer.json()["error"] == "bad_request"
    assert client.get(f"{ACCOUNTS}/alice/changes").json()["changes"] == []


def test_a_generated_upload_over_the_limit_is_413(client: TestClient) -> None:
    answer = operate(client, {"op": "upload", "path": "/huge.bin", "size": 10**12})
    assert (answer.status_code, answer.json()["error"]) == (413, "too_large")


def test_unknown_accounts_and_tenants_are_404(client: TestClient) -> None:
    assert operate(client, {"op": "mkdir", "path": "/x"}, account="carol").status_code == 404
    assert client.get(f"{ACCOUNTS}/carol/tree").status_code == 404
    assert operate(client, {"op": "mkdir", "path": "/x"}, tenant="t999").status_code == 404


def test_operations_on_a_tenant_leave_the_default_tenant_alone(client: TestClient) -> None:
    tenant = client.post("/_emulator/tenants").json()["id"]
    made = operate(client, {"op": "mkdir", "path": "/Only Here"}, tenant=tenant)
    assert made.status_code == 200
    tenant_tree = client.get(f"{ACCOUNTS}/alice/tree", params={"tenant": tenant}).json()
    assert "/Only Here" in [e["path_display"] for e in tenant_tree["entries"]]
    default_tree = client.get(f"{ACCOUNTS}/alice/tree").json()
    assert "/Only Here" not in [e["path_display"] for e in default_tree["entries"]]


def test_an_upload_at_dropbox_may_set_the_modified_time(client: TestClient) -> None:
    hub = Hub(client, provision(client))
    operate(client, {"op": "upload", "path": "/old.txt", "content": "o", "modified": "2024-05-01T08:00:00Z"})
    doc = hub.call("GET", "/files/metadata", params={"path": "/old.txt"}).json()
    assert doc["modifiedDate"] == "2024-05-01T08:00:00Z"
    hits = hub.call("GET", "/search", params={"startDate": "2024-05-01", "endDate": "2024-05-01"}).json()
    assert [d["path"] for d in hits] == ["/old.txt"]
