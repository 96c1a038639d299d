"""Properties of delivery under any interleaving: exactly once, in order, byte-identical retries."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from emulator.domain.clock import Clock
from emulator.domain.delivery import Attempt, DeliveryEngine, Notification, Policy

START = 1767225600.0
URLS = ("http://a.test/hook", "http://b.test/hook", "http://c.test/hook")
FAILURES = st.sampled_from([500, 503, 404, None])  # None: the connection was refused


class Deliveries(RuleBasedStateMachine):
    """A receiver per destination answers attempts while notifications keep arriving.

    Several destinations can have an attempt in flight at once. Any answer can fail: a
    notification then waits for its retry, or is queued (policy "queue", or its retries are
    spent) until a redelivery. Runs are finite and the teardown lets every receiver recover,
    so every notification is eventually delivered.
    """

    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock(start=START)
        self.engine = DeliveryEngine(self.clock)
        self.next_id = 1
        self.submitted: dict[str, list[int]] = {url: [] for url in URLS}
        self.received: dict[str, list[int]] = {url: [] for url in URLS}
        self.in_flight: dict[str, Attempt] = {}

    @initialize(max_retries=st.integers(0, 3))
    def retry_budget(self, max_retries: int) -> None:
        # A small budget lets short runs reach deactivation; the schedule is the same 4^k.
        self.engine.max_retries = max_retries

    @rule(
        dest=st.sampled_from(URLS),
        policy=st.sampled_from(["retry", "retry", "queue"]),
        size=st.integers(0, 40),
    )
    def submit(self, dest: str, policy: Policy, size: int) -> None:
        nid = self.next_id
        self.next_id += 1
        body = bytes([nid % 251]) * size + f'{{"notificationId": {nid}}}'.encode()
        self.engine.submit(
            Notification(
                id=nid,
                instance_id=nid % 2,
                event_id=1000 + nid,
                url=dest,
                body=body,
                headers={"Elements-Webhook-Id": str(nid), "Content-Type": "application/json"},
                kind="webhook",
                created_at=self.clock.now(),
                policy=policy,
            )
        )
        self.submitted[dest].append(nid)

    @rule(dest=st.sampled_from(URLS))
    def send(self, dest: str) -> None:
        if dest not in self.in_flight and (attempt := self.engine.next_attempt(dest)) is not None:
            self.in_flight[dest] = attempt

    @precondition(lambda self: bool(self.in_flight))
    @rule(data=st.data())
    def answer_ok(self, data: st.DataObject) -> None:
        self._answer(data.draw(st.sampled_from(sorted(self.in_flight))), 200)

    @precondition(lambda self: bool(self.in_flight))
    @rule(data=st.data(), status=FAILURES)
    def answer_failure(self, data: st.DataObject, status: int | None) -> None:
        self._answer(data.draw(st.sampled_from(sorted(self.in_flight))), status)

    @rule(seconds=st.sampled_from([0.5, 4.0, 16.0, 64.0, 300.0]))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @precondition(lambda self: self.clock.next_due() is not None)
    @rule()
    def advance_to_the_next_retry(self) -> None:
        due = self.clock.next_due()
        assert due is not None
        self.clock.set(due)

    @rule()
    def redeliver(self) -> None:
        self.engine.redeliver()

    def _answer(self, dest: str, status: int | None) -> None:
        attempt = self.in_flight.pop(dest)
        error = "connection refused" if status is None else None
        self.engine.complete(attempt, status_code=status, error=error, latency_ms=1.0, response_snippet="")
        if status == 200:
            self.received[dest].append(attempt.notification_id)

    @invariant()
    def each_destination_received_a_prefix_of_its_notifications_in_order(self) -> None:
        for url in URLS:
            got = self.received[url]
            assert got == self.submitted[url][: len(got)]

    @invariant()
    def every_retry_is_byte_identical_to_the_first_attempt(self) -> None:
        for n in self.engine.notifications():
            for a in n.attempts:
                assert (a.request_body, a.request_headers) == (n.attempts[0].request_body, n.headers)
                assert a.request_body == n.body and a.url == n.url

    def teardown(self) -> None:
        """Let every receiver recover, then everything submitted must have arrived exactly once."""
        for dest in list(self.in_flight):
            self._answer(dest, 200)
        for _ in range(10_000):
            self.engine.redeliver()
            ready = self.engine.ready_destinations()
            for dest in ready:
                while (attempt := self.engine.next_attempt(dest)) is not None:
                    self.in_flight[dest] = attempt
                    self._answer(dest, 200)
            due = self.clock.next_due()
            if not ready and due is None:
                break
            if due is not None:
                self.clock.set(max(due, self.clock.now()))
        assert self.received == self.submitted
        ids = [n.id for n in self.engine.notifications()]
        assert len(ids) == len(set(ids)) == self.next_id - 1
        assert {n.status for n in self.engine.notifications()} <= {"delivered"}
        assert self.engine.idle()


Deliveries.TestCase.settings = settings(max_examples=150, stateful_step_count=60, deadline=None)
TestDeliveries = Deliveries.TestCase
