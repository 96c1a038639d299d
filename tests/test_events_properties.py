"""Property: for any operations and failures, each subscribed instance gets each change once, in order."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator.assemble import state_seed
from emulator.domain.delivery import DeliveryEngine
from emulator.domain.errors import DomainError
from emulator.domain.platform.events import EventService
from emulator.domain.platform.tenants import Caller
from emulator.domain.state import EmulatorState
from emulator.loading import load_fixture
from tests.conftest import DEFAULT_FIXTURE

SEED = state_seed(load_fixture(DEFAULT_FIXTURE))
NAMES = st.sampled_from(["a", "B", "Été", "c.txt", "D.TXT", "日本"])
PATHS = st.lists(NAMES, min_size=1, max_size=3).map(lambda parts: "/" + "/".join(parts))
OPERATIONS = st.one_of(
    st.tuples(st.just("mkdir"), PATHS),
    st.tuples(st.just("upload"), PATHS, st.binary(max_size=8)),
    st.tuples(st.just("delete"), PATHS),
    st.tuples(st.just("move"), PATHS, PATHS),
    st.tuples(st.just("copy"), PATHS, PATHS),
)
# Per instance: (vendor type, callback url); two instances share a URL to mix their queues.
SUBSCRIBERS = [("webhook", "http://a.test/"), ("webhook", "http://b.test/"), ("polling", "http://b.test/")]


def build() -> tuple[EmulatorState, DeliveryEngine, list[int]]:
    state = EmulatorState(SEED)
    engine = DeliveryEngine(state.clock)
    EventService(state, engine)
    org = state.organizations[1]
    caller = Caller(org, org.users[0])
    connector = state.connector("dropbox")
    ids = []
    for vendor, url in SUBSCRIBERS:
        config = {
            "event.notification.enabled": "true",
            "event.notification.callback.url": url,
            "event.vendor.type": vendor,
            "event.poller.refresh_interval": "1",
        }
        instance = state._create_instance(caller, connector, "elements", "alice", "p", [], config)
        ids.append(instance.id)
    return state, engine, ids


def pump(engine: DeliveryEngine, failures: list[bool], sent: list[tuple[int, bytes, bool]]) -> None:
    """Play the transport: answer each due attempt, failing while the drawn pattern says so."""
    while engine.ready_destinations():
        for url in engine.ready_destinations():
            attempt = engine.next_attempt(url)
            if attempt is None:
                continue
            fail = failures.pop(0) if failures else False
            sent.append((attempt.notification_id, attempt.request_body, not fail))
            engine.complete(
                attempt, status_code=500 if fail else 200, error=None, latency_ms=1.0, response_snippet=None
            )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    operations=st.lists(OPERATIONS, max_size=15),
    failures=st.lists(st.booleans(), max_size=9),  # below the retry budget: nothing deactivated
    ticks=st.lists(st.integers(min_value=0, max_value=90), max_size=15),
)
def test_each_instance_gets_each_change_once_in_order(
    operations: list[tuple[Any, ...]], failures: list[bool], ticks: list[int]
) -> None:
    state, engine, instance_ids = build()
    store = state.tenants["default"].provider.account("alice").store
    start = store.cursor()
    sent: list[tuple[int, bytes, bool]] = []
    for step, (action, *args) in enumerate(operations):
        with contextlib.suppress(DomainError):  # refused operations change nothing, notify nothing
            getattr(store, action)(*args)
        pump(engine, failures, sent)
        state.clock.advance(ticks[step] if step < len(ticks) else 0)
        pump(engine, failures, sent)
    # Let every retry and poll fall due (failures stop once the drawn pattern is used up).
    for _ in range(12):
        state.clock.advance(4.0**9)
        pump(engine, failures, sent)

    expected = [(c.path_lower, c.tag) for c in store.changes_since(start)]
    first_body: dict[int, bytes] = {}
    delivered_ids: list[int] = []
    for notification_id, body, ok in sent:
        assert first_body.setdefault(notification_id, body) == body  # retries are byte-identical
        if ok:
            delivered_ids.append(notification_id)
    assert len(delivered_ids) == len(set(delivered_ids))  # each delivered exactly once
    for instance_id in instance_ids:
        received = [
            (e["path"], e["metadata"]["type"])
            for n in delivered_ids
            for body in [json.loads(first_body[n])]
            if body["instanceId"] == instance_id
            for e in body["response"]["events"]
        ]
        assert received == expected
    assert engine.queued() == []
