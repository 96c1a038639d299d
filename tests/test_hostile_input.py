"""Hostile input: each bad request gets a clear 4xx in the right error shape, and changes no state.

"No state change" is checked on the whole export (`GET /_emulator/state`), less the counter of
request ids: every answer, errors included, is handed a request id from the seeded generator.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from emulator.assemble import state_seed
from emulator.domain.state import InstanceSeed, Limits
from emulator.loading import load_fixture
from emulator.runtime import Runtime
from emulator.server import ServerThread
from emulator.web.app import create_app
from tests.conftest import DEFAULT_FIXTURE, PLATFORM_AUTH, hub_auth, instance_body, provision

API = "/elements/api-v2"
HUB = API + "/hubs/documents"
OPERATIONS = "/_emulator/providers/dropbox/accounts/alice/operations"
SMALL = Limits(max_upload_bytes=1000, max_body_bytes=2000)
RAW_TOKEN = "hostile-instance-token"


# -- helpers -----------------------------------------------------------------------------------
def exported(client: TestClient) -> dict[str, Any]:
    answer = client.get("/_emulator/state")
    assert answer.status_code == 200, answer.text
    state: dict[str, Any] = answer.json()
    state["ids"].pop("~request-id", None)
    return state


@contextmanager
def unchanged(client: TestClient) -> Iterator[None]:
    before = exported(client)
    yield
    assert exported(client) == before


def platform_error(answer: httpx.Response, status: int) -> dict[str, Any]:
    """The platform's error body, exactly: requestId and message, providerMessage at most besides."""
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    assert {"requestId", "message"} <= set(body) <= {"requestId", "message", "providerMessage"}, body
    assert all(isinstance(value, str) and value for value in body.values()), body
    assert "Traceback" not in answer.text
    return body


def control_error(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    assert isinstance(body["error"], str) and isinstance(body["message"], str), body
    return body


def small_runtime() -> Runtime:
    """The default fixture with small limits, and an instance whose token the raw requests know."""
    config = {
        "oauth.callback.url": "https://app.test/auth",
        "oauth.api.key": "fake_Dropbox_api_key",
        "oauth.api.secret": "fake_Dropbox_api_secret",
    }
    instance = InstanceSeed(1, 1, "alice", "hostile", token=RAW_TOKEN, configuration=config)
    seed = state_seed(load_fixture(DEFAULT_FIXTURE))._replace(limits=SMALL, instances=(instance,))
    return Runtime(seed, source=str(DEFAULT_FIXTURE))


@pytest.fixture
def token(client: TestClient) -> str:
    created: str = provision(client)["token"]
    return created


# -- malformed bodies --------------------------------------------------------------------------
NOT_JSON = [b"{", b"{'name': 1}", b"[1,]", b"\xff\xfe\x00", b'{"a": 1} trailing', b"\x00"]


@pytest.mark.parametrize("raw", NOT_JSON)
def test_invalid_json_is_a_400_on_the_api(client: TestClient, token: str, raw: bytes) -> None:
    json_type = {"Content-Type": "application/json"}
    with unchanged(client):
        platform_error(
            client.post(f"{API}/instances", content=raw, headers={**PLATFORM_AUTH, **json_type}), 400
        )
        answer = client.post(
            f"{HUB}/folders", params={"path": "/New"}, content=raw, headers={**hub_auth(token), **json_type}
        )
        platform_error(answer, 400)
        answer = client.patch(
            f"{HUB}/files/metadata",
            params={"path": "/hello.txt"},
            content=raw,
            headers={**hub_auth(token), **json_type},
        )
        platform_error(answer, 400)


@pytest.mark.parametrize("raw", NOT_JSON)
def test_invalid_json_is_a_400_on_the_control_plane(client: TestClient, raw: bytes) -> None:
    with unchanged(client):
        for path in ("/_emulator/clock/advance", OPERATIONS, "/_emulator/faults", "/_emulator/oauth/codes"):
            control_error(client.post(path, content=raw, headers={"Content-Type": "application/json"}), 400)
        control_error(client.put("/_emulator/state", content=raw), 400)


@pytest.mark.parametrize("content_type", ["application/xml", "multipart/form-data; boundary=x", "image/png"])
def test_a_json_route_refuses_other_content_types_with_415(
    client: TestClient, token: str, content_type: str
) -> None:
    body = b'{"path": "/New"}'
    with unchanged(client):
        answer = client.post(
            f"{HUB}/folders", content=body, headers={**hub_auth(token), "Content-Type": content_type}
        )
        platform_error(answer, 415)
        answer = client.post(
            f"{API}/instances", content=body, headers={**PLATFORM_AUTH, "Content-Type": content_type}
        )
        platform_error(answer, 415)
        answer = client.post(
            OPERATIONS, content=b'{"op": "mkdir", "path": "/New"}', headers={"Content-Type": content_type}
        )
        control_error(answer, 415)


def test_an_upload_must_be_multipart_with_a_file_part(client: TestClient, token: str) -> None:
    with unchanged(client):
        answer = client.post(
            f"{HUB}/files", params={"path": "/up.txt"}, json={"file": "x"}, headers=hub_auth(token)
        )
        platform_error(answer, 415)
        answer = client.post(
            f"{HUB}/files",
            params={"path": "/up.txt"},
            files={"other": ("a.txt", b"x")},
            headers=hub_auth(token),
        )
        platform_error(answer, 400)


# -- limits ------------------------------------------------------------------------------------
def test_bodies_and_uploads_over_the_limits_are_413() -> None:
    with TestClient(create_app(small_runtime()), follow_redirects=False) as client:
        token = provision(client)["token"]
        with unchanged(client):
            big = {"name": "x" * 3000}
            platform_error(client.post(f"{API}/instances", json=big, headers=PLATFORM_AUTH), 413)
            answer = client.post(
                f"{HUB}/folders", json={"path": "/a", "tags": ["t" * 3000]}, headers=hub_auth(token)
            )
            platform_error(answer, 413)
            upload = client.post(
                f"{HUB}/files",
                params={"path": "/big.bin"},
                files={"file": ("big.bin", b"x" * 1001)},
                headers=hub_auth(token),
            )
            assert platform_error(upload, 413)["providerMessage"] == "payload_too_large/"
            control_error(
                client.post(OPERATIONS, json={"op": "upload", "path": "/big.bin", "size": 1001}), 413
            )


def _raw_request(port: int, head: str, first_bytes: bytes) -> bytes:
    """Sends a request head and the first bytes of its body only; answers what the server said."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode("latin-1") + first_bytes)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer


@pytest.fixture(scope="module")
def small_server() -> Iterator[ServerThread]:
    server = ServerThread(small_runtime()).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("method", "path", "content_type"),
    [
        ("POST", f"{API}/instances", "application/json"),
        ("POST", f"{HUB}/files?path=/big.bin", "multipart/form-data; boundary=b"),
        ("POST", f"{HUB}/folders?path=/big", "application/json"),
        ("PUT", "/_emulator/state", "application/json"),
        ("POST", OPERATIONS, "application/json"),
    ],
)
def test_413_comes_before_the_body_is_read(
    small_server: ServerThread, method: str, path: str, content_type: str
) -> None:
    """A body declared at 10 GB gets its 413 at once: the server answers with 20 bytes of it sent."""
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
        f"Authorization: User dev-user-secret, Organization dev-org-secret, Element {RAW_TOKEN}\r\n"
        f"Content-Length: {10 * 1024**3}\r\n\r\n"
    )
    answer = _raw_request(small_server.server.port or 0, head, b'{"name": "' + b"x" * 10)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_a_chunked_body_is_cut_off_at_the_limit(small_server: ServerThread) -> None:
    head = (
        f"POST {API}/instances HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Authorization: User dev-user-secret, Organization dev-org-secret\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"x" * (SMALL.max_body_bytes + 1)
    answer = _raw_request(
        small_server.server.port or 0, head, f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_deeply_nested_json_is_a_400(client: TestClient, token: str) -> None:
    for deep in (b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000):
        with unchanged(client):
            headers = {**PLATFORM_AUTH, "Content-Type": "application/json"}
            platform_error(client.post(f"{API}/instances", content=deep, headers=headers), 400)
            headers = {**hub_auth(token), "Content-Type": "application/json"}
            platform_error(client.post(f"{HUB}/folders", content=deep, headers=headers), 400)
            control_error(
                client.post(OPERATIONS, content=deep, headers={"Content-Type": "application/json"}), 400
            )
            control_error(client.put("/_emulator/state", content=deep), 400)


def test_a_huge_query_string_is_refused(client: TestClient, token: str) -> None:
    huge = "x" * 40_000  # over the emulator's 32 KiB, under what the HTTP client itself allows
    with unchanged(client):
        platform_error(client.get(f"{HUB}/search", params={"text": huge}, headers=hub_auth(token)), 414)
        platform_error(
            client.post(f"{HUB}/folders", params={"path": "/" + huge}, headers=hub_auth(token)), 414
        )
        control_error(client.get("/_emulator/deliveries", params={"url": huge}), 414)
        control_error(
            client.post(OPERATIONS, params={"tenant": huge}, json={"op": "mkdir", "path": "/x"}), 414
        )


def test_a_huge_query_string_is_refused_by_the_server(small_server: ServerThread) -> None:
    port = small_server.server.port or 0
    head = f"GET /_emulator/deliveries?url={'x' * 200_000} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    answer = _raw_request(port, head, b"")
    assert answer[9:10] == b"4", answer[:200]  # a 4xx, whoever of uvicorn or the app says it


# -- Dropbox paths and names -----------------------------------------------------------------
BAD_PATHS = [
    "/a/../b",
    "/..",
    "/a/./b",
    "/a\x00b",
    "/a\x01b",
    "/a\x1fb",
    "/a\x7fb",
    "relative/path",
    "//double",
    "/trailing/",
    "/" + "n" * 256,
    "/ok/" + "n" * 256 + "/x",
]


@pytest.mark.parametrize("bad", BAD_PATHS)
def test_malformed_paths_are_400_everywhere(client: TestClient, token: str, bad: str) -> None:
    auth = hub_auth(token)
    with unchanged(client):
        for answer in (
            client.post(f"{HUB}/folders", params={"path": bad}, headers=auth),
            client.post(f"{HUB}/folders", json={"path": bad}, headers=auth),
            client.get(f"{HUB}/files/metadata", params={"path": bad}, headers=auth),
            client.post(f"{HUB}/files", params={"path": bad}, files={"file": ("a", b"x")}, headers=auth),
            client.post(f"{HUB}/files/copy", params={"path": "/hello.txt"}, json={"path": bad}, headers=auth),
            client.patch(
                f"{HUB}/files/metadata", params={"path": "/hello.txt"}, json={"path": bad}, headers=auth
            ),
            client.delete(f"{HUB}/folders", params={"path": bad}, headers=auth),
        ):
            assert platform_error(answer, 400)["providerMessage"] == "path/malformed_path/"
        control_error(client.post(OPERATIONS, json={"op": "mkdir", "path": bad}), 400)
        control_error(client.post(OPERATIONS, json={"op": "move", "path": "/hello.txt", "to": bad}), 400)


@pytest.mark.parametrize("raw_id", ["%2500", "%2501", "%2E%2E", "%252F..%252Fx", "%252Fa%2500b", "x" * 300])
def test_malformed_ids_are_400(client: TestClient, token: str, raw_id: str) -> None:
    with unchanged(client):
        answer = client.get(f"{HUB}/files/{raw_id}/metadata", headers=hub_auth(token))
        assert platform_error(answer, 400)["providerMessage"] == "path/malformed_path/"
        platform_error(client.delete(f"{HUB}/folders/{raw_id}", headers=hub_auth(token)), 400)


def test_names_at_the_limit_work_and_one_longer_is_refused(client: TestClient, token: str) -> None:
    longest = "n" * 255
    answer = client.post(f"{HUB}/folders", params={"path": "/" + longest}, headers=hub_auth(token))
    assert answer.status_code == 200, answer.text
    with unchanged(client):
        answer = client.post(f"{HUB}/folders", params={"path": "/" + longest + "n"}, headers=hub_auth(token))
        platform_error(answer, 400)


def test_unicode_spellings_of_one_name_are_one_entry(client: TestClient, token: str) -> None:
    composed, decomposed = "/Caf\u00e9", "/Cafe\u0301"
    auth = hub_auth(token)
    created = client.post(f"{HUB}/folders", params={"path": composed}, headers=auth)
    assert created.status_code == 200, created.text
    with unchanged(client):
        for spelling in (decomposed, decomposed.upper(), composed.lower()):
            answer = client.post(f"{HUB}/folders", params={"path": spelling}, headers=auth)
            platform_error(answer, 409)
            found = client.get(f"{HUB}/folders/metadata", params={"path": spelling}, headers=auth)
            assert found.json()["refId"] == created.json()["refId"]
        upload = client.post(
            f"{HUB}/files", params={"path": decomposed}, files={"file": ("x", b"x")}, headers=auth
        )
        platform_error(upload, 409)


# -- Authorization -----------------------------------------------------------------------------
BAD_AUTHORIZATIONS = [
    "",
    " ",
    "User",
    "User ",
    "User dev-user-secret",
    "Organization dev-org-secret",
    "User dev-user-secret, Organization",
    "User dev-user-secret Organization dev-org-secret",
    "User dev-user-secret, Organization wrong",
    "User wrong, Organization dev-org-secret",
    "User dev-user-secret, User dev-user-secret, Organization dev-org-secret",
    "Bearer dev-user-secret",
    "Basic ZGV2OmRldg==",
    "user: dev-user-secret; organization: dev-org-secret",
    "User dev-user-secret, Organization dev-org-secret, Element",
    "User dev-user-secret, Organization dev-org-secret, Element no-such-token",
    "User dev-user-secret, Organization dev-org-secret, Your_mom no-such-token",
    "Ünïcödé dev-user-secret",
    "User " + "x" * 10_000 + ", Organization dev-org-secret",
    ",,,",
]


@pytest.mark.parametrize("header", BAD_AUTHORIZATIONS)
def test_bad_or_partial_authorization_is_401(client: TestClient, token: str, header: str) -> None:
    with unchanged(client):
        headers = {"Authorization": header.encode("utf-8")}
        # The instances API reads only User and Organization: a token part there is no matter.
        names_a_token = "Element" in header or "Your_mom" in header
        for answer in (
            None if names_a_token else client.get(f"{API}/instances", headers=headers),
            None
            if names_a_token
            else client.post(f"{API}/instances", json=instance_body("x"), headers=headers),
            client.post(f"{HUB}/folders", params={"path": "/Sneaky"}, headers=headers),
            client.get(f"{HUB}/ping", headers=headers),
        ):
            if answer is not None:
                body = platform_error(answer, 401)
                assert "dev-org-secret" not in body["message"]


def test_no_authorization_at_all_is_401(client: TestClient, token: str) -> None:
    with unchanged(client):
        platform_error(client.get(f"{API}/instances"), 401)
        platform_error(client.delete(f"{HUB}/files", params={"path": "/hello.txt"}), 401)


# -- callback URLs -----------------------------------------------------------------------------
BAD_URLS = [
    "ftp://example.com/hook",
    "/relative/hook",
    "example.com/hook",
    "http://",
    "http:///path",
    "javascript:alert(1)",
    "file:///etc/passwd",
    "http://exa mple.com/",
    "http://example.com/\x00",
    "http://[::1/",
    " http://example.com/",
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_callback_urls_must_be_absolute_http(client: TestClient, token: str, url: str) -> None:
    instance_id = client.get(f"{API}/instances", headers=PLATFORM_AUTH).json()[0]["id"]
    events = {"event.notification.enabled": "true", "event.notification.callback.url": url}
    with unchanged(client):
        body = instance_body("unused-code", **events)
        platform_error(client.post(f"{API}/instances", json=body, headers=PLATFORM_AUTH), 400)
        patch = {"configuration": events}
        platform_error(client.patch(f"{API}/instances/{instance_id}", json=patch, headers=PLATFORM_AUTH), 400)
        if url == url.strip():  # HTTP drops the blanks around a header's value
            headers = {
                **hub_auth(token),
                "Elements-Async-Request": "true",
                "Elements-Async-Callback-Url": url,
            }
            platform_error(client.post(f"{HUB}/folders", params={"path": "/Async"}, headers=headers), 400)
        params = {"apiKey": "k", "apiSecret": "s", "callbackUrl": url}
        platform_error(client.get(f"{API}/elements/dropbox/oauth/url", params=params), 400)
