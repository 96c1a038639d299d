"""What the OpenAPI fuzzer (tests/test_fuzz_openapi.py) found, kept as plain regression tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from emulator.assemble import state_seed
from emulator.loading import load_fixture
from emulator.runtime import Runtime, RuntimeOptions
from emulator.web.app import create_app, route_table
from emulator.web.openapi import openapi_document
from tests.conftest import DEFAULT_FIXTURE, RecordingSender, hub_auth, provision

HOOK = "http://receiver.test/hook"
DAY = 24 * 3600.0
JOB_SECONDS = 100 * DAY


@pytest.fixture
def slow_jobs() -> Iterator[TestClient]:
    """Async jobs that take 100 days of emulator time; callbacks recorded, never sent."""
    options = RuntimeOptions(job_duration=JOB_SECONDS)
    runtime = Runtime(state_seed(load_fixture(DEFAULT_FIXTURE)), options=options, sender=RecordingSender())
    with TestClient(create_app(runtime), follow_redirects=False) as client:
        yield client


def _polling(client: TestClient) -> dict[str, object]:
    return provision(
        client,
        **{
            "event.notification.enabled": "true",
            "event.notification.callback.url": HOOK,
            "event.vendor.type": "polling",
            "event.poller.refresh_interval": "15",
        },
    )


def test_a_clock_jump_of_centuries_runs_few_timers(client: TestClient) -> None:
    """A polling instance ticks every 15 minutes: a jump of 500 years used to run 17 million ticks."""
    _polling(client)
    answer = client.post("/_emulator/clock/advance", json={"hours": 500 * 365 * 24})
    assert answer.status_code == 200, answer.text
    assert answer.json()["timersRun"] < 10


def test_a_change_during_a_long_jump_is_told_at_the_tick_after_it(slow_jobs: TestClient) -> None:
    instance = _polling(slow_jobs)
    start = slow_jobs.get("/_emulator/clock").json()["now"]
    headers = {**hub_auth(str(instance["token"])), "Elements-Async-Request": "true"}
    answer = slow_jobs.post(
        "/elements/api-v2/hubs/documents/folders", params={"path": "/Later"}, headers=headers
    )
    assert answer.status_code == 200, answer.text
    slow_jobs.post("/_emulator/clock/advance", json={"hours": 365 * 24})
    polled = [n for n in slow_jobs.get("/_emulator/deliveries").json() if n["kind"] == "polling"]
    assert len(polled) == 1
    # The job ran 100 days in; the poller's next 15-minute tick after that told of it.
    assert polled[0]["createdAt"] == start + JOB_SECONDS + 15 * 60
    assert polled[0]["body"]["response"]["events"][0]["path"] == "/later"


@pytest.mark.parametrize(
    "body",
    [
        {"hours": 10_000 * 365 * 24},
        {"seconds": 1e300},
    ],
)
def test_the_clock_cannot_go_past_year_9999(client: TestClient, body: dict[str, float]) -> None:
    before = client.get("/_emulator/clock").json()
    answer = client.post("/_emulator/clock/advance", json=body)
    assert answer.status_code == 400 and answer.json()["error"] == "bad_request"
    assert client.get("/_emulator/clock").json() == before


@pytest.mark.parametrize("body", [{"now": 1e300}, {"now": 253402300800}, {"mode": "real", "scale": 1e300}])
def test_setting_the_clock_out_of_range_is_refused(client: TestClient, body: dict[str, object]) -> None:
    before = client.get("/_emulator/clock").json()
    answer = client.post("/_emulator/clock", json=body)
    assert answer.status_code == 400, answer.text
    assert client.get("/_emulator/clock").json() == before


def test_a_fault_status_must_be_an_http_status_whatever_the_action(client: TestClient) -> None:
    for action in ("refuse", "delay", "fail"):
        answer = client.post("/_emulator/faults", json={"action": action, "status": 600})
        assert answer.status_code == 400, answer.text
    assert client.get("/_emulator/faults").json() == []


@pytest.mark.parametrize(
    "query", ["format=false", "format=xml", "format=yaml&format=nope", "format=nope&format="]
)
def test_an_unknown_export_format_is_refused(client: TestClient, query: str) -> None:
    answer = client.get(f"/_emulator/state?{query}")
    assert answer.status_code == 400 and answer.json()["error"] == "bad_request"


def test_link_settings_are_checked_even_when_the_link_exists(client: TestClient) -> None:
    auth = hub_auth(provision(client)["token"])
    links = "/elements/api-v2/hubs/documents/files/links"
    assert client.get(links, params={"path": "/hello.txt"}, headers=auth).status_code == 200
    answer = client.get(links, params={"path": "/hello.txt", "visibility": "true"}, headers=auth)
    assert answer.status_code == 400
    assert set(answer.json()) == {"requestId", "message", "providerMessage"}


def test_every_operation_of_the_emulated_api_documents_its_answers() -> None:
    """The fuzzer checks answers against these schemas: an operation without one would check nothing."""
    document = openapi_document(route_table())
    undocumented = [
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        if path.startswith(("/elements/", "/your_moms/"))
        for method, operation in item.items()
        if set(operation["responses"]) <= {"2XX", "default"}
    ]
    assert undocumented == []


@pytest.mark.parametrize("path", ["/_emulator/clock/advance", "/_emulator/clock"])
def test_a_json_null_body_is_no_object(client: TestClient, path: str) -> None:
    before = client.get("/_emulator/clock").json()
    answer = client.post(path, content=b"null", headers={"Content-Type": "application/json"})
    assert answer.status_code == 400 and answer.json()["error"] == "bad_request"
    assert client.get("/_emulator/clock").json() == before


@pytest.mark.parametrize("query", ["count=0", "count=-1", "attempts=0", "timeout=-1"])
def test_waiting_for_nothing_is_refused(client: TestClient, query: str) -> None:
    answer = client.get(f"/_emulator/deliveries/wait?{query}")
    assert answer.status_code == 400 and answer.json()["error"] == "bad_request"


@pytest.mark.parametrize(
    "body",
    [
        {"list_folder": {"accounts": []}, "delta": ""},
        {"list_folder": ["dbid:x"]},
        {"list_folder": {"accounts": "dbid:x"}},
    ],
)
def test_a_provider_notification_of_the_wrong_shape_is_refused(client: TestClient, body: object) -> None:
    answer = client.post("/elements/api-v2/events/dropbox", json=body)
    assert answer.status_code == 400
    assert "list_folder" in answer.json()["message"]


@pytest.mark.parametrize(
    "path", ["/_emulator/providers/dropbox/accounts/alice/tokens", "/elements/api-v2/hubs/documents/folders"]
)
def test_a_json_null_where_a_body_may_be_left_out_is_refused(client: TestClient, path: str) -> None:
    headers = {"Content-Type": "application/json", **hub_auth(provision(client)["token"])}
    answer = client.post(path + "?path=/made-by-null", content=b"null", headers=headers)
    assert answer.status_code == 400 and "null" in answer.json()["message"]
    assert client.get("/_emulator/providers/dropbox/accounts/alice/tree").text.count("made-by-null") == 0


CHANGES = "/_emulator/providers/dropbox/accounts/{account}/changes"


@pytest.mark.parametrize(
    ("query", "value", "status"),
    [("cursor", "", 200), ("cursor", 0, 200), ("limit", "", 200), ("limit", 1, 200), ("limit", 0, 400)],
)
def test_the_changes_filters_are_documented_as_they_are_read(
    client: TestClient, query: str, value: str | int, status: int
) -> None:
    """`?cursor=` was answered 200 where the document allowed only an integer (the fuzzer's "schema-
    violating request accepted"), and `?limit=0` refused where it allowed 0: an empty filter is no
    filter, as everywhere in the control plane, and the document says what the handler reads."""
    answer = client.get(CHANGES.format(account="alice"), params={query: value})
    assert answer.status_code == status, answer.text
    operation = openapi_document(route_table())["paths"][CHANGES]["get"]
    (schema,) = [p["schema"] for p in operation["parameters"] if p["name"] == query]
    documented = any(
        (isinstance(value, str) and option["type"] == "string" and len(value) <= option["maxLength"])
        or (isinstance(value, int) and option["type"] == "integer" and value >= option["minimum"])
        for option in schema["anyOf"]
    )
    assert documented == (status == 200)


def _parameter_schema(path: str, method: str, name: str) -> dict[str, object]:
    operation = openapi_document(route_table())["paths"][path][method]
    (schema,) = [p["schema"] for p in operation["parameters"] if p["name"] == name]
    return dict(schema)


def _body_property(path: str, method: str, name: str) -> dict[str, object]:
    body = openapi_document(route_table())["paths"][path][method]["requestBody"]
    return dict(body["content"]["application/json"]["schema"]["properties"][name])


def test_an_empty_status_filter_is_no_filter(client: TestClient) -> None:
    """`GET /_emulator/deliveries?status=` was answered 200 where the document allowed none of ""."""
    answer = client.get("/_emulator/deliveries", params={"status": ""})
    assert answer.status_code == 200 and answer.json() == []
    assert client.get("/_emulator/deliveries", params={"status": "sent"}).status_code == 400
    assert "" in _parameter_schema("/_emulator/deliveries", "get", "status")["enum"]  # type: ignore[operator]


def test_a_fault_with_a_null_url_is_for_every_destination(client: TestClient) -> None:
    """`{"url": null}` was answered 201 where the document allowed only a string: null is as absent."""
    answer = client.post("/_emulator/faults", json={"action": "refuse", "url": None})
    assert answer.status_code == 201 and answer.json()["url"] is None
    assert client.post("/_emulator/faults", json={"action": "refuse", "url": 5}).status_code == 400
    assert _body_property("/_emulator/faults", "post", "url") == {"type": "string", "nullable": True}


TOKENS = "/_emulator/providers/dropbox/accounts/{account}/tokens"


@pytest.mark.parametrize("tenant", [5, True, ["default"], {"id": "default"}])
def test_a_token_for_a_tenant_that_is_no_string_is_refused(client: TestClient, tenant: object) -> None:
    """`{"tenant": 5}` issued a token for tenant "5" (404), `[]` and `{}` one for the default tenant."""
    before = client.get("/_emulator/state").json()
    answer = client.post(TOKENS.format(account="alice"), json={"tenant": tenant})
    assert answer.status_code == 400 and answer.json()["message"] == "tenant must be a string"
    assert client.get("/_emulator/state").json() == before


def test_a_token_with_a_null_tenant_is_for_the_default_tenant(client: TestClient) -> None:
    answer = client.post(TOKENS.format(account="alice"), json={"tenant": None})
    assert answer.status_code == 201 and answer.json()["tenant"] == "default"
    assert _body_property(TOKENS, "post", "tenant") == {"type": "string", "nullable": True}


FOLDERS = "/elements/api-v2/hubs/documents/folders"


@pytest.mark.parametrize("body_path", ["relative", "/a/../b", "/a\x00b"])
def test_a_malformed_body_path_is_refused_even_when_the_query_gives_the_path(
    client: TestClient, body_path: str
) -> None:
    """The query's path wins, and the body's went unread: `{"path": "relative"}` made a folder."""
    auth = hub_auth(provision(client)["token"])
    answer = client.post(FOLDERS, params={"path": "/Made"}, json={"path": body_path}, headers=auth)
    assert answer.status_code == 400, answer.text
    assert "/Made" not in client.get("/_emulator/providers/dropbox/accounts/alice/tree").text


def test_an_empty_body_path_is_no_path(client: TestClient) -> None:
    """`{"path": ""}` beside a query path was answered 200 where the document allowed only "/...";
    an empty path is no path in the body as in the query, and the document says so."""
    auth = hub_auth(provision(client)["token"])
    answer = client.post(FOLDERS, params={"path": "/Made"}, json={"path": ""}, headers=auth)
    assert answer.status_code == 200 and answer.json()["path"] == "/Made"
    assert _body_property(FOLDERS, "post", "path")["pattern"] == "^(/|$)"


def test_an_empty_page_size_is_the_default(client: TestClient) -> None:
    """`?pageSize=` was answered 200 (the default page) where the document allowed only an integer."""
    auth = hub_auth(provision(client)["token"])
    contents = FOLDERS + "/contents"
    answer = client.get(contents, params={"path": "/", "pageSize": ""}, headers=auth)
    assert answer.status_code == 200 and answer.json()
    assert client.get(contents, params={"path": "/", "pageSize": "0"}, headers=auth).status_code == 400
    empty = {"type": "string", "maxLength": 0}
    assert empty in _parameter_schema(contents, "get", "pageSize")["anyOf"]  # type: ignore[operator]


def test_null_fields_of_a_patch_are_absent_ones(client: TestClient) -> None:
    """`PATCH .../metadata` with `{"path": null, "tags": null}` was answered 200, unchanged, where the
    document allowed no null: the hub reads a null field as an absent one, and the document says so."""
    auth = hub_auth(provision(client)["token"])
    metadata = "/elements/api-v2/hubs/documents/files/%252Fhello.txt/metadata"
    answer = client.patch(metadata, json={"path": None, "tags": None, "name": None}, headers=auth)
    assert answer.status_code == 200 and answer.json()["path"] == "/hello.txt"
    documented = "/elements/api-v2/hubs/documents/files/{id}/metadata"
    for name in ("path", "name", "tags", "description"):
        assert _body_property(documented, "patch", name)["nullable"]


@pytest.mark.parametrize("name", [["a"], 5, {"x": 1}, True])
def test_a_patch_name_that_is_no_text_is_refused_without_a_path(client: TestClient, name: object) -> None:
    """`PATCH .../folders/metadata?path=/` with `{"name": [...]}` and no path was answered 200: the name
    was only read when a path came with it."""
    auth = hub_auth(provision(client)["token"])
    before = client.get("/_emulator/state").json()
    answer = client.patch(
        FOLDERS + "/metadata", params={"path": "/Documents"}, json={"name": name, "tags": ["x"]}, headers=auth
    )
    assert answer.status_code == 400 and answer.json()["message"] == "name must be a string"
    assert client.get("/_emulator/state").json() == before
