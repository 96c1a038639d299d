"""The delivery engine alone: order, retries, deactivation, queueing, faults, journal, snapshots."""

from __future__ import annotations

import json

import pytest

from emulator.domain.clock import Clock
from emulator.domain.delivery import (
    INTERRUPTED_ERROR,
    REFUSED_ERROR,
    Attempt,
    DeliveryEngine,
    FaultAction,
    FaultRule,
    Notification,
    Policy,
)
from emulator.domain.errors import Conflict, InvalidInput, NotFound

START = 1767225600.0
A = "http://a.test/hook"
B = "http://b.test/hook"
SCHEDULE = [4.0**k for k in range(1, 10)]  # waits before retries 1..9


def make_engine() -> tuple[Clock, DeliveryEngine]:
    clock = Clock(start=START)
    return clock, DeliveryEngine(clock)


def note(nid: int, url: str = A, *, instance_id: int = 1, policy: Policy = "retry") -> Notification:
    body = json.dumps({"notificationId": nid, "eventId": 100 + nid, "instanceId": instance_id}).encode()
    headers = {"Content-Type": "application/json", "Elements-Webhook-Id": str(nid)}
    return Notification(
        id=nid,
        instance_id=instance_id,
        event_id=100 + nid,
        url=url,
        body=body,
        headers=headers,
        kind="webhook",
        created_at=START,
        policy=policy,
    )


def answer(engine: DeliveryEngine, url: str = A, status: int = 200) -> Attempt:
    attempt = engine.next_attempt(url)
    assert attempt is not None, f"no attempt due for {url}"
    engine.complete(attempt, status_code=status, error=None, latency_ms=2.0, response_snippet="ok")
    return attempt


def refuse(engine: DeliveryEngine, url: str = A) -> Attempt:
    attempt = engine.next_attempt(url)
    assert attempt is not None
    engine.complete(
        attempt, status_code=None, error="connection refused", latency_ms=0.5, response_snippet=None
    )
    return attempt


def deliver_due(engine: DeliveryEngine, url: str = A) -> list[int]:
    """Answer 200 to everything due at `url`; the ids of the notifications the receiver got."""
    received = []
    while (attempt := engine.next_attempt(url)) is not None:
        engine.complete(attempt, status_code=200, error=None, latency_ms=1.0, response_snippet=None)
        received.append(attempt.notification_id)
    return received


def state_of(engine: DeliveryEngine, url: str = A) -> str:
    return next(s["state"] for s in engine.subscriptions() if s["url"] == url)


# -- order ------------------------------------------------------------------------------
def test_a_first_attempt_is_due_at_once_without_moving_the_clock() -> None:
    _, engine = make_engine()
    woken: list[str] = []
    engine.on_ready = woken.append
    engine.submit(note(1))
    assert woken == [A]
    assert engine.ready_destinations() == [A]
    attempt = engine.next_attempt(A)
    assert attempt is not None
    assert (attempt.notification_id, attempt.try_number, attempt.started_at) == (1, 1, START)
    assert attempt.outcome == "in_flight"


def test_one_destination_gets_its_notifications_one_at_a_time_in_order() -> None:
    _, engine = make_engine()
    for nid in (1, 2, 3):
        engine.submit(note(nid))
    first = engine.next_attempt(A)
    assert first is not None and first.notification_id == 1
    assert engine.next_attempt(A) is None  # the head is in flight: the next one waits
    engine.complete(first, status_code=204, error=None, latency_ms=1.0, response_snippet="")
    assert deliver_due(engine) == [2, 3]
    assert [n.status for n in engine.notifications()] == ["delivered"] * 3


def test_a_failing_destination_does_not_delay_another() -> None:
    _, engine = make_engine()
    engine.submit(note(1, A))
    engine.submit(note(2, A))
    engine.submit(note(3, B))
    engine.submit(note(4, B))
    refuse(engine, A)
    assert engine.next_attempt(A) is None  # waiting for its retry
    assert engine.ready_destinations() == [B]
    assert deliver_due(engine, B) == [3, 4]
    assert state_of(engine, A) == "retrying"
    assert state_of(engine, B) == "active"


def test_the_next_notification_is_announced_when_the_head_is_resolved() -> None:
    _, engine = make_engine()
    woken: list[str] = []
    engine.on_ready = woken.append
    engine.submit(note(1))
    engine.submit(note(2))  # not announced: the destination already has work due
    assert woken == [A]
    answer(engine)
    assert woken == [A, A]


# -- retries ----------------------------------------------------------------------------
def test_three_failures_then_success_on_the_fourth_try_after_4_16_64_seconds() -> None:
    clock, engine = make_engine()
    woken: list[str] = []
    engine.on_ready = woken.append
    engine.submit(note(1))
    answer(engine, status=500)
    for wait in (4.0, 16.0, 64.0):
        clock.advance(wait - 0.5)
        assert engine.next_attempt(A) is None, "a retry came early"
        clock.advance(0.5)
        assert engine.ready_destinations() == [A]
        answer(engine, status=503 if wait < 64 else 200)
    assert len(woken) == 4  # submit, then each retry timer
    attempts = engine.attempts(notification_id=1)
    assert [a.try_number for a in attempts] == [1, 2, 3, 4]
    assert [a.started_at - START for a in attempts] == [0.0, 4.0, 20.0, 84.0]
    assert [a.outcome for a in attempts] == ["failed", "failed", "failed", "delivered"]
    assert {a.notification_id for a in attempts} == {1}
    assert all(a.request_body == attempts[0].request_body for a in attempts)
    assert all(a.request_headers == attempts[0].request_headers for a in attempts)
    assert engine.notification(1).status == "delivered"


def test_a_retry_waits_while_later_notifications_of_the_destination_hold_back() -> None:
    clock, engine = make_engine()
    engine.submit(note(1))
    answer(engine, status=500)
    engine.submit(note(2))
    assert engine.next_attempt(A) is None
    clock.advance(4)
    assert deliver_due(engine) == [1, 2]


def test_after_one_try_and_nine_failed_retries_the_subscription_is_deactivated() -> None:
    clock, engine = make_engine()
    engine.submit(note(1))
    engine.submit(note(2))
    refuse(engine)
    for wait in SCHEDULE:
        assert engine.subscriptions()[0]["next_retry_at"] == clock.now() + wait
        clock.advance(wait)
        refuse(engine)
    assert len(engine.attempts(notification_id=1)) == 10
    assert state_of(engine) == "deactivated"
    assert clock.next_due() is None  # no more retries scheduled
    engine.submit(note(3))
    assert engine.next_attempt(A) is None
    assert [n.id for n in engine.queued()] == [1, 2, 3]
    assert {n.status for n in engine.queued()} == {"queued"}
    assert engine.attempts(notification_id=2) == []  # never attempted


def test_the_last_retry_waits_four_to_the_ninth_seconds() -> None:
    clock, engine = make_engine()
    engine.submit(note(1))
    refuse(engine)
    for wait in SCHEDULE[:-1]:
        clock.advance(wait)
        refuse(engine)
    clock.advance(4.0**9 - 1)  # about 72.8 h
    assert engine.next_attempt(A) is None
    clock.advance(1)
    assert answer(engine).try_number == 10


def test_redeliver_reactivates_and_sends_the_queued_notifications_in_order_unchanged() -> None:
    clock, engine = make_engine()
    engine.submit(note(1))
    refuse(engine)
    for wait in SCHEDULE:
        clock.advance(wait)
        refuse(engine)
    engine.submit(note(2))
    engine.submit(note(3))
    bodies = {n.id: n.body for n in engine.queued()}
    assert engine.redeliver(url=A) == 3
    assert state_of(engine) == "active"
    assert engine.queued() == []
    received = []
    while (attempt := engine.next_attempt(A)) is not None:
        assert attempt.request_body == bodies[attempt.notification_id]
        engine.complete(attempt, status_code=200, error=None, latency_ms=1.0, response_snippet=None)
        received.append(attempt.notification_id)
    assert received == [1, 2, 3]
    assert engine.attempts(notification_id=1)[-1].try_number == 11  # same notification, next try


def test_a_redelivered_notification_gets_a_fresh_retry_budget() -> None:
    clock, engine = make_engine()
    engine.submit(note(1, policy="queue"))
    refuse(engine)
    engine.redeliver()
    refuse(engine)  # still policy "queue": queued again
    assert state_of(engine) == "queueing"
    engine.notification(1).policy = "retry"
    engine.redeliver()
    refuse(engine)
    assert engine.subscriptions()[0]["next_retry_at"] == clock.now() + 4


def test_redeliver_by_instance_leaves_other_instances_queued() -> None:
    _, engine = make_engine()
    engine.submit(note(1, instance_id=7, policy="queue"))
    engine.submit(note(2, instance_id=8, policy="queue"))
    engine.submit(note(3, instance_id=7, policy="queue"))
    refuse(engine)
    assert [n.id for n in engine.queued(instance_id=7)] == [1, 3]
    assert engine.redeliver(instance_id=7) == 2
    assert deliver_due(engine) == [1, 3]
    assert [n.id for n in engine.queued()] == [2]
    assert engine.redeliver(instance_id=99) == 0


# -- the "queue" policy -----------------------------------------------------------------
def test_queue_policy_queues_on_the_first_failure_and_loses_nothing() -> None:
    clock, engine = make_engine()
    for nid in (1, 2):
        engine.submit(note(nid, policy="queue"))
    answer(engine, status=500)
    assert state_of(engine) == "queueing"
    assert clock.next_due() is None  # no retries under this policy
    engine.submit(note(3, policy="queue"))
    assert engine.next_attempt(A) is None
    assert [(n.id, n.status) for n in engine.queued(url=A)] == [(1, "queued"), (2, "queued"), (3, "queued")]
    assert engine.redeliver() == 3
    assert deliver_due(engine) == [1, 2, 3]
    delivered = [a.notification_id for a in engine.attempts(outcome="delivered")]
    assert delivered == [1, 2, 3]


def test_subscriptions_report_state_and_counts() -> None:
    _, engine = make_engine()
    engine.submit(note(1, A))
    engine.submit(note(2, A))
    engine.submit(note(3, B, policy="queue"))
    engine.next_attempt(A)
    refuse(engine, B)
    by_url = {s["url"]: s for s in engine.subscriptions()}
    assert by_url[A]["state"] == "active" and by_url[A]["pending"] == 2 and by_url[A]["in_flight"]
    assert by_url[B]["state"] == "queueing" and by_url[B]["queued"] == 1 and by_url[B]["pending"] == 0


# -- faults -----------------------------------------------------------------------------
def test_fail_fault_fails_without_sending_then_the_retry_goes_out() -> None:
    clock, engine = make_engine()
    engine.add_fault(FaultRule(url=A, action="fail", status=503))
    engine.submit(note(1))
    assert engine.next_attempt(A) is None  # played by the engine, nothing for the transport
    (failed,) = engine.attempts()
    assert (failed.outcome, failed.status_code, failed.fault) == ("failed", 503, "fail")
    assert engine.faults() == []  # used up
    clock.advance(4)
    assert answer(engine).fault is None


def test_refuse_fault_looks_like_a_refused_connection() -> None:
    _, engine = make_engine()
    engine.add_fault(FaultRule(url=None, action="refuse"))
    engine.submit(note(1, policy="queue"))
    assert engine.next_attempt(A) is None
    (attempt,) = engine.attempts()
    assert (attempt.status_code, attempt.error, attempt.fault) == (None, REFUSED_ERROR, "refuse")
    assert state_of(engine) == "queueing"


def test_delay_fault_is_carried_to_the_transport() -> None:
    _, engine = make_engine()
    engine.add_fault(FaultRule(url=A, action="delay", delay_ms=250))
    engine.submit(note(1))
    attempt = answer(engine)
    assert (attempt.fault, attempt.delay_ms, attempt.outcome) == ("delay", 250, "delivered")


def test_drop_fault_loses_the_notification_in_transit_and_moves_on() -> None:
    _, engine = make_engine()
    engine.add_fault(FaultRule(url=A, action="drop"))
    engine.submit(note(1))
    engine.submit(note(2))
    assert deliver_due(engine) == [2]  # the receiver never sees 1
    assert engine.notification(1).status == "dropped"
    (dropped,) = engine.attempts(outcome="dropped")
    assert (dropped.notification_id, dropped.fault) == (1, "drop")


def test_duplicate_fault_sends_the_same_notification_twice() -> None:
    _, engine = make_engine()
    engine.add_fault(FaultRule(url=A, action="duplicate"))
    engine.submit(note(1))
    engine.submit(note(2))
    assert deliver_due(engine) == [1, 1, 2]
    first, second = engine.attempts(notification_id=1)
    assert first.try_number == second.try_number == 1
    assert first.request_body == second.request_body and first.request_headers == second.request_headers
    assert first.fault == second.fault == "duplicate"
    assert engine.notification(1).status == "delivered"


def test_duplicate_of_a_failed_try_is_one_failure() -> None:
    clock, engine = make_engine()
    engine.add_fault(FaultRule(url=A, action="duplicate"))
    engine.submit(note(1))
    answer(engine, status=500)
    answer(engine, status=500)
    assert engine.subscriptions()[0]["failures"] == 1
    clock.advance(4)
    assert answer(engine).try_number == 2


def test_reorder_fault_swaps_the_head_with_the_next_notification() -> None:
    _, engine = make_engine()
    engine.add_fault(FaultRule(url=A, action="reorder"))
    engine.submit(note(1))
    assert answer(engine).fault is None  # nothing to swap with: the rule waits
    engine.submit(note(2))
    engine.submit(note(3))
    assert deliver_due(engine) == [3, 2]
    assert engine.attempts(notification_id=3)[0].fault == "reorder"


def test_a_rule_with_count_zero_applies_until_cleared_and_only_to_its_destination() -> None:
    clock, engine = make_engine()
    engine.add_fault(FaultRule(url=A, action="fail", count=0))
    engine.submit(note(1, A))
    engine.submit(note(2, B))
    for wait in SCHEDULE[:3]:
        assert engine.next_attempt(A) is None
        clock.advance(wait)
    assert deliver_due(engine, B) == [2]
    (rule,) = engine.faults()
    assert (rule.used, rule.count) == (3, 0)
    assert engine.clear_faults(A) == 1
    assert deliver_due(engine, A) == [1]  # the fourth try, due now, goes out


def test_a_rule_with_a_count_applies_that_many_times() -> None:
    clock, engine = make_engine()
    engine.add_fault(FaultRule(url=A, action="fail", count=2))
    engine.submit(note(1))
    assert engine.next_attempt(A) is None
    clock.advance(4)
    assert engine.next_attempt(A) is None
    assert engine.faults() == []
    clock.advance(16)
    assert answer(engine).try_number == 3


@pytest.mark.parametrize(
    "rule",
    [
        {"action": "explode"},
        {"action": "fail", "status": 200},
        {"action": "fail", "status": 99},
        {"action": "delay", "delay_ms": -1},
        {"action": "drop", "count": -1},
    ],
)
def test_invalid_fault_rules_are_refused(rule: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        FaultRule(url=A, **rule)  # type: ignore[arg-type]


@pytest.mark.parametrize("action", ["fail", "refuse", "delay", "drop", "duplicate", "reorder"])
def test_every_applied_fault_is_journaled_and_heard_by_listeners(action: FaultAction) -> None:
    clock, engine = make_engine()
    heard: list[Attempt] = []
    engine.listeners.append(heard.append)
    engine.add_fault(FaultRule(url=A, action=action))
    engine.submit(note(1))
    engine.submit(note(2))
    deliver_due(engine)
    clock.advance(4)
    deliver_due(engine)
    assert action in {a.fault for a in engine.attempts()}
    assert heard == engine.attempts()
    assert all(a.outcome != "in_flight" for a in heard)


# -- journal ----------------------------------------------------------------------------
def test_journal_filters_notifications_and_attempts() -> None:
    clock, engine = make_engine()
    engine.submit(note(1, A, instance_id=7))
    engine.submit(note(2, B, instance_id=8))
    refuse(engine, A)
    clock.advance(4)
    answer(engine, A)
    answer(engine, B)
    assert [n.id for n in engine.notifications(instance_id=7)] == [1]
    assert [n.id for n in engine.notifications(url=B)] == [2]
    assert [n.id for n in engine.notifications(after_id=1)] == [2]
    assert [n.id for n in engine.notifications(status="delivered")] == [1, 2]
    assert [a.id for a in engine.attempts()] == [1, 2, 3]
    assert [a.notification_id for a in engine.attempts(outcome="failed")] == [1]
    assert [a.id for a in engine.attempts(after_id=1)] == [2, 3]
    assert [a.id for a in engine.attempts(after=START)] == [2, 3]
    assert [a.id for a in engine.attempts(instance_id=8)] == [3]
    assert engine.attempts(notification_id=404) == []


def test_the_response_snippet_is_cut_to_500_characters() -> None:
    _, engine = make_engine()
    engine.submit(note(1))
    attempt = engine.next_attempt(A)
    assert attempt is not None
    engine.complete(attempt, status_code=200, error=None, latency_ms=1.0, response_snippet="x" * 2000)
    assert attempt.response_snippet == "x" * 500
    assert attempt.latency_ms == 1.0


def test_unknown_and_repeated_notification_ids() -> None:
    _, engine = make_engine()
    engine.submit(note(1))
    with pytest.raises(Conflict):
        engine.submit(note(1))
    with pytest.raises(NotFound):
        engine.notification(2)


# -- reset, abandon, snapshot -----------------------------------------------------------
def test_reset_forgets_everything_and_ignores_late_answers() -> None:
    clock, engine = make_engine()
    engine.add_fault(FaultRule(url=B, action="drop"))
    engine.submit(note(1, A))
    engine.submit(note(2, B, policy="queue"))
    in_flight = engine.next_attempt(A)
    assert in_flight is not None
    engine.reset()
    engine.complete(in_flight, status_code=200, error=None, latency_ms=1.0, response_snippet=None)
    assert engine.notifications() == [] and engine.attempts() == [] and engine.faults() == []
    assert engine.subscriptions() == [] and engine.idle()
    assert clock.next_due() is None
    engine.submit(note(1, A))  # ids may be reused after a reset
    assert answer(engine).id == 1


def test_an_abandoned_attempt_is_due_again_without_using_a_retry() -> None:
    _, engine = make_engine()
    engine.submit(note(1))
    attempt = engine.next_attempt(A)
    assert attempt is not None
    engine.abandon(attempt)
    assert (attempt.outcome, attempt.error) == ("failed", INTERRUPTED_ERROR)
    assert engine.subscriptions()[0]["failures"] == 0
    assert answer(engine).try_number == 2


def test_snapshot_and_restore_keep_pending_retrying_queued_and_in_flight_work() -> None:
    _, engine = make_engine()
    engine.add_fault(FaultRule(url="http://c.test/hook", action="fail", count=0, status=502))
    engine.submit(note(1, A))
    engine.submit(note(2, A))
    answer(engine, A)
    assert engine.next_attempt(A) is not None  # 2 is in flight at the snapshot
    engine.submit(note(3, A))
    engine.submit(note(4, B))
    refuse(engine, B)  # retrying, due at START + 4
    engine.submit(note(5, B))
    engine.submit(note(6, "http://q.test/hook", policy="queue"))
    refuse(engine, "http://q.test/hook")
    data = json.loads(json.dumps(engine.snapshot()))

    clock2 = Clock(start=START + 1)
    restored = DeliveryEngine(clock2)
    woken: list[str] = []
    restored.on_ready = woken.append
    restored.restore(data)

    assert woken == [A]
    assert [(n.id, n.status) for n in restored.notifications()] == [
        (1, "delivered"), (2, "pending"), (3, "pending"), (4, "pending"),
        (5, "pending"), (6, "queued"),
    ]  # fmt: skip
    assert restored.attempts(notification_id=2)[0].error == INTERRUPTED_ERROR
    assert restored.notification(2).body == engine.notification(2).body
    assert restored.faults() == engine.faults()
    assert deliver_due(restored, A) == [2, 3]
    assert restored.next_attempt(B) is None
    clock2.advance(3)
    assert deliver_due(restored, B) == [4, 5]
    assert [n.id for n in restored.queued()] == [6]
    assert restored.redeliver() == 1
    assert deliver_due(restored, "http://q.test/hook") == [6]
    assert len({a.id for a in restored.attempts()}) == len(restored.attempts())


def test_a_retry_overdue_at_restore_is_due_at_once() -> None:
    _, engine = make_engine()
    engine.submit(note(1))
    refuse(engine)
    restored = DeliveryEngine(Clock(start=START + 3600))
    restored.restore(engine.snapshot())
    assert answer(restored).try_number == 2


def test_a_malformed_snapshot_changes_nothing() -> None:
    _, engine = make_engine()
    engine.submit(note(1))
    with pytest.raises(InvalidInput):
        engine.restore({"version": 1, "notifications": [{"id": 1}], "faults": [], "destinations": []})
    with pytest.raises(InvalidInput):
        engine.restore({**engine.snapshot(), "version": 99})
    assert [n.id for n in engine.notifications()] == [1]


# -- scale ------------------------------------------------------------------------------
def test_thousands_of_notifications_across_sixteen_destinations_stay_in_order() -> None:
    clock, engine = make_engine()
    urls = [f"http://r{i}.test/hook" for i in range(16)]
    for nid in range(1, 16_001):
        engine.submit(note(nid, urls[nid % 16]))
    engine.add_fault(FaultRule(url=urls[0], action="fail", count=1))
    received = {url: deliver_due(engine, url) for url in engine.ready_destinations()}
    clock.advance(4)
    received[urls[0]] = deliver_due(engine, urls[0])
    for i, url in enumerate(urls):
        assert received[url] == list(range(16 if i == 0 else i, 16_001, 16))
    assert engine.idle() and len(engine.attempts()) == 16_001


def test_a_failing_listener_or_waker_does_not_stop_delivery(caplog: pytest.LogCaptureFixture) -> None:
    _, engine = make_engine()

    def broken(_: object) -> None:
        raise RuntimeError("observer bug")

    engine.on_ready = broken
    engine.listeners.append(broken)
    engine.submit(note(1))
    engine.submit(note(2))
    assert deliver_due(engine) == [1, 2]
    assert "observer bug" in caplog.text


def test_next_retry_is_the_earliest_scheduled_retry_of_the_matching_heads() -> None:
    clock, engine = make_engine()
    assert engine.next_retry() is None
    engine.submit(note(1, A, instance_id=1))
    engine.submit(note(2, B, instance_id=2))
    answer(engine, B, status=500)  # B's head fails: its retry waits 4 s
    clock.advance(1)
    answer(engine, A, status=500)  # A's head fails a second later
    assert engine.next_retry() == (START + 4, 2)
    assert engine.next_retry(instance_id=1) == (START + 5, 1)
    assert engine.next_retry(url=A) == (START + 5, 1)
    assert engine.next_retry(instance_id=3) is None
    clock.advance(3)  # B's retry falls due: due now is not scheduled any more
    assert engine.next_retry() == (START + 5, 1)
    answer(engine, B)
    clock.advance(1)
    answer(engine, A)
    assert engine.next_retry() is None  # both delivered
