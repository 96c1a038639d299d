"""The Documents hub's files: upload, download, metadata, move, copy, links, delete, ids and limits."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from emulator.domain.platform.hub import document_id
from emulator.domain.provider.content import content_hash
from emulator.domain.provider.store import Store
from emulator.runtime import Runtime
from tests.conftest import hub_auth, provision

ACCOUNTS = "/_emulator/providers/dropbox/accounts"


@dataclass
class Hub:
    """A client app's view of one instance's Documents hub, plus the control plane's view of its account."""

    client: TestClient
    instance: dict[str, Any]
    dialect: str = "elements"
    word: str = "Element"

    @property
    def base(self) -> str:
        return f"/{self.dialect}/api-v2/hubs/documents"

    @property
    def id_header(self) -> str:
        return (
            "Elements-Element-Instance-Id" if self.dialect == "elements" else "Your_moms-Your_mom-Instance-Id"
        )

    def call(self, method: str, path: str, **options: Any) -> httpx.Response:
        headers = {**hub_auth(self.instance["token"], self.word), **options.pop("headers", {})}
        return self.client.request(method, self.base + path, headers=headers, **options)

    def upload(self, path: str, data: bytes, **params: Any) -> httpx.Response:
        return self.call("POST", "/files", params={"path": path, **params}, files={"file": ("f", data)})

    def tree(self) -> dict[str, dict[str, Any]]:
        """The account's entries by display path, as the control plane reports them."""
        entries = self.client.get(f"{ACCOUNTS}/alice/tree").json()["entries"]
        return {e["path_display"]: e for e in entries}

    def changes(self, cursor: int = 0) -> list[dict[str, Any]]:
        body: list[dict[str, Any]] = self.client.get(f"{ACCOUNTS}/alice/changes?cursor={cursor}").json()[
            "changes"
        ]
        return body


def alice_store(runtime: Runtime) -> Store:
    return runtime.state.tenants["default"].provider.account("alice").store


@pytest.fixture
def hub(client: TestClient) -> Hub:
    return Hub(client, provision(client))


def doc_id(path: str) -> str:
    return quote(quote(path, safe=""), safe="")


# -- upload and download -------------------------------------------------------------------
def test_upload_then_download_gives_the_same_bytes_and_content_hash(hub: Hub) -> None:
    data = bytes(range(256)) * 1000
    made = hub.upload("/Reports/2026/q1.pdf", data)
    assert made.status_code == 200, made.text
    assert made.json()["path"] == "/Reports/2026/q1.pdf"
    assert made.json()["size"] == len(data)
    assert made.headers[hub.id_header] == str(hub.instance["id"])
    down = hub.call("GET", "/files", params={"path": "/reports/2026/Q1.PDF"})
    assert down.status_code == 200
    assert down.content == data
    assert down.headers["content-type"] == "application/pdf"
    assert down.headers["content-length"] == str(len(data))
    assert down.headers["content-disposition"] == "attachment; filename=\"q1.pdf\"; filename*=UTF-8''q1.pdf"
    assert hub.tree()["/Reports/2026/q1.pdf"]["content_hash"] == content_hash(data)


def test_download_content_type_is_guessed_from_the_name(hub: Hub) -> None:
    assert (
        hub.call("GET", "/files", params={"path": "/Photos/logo.png"}).headers["content-type"] == "image/png"
    )
    text = hub.call("GET", "/files", params={"path": "/hello.txt"})
    assert text.headers["content-type"].startswith("text/plain")
    assert text.text == "Hello from the emulated Dropbox!\n"


def test_a_path_in_another_case_finds_the_same_entry(hub: Hub) -> None:
    exact = hub.call("GET", "/files/metadata", params={"path": "/Documents/notes.txt"}).json()
    other = hub.call("GET", "/files/metadata", params={"path": "/DOCUMENTS/Notes.TXT"}).json()
    assert other == exact
    assert exact["path"] == "/Documents/notes.txt"
    assert exact["id"] == "%252FDocuments%252Fnotes.txt"
    assert exact["parentFolderId"] == "%252FDocuments"
    assert exact["refId"].startswith("id:")


def test_the_document_object_has_the_platforms_fields(hub: Hub) -> None:
    doc = hub.call("GET", "/files/metadata", params={"path": "/Documents/Report Q1.docx"}).json()
    assert list(doc) == [
        "id",
        "name",
        "path",
        "directory",
        "size",
        "createdDate",
        "modifiedDate",
        "tags",
        "refId",
        "parentFolderId",
    ]
    assert (doc["name"], doc["directory"], doc["size"]) == ("Report Q1.docx", False, 24576)
    assert doc["modifiedDate"] == "2025-04-02T09:30:00Z"
    assert doc["createdDate"] == "2026-01-01T00:00:00Z"


def test_upload_over_an_existing_file_is_409_unless_overwrite_and_keeps_the_id(hub: Hub) -> None:
    first = hub.upload("/a.txt", b"one").json()
    cursor = len(hub.changes())
    refused = hub.upload("/A.TXT", b"two")
    assert refused.status_code == 409
    assert refused.json()["providerMessage"] == "path/conflict/file/"
    assert hub.call("GET", "/files", params={"path": "/a.txt"}).content == b"one"
    assert hub.changes(cursor) == []
    again = hub.upload("/A.TXT", b"two", overwrite="true").json()
    assert (again["id"], again["refId"], again["path"]) == (first["id"], first["refId"], "/a.txt")
    assert hub.call("GET", "/files", params={"path": "/a.txt"}).content == b"two"


def test_upload_onto_a_folder_is_a_conflict(hub: Hub) -> None:
    refused = hub.upload("/documents", b"x", overwrite="true")
    assert refused.status_code == 409
    assert refused.json()["providerMessage"] == "path/conflict/folder/"


def test_upload_keeps_tags_and_description(hub: Hub) -> None:
    made = hub.call(
        "POST",
        "/files",
        params={"path": "/t.txt", "tags[]": ["red", "blue"], "description": "a note"},
        files={"file": ("t.txt", b"t")},
    ).json()
    assert (made["tags"], made["description"]) == (["red", "blue"], "a note")
    assert hub.call("GET", f"/files/{made['id']}/metadata").json()["tags"] == ["red", "blue"]


def test_upload_fields_may_come_in_the_form(hub: Hub) -> None:
    made = hub.call(
        "POST",
        "/files",
        params={"path": "/f.txt"},
        data={"tags[]": "green", "description": "from the form", "size": "3"},
        files={"file": ("f.txt", b"abc")},
    )
    assert made.status_code == 200, made.text
    assert (made.json()["tags"], made.json()["description"]) == (["green"], "from the form")


def test_a_size_other_than_the_bytes_sent_is_400(hub: Hub) -> None:
    before = hub.tree()
    assert hub.upload("/s.txt", b"abc", size="4").status_code == 400
    assert hub.tree() == before


def test_upload_needs_a_multipart_file_part(hub: Hub) -> None:
    as_json = hub.call("POST", "/files", params={"path": "/x.txt"}, json={"file": "x"})
    assert as_json.status_code == 415
    no_file = hub.call("POST", "/files", params={"path": "/x.txt"}, files={"other": ("x", b"x")})
    assert no_file.status_code == 400
    assert hub.upload("", b"x").status_code == 400
    assert "/x.txt" not in hub.tree()


def test_download_of_a_folder_is_400_and_of_nothing_404(hub: Hub) -> None:
    folder = hub.call("GET", "/files", params={"path": "/Documents"})
    assert (folder.status_code, folder.json()["providerMessage"]) == (400, "path/not_file/")
    missing = hub.call("GET", "/files", params={"path": "/nope.txt"})
    assert (missing.status_code, missing.json()["providerMessage"]) == (404, "path/not_found/")
    assert set(missing.json()) == {"requestId", "message", "providerMessage"}
    assert missing.headers[hub.id_header] == str(hub.instance["id"])


# -- the upload limit ------------------------------------------------------------------------
def test_an_upload_over_the_limit_is_413_and_changes_nothing(hub: Hub, runtime: Runtime) -> None:
    alice_store(runtime).max_upload_bytes = 1000
    before, cursor = hub.tree(), len(hub.changes())
    refused = hub.upload("/big.bin", b"x" * 1001)
    assert refused.status_code == 413
    assert hub.tree() == before
    assert hub.changes(cursor) == []
    assert hub.upload("/ok.bin", b"x" * 1000).status_code == 200


def _upload_scope(path: str, token: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    auth = f"User dev-user-secret, Organization dev-org-secret, Element {token}".encode()
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "server": ("testserver", 80),
        "client": ("testclient", 50000),
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"path=/huge.bin",
        "headers": [(b"authorization", auth), *headers],
    }


def _send_huge_upload(client: TestClient, token: str, declared: int | None, chunks: int) -> tuple[int, int]:
    """POSTs `chunks` chunks of 64 KiB straight to the app; answers (status, chunks the app read)."""
    chunk = b"x" * 65536
    headers = [(b"content-type", b"multipart/form-data; boundary=b")]
    if declared is not None:
        headers.append((b"content-length", str(declared).encode()))
    read = 0
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        nonlocal read
        read += 1
        if read == 1:
            body = b'--b\r\nContent-Disposition: form-data; name="file"; filename="h"\r\n\r\n'
            return {"type": "http.request", "body": body, "more_body": True}
        return {"type": "http.request", "body": chunk, "more_body": read <= chunks}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    scope = _upload_scope("/elements/api-v2/hubs/documents/files", token, headers)
    asyncio.run(client.app(scope, receive, send))
    return status[0], read


def test_a_declared_oversize_upload_is_refused_before_its_body_is_read(
    hub: Hub, client: TestClient, runtime: Runtime
) -> None:
    alice_store(runtime).max_upload_bytes = 1000
    status, read = _send_huge_upload(client, hub.instance["token"], declared=10**9, chunks=16000)
    assert (status, read) == (413, 0)


def test_an_undeclared_oversize_upload_stops_being_read_past_the_limit(
    hub: Hub, client: TestClient, runtime: Runtime
) -> None:
    alice_store(runtime).max_upload_bytes = 1000
    status, read = _send_huge_upload(client, hub.instance["token"], declared=None, chunks=16000)
    assert status == 413
    assert read < 40  # the 1 MiB multipart allowance is 16 chunks; 16000 were on offer
    assert "/huge.bin" not in hub.tree()


# -- metadata, move, copy, delete --------------------------------------------------------------
def test_patch_metadata_renames_and_moves_and_replaces_tags(hub: Hub) -> None:
    made = hub.upload("/draft.txt", b"d", **{"tags[]": "old"}).json()
    moved = hub.call(
        "PATCH",
        "/files/metadata",
        params={"path": "/draft.txt"},
        json={"path": "/Final/Done.txt", "tags": ["new"]},
    )
    assert moved.status_code == 200, moved.text
    body = moved.json()
    assert (body["path"], body["name"], body["tags"], body["refId"]) == (
        "/Final/Done.txt",
        "Done.txt",
        ["new"],
        made["refId"],
    )
    assert "/draft.txt" not in hub.tree()
    assert hub.call("GET", "/files", params={"path": "/final/done.txt"}).content == b"d"


def test_patch_metadata_can_change_only_the_case(hub: Hub) -> None:
    renamed = hub.call("PATCH", "/files/metadata", params={"path": "/hello.txt"}, json={"path": "/HELLO.txt"})
    assert renamed.json()["path"] == "/HELLO.txt"
    assert "/HELLO.txt" in hub.tree()


def test_a_document_sent_back_with_its_path_in_another_case_does_not_move(hub: Hub) -> None:
    cursor = len(hub.changes())
    doc = hub.call("GET", "/files/metadata", params={"path": "/Documents/notes.txt"}).json()
    sent_back = {**doc, "path": "/documents/notes.txt", "tags": ["kept"]}
    answer = hub.call("PATCH", f"/files/{doc['id']}/metadata", json=sent_back)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["path"], answer.json()["tags"]) == ("/Documents/notes.txt", ["kept"])
    assert hub.changes(cursor) == []


def test_patch_onto_an_existing_file_is_409_and_changes_nothing(hub: Hub) -> None:
    before, cursor = hub.tree(), len(hub.changes())
    refused = hub.call(
        "PATCH",
        "/files/metadata",
        params={"path": "/hello.txt"},
        json={"path": "/Documents/notes.txt", "tags": ["t"]},
    )
    assert refused.status_code == 409
    assert hub.tree() == before
    assert hub.changes(cursor) == []
    assert hub.call("GET", "/files/metadata", params={"path": "/hello.txt"}).json()["tags"] == []


def test_copy_makes_a_new_entry_with_the_same_content_and_refuses_an_existing_target(hub: Hub) -> None:
    original = hub.call("GET", "/files/metadata", params={"path": "/hello.txt"}).json()
    copied = hub.call(
        "POST", "/files/copy", params={"path": "/hello.txt"}, json={"path": "/Copies/hello.txt"}
    )
    assert copied.status_code == 200, copied.text
    assert copied.json()["refId"] != original["refId"]
    tree = hub.tree()
    assert tree["/Copies/hello.txt"]["content_hash"] == tree["/hello.txt"]["content_hash"]
    cursor = len(hub.changes())
    again = hub.call("POST", "/files/copy", params={"path": "/hello.txt"}, json={"path": "/copies/HELLO.txt"})
    assert (again.status_code, again.json()["providerMessage"]) == (409, "to/conflict/file/")
    assert hub.changes(cursor) == []


def test_copy_needs_a_destination(hub: Hub) -> None:
    assert hub.call("POST", "/files/copy", params={"path": "/hello.txt"}, json={}).status_code == 400


def test_delete_removes_the_file_and_a_second_delete_is_404(hub: Hub) -> None:
    assert hub.call("DELETE", "/files", params={"path": "/HELLO.TXT"}).status_code == 200
    assert "/hello.txt" not in hub.tree()
    assert hub.call("DELETE", "/files", params={"path": "/hello.txt"}).status_code == 404
    folder = hub.call("DELETE", "/files", params={"path": "/Documents"})
    assert (folder.status_code, folder.json()["providerMessage"]) == (400, "path/not_file/")
    assert "/Documents" in hub.tree()


# -- ids -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "spelling",
    ["%252FDocuments%252Fnotes.txt", "%252fdocuments%252fNOTES.TXT", "%2FDocuments%2Fnotes.txt", "REFID"],
)
def test_by_id_routes_agree_with_by_path_routes(hub: Hub, spelling: str) -> None:
    by_path = hub.call("GET", "/files/metadata", params={"path": "/Documents/notes.txt"}).json()
    file_id = by_path["refId"] if spelling == "REFID" else spelling
    assert hub.call("GET", f"/files/{file_id}/metadata").json() == by_path
    assert hub.call("GET", f"/files/{file_id}").content == b"Call Bob about the Q2 budget.\n"
    link_by_path = hub.call("GET", "/files/links", params={"path": "/Documents/notes.txt"}).json()
    assert hub.call("GET", f"/files/{file_id}/links").json() == link_by_path
    copied = hub.call("POST", f"/files/{file_id}/copy", json={"path": "/n2.txt"})
    assert copied.status_code == 200
    patched = hub.call("PATCH", f"/files/{file_id}/metadata", json={"tags": ["x"]}).json()
    assert (patched["path"], patched["tags"]) == ("/Documents/notes.txt", ["x"])
    assert hub.call("DELETE", f"/files/{file_id}").status_code == 200
    assert "/Documents/notes.txt" not in hub.tree()


def test_ids_of_names_with_percent_and_unicode_round_trip(hub: Hub) -> None:
    made = hub.upload("/100% Été.txt", b"p").json()
    assert made["id"] == doc_id("/100% Été.txt")
    assert hub.call("GET", f"/files/{made['id']}").content == b"p"


def test_an_id_that_is_neither_a_path_nor_a_dropbox_id_is_400(hub: Hub) -> None:
    assert hub.call("GET", "/files/nonsense/metadata").status_code == 400
    assert hub.call("GET", "/files/id:missing/metadata").status_code == 404


def test_a_file_re_uploaded_after_delete_keeps_its_path_id(hub: Hub) -> None:
    first = hub.upload("/r.txt", b"1").json()
    hub.call("DELETE", "/files", params={"path": "/r.txt"})
    second = hub.upload("/r.txt", b"2").json()
    assert second["id"] == first["id"]
    assert second["refId"] != first["refId"]


# -- bad paths -------------------------------------------------------------------------------
BAD_PATHS = [
    "/a/../b.txt",
    "/a/./b.txt",
    "/nul\x00.txt",
    "/tab\t.txt",
    "/bell\x07.txt",
    "relative.txt",
    "/a//b",
]


@pytest.mark.parametrize("path", BAD_PATHS)
def test_bad_paths_are_400_and_change_nothing(hub: Hub, path: str) -> None:
    before = hub.tree()
    upload = hub.upload(path, b"x")
    assert (upload.status_code, upload.json().get("providerMessage")) == (400, "path/malformed_path/")
    assert hub.call("POST", "/folders", params={"path": path}).status_code == 400
    assert hub.call("GET", "/files/metadata", params={"path": path}).status_code == 400
    moved = hub.call("PATCH", "/files/metadata", params={"path": "/hello.txt"}, json={"path": path})
    assert moved.status_code == 400
    assert hub.tree() == before


# -- links -----------------------------------------------------------------------------------
def test_a_link_stays_the_same_on_repeated_calls_whatever_they_ask(hub: Hub) -> None:
    first = hub.call("GET", "/files/links", params={"path": "/hello.txt", "visibility": "TEAM_ONLY"})
    assert first.status_code == 200
    body = first.json()
    assert set(body) == {"providerLink", "providerViewLink", "expires", "providerLinkExpires", "raw"}
    assert body["providerViewLink"].endswith("dl=0") and body["providerLink"].endswith("dl=1")
    assert body["expires"] is None
    again = hub.call("GET", "/files/links", params={"path": "/HELLO.TXT", "visibility": "PASSWORD"})
    assert again.json() == body
    assert again.json()["raw"]["linkPermissions"]["requestedVisibility"] == "TEAM_ONLY"


def test_a_new_link_takes_an_expiry_and_checks_its_settings(hub: Hub) -> None:
    dated = hub.call("GET", "/files/links", params={"path": "/hello.txt", "expires": "2026-02-20"}).json()
    assert dated["providerLinkExpires"].startswith("2026-02-20T00:00:00")
    bad = hub.call("GET", "/files/links", params={"path": "/Documents/notes.txt", "expires": "Monday!"})
    assert (bad.status_code, bad.json()["message"]) == (400, "Invalid link expiration date.")
    odd = hub.call("GET", "/files/links", params={"path": "/Documents/notes.txt", "visibility": "MILES"})
    assert odd.status_code == 400
    assert odd.json()["providerMessage"].endswith("RequestedVisibility.MILES")
    no_password = hub.call(
        "GET", "/files/links", params={"path": "/Documents/notes.txt", "visibility": "PASSWORD"}
    )
    assert (no_password.status_code, no_password.json()["message"]) == (400, "You must supply a password")


@settings(max_examples=300, deadline=None)
@given(path=st.one_of(st.text(), st.text(alphabet="aZ09_.~-/ é%+", max_size=12)))
def test_a_document_id_is_the_path_url_encoded_twice(path: str) -> None:
    once = quote(path or "/", safe="")
    assert document_id(path) == quote(once, safe="")
