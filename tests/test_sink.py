"""The built-in callback sink records what it gets and answers as scripted; the failure policy route."""

from __future__ import annotations

import json

from starlette.testclient import TestClient

from emulator.runtime import Runtime

SINK = "/_emulator/sinks/hooks"


def test_sink_records_each_callback_with_its_headers_body_and_times(client: TestClient) -> None:
    body = json.dumps({"eventId": 7, "response": {"events": []}})
    answer = client.post(SINK, content=body, headers={"Content-Type": "application/json", "X-Id": "1"})
    assert answer.status_code == 200
    client.post(SINK, content=b"not json \xff")
    listed = client.get(SINK).json()
    assert listed["name"] == "hooks" and listed["count"] == 2
    first, second = listed["received"]
    assert first["body"] == {"eventId": 7, "response": {"events": []}}
    assert first["raw"] == body
    assert first["headers"]["x-id"] == "1"
    assert first["receivedDate"] == "2026-01-01T00:00:00Z"  # emulator time
    assert first["wallTime"] > 1_600_000_000  # wall time, for latency
    assert first["answered"] == 200 and [first["id"], second["id"]] == [1, 2]
    assert second["body"] is None and second["raw"].startswith("not json")


def test_scripted_statuses_are_answered_in_order_then_200(client: TestClient) -> None:
    scripted = client.put(SINK + "/script", json={"statuses": [500, 503]})
    assert scripted.json() == {"name": "hooks", "script": [500, 503]}
    assert [client.post(SINK, json={}).status_code for _ in range(3)] == [500, 503, 200]
    assert [r["answered"] for r in client.get(SINK).json()["received"]] == [500, 503, 200]


def test_a_bad_script_is_refused_and_changes_nothing(client: TestClient) -> None:
    for body in ({"statuses": [42]}, {"statuses": "500"}, {"status": [500]}, {"statuses": [True]}):
        answer = client.put(SINK + "/script", json=body)
        assert answer.status_code == 400, body
        assert answer.json()["error"] == "bad_request"
    assert client.post(SINK, json={}).status_code == 200


def test_delete_clears_a_sink_and_reset_clears_them_all(client: TestClient) -> None:
    client.post(SINK, json={})
    client.post("/_emulator/sinks/other", json={})
    assert client.get("/_emulator/sinks").json() == [
        {"name": "hooks", "count": 1},
        {"name": "other", "count": 1},
    ]
    assert client.delete(SINK).json() == {"cleared": 1}
    assert client.get(SINK).json()["count"] == 0
    client.post("/_emulator/reset")
    assert client.get("/_emulator/sinks").json() == []


def test_waiting_for_a_count_answers_408_with_what_came_when_it_times_out(client: TestClient) -> None:
    client.post(SINK, json={"n": 1})
    reached = client.get(SINK, params={"count": 1, "timeout": 5})
    assert reached.status_code == 200 and reached.json()["reached"] is True
    short = client.get(SINK, params={"count": 2, "timeout": 0.05})
    assert short.status_code == 408 and short.json()["count"] == 1
    assert client.get(SINK, params={"timeout": "soon"}).status_code == 400


def test_policy_route_sets_the_organizations_failure_policy(client: TestClient, runtime: Runtime) -> None:
    answer = client.put("/_emulator/organizations/1/policy", json={"policy": "queue"})
    assert answer.json() == {"id": 1, "policy": "queue"}
    assert runtime.state.organizations[1].failure_policy == "queue"
    assert client.put("/_emulator/organizations/1/policy", json={"policy": "drop"}).status_code == 400
    assert client.put("/_emulator/organizations/99/policy", json={"policy": "retry"}).status_code == 404
    client.post("/_emulator/reset")
    assert runtime.state.organizations[1].failure_policy == "retry"
