"""Saved state (export, import, --state across a restart), replays, on-demand triggers, fixture hot reload."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from starlette.testclient import TestClient

from tests.conftest import (
    DEFAULT_FIXTURE,
    PLATFORM_AUTH,
    RecordingSender,
    hub_auth,
    provision,
    provision_by_side_channel,
)
from tests.serving import Served, serving

HOOK = "http://receiver.test/hook"
ALICE_OPERATIONS = "/_emulator/providers/dropbox/accounts/alice/operations"
EVENTS = {"event.notification.enabled": "true", "event.notification.callback.url": HOOK}


def operate(client: TestClient, op: dict[str, Any], account: str = "alice") -> Any:
    answer = client.post(f"/_emulator/providers/dropbox/accounts/{account}/operations", json=op)
    assert answer.status_code == 200, answer.text
    return answer.json()


def wait(client: TestClient, count: int, **filters: Any) -> list[dict[str, Any]]:
    answer = client.get("/_emulator/deliveries/wait", params={"count": count, "timeout": 10, **filters})
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["deliveries"]
    return found


def test_export_then_import_restores_everything(events_client: TestClient) -> None:
    instance = provision(events_client, **EVENTS)
    operate(events_client, {"op": "mkdir", "path": "/Kept"})
    wait(events_client, 1)
    exported = events_client.get("/_emulator/state").json()
    events_client.post("/_emulator/reset")
    assert events_client.get("/elements/api-v2/instances", headers=PLATFORM_AUTH).json() == []
    assert events_client.put("/_emulator/state", json=exported).status_code == 200
    again = events_client.get(f"/elements/api-v2/instances/{instance['id']}", headers=PLATFORM_AUTH).json()
    assert again["token"] == instance["token"]
    tree = events_client.get("/_emulator/providers/dropbox/accounts/alice/tree").json()
    assert "/kept" in json.dumps(tree).lower()
    assert events_client.get("/_emulator/state").json() == exported


def test_bad_state_is_refused_and_changes_nothing(events_client: TestClient) -> None:
    provision(events_client)
    before = events_client.get("/_emulator/state").json()
    for bad in ({"format": "nope"}, {**before, "instances": [{"id": "x"}]}, {**before, "version": 99}):
        answer = events_client.put("/_emulator/state", json=bad)
        assert answer.status_code == 400, bad
        assert answer.json()["error"] == "bad_request"
    assert (
        events_client.put(
            "/_emulator/state", content=b"{{{", headers={"Content-Type": "application/json"}
        ).status_code
        == 400
    )
    assert events_client.get("/_emulator/state").json() == before


def test_yaml_export_reads_back(events_client: TestClient) -> None:
    provision(events_client)
    exported = events_client.get("/_emulator/state", params={"format": "yaml"})
    assert exported.headers["content-type"].startswith("application/yaml")
    answer = events_client.put(
        "/_emulator/state", content=exported.content, headers={"Content-Type": "application/yaml"}
    )
    assert answer.status_code == 200


def test_replay_resends_the_same_bytes(events_client: TestClient, sender: RecordingSender) -> None:
    provision(events_client, **EVENTS)
    operate(events_client, {"op": "mkdir", "path": "/Once"})
    [first] = wait(events_client, 1)
    answer = events_client.post(f"/_emulator/notifications/{first['notificationId']}/replay")
    assert answer.status_code == 201
    wait(events_client, 2)
    assert len(sender.received) == 2
    assert sender.received[0][2] == sender.received[1][2]
    assert events_client.post("/_emulator/notifications/999999/replay").status_code == 404


def test_trigger_with_events_given(events_client: TestClient, sender: RecordingSender) -> None:
    instance = provision(events_client, **EVENTS)
    answer = events_client.post(
        f"/_emulator/instances/{instance['id']}/trigger", json={"events": [{"path": "/Made/Up.txt"}]}
    )
    assert answer.status_code == 201, answer.text
    wait(events_client, 1)
    [body] = sender.bodies()
    assert body["response"]["events"] == [
        {"path": "/made/up.txt", "metadata": {"path": "/Made/Up.txt", "name": "Up.txt", "type": "file"}}
    ]
    assert body["eventId"] in answer.json()["eventIds"]


def test_trigger_with_a_real_change_tells_a_polling_instance_now(
    events_client: TestClient, sender: RecordingSender
) -> None:
    instance = provision(events_client, **EVENTS, **{"event.vendor.type": "polling"})
    answer = events_client.post(
        f"/_emulator/instances/{instance['id']}/trigger", json={"op": {"op": "mkdir", "path": "/Now"}}
    )
    assert answer.status_code == 201, answer.text
    [delivered] = wait(events_client, 1)
    assert delivered["body"]["response"]["events"][0]["path"] == "/now"
    assert answer.json()["metadata"]["path_display"] == "/Now"


def test_trigger_refuses_bad_bodies_and_unknown_instances(events_client: TestClient) -> None:
    instance = provision(events_client)  # no callback URL
    assert (
        events_client.post(
            f"/_emulator/instances/{instance['id']}/trigger", json={"events": [{"path": "/a"}]}
        ).status_code
        == 400
    )
    assert (
        events_client.post("/_emulator/instances/9999/trigger", json={"events": [{"path": "/a"}]}).status_code
        == 404
    )
    subscribed = provision(events_client, **EVENTS)
    for bad in ({}, {"events": []}, {"events": [{"nopath": 1}]}, {"op": {"op": "explode", "path": "/x"}}):
        assert (
            events_client.post(f"/_emulator/instances/{subscribed['id']}/trigger", json=bad).status_code
            == 400
        )


@contextmanager
def served_client(*args: str) -> Iterator[tuple[Served, httpx.Client]]:
    with serving(*args) as server, httpx.Client(base_url=server.url, trust_env=False) as http:
        yield server, http


def _provision_over_http(http: httpx.Client, hook: str) -> dict[str, Any]:
    return provision_by_side_channel(http, hook, name="saved")


def test_state_file_survives_a_restart_with_next_ids_and_nothing_resent(tmp_path: Path) -> None:
    state_file = tmp_path / "emulator.state.json"
    with served_client("--clock", "manual", "--state", str(state_file)) as (server, http):
        # Callbacks to a path that answers 404: they fail and stay pending across the restart.
        instance = _provision_over_http(http, f"{server.url}/_emulator/health-nothing-here")
        http.post(ALICE_OPERATIONS, json={"op": "mkdir", "path": "/A"})
        first = http.get("/_emulator/deliveries/wait", params={"attempts": 1, "timeout": 10}).json()
        notification_id = first["deliveries"][0]["notificationId"]
    assert state_file.exists()
    with served_client("--clock", "manual", "--state", str(state_file)) as (server, http):
        got = http.get(f"/elements/api-v2/instances/{instance['id']}", headers=hub_auth(instance["token"]))
        assert got.status_code == 200
        pending = http.get("/_emulator/deliveries", params={"status": "pending"}).json()
        assert [n["notificationId"] for n in pending] == [notification_id]
        http.post(ALICE_OPERATIONS, json={"op": "mkdir", "path": "/B"})
        everything = http.get("/_emulator/deliveries").json()
        assert [n["notificationId"] for n in everything] == [notification_id, notification_id + 1]


def test_watch_rebuilds_state_when_the_fixture_changes(tmp_path: Path) -> None:
    fixture = tmp_path / "fixture.yaml"
    shutil.copy(DEFAULT_FIXTURE, fixture)
    shutil.copytree(DEFAULT_FIXTURE.parent / "content", tmp_path / "content")
    with served_client("--watch", "--fixtures", str(fixture)) as (server, http):
        assert http.get("/_emulator/health").json()["fixtureGeneration"] == 1
        fixture.write_text(fixture.read_text().replace("seed: 42", "seed: 43"))
        assert _wait_for_generation(http, 2) == 2
        fixture.write_text("organizations: nope\n")
        report: list[str] = []
        while not any("is invalid: the previous state is kept" in line for line in report):
            report.append(server.read_line())  # the server logs the problems, then this
            assert len(report) < 50, report
        assert http.get("/_emulator/health").json()["fixtureGeneration"] == 2
        assert http.get("/elements/api-v2/instances", headers=PLATFORM_AUTH).status_code == 200


def _wait_for_generation(http: httpx.Client, wanted: int) -> int:
    """The watcher runs on real file events: poll health, bounded, until it has reloaded."""
    import time

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        generation: int = http.get("/_emulator/health").json()["fixtureGeneration"]
        if generation >= wanted:
            return generation
        time.sleep(0.05)
    return -1


def test_two_tenants_side_by_side_never_see_each_other(events_client: TestClient) -> None:
    first = events_client.post("/_emulator/tenants").json()
    second = events_client.post("/_emulator/tenants").json()

    def tree(tenant: dict[str, Any]) -> set[tuple[str, str, str | None]]:
        """What a user sees of the account (ids are new in every fresh copy, so they are left out)."""
        url = "/_emulator/providers/dropbox/accounts/alice/tree"
        entries = events_client.get(url, params={"tenant": tenant["id"]}).json()["entries"]
        return {(e["path_display"], e[".tag"], e.get("content_hash")) for e in entries}

    def auth(tenant: dict[str, Any]) -> dict[str, str]:
        return {"Authorization": f"User {tenant['userSecret']}, Organization {tenant['organizationSecret']}"}

    second_before = tree(second)
    operations = "/_emulator/providers/dropbox/accounts/alice/operations"
    made = events_client.post(
        operations, params={"tenant": first["id"]}, json={"op": "mkdir", "path": "/Mine"}
    )
    assert made.status_code == 200
    assert ("/Mine", "folder", None) in tree(first)
    assert tree(second) == second_before
    assert events_client.get("/elements/api-v2/instances", headers=auth(second)).json() == []
    events_client.post(operations, params={"tenant": second["id"]}, json={"op": "mkdir", "path": "/Theirs"})
    first_before = tree(first)
    assert events_client.post(f"/_emulator/tenants/{second['id']}/reset").status_code == 200
    assert tree(second) == second_before
    assert tree(first) == first_before
    default = events_client.get("/_emulator/providers/dropbox/accounts/alice/tree").json()
    assert "/mine" not in json.dumps(default).lower() and "/theirs" not in json.dumps(default).lower()
