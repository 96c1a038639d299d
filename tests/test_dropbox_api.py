"""The Dropbox API surface on the wire: tokens, Dropbox's request and error formats, cursors and longpolls."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from emulator.assemble import load_runtime
from emulator.server import ServerThread
from tests.conftest import (
    API_KEY,
    API_SECRET,
    APP_CALLBACK,
    DEFAULT_FIXTURE,
    consent_code,
    hub_auth,
    provision,
)

TOKEN = "alice-dropbox-token"


@dataclass
class Surface:
    server: ServerThread
    http: httpx.Client  # the main server: platform API and control plane
    api: httpx.Client  # the Dropbox API over HTTPS, trusting the emulator's CA

    def call(self, route: str, body: Any = None, token: str = TOKEN) -> httpx.Response:
        return self.api.post(f"/2/{route}", json=body, headers={"Authorization": f"Bearer {token}"})

    def ok(self, route: str, body: Any = None, token: str = TOKEN) -> Any:
        answer = self.call(route, body, token)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def upload(self, path: str, data: bytes, token: str = TOKEN, **arg: Any) -> httpx.Response:
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/octet-stream",
            "Dropbox-API-Arg": json.dumps({"path": path, **arg}),
        }
        return self.api.post("/2/files/upload", content=data, headers=headers)

    def token_for(self, account: str, **params: str) -> str:
        answer = self.http.post(f"/_emulator/providers/dropbox/accounts/{account}/tokens", params=params)
        assert answer.status_code == 201, answer.text
        token: str = answer.json()["access_token"]
        return token


@pytest.fixture(scope="module")
def surface() -> Iterator[Surface]:
    server = ServerThread(load_runtime(DEFAULT_FIXTURE), dropbox_api_port=0).start()
    assert server.dropbox_ca_file is not None
    trust = ssl.create_default_context(cafile=server.dropbox_ca_file)
    api_url = f"https://{server.dropbox_api_host}"
    with (
        httpx.Client(base_url=server.url, trust_env=False) as http,
        httpx.Client(base_url=api_url, verify=trust, trust_env=False) as api,
    ):
        yield Surface(server, http, api)
    server.stop()


@pytest.fixture(autouse=True)
def fresh(surface: Surface) -> None:
    assert surface.http.post("/_emulator/reset").status_code == 200


# -- finding the surface, and tokens -----------------------------------------------------------
def test_the_control_plane_says_where_the_api_listens(surface: Surface) -> None:
    info = surface.http.get("/_emulator/providers/dropbox/api").json()
    assert info["apiHost"] == info["contentHost"] == info["notifyHost"] == surface.server.dropbox_api_host
    assert info["caFile"] == surface.server.dropbox_ca_file
    assert Path(info["caFile"]).read_text().startswith("-----BEGIN CERTIFICATE-----")


def test_the_surface_is_off_unless_asked_for(client: TestClient) -> None:
    answer = client.get("/_emulator/providers/dropbox/api")
    assert answer.status_code == 404
    assert answer.json()["error"] == "not_found"


def test_a_token_from_the_control_plane_opens_its_account(surface: Surface) -> None:
    bob = surface.token_for("bob")
    assert surface.ok("users/get_current_account", token=bob)["email"] == "bob@example.com"
    assert surface.ok("users/get_current_account")["email"] == "alice@example.com"
    missing = surface.http.post("/_emulator/providers/dropbox/accounts/nobody/tokens")
    assert missing.status_code == 404


def test_a_tenants_token_sees_the_tenants_own_copy(surface: Surface) -> None:
    tenant = surface.http.post("/_emulator/tenants").json()["id"]
    theirs = surface.token_for("alice", tenant=tenant)
    assert surface.upload("/only in the tenant.txt", b"x", token=theirs).status_code == 200
    mine = {e["name"] for e in surface.ok("files/list_folder", {"path": ""})["entries"]}
    assert "only in the tenant.txt" not in mine


def test_the_consent_code_is_exchanged_like_dropboxs(surface: Surface) -> None:
    form = {
        "grant_type": "authorization_code",
        "code": consent_code(surface.http),
        "client_id": API_KEY,
        "client_secret": API_SECRET,
        "redirect_uri": APP_CALLBACK,
    }
    granted = surface.http.post("/oauth2/token", data=form)
    assert granted.status_code == 200, granted.text
    body = granted.json()
    assert body["token_type"] == "bearer"
    assert body["account_id"] == "dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc"
    assert body["uid"].isdigit()
    assert surface.ok("users/get_current_account", token=body["access_token"])["email"] == "alice@example.com"

    again = surface.http.post("/oauth2/token", data=form)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


def test_the_https_host_exchanges_codes_with_basic_client_credentials(surface: Surface) -> None:
    form = {
        "grant_type": "authorization_code",
        "code": consent_code(surface.http),
        "redirect_uri": APP_CALLBACK,
    }
    refused = surface.api.post("/oauth2/token", data=form, auth=(API_KEY, "wrong secret"))
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_client")
    granted = surface.api.post("/oauth2/token", data=form, auth=(API_KEY, API_SECRET))
    assert granted.status_code == 200, granted.text
    unsupported = surface.api.post("/oauth2/token", data={"grant_type": "password"})
    assert unsupported.json()["error"] == "unsupported_grant_type"


# -- Dropbox's request and error formats -------------------------------------------------------
def test_malformed_calls_are_400_plain_text(surface: Surface) -> None:
    no_token = surface.api.post("/2/files/list_folder", json={"path": ""})
    bad_json = surface.api.post(
        "/2/files/list_folder",
        content=b"{not json",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    wrong_type = surface.call("files/list_folder", {"path": "", "recursive": "yes"})
    unknown = surface.call("files/search_v2", {"query": "x"})
    for answer in (no_token, bad_json, wrong_type, unknown):
        assert answer.status_code == 400
        assert answer.headers["content-type"].startswith("text/plain")
        assert answer.text.startswith('Error in call to API function "files/')
    assert "recursive: expected boolean, got string" in wrong_type.text


def test_an_unknown_token_is_401_json(surface: Surface) -> None:
    answer = surface.call("users/get_current_account", token="sl.nope")
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {
        "error_summary": "invalid_access_token/..",
        "error": {".tag": "invalid_access_token"},
    }


def test_route_errors_are_409_with_tags(surface: Surface) -> None:
    missing = surface.call("files/get_metadata", {"path": "/nowhere"})
    assert missing.status_code == 409
    assert missing.json() == {
        "error_summary": "path/not_found/..",
        "error": {".tag": "path", "path": {".tag": "not_found"}},
    }
    conflict = surface.upload("/hello.txt", b"different")
    assert conflict.status_code == 409
    assert conflict.json()["error"] == {
        ".tag": "path",
        "reason": {".tag": "conflict", "conflict": {".tag": "file"}},
        "upload_session_id": "",
    }
    under_a_file = surface.call("files/create_folder_v2", {"path": "/hello.txt/inside"})
    assert under_a_file.json()["error_summary"] == "path/conflict/file_ancestor/.."
    moved_away = surface.call("files/move_v2", {"from_path": "/gone", "to_path": "/there"})
    assert moved_away.json()["error"] == {".tag": "from_lookup", "from_lookup": {".tag": "not_found"}}


def test_every_answer_carries_a_request_id(surface: Surface) -> None:
    assert surface.call("users/get_current_account").headers["x-dropbox-request-id"]
    assert surface.call("files/get_metadata", {"path": "/nowhere"}).headers["x-dropbox-request-id"]


def test_root_spellings_dropbox_refuses(surface: Surface) -> None:
    assert surface.call("files/list_folder", {"path": "/"}).status_code == 400
    assert surface.call("files/get_metadata", {"path": ""}).status_code == 400


def test_download_takes_its_argument_in_a_header_and_answers_metadata_in_one(surface: Surface) -> None:
    uploaded = surface.upload("/Été/naïve.txt", "café\n".encode()).json()
    answer = surface.api.post(
        "/2/files/download",
        headers={"Authorization": f"Bearer {TOKEN}", "Dropbox-API-Arg": json.dumps({"path": uploaded["id"]})},
    )
    assert answer.status_code == 200
    assert answer.content == "café\n".encode()
    assert answer.headers["dropbox-api-result"].isascii()
    assert json.loads(answer.headers["dropbox-api-result"])["path_display"] == "/Été/naïve.txt"


def test_a_wrong_content_hash_writes_nothing(surface: Surface) -> None:
    answer = surface.upload("/checked.txt", b"data", content_hash="0" * 64)
    assert answer.json()["error"] == {".tag": "content_hash_mismatch"}
    assert surface.call("files/get_metadata", {"path": "/checked.txt"}).status_code == 409


def test_a_deleted_path_is_described_when_asked(surface: Surface) -> None:
    surface.ok("files/delete_v2", {"path": "/hello.txt"})
    deleted = surface.ok("files/get_metadata", {"path": "/hello.txt", "include_deleted": True})
    assert deleted == {
        ".tag": "deleted",
        "name": "hello.txt",
        "path_lower": "/hello.txt",
        "path_display": "/hello.txt",
    }


# -- cursors -----------------------------------------------------------------------------------
def test_continue_gives_each_changed_path_once_at_its_latest_state(surface: Surface) -> None:
    cursor = surface.ok("files/list_folder/get_latest_cursor", {"path": ""})["cursor"]
    surface.upload("/draft.txt", b"one")
    surface.upload("/draft.txt", b"two", mode="overwrite")
    surface.ok("files/delete_v2", {"path": "/draft.txt"})
    surface.ok("files/move_v2", {"from_path": "/Photos", "to_path": "/Pictures"})

    changes = surface.ok("files/list_folder/continue", {"cursor": cursor})
    tags = {e["path_lower"]: e[".tag"] for e in changes["entries"]}
    assert tags == {"/draft.txt": "deleted", "/photos": "deleted", "/pictures": "folder"}
    assert changes["has_more"] is False


def test_a_recursive_cursor_sees_deep_changes_and_a_flat_one_does_not(surface: Surface) -> None:
    flat = surface.ok("files/list_folder/get_latest_cursor", {"path": "/Documents"})["cursor"]
    deep = surface.ok("files/list_folder/get_latest_cursor", {"path": "/Documents", "recursive": True})
    surface.upload("/Documents/Contracts/new.pdf", b"%PDF")
    assert surface.ok("files/list_folder/continue", {"cursor": flat})["entries"] == []
    [entry] = surface.ok("files/list_folder/continue", {"cursor": deep["cursor"]})["entries"]
    assert entry["path_display"] == "/Documents/Contracts/new.pdf"


def test_a_limit_pages_the_listing_and_the_changes(surface: Surface) -> None:
    first = surface.ok("files/list_folder", {"path": "/Documents", "limit": 4})
    pages, seen = 1, [e["path_lower"] for e in first["entries"]]
    cursor, more = first["cursor"], first["has_more"]
    while more:
        page = surface.ok("files/list_folder/continue", {"cursor": cursor})
        pages, cursor, more = pages + 1, page["cursor"], page["has_more"]
        seen += [e["path_lower"] for e in page["entries"]]
    assert (sorted(seen), pages) == (sorted(set(seen)), 2)
    assert len(seen) == 6

    latest = surface.ok("files/list_folder/get_latest_cursor", {"path": "/Documents", "limit": 2})["cursor"]
    for name in ("a", "b", "c"):
        surface.ok("files/create_folder_v2", {"path": f"/Documents/{name}"})
    one = surface.ok("files/list_folder/continue", {"cursor": latest})
    two = surface.ok("files/list_folder/continue", {"cursor": one["cursor"]})
    assert [e["name"] for e in one["entries"]] == ["a", "b"] and one["has_more"] is True
    assert [e["name"] for e in two["entries"]] == ["c"] and two["has_more"] is False


def test_another_accounts_cursor_is_refused(surface: Surface) -> None:
    cursor = surface.ok("files/list_folder", {"path": ""})["cursor"]
    refused = surface.call("files/list_folder/continue", {"cursor": cursor}, token=surface.token_for("bob"))
    assert refused.status_code == 400
    assert 'Invalid "cursor" parameter' in refused.text
    garbage = surface.call("files/list_folder/continue", {"cursor": "AAAA-not-a-cursor"})
    assert garbage.status_code == 400


def test_a_cursor_from_before_a_reset_answers_reset(surface: Surface) -> None:
    cursor = surface.ok("files/list_folder", {"path": ""})["cursor"]
    assert surface.http.post("/_emulator/reset").status_code == 200
    stale = surface.call("files/list_folder/continue", {"cursor": cursor})
    assert stale.status_code == 409
    assert stale.json() == {"error_summary": "reset/..", "error": {".tag": "reset"}}
    longpoll = surface.api.post("/2/files/list_folder/longpoll", json={"cursor": cursor, "timeout": 30})
    assert longpoll.json()["error"] == {".tag": "reset"}


# -- longpoll ----------------------------------------------------------------------------------
def test_a_longpoll_without_changes_in_its_scope_answers_false_at_its_timeout(surface: Surface) -> None:
    cursor = surface.ok("files/list_folder/get_latest_cursor", {"path": "/Photos"})["cursor"]
    surface.upload("/elsewhere.txt", b"not in /Photos")
    started = time.monotonic()
    # No Authorization: Dropbox's longpoll is authenticated by its cursor alone.
    answer = surface.api.post("/2/files/list_folder/longpoll", json={"cursor": cursor, "timeout": 1})
    assert answer.json() == {"changes": False}
    assert time.monotonic() - started >= 0.9


def test_a_longpoll_answers_true_promptly_after_a_hub_call(surface: Surface) -> None:
    instance = provision(surface.http)
    cursor = surface.ok("files/list_folder/get_latest_cursor", {"path": ""})["cursor"]
    answers: list[httpx.Response] = []

    def poll() -> None:
        body = {"cursor": cursor, "timeout": 60}
        answers.append(surface.api.post("/2/files/list_folder/longpoll", json=body, timeout=70))

    waiting = start_longpoll(surface.server, poll)
    started = time.monotonic()
    made = surface.http.post(
        "/elements/api-v2/hubs/documents/folders",
        json={"path": "/Hub Folder"},
        headers=hub_auth(instance["token"]),
    )
    assert made.status_code == 200, made.text
    waiting.join(10)
    assert answers and answers[0].json() == {"changes": True}
    assert time.monotonic() - started < 5


def test_a_waiting_longpoll_does_not_hold_up_a_stop() -> None:
    server = ServerThread(load_runtime(DEFAULT_FIXTURE), dropbox_api_port=0).start()
    assert server.dropbox_ca_file is not None
    trust = ssl.create_default_context(cafile=server.dropbox_ca_file)
    with httpx.Client(base_url=f"https://{server.dropbox_api_host}", verify=trust, trust_env=False) as api:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        cursor = api.post("/2/files/list_folder/get_latest_cursor", json={"path": ""}, headers=headers)
        answers: list[httpx.Response] = []
        body = {"cursor": cursor.json()["cursor"], "timeout": 480}
        waiting = start_longpoll(
            server, lambda: answers.append(api.post("/2/files/list_folder/longpoll", json=body))
        )
        ca_file = Path(server.dropbox_ca_file)
        started = time.monotonic()
        server.stop()
        waiting.join(5)
    assert time.monotonic() - started < 5
    assert not server.thread.is_alive()
    assert answers and answers[0].json() == {"changes": False}
    assert not ca_file.exists()


def start_longpoll(server: ServerThread, poll: Callable[[], object]) -> threading.Thread:
    """Runs `poll` in a thread and returns once its longpoll listens on alice's account (bounded wait)."""
    store = server.runtime.state.tenants["default"].provider.account("alice").store
    listening = len(store.listeners)
    waiting = threading.Thread(target=poll)
    waiting.start()
    deadline = time.monotonic() + 5
    while len(store.listeners) == listening:
        assert time.monotonic() < deadline, "the longpoll never started waiting"
        time.sleep(0.01)
    return waiting
