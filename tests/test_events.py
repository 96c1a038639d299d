"""Events: changes at Dropbox become the guide's callbacks; retries, queues, polling, signatures."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from emulator.domain.provider.store import Store
from emulator.runtime import Runtime
from tests.conftest import PLATFORM_AUTH, RecordingSender, provision

HOOK = "http://receiver.test/hook"


def at_dropbox(client: TestClient, runtime: Runtime, action: str, *args: Any, account: str = "alice") -> Any:
    """A change made "at Dropbox": straight on the account's store, on the server's own loop."""
    store: Store = runtime.state.tenants["default"].provider.account(account).store
    return client.portal.call(lambda: getattr(store, action)(*args))  # type: ignore[union-attr]


def wait(client: TestClient, count: int, **filters: Any) -> list[dict[str, Any]]:
    answer = client.get("/_emulator/deliveries/wait", params={"count": count, "timeout": 10, **filters})
    assert answer.status_code == 200, answer.text
    deliveries: list[dict[str, Any]] = answer.json()["deliveries"]
    return deliveries


def subscribe(client: TestClient, **config: str) -> dict[str, Any]:
    settings = {"event.notification.enabled": "true", "event.notification.callback.url": HOOK, **config}
    return provision(client, **settings)


def test_change_at_dropbox_gives_the_guides_webhook(
    events_client: TestClient, events_runtime: Runtime, sender: RecordingSender
) -> None:
    instance = subscribe(events_client)
    at_dropbox(events_client, events_runtime, "mkdir", "/TestFolderCreate")
    wait(events_client, 1)
    [body] = sender.bodies(HOOK)
    assert list(body) == ["eventId", "instanceId", "response", "notificationId"]
    assert body["instanceId"] == instance["id"]
    assert body["response"] == {
        "events": [
            {
                "path": "/testfoldercreate",
                "metadata": {"path": "/TestFolderCreate", "name": "TestFolderCreate", "type": "folder"},
            }
        ]
    }
    assert isinstance(body["eventId"], int) and isinstance(body["notificationId"], int)


def test_signature_verifies_with_an_independent_hmac(
    events_client: TestClient, events_runtime: Runtime, sender: RecordingSender
) -> None:
    subscribe(events_client, **{"event.notification.signature.key": "s3cret"})
    at_dropbox(events_client, events_runtime, "upload", "/signed.txt", b"hello")
    wait(events_client, 1)
    [(_, headers, raw)] = sender.received
    expected = base64.b64encode(hmac.new(b"s3cret", raw, hashlib.sha256).digest()).decode()
    assert headers["Elements-Webhook-Signature"] == f"sha256={expected}"
    assert headers["Content-Type"] == "application/json"
    assert headers["Elements-Webhook-Id"] == str(json.loads(raw)["notificationId"])


def test_callback_headers_speak_the_instances_dialect(
    events_client: TestClient, events_runtime: Runtime, sender: RecordingSender
) -> None:
    provision(
        events_client,
        "your_moms",
        **{
            "event.notification.enabled": "true",
            "event.notification.callback.url": HOOK,
            "event.notification.signature.key": "k",
        },
    )
    at_dropbox(events_client, events_runtime, "mkdir", "/x")
    wait(events_client, 1)
    headers = sender.received[0][1]
    assert "Your_moms-Webhook-Id" in headers and "Your_moms-Webhook-Signature" in headers


def test_failing_three_times_then_recovering_delivers_on_the_fourth_try(
    events_client: TestClient, events_runtime: Runtime, sender: RecordingSender
) -> None:
    subscribe(events_client)
    sender.fail(HOOK, 500, 503, None)
    at_dropbox(events_client, events_runtime, "mkdir", "/Retried")
    for tries, delay in enumerate((4, 16, 64), start=1):
        finished = events_client.get("/_emulator/deliveries/wait", params={"attempts": tries, "timeout": 10})
        assert finished.status_code == 200
        retry_at = finished.json()["deliveries"][0]["attempts"][-1]["startedAt"] + delay
        clock = events_client.get("/_emulator/clock").json()
        assert clock["nextDue"] == retry_at  # 4^k seconds after the failed try
        assert events_client.post("/_emulator/clock/advance", json={"seconds": delay}).status_code == 200
    [delivered] = wait(events_client, 1)
    assert [a["tryNumber"] for a in delivered["attempts"]] == [1, 2, 3, 4]
    assert [a["outcome"] for a in delivered["attempts"]] == ["failed", "failed", "failed", "delivered"]
    bodies = {body for _, _, body in sender.received}
    assert len(bodies) == 1  # every try sent the very same bytes, same notificationId


def test_queue_policy_loses_nothing_and_redelivers(
    events_client: TestClient, events_runtime: Runtime, sender: RecordingSender
) -> None:
    events_runtime.state.organizations[1].failure_policy = "queue"
    subscribe(events_client)
    sender.fail(HOOK, 500)
    at_dropbox(events_client, events_runtime, "mkdir", "/First")
    wait(events_client, 1, status="queued")
    at_dropbox(events_client, events_runtime, "mkdir", "/Second")
    queued = wait(events_client, 2, status="queued")
    listed = events_client.get(
        "/elements/api-v2/notifications/subscriptions/deliveries", headers=PLATFORM_AUTH
    )
    assert [n["notificationId"] for n in listed.json()] == [n["notificationId"] for n in queued]
    redelivered = events_client.put(
        "/elements/api-v2/notifications/subscriptions/deliveries", headers=PLATFORM_AUTH
    )
    assert redelivered.json() == {"redelivered": 2}
    delivered = wait(events_client, 2)
    paths = [n["body"]["response"]["events"][0]["path"] for n in delivered]
    assert paths == ["/first", "/second"]
    assert (
        events_client.get(
            "/elements/api-v2/notifications/subscriptions/deliveries", headers=PLATFORM_AUTH
        ).json()
        == []
    )


def test_polling_instance_is_told_at_its_tick_in_batches_of_ten(
    events_client: TestClient, events_runtime: Runtime, sender: RecordingSender
) -> None:
    instance = subscribe(
        events_client, **{"event.vendor.type": "polling", "event.poller.refresh_interval": "15"}
    )
    for n in range(12):
        at_dropbox(events_client, events_runtime, "upload", f"/poll/{n:02}.txt", b"x")
    events_client.post("/_emulator/clock/advance", json={"minutes": 14})
    assert events_client.get("/_emulator/deliveries", params={"instanceId": instance["id"]}).json() == []
    events_client.post("/_emulator/clock/advance", json={"minutes": 1})
    delivered = wait(events_client, 2, instanceId=instance["id"])
    sizes = [len(n["body"]["response"]["events"]) for n in delivered]
    assert sizes == [10, 3]  # the /poll folder and 12 files, one event split in two notifications
    assert len({n["eventId"] for n in delivered}) == 1


def test_one_operation_gives_one_event_split_by_twenty(
    events_client: TestClient, events_runtime: Runtime, sender: RecordingSender
) -> None:
    for n in range(44):
        at_dropbox(events_client, events_runtime, "upload", f"/Big/{n:02}.txt", b"x")
    subscribe(events_client)
    at_dropbox(events_client, events_runtime, "copy", "/Big", "/Big copy")
    delivered = wait(events_client, 3)
    assert [len(n["body"]["response"]["events"]) for n in delivered] == [20, 20, 5]
    assert len({n["eventId"] for n in delivered}) == 1
    first = delivered[0]["body"]["response"]["events"][0]
    assert first == {
        "path": "/big copy",
        "metadata": {"path": "/Big copy", "name": "Big copy", "type": "folder"},
    }


def test_events_api_reports_statuses(
    events_client: TestClient, events_runtime: Runtime, sender: RecordingSender
) -> None:
    instance = subscribe(events_client)
    at_dropbox(events_client, events_runtime, "mkdir", "/Seen")
    wait(events_client, 1)
    listed = events_client.get(
        f"/elements/api-v2/instances/{instance['id']}/events", headers=PLATFORM_AUTH
    ).json()
    assert [e["status"] for e in listed] == ["NOTIFIED"]
    event_id = listed[0]["id"]
    one = events_client.get(f"/elements/api-v2/instances/events/{event_id}", headers=PLATFORM_AUTH).json()
    assert one["notifiedData"]["events"][0]["path"] == "/seen"
    assert set(one) >= {"id", "eventDate", "status", "providerData", "notifiedData"}
    everything = events_client.get("/your_moms/api-v2/instances/events", headers=PLATFORM_AUTH).json()
    assert [e["id"] for e in everything] == [event_id]


def test_disabled_or_eventless_instances_get_nothing(
    events_client: TestClient, events_runtime: Runtime, sender: RecordingSender
) -> None:
    provision(events_client)  # events not enabled
    instance = subscribe(events_client)
    events_client.delete(f"/elements/api-v2/instances/{instance['id']}/enabled", headers=PLATFORM_AUTH)
    at_dropbox(events_client, events_runtime, "mkdir", "/Quiet")
    events_client.put(f"/elements/api-v2/instances/{instance['id']}/enabled", headers=PLATFORM_AUTH)
    at_dropbox(events_client, events_runtime, "mkdir", "/Heard")
    [delivered] = wait(events_client, 1)
    assert delivered["body"]["response"]["events"][0]["path"] == "/heard"


def test_provider_webhook_intake(events_client: TestClient) -> None:
    challenge = events_client.get("/elements/api-v2/events/dropbox", params={"challenge": "abc123"})
    assert challenge.status_code == 200
    assert challenge.text == "abc123"
    assert challenge.headers["content-type"].startswith("text/plain")
    body = {
        "list_folder": {"accounts": ["dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc"]},
        "delta": {"users": [1]},
    }
    assert events_client.post("/elements/api-v2/events/dropbox", json=body).status_code == 200
    assert events_client.post("/elements/api-v2/events/dropbox", json={"x": 1}).status_code == 400


@pytest.mark.parametrize("action", ["fail", "refuse"])
def test_injected_failures_are_journaled_and_retried(
    events_client: TestClient, events_runtime: Runtime, sender: RecordingSender, action: str
) -> None:
    subscribe(events_client)
    answer = events_client.post(
        "/_emulator/faults", json={"url": HOOK, "action": action, "count": 1, "status": 502}
    )
    assert answer.status_code == 201
    at_dropbox(events_client, events_runtime, "mkdir", "/Faulty")
    events_client.post("/_emulator/clock/advance", json={"seconds": 4})
    [delivered] = wait(events_client, 1)
    assert [a["fault"] for a in delivered["attempts"]] == [action, None]
    assert len(sender.received) == 1  # the injected failure never reached the receiver


def test_bad_fault_is_refused(events_client: TestClient) -> None:
    answer = events_client.post("/_emulator/faults", json={"action": "explode"})
    assert answer.status_code == 400
    assert answer.json()["error"] == "bad_request"
    assert events_client.get("/_emulator/faults").json() == []


def test_standard_webhooks_headers_verify_with_the_standardwebhooks_package(sender: RecordingSender) -> None:
    from standardwebhooks.webhooks import Webhook

    from emulator.assemble import state_seed
    from emulator.loading import load_fixture
    from emulator.runtime import RuntimeOptions
    from emulator.web.app import create_app
    from tests.conftest import DEFAULT_FIXTURE

    secret = "whsec_" + base64.b64encode(b"a secret of thirty-two bytes....").decode()
    runtime = Runtime(
        state_seed(load_fixture(DEFAULT_FIXTURE)),
        options=RuntimeOptions(standard_webhooks=True),
        sender=sender,
    )
    with TestClient(create_app(runtime), follow_redirects=False) as client:
        subscribe(client, **{"event.notification.signature.key": secret})
        at_dropbox(client, runtime, "mkdir", "/Signed")
        [delivered] = wait(client, 1)
    [(_, headers, raw)] = sender.received
    Webhook(secret).verify(raw, headers)  # raises if the id, timestamp or signature is off
    assert headers["webhook-id"] == f"msg_{delivered['notificationId']}"
    assert delivered["attempts"][0]["outcome"] == "delivered"
    with pytest.raises(Exception, match="signature"):
        Webhook(secret).verify(raw + b" ", headers)
