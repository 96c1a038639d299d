"""The official Dropbox SDK against the emulator's Dropbox API, over real HTTPS, agreeing with the hub."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import dropbox
import dropbox.dropbox_client
import httpx
import pytest
from dropbox.exceptions import ApiError, AuthError
from dropbox.files import DeletedMetadata, FileMetadata, FolderMetadata, WriteMode

from emulator.assemble import state_seed
from emulator.loading import load_fixture
from emulator.runtime import Runtime
from emulator.server import ServerThread
from tests.conftest import DEFAULT_FIXTURE, ROOT, RecordingSender, hub_auth, provision

HOOK = "http://receiver.test/hook"
TOKEN = "alice-dropbox-token"  # the fixture's token for alice
HOSTS = ("API_HOST", "API_CONTENT_HOST", "API_NOTIFICATION_HOST")
# requests prefers these to a session's own CA file (psf/requests#3829): unset, `ca_certs` is obeyed.
CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


@dataclass
class Emulated:
    server: ServerThread
    runtime: Runtime
    sender: RecordingSender
    http: httpx.Client

    @property
    def host(self) -> str:
        assert self.server.dropbox_api_host is not None
        return self.server.dropbox_api_host

    @property
    def ca_file(self) -> str:
        assert self.server.dropbox_ca_file is not None
        return self.server.dropbox_ca_file

    def hub(self, instance: dict[str, Any], method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = hub_auth(instance["token"])
        return self.http.request(method, f"/elements/api-v2/hubs/documents{path}", headers=headers, **kwargs)


@pytest.fixture(scope="module")
def emulated() -> Iterator[Emulated]:
    sender = RecordingSender()
    runtime = Runtime(state_seed(load_fixture(DEFAULT_FIXTURE)), source=str(DEFAULT_FIXTURE), sender=sender)
    server = ServerThread(runtime, dropbox_api_port=0).start()
    with httpx.Client(base_url=server.url, trust_env=False) as http:
        yield Emulated(server, runtime, sender, http)
    server.stop()


@pytest.fixture(autouse=True)
def fresh(emulated: Emulated) -> None:
    assert emulated.http.post("/_emulator/reset").status_code == 200
    emulated.sender.received.clear()


@pytest.fixture
def dbx(emulated: Emulated, monkeypatch: pytest.MonkeyPatch) -> Iterator[dropbox.Dropbox]:
    """The SDK as the README sets it up; the hosts are patched since the SDK reads them at import."""
    for name in CA_BUNDLE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name in HOSTS:
        monkeypatch.setattr(dropbox.dropbox_client, name, emulated.host)
    with dropbox.Dropbox(TOKEN, ca_certs=emulated.ca_file, max_retries_on_error=0) as client:
        yield client


def hub_listing(emulated: Emulated, instance: dict[str, Any], path: str) -> set[tuple[str, str, str]]:
    answer = emulated.hub(instance, "GET", "/folders/contents", params={"path": path or "/"})
    assert answer.status_code == 200, answer.text
    return {(d["name"], d["path"], d["refId"]) for d in answer.json()}


def sdk_view(entries: list[Any]) -> set[tuple[str, str, str]]:
    return {(e.name, e.path_display, e.id) for e in entries}


# -- the calls ---------------------------------------------------------------------------------
def test_upload_then_list_in_pages_agrees_with_the_hub(emulated: Emulated, dbx: dropbox.Dropbox) -> None:
    instance = provision(emulated.http)
    uploaded = dbx.files_upload(b"made with the SDK\n", "/SDK/Notes.txt")
    assert isinstance(uploaded, FileMetadata)
    assert (uploaded.path_display, uploaded.size) == ("/SDK/Notes.txt", 18)

    page = dbx.files_list_folder("", limit=2)
    entries = list(page.entries)
    while page.has_more:
        page = dbx.files_list_folder_continue(page.cursor)
        entries += page.entries
    assert len(entries) > 2
    assert sdk_view(entries) == hub_listing(emulated, instance, "/")
    assert "/SDK" in {e.path_display for e in entries}
    assert dbx.files_list_folder_continue(page.cursor).entries == []


def test_continue_reports_a_move_and_a_delete(emulated: Emulated, dbx: dropbox.Dropbox) -> None:
    instance = provision(emulated.http)
    cursor = dbx.files_list_folder("/Documents", recursive=True).cursor
    dbx.files_move_v2("/Documents/notes.txt", "/Documents/Contracts/Notes (old).txt")
    dbx.files_delete_v2("/Documents/Archive")

    changes = dbx.files_list_folder_continue(cursor)
    by_path = {e.path_lower: e for e in changes.entries}
    assert set(by_path) == {
        "/documents/notes.txt",
        "/documents/archive",
        "/documents/contracts/notes (old).txt",
    }
    assert isinstance(by_path["/documents/notes.txt"], DeletedMetadata)
    assert isinstance(by_path["/documents/archive"], DeletedMetadata)
    moved = by_path["/documents/contracts/notes (old).txt"]
    assert isinstance(moved, FileMetadata)
    assert (moved.name, moved.path_display) in {
        (name, path) for name, path, _ in hub_listing(emulated, instance, "/Documents/Contracts")
    }
    assert "Archive" not in {name for name, _, _ in hub_listing(emulated, instance, "/Documents")}


def test_download_gives_the_content_and_its_metadata(dbx: dropbox.Dropbox) -> None:
    written = dbx.files_upload("Ünïcödé ✓\n".encode(), "/Été/Ça va.txt")
    metadata, response = dbx.files_download("/été/ÇA VA.txt")
    assert response.content == "Ünïcödé ✓\n".encode()
    assert (metadata.id, metadata.rev, metadata.path_display) == (written.id, written.rev, "/Été/Ça va.txt")
    assert metadata.content_hash == written.content_hash


def test_get_metadata_and_create_folder(dbx: dropbox.Dropbox) -> None:
    made = dbx.files_create_folder_v2("/Projects/New").metadata
    assert isinstance(made, FolderMetadata)
    found = dbx.files_get_metadata("/projects/new")
    assert isinstance(found, FolderMetadata)
    assert (found.id, found.path_display) == (made.id, "/Projects/New")


def test_copy_keeps_the_original(dbx: dropbox.Dropbox) -> None:
    copied = dbx.files_copy_v2("/hello.txt", "/Photos/hello copy.txt").metadata
    _, original = dbx.files_download("/hello.txt")
    _, copy = dbx.files_download(copied.path_display)
    assert copy.content == original.content


def test_overwrite_and_update_modes(dbx: dropbox.Dropbox) -> None:
    first = dbx.files_upload(b"one", "/modes.txt")
    second = dbx.files_upload(b"two", "/modes.txt", mode=WriteMode.update(first.rev))
    assert (second.id, second.path_display) == (first.id, "/modes.txt")
    # An edit made on a stale rev is kept beside the file, as Dropbox keeps a losing edit.
    stale = dbx.files_upload(b"three", "/modes.txt", mode=WriteMode.update(first.rev), autorename=True)
    assert stale.path_display == "/modes (conflicted copy).txt"
    third = dbx.files_upload(b"four", "/modes.txt", mode=WriteMode.overwrite)
    assert third.id == first.id and third.rev != second.rev


# -- the errors --------------------------------------------------------------------------------
def test_missing_path_is_a_lookup_error(dbx: dropbox.Dropbox) -> None:
    with pytest.raises(ApiError) as missing:
        dbx.files_get_metadata("/no/such/file.txt")
    assert missing.value.error.is_path() and missing.value.error.get_path().is_not_found()
    with pytest.raises(ApiError) as delete_missing:
        dbx.files_delete_v2("/nothing here")
    assert delete_missing.value.error.get_path_lookup().is_not_found()
    with pytest.raises(ApiError) as download_folder:
        dbx.files_download("/Documents")
    assert download_folder.value.error.get_path().is_not_file()


def test_conflicts_are_write_errors(dbx: dropbox.Dropbox) -> None:
    with pytest.raises(ApiError) as upload_conflict:
        dbx.files_upload(b"not the same", "/hello.txt")
    reason = upload_conflict.value.error.get_path().reason
    assert reason.is_conflict() and reason.get_conflict().is_file()
    with pytest.raises(ApiError) as folder_conflict:
        dbx.files_create_folder_v2("/documents")
    assert folder_conflict.value.error.get_path().get_conflict().is_folder()
    with pytest.raises(ApiError) as move_conflict:
        dbx.files_move_v2("/hello.txt", "/README.md")
    assert move_conflict.value.error.get_to().get_conflict().is_file()


def test_an_unknown_token_is_an_auth_error(emulated: Emulated, dbx: dropbox.Dropbox) -> None:
    with (
        dropbox.Dropbox("not-a-token", ca_certs=emulated.ca_file) as stranger,
        pytest.raises(AuthError) as denied,
    ):
        stranger.users_get_current_account()
    assert denied.value.error.is_invalid_access_token()
    account = dbx.users_get_current_account()
    assert (account.email, account.name.display_name) == ("alice@example.com", "Alice Example")


# -- the full loop and the longpoll -------------------------------------------------------------
def test_a_file_uploaded_with_the_sdk_gives_the_guides_webhook(
    emulated: Emulated, dbx: dropbox.Dropbox
) -> None:
    settings = {"event.notification.enabled": "true", "event.notification.callback.url": HOOK}
    instance = provision(emulated.http, **settings)
    dbx.files_upload(b"hello webhook\n", "/Inbox/From SDK.txt")

    waited = emulated.http.get("/_emulator/deliveries/wait", params={"count": 1, "timeout": 10})
    assert waited.status_code == 200, waited.text
    [body] = emulated.sender.bodies(HOOK)
    assert body["instanceId"] == instance["id"]
    assert body["response"]["events"] == [
        {"path": "/inbox", "metadata": {"path": "/Inbox", "name": "Inbox", "type": "folder"}},
        {
            "path": "/inbox/from sdk.txt",
            "metadata": {"path": "/Inbox/From SDK.txt", "name": "From SDK.txt", "type": "file"},
        },
    ]


def test_longpoll_answers_promptly_after_a_hub_call(emulated: Emulated, dbx: dropbox.Dropbox) -> None:
    instance = provision(emulated.http)
    cursor = dbx.files_list_folder_get_latest_cursor("/Projects").cursor
    store = emulated.runtime.state.tenants["default"].provider.account("alice").store
    listening = len(store.listeners)
    answers: list[Any] = []
    poll = threading.Thread(target=lambda: answers.append(dbx.files_list_folder_longpoll(cursor, timeout=30)))
    poll.start()
    wait_until(lambda: len(store.listeners) > listening)  # the longpoll is waiting on the account

    started = time.monotonic()
    made = emulated.hub(instance, "POST", "/folders", json={"path": "/Projects/From the hub"})
    assert made.status_code == 200, made.text
    poll.join(10)
    assert answers and answers[0].changes is True
    assert time.monotonic() - started < 5
    assert [e.name for e in dbx.files_list_folder_continue(cursor).entries] == ["From the hub"]


def wait_until(condition: Any, timeout: float = 5.0) -> None:
    """A bounded wait for another thread to reach a state (not for emulated time)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_the_sdk_configured_by_environment_variables(emulated: Emulated) -> None:
    """The README's way: the hosts in the environment before the SDK is imported, `ca_certs` given."""
    script = (
        "import dropbox, json, sys\n"
        "dbx = dropbox.Dropbox(sys.argv[1], ca_certs=sys.argv[2])\n"
        "print(json.dumps(sorted(e.name for e in dbx.files_list_folder('').entries)))\n"
    )
    environment = {k: v for k, v in os.environ.items() if k not in CA_BUNDLE_VARIABLES}
    environment.update(
        DROPBOX_API_HOST=emulated.host,
        DROPBOX_API_CONTENT_HOST=emulated.host,
        DROPBOX_API_NOTIFY_HOST=emulated.host,
    )
    done = subprocess.run(
        [sys.executable, "-c", script, TOKEN, emulated.ca_file],
        env=environment,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "hello.txt" in json.loads(done.stdout)


def test_the_python_api_turns_the_surface_on_for_the_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    from emulator import Emulator

    for name in CA_BUNDLE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with Emulator.start(dropbox_api=True) as emu:
        assert emu.dropbox_api_host is not None and emu.dropbox_ca_file is not None
        for name in HOSTS:
            monkeypatch.setattr(dropbox.dropbox_client, name, emu.dropbox_api_host)
        with dropbox.Dropbox(TOKEN, ca_certs=emu.dropbox_ca_file, max_retries_on_error=0) as dbx:
            dbx.files_upload(b"from the SDK", "/Inbox/sdk.txt")
            names = {e.name for e in dbx.files_list_folder("/Inbox").entries}
        assert names == {"sdk.txt"}
        tree = emu.dropbox("alice").tree()  # the same account, seen through the control plane
        assert "/inbox/sdk.txt" in str(tree).lower()
    with Emulator.start() as plain:
        assert plain.dropbox_api_host is None
