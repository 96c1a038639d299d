"""Delivery engine: per-destination FIFO of notifications, retry schedule, fault rules, journal.

Pure domain code (DESIGN.md sections 2, 4, 5): it never sends HTTP and never reads the wall
clock. The transport pulls attempts with `next_attempt(url)` and reports answers with
`complete(...)`; retries wait on the emulator `Clock`.
"""

from __future__ import annotations

import base64
import bisect
import logging
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypedDict, cast

from emulator.domain.clock import Clock, Timer
from emulator.domain.errors import Conflict, InvalidInput, NotFound

log = logging.getLogger("emulator.delivery")

NotificationKind = Literal["webhook", "polling", "async", "trigger", "replay"]
NotificationStatus = Literal["pending", "delivered", "queued", "dropped"]
Policy = Literal["retry", "queue"]
Outcome = Literal["delivered", "failed", "in_flight", "dropped"]
FaultAction = Literal["fail", "refuse", "delay", "drop", "duplicate", "reorder"]
SubscriptionState = Literal["active", "retrying", "deactivated", "queueing"]

FAULT_ACTIONS: tuple[FaultAction, ...] = ("fail", "refuse", "delay", "drop", "duplicate", "reorder")
POLICIES: tuple[Policy, ...] = ("retry", "queue")
SNIPPET_CHARS = 500
REFUSED_ERROR = "connection refused (injected fault)"
INTERRUPTED_ERROR = "interrupted: no answer before the emulator stopped sending"
SNAPSHOT_VERSION = 1


@dataclass
class Attempt:
    """One HTTP POST of a notification, as journaled. Body and headers are the notification's own objects."""

    notification_id: int
    try_number: int  # 1-based; both copies of a duplicated try share it
    url: str
    started_at: float  # emulator time
    request_headers: dict[str, str]
    request_body: bytes
    status_code: int | None = None
    latency_ms: float | None = None
    error: str | None = None
    response_snippet: str | None = None
    outcome: Outcome = "in_flight"
    fault: FaultAction | None = None
    delay_ms: int = 0  # network delay the transport must add before sending ("delay" fault)
    id: int = 0  # journal sequence, 1-based, unique; assigned by the engine


@dataclass
class Notification:
    """One callback message for one event to one URL; body and headers are fixed at creation."""

    id: int
    instance_id: int | None
    event_id: int
    url: str
    body: bytes
    headers: dict[str, str]
    kind: NotificationKind
    created_at: float
    status: NotificationStatus = "pending"
    attempts: list[Attempt] = field(default_factory=list)
    policy: Policy = "retry"
    failures: int = 0  # failed tries since (re)submission; drives the back-off
    # Whose queue it waits in at its URL (the organization): one owner's failing or halted queue
    # never holds back another's, even when both point at the same receiver.
    owner: str = ""

    @property
    def queue(self) -> str:
        return queue_key(self.owner, self.url)

    @property
    def last_try(self) -> int:
        return self.attempts[-1].try_number if self.attempts else 0


@dataclass
class FaultRule:
    """A fault injected into deliveries. `count` is the number of attempts left (0 = until cleared)."""

    url: str | None  # None: any destination
    action: FaultAction
    count: int = 1
    status: int = 500  # answer of a "fail"
    delay_ms: int = 0  # wall-time network delay of a "delay"
    used: int = 0  # attempts it has applied to so far

    def __post_init__(self) -> None:
        if self.action not in FAULT_ACTIONS:
            expected = ", ".join(FAULT_ACTIONS)
            raise InvalidInput(f"unknown fault action {self.action!r}; expected one of {expected}")
        if self.count < 0:
            raise InvalidInput("fault count must be 0 (until cleared) or more")
        if not 100 <= self.status <= 599:
            raise InvalidInput(f"status must be an HTTP status from 100 to 599, not {self.status}")
        if self.action == "fail" and 200 <= self.status <= 299:
            raise InvalidInput(f"a failing answer needs a non-2xx HTTP status, not {self.status}")
        if self.delay_ms < 0:
            raise InvalidInput("fault delay_ms cannot be negative")

    def matches(self, url: str) -> bool:
        return self.url is None or self.url == url


def queue_key(owner: str, url: str) -> str:
    """The name of one destination queue: the URL alone when it has no owner."""
    return f"{owner} {url}" if owner else url


class SubscriptionInfo(TypedDict):
    url: str
    owner: str
    state: SubscriptionState
    pending: int
    queued: int
    in_flight: bool
    failures: int  # failed tries of the head since its (re)submission
    next_retry_at: float | None


@dataclass
class _Destination:
    """Delivery state of one callback URL."""

    url: str
    owner: str = ""
    pending: deque[Notification] = field(default_factory=deque)
    queued: list[Notification] = field(default_factory=list)
    halted: Literal["deactivated", "queueing"] | None = None
    in_flight: Attempt | None = None
    timer: Timer | None = None  # retry of the head
    copies_left: int = 0  # extra sends of the head's current try still owed ("duplicate")
    head_ok: bool = False  # a copy of the head's current try got a 2xx

    def state(self) -> SubscriptionState:
        if self.halted is not None:
            return self.halted
        return "retrying" if self.pending and self.pending[0].failures else "active"

    @property
    def key(self) -> str:
        return queue_key(self.owner, self.url)


_Restored = tuple[_Destination, float | None]  # a destination and its retry time


class DeliveryEngine:
    """Delivers notifications in order per destination, retrying on the emulator clock.

    A notification's destination is its `url`. Each destination is a FIFO: its head is sent,
    retried per its policy, and resolved (delivered, dropped or queued) before the next is
    attempted, while other destinations proceed independently. Unknown ids raise `NotFound`.
    """

    def __init__(self, clock: Clock, *, max_retries: int = 9, backoff_base: float = 4.0) -> None:
        self.clock = clock
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        # Wiring, not state: survives reset() and restore().
        self.on_ready: Callable[[str], None] | None = None
        self.listeners: list[Callable[[Attempt], None]] = []
        self._init_state()

    def _init_state(self) -> None:
        self._dests: dict[str, _Destination] = {}
        self._notifications: dict[int, Notification] = {}
        self._attempts: list[Attempt] = []  # in id order
        self._next_attempt_id = 1
        self._ready: dict[str, None] = {}  # ordered set of destinations with an attempt due
        self._busy: set[str] = set()  # destinations with an attempt in flight
        self._faults: list[FaultRule] = []

    # -- submitting --------------------------------------------------------------------
    def submit(self, notification: Notification) -> None:
        """Queue a notification behind the others of its destination."""
        if notification.id in self._notifications:
            raise Conflict(f"notification {notification.id} was already submitted")
        if notification.policy not in POLICIES:
            raise InvalidInput(f"unknown failure policy {notification.policy!r}")
        self._notifications[notification.id] = notification
        dest = self._dest(notification.owner, notification.url)
        if dest.halted is not None:
            notification.status = "queued"
            dest.queued.append(notification)
            return
        notification.status = "pending"
        dest.pending.append(notification)
        self._refresh(dest)

    # -- the transport's side ----------------------------------------------------------
    def ready_destinations(self) -> list[str]:
        """The queues with an attempt due: each an opaque name for `next_attempt` (the URL when unowned)."""
        return list(self._ready)

    def idle(self) -> bool:
        """True when no destination has an attempt due or in flight (retry timers may still wait)."""
        return not self._ready and not self._busy

    def next_attempt(self, queue: str) -> Attempt | None:
        """The attempt to send now for the head of `queue` (see `ready_destinations`), marked in
        flight; None if nothing is due.

        Faults the engine plays itself ("fail", "refuse", "drop") are journaled here and never
        reach the transport.
        """
        dest = self._dests.get(queue)
        while dest is not None and self._is_ready(dest):
            attempt = self._start(dest)
            if attempt.fault == "drop":
                self._finish_dropped(dest, attempt)
            elif attempt.fault in ("fail", "refuse"):
                self._finish(dest, attempt)
            else:
                return attempt
        return None

    def complete(
        self,
        attempt: Attempt,
        *,
        status_code: int | None,
        error: str | None,
        latency_ms: float,
        response_snippet: str | None,
    ) -> None:
        """Record the answer to an attempt. Stale attempts (after reset/restore) are ignored."""
        dest = self._dest_of(attempt)
        if dest is None or dest.in_flight is not attempt:
            return
        attempt.status_code = status_code
        attempt.error = error
        attempt.latency_ms = latency_ms
        attempt.response_snippet = None if response_snippet is None else response_snippet[:SNIPPET_CHARS]
        self._finish(dest, attempt)

    def abandon(self, attempt: Attempt) -> None:
        """The transport gave up on an attempt without an answer (it is stopping).

        The attempt is journaled as failed, but it does not count against the retry budget:
        the head is simply due again.
        """
        dest = self._dest_of(attempt)
        if dest is None or dest.in_flight is not attempt:
            return
        self._interrupt(attempt)
        self._end_flight(dest)
        dest.copies_left = 0
        if dest.head_ok:
            self._resolve_delivered(dest, "delivered")
        self._refresh(dest)
        self._tell(attempt)

    # -- queued deliveries -------------------------------------------------------------
    def next_retry(self, url: str | None = None, instance_id: int | None = None) -> tuple[float, int] | None:
        """(when, notification id) of the earliest scheduled retry among the matching destinations'
        heads; None when no retry waits (nothing failed, or every failure is resolved)."""
        found: tuple[float, int] | None = None
        for dest in self._matching(url):
            if dest.timer is None or dest.timer.cancelled or not dest.pending:
                continue
            head = dest.pending[0]
            if _owned(head, instance_id) and (found is None or dest.timer.due < found[0]):
                found = (dest.timer.due, head.id)
        return found

    def queued(self, url: str | None = None, instance_id: int | None = None) -> list[Notification]:
        """Queued notifications, destination by destination, each in its delivery order."""
        return [n for dest in self._matching(url) for n in dest.queued if _owned(n, instance_id)]

    def redeliver(self, url: str | None = None, instance_id: int | None = None) -> int:
        """Reactivate the matching destinations and re-submit their queued notifications in order."""
        count = 0
        for dest in self._matching(url):
            chosen = [n for n in dest.queued if _owned(n, instance_id)]
            if not chosen and instance_id is not None:
                continue
            dest.halted = None
            if chosen:
                ids = {n.id for n in chosen}
                dest.queued = [n for n in dest.queued if n.id not in ids]
                for n in chosen:
                    n.status = "pending"
                    n.failures = 0
                dest.pending.extend(chosen)
                count += len(chosen)
            self._refresh(dest)
        return count

    def subscriptions(self) -> list[SubscriptionInfo]:
        return [_info(dest) for dest in self._dests.values()]

    # -- faults ------------------------------------------------------------------------
    def add_fault(self, rule: FaultRule) -> FaultRule:
        self._faults.append(rule)
        return rule

    def clear_faults(self, url: str | None = None) -> int:
        """Remove every rule (url None) or the rules aimed at `url`; answers how many."""
        before = len(self._faults)
        self._faults = [] if url is None else [r for r in self._faults if r.url != url]
        return before - len(self._faults)

    def faults(self) -> list[FaultRule]:
        return [replace(r) for r in self._faults]

    # -- journal -----------------------------------------------------------------------
    def notification(self, notification_id: int) -> Notification:
        try:
            return self._notifications[notification_id]
        except KeyError:
            raise NotFound(f"no notification {notification_id}") from None

    def notifications(
        self,
        instance_id: int | None = None,
        status: NotificationStatus | None = None,
        url: str | None = None,
        after_id: int | None = None,
    ) -> list[Notification]:
        """Notifications in submission order, filtered."""
        return [
            n
            for n in self._notifications.values()
            if _owned(n, instance_id)
            and (status is None or n.status == status)
            and (url is None or n.url == url)
            and (after_id is None or n.id > after_id)
        ]

    def attempts(
        self,
        instance_id: int | None = None,
        notification_id: int | None = None,
        outcome: Outcome | None = None,
        after: float | None = None,
        after_id: int | None = None,
    ) -> list[Attempt]:
        """Attempts in the order they started; `after` is emulator time, `after_id` a journal id."""
        if notification_id is not None:
            known = self._notifications.get(notification_id)
            source: list[Attempt] = [] if known is None else known.attempts
        else:
            start = 0 if after_id is None else bisect.bisect_right(self._attempts, after_id, key=_by_id)
            source = self._attempts[start:]
        return [
            a
            for a in source
            if (instance_id is None or self._notifications[a.notification_id].instance_id == instance_id)
            and (outcome is None or a.outcome == outcome)
            and (after is None or a.started_at > after)
            and (after_id is None or a.id > after_id)
        ]

    # -- state -------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget every notification, attempt, destination and fault rule."""
        for dest in self._dests.values():
            if dest.timer is not None:
                dest.timer.cancel()
        self._init_state()

    def snapshot(self) -> dict[str, Any]:
        """JSON-able state: the journal, pending and queued work, retry times, fault rules."""
        return {
            "version": SNAPSHOT_VERSION,
            "notifications": [_dump_notification(n) for n in self._notifications.values()],
            "destinations": [_dump_destination(d) for d in self._dests.values()],
            "faults": [_dump_fault(r) for r in self._faults],
        }

    def restore(self, data: dict[str, Any]) -> None:
        """Replace the state with a snapshot's; a malformed snapshot changes nothing.

        Attempts that were in flight are journaled as interrupted; their notifications are due again.
        """
        try:
            notifications = {n.id: n for n in map(_load_notification, data["notifications"])}
            faults = [_load_fault(r) for r in data["faults"]]
            dests = [_load_destination(r, notifications) for r in data["destinations"]]
            if data["version"] != SNAPSHOT_VERSION:
                raise ValueError(f"unsupported version {data['version']!r}")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidInput(f"not a delivery snapshot: {exc!r}") from exc
        self.reset()
        self._install(notifications, faults, dests)

    def _install(
        self, notifications: dict[int, Notification], faults: list[FaultRule], dests: list[_Restored]
    ) -> None:
        self._notifications = notifications
        self._attempts = sorted((a for n in notifications.values() for a in n.attempts), key=_by_id)
        self._next_attempt_id = self._attempts[-1].id + 1 if self._attempts else 1
        for a in self._attempts:
            if a.outcome == "in_flight":
                self._interrupt(a)
        self._faults = faults
        for dest, retry_at in dests:
            self._dests[dest.key] = dest
            # A retry already due is due now; a manual clock would otherwise hold it until advanced.
            if retry_at is not None and retry_at > self.clock.now():
                self._schedule_retry(dest, retry_at)
            self._refresh(dest)

    # -- internals: scheduling ---------------------------------------------------------
    def _dest(self, owner: str, url: str) -> _Destination:
        key = queue_key(owner, url)
        dest = self._dests.get(key)
        if dest is None:
            dest = self._dests[key] = _Destination(url, owner)
        return dest

    def _dest_of(self, attempt: Attempt) -> _Destination | None:
        known = self._notifications.get(attempt.notification_id)
        return None if known is None else self._dests.get(known.queue)

    def _matching(self, url: str | None) -> Iterable[_Destination]:
        """Every queue at `url` (one per owner), or every queue."""
        return [dest for dest in self._dests.values() if url is None or dest.url == url]

    @staticmethod
    def _is_ready(dest: _Destination) -> bool:
        return bool(dest.pending) and dest.halted is None and dest.in_flight is None and dest.timer is None

    def _refresh(self, dest: _Destination) -> None:
        """Keep the ready set in step with the destination, telling `on_ready` when it becomes due."""
        if not self._is_ready(dest):
            self._ready.pop(dest.key, None)
            return
        if dest.key in self._ready:
            return
        self._ready[dest.key] = None
        if self.on_ready is not None:
            try:
                self.on_ready(dest.key)
            except Exception:  # the waker's trouble must not corrupt the queue
                log.exception("on_ready failed for %s", dest.url)

    def _retry_due(self, dest: _Destination) -> None:
        dest.timer = None
        self._refresh(dest)

    def _schedule_retry(self, dest: _Destination, due: float) -> None:
        # reset() cancels these timers, so a callback never reaches a forgotten destination.
        dest.timer = self.clock.call_at(due, lambda: self._retry_due(dest), f"retry {dest.url}")

    # -- internals: attempts -----------------------------------------------------------
    def _start(self, dest: _Destination) -> Attempt:
        """Create the head's next attempt, applying at most one fault rule, and mark it in flight."""
        if dest.copies_left:
            dest.copies_left -= 1
            rule: FaultRule | None = None
            fault: FaultAction | None = "duplicate"
            try_number = dest.pending[0].last_try
        else:
            rule = self._take_fault(dest)
            fault = None if rule is None else rule.action
            if fault == "reorder":
                dest.pending[0], dest.pending[1] = dest.pending[1], dest.pending[0]
            if fault == "duplicate":
                dest.copies_left = 1
            try_number = dest.pending[0].last_try + 1
        attempt = self._new_attempt(dest.pending[0], try_number, fault)
        if rule is not None:
            self._play_fault(rule, attempt)
        dest.in_flight = attempt
        self._busy.add(dest.key)
        self._ready.pop(dest.key, None)
        return attempt

    def _new_attempt(self, n: Notification, try_number: int, fault: FaultAction | None) -> Attempt:
        attempt = Attempt(
            notification_id=n.id,
            try_number=try_number,
            url=n.url,
            started_at=self.clock.now(),
            request_headers=n.headers,
            request_body=n.body,
            fault=fault,
            id=self._next_attempt_id,
        )
        self._next_attempt_id += 1
        n.attempts.append(attempt)
        self._attempts.append(attempt)
        return attempt

    def _take_fault(self, dest: _Destination) -> FaultRule | None:
        """The first rule that applies to this attempt, used once (and dropped when used up)."""
        for rule in self._faults:
            if not rule.matches(dest.url) or (rule.action == "reorder" and len(dest.pending) < 2):
                continue  # a reorder waits until there is something to swap with
            rule.used += 1
            if rule.count:
                rule.count -= 1
                if not rule.count:
                    self._faults.remove(rule)
            return rule
        return None

    @staticmethod
    def _play_fault(rule: FaultRule, attempt: Attempt) -> None:
        attempt.delay_ms = rule.delay_ms if rule.action == "delay" else 0
        if rule.action in ("fail", "refuse", "drop"):
            attempt.latency_ms = 0.0
        if rule.action == "fail":
            attempt.status_code = rule.status
        elif rule.action == "refuse":
            attempt.error = REFUSED_ERROR

    def _finish(self, dest: _Destination, attempt: Attempt) -> None:
        """Journal an answered attempt and move the destination on."""
        ok = attempt.status_code is not None and 200 <= attempt.status_code <= 299
        attempt.outcome = "delivered" if ok else "failed"
        dest.head_ok = dest.head_ok or ok
        self._end_flight(dest)
        if not dest.copies_left:  # the try is over once every copy has been sent
            if dest.head_ok:
                self._resolve_delivered(dest, "delivered")
            else:
                self._resolve_failed(dest)
        self._refresh(dest)
        self._tell(attempt)

    def _finish_dropped(self, dest: _Destination, attempt: Attempt) -> None:
        attempt.outcome = "dropped"
        self._end_flight(dest)
        self._resolve_delivered(dest, "dropped")
        self._refresh(dest)
        self._tell(attempt)

    def _end_flight(self, dest: _Destination) -> None:
        dest.in_flight = None
        self._busy.discard(dest.key)

    def _resolve_delivered(self, dest: _Destination, status: NotificationStatus) -> None:
        head = dest.pending.popleft()
        head.status = status
        dest.head_ok = False

    def _resolve_failed(self, dest: _Destination) -> None:
        head = dest.pending[0]
        head.failures += 1
        if head.policy == "queue":
            self._halt(dest, "queueing")
        elif head.failures > self.max_retries:
            self._halt(dest, "deactivated")
        else:
            self._schedule_retry(dest, self.clock.now() + self.backoff_base**head.failures)

    def _halt(self, dest: _Destination, state: Literal["deactivated", "queueing"]) -> None:
        """Stop delivering to `dest`: the head and everything behind it wait for a redelivery."""
        dest.halted = state
        for n in dest.pending:
            n.status = "queued"
        dest.queued.extend(dest.pending)
        dest.pending.clear()

    def _interrupt(self, attempt: Attempt) -> None:
        attempt.outcome = "failed"
        attempt.error = INTERRUPTED_ERROR

    def _tell(self, attempt: Attempt) -> None:
        for listener in list(self.listeners):
            try:
                listener(attempt)
            except Exception:  # an observer (UI, long-poll) must not break delivery
                log.exception("delivery listener failed")


# -- helpers ---------------------------------------------------------------------------
def _owned(n: Notification, instance_id: int | None) -> bool:
    return instance_id is None or n.instance_id == instance_id


def _by_id(attempt: Attempt) -> int:
    return attempt.id


def _info(dest: _Destination) -> SubscriptionInfo:
    return {
        "url": dest.url,
        "owner": dest.owner,
        "state": dest.state(),
        "pending": len(dest.pending),
        "queued": len(dest.queued),
        "in_flight": dest.in_flight is not None,
        "failures": dest.pending[0].failures if dest.pending else 0,
        "next_retry_at": None if dest.timer is None else dest.timer.due,
    }


_ATTEMPT_FIELDS = (
    "id",
    "try_number",
    "started_at",
    "status_code",
    "latency_ms",
    "error",
    "response_snippet",
    "outcome",
    "fault",
    "delay_ms",
)


def _dump_notification(n: Notification) -> dict[str, Any]:
    # Attempts carry the notification's own body and headers, so they are stored once.
    return {
        "id": n.id,
        "instance_id": n.instance_id,
        "event_id": n.event_id,
        "url": n.url,
        "body": base64.b64encode(n.body).decode("ascii"),
        "headers": dict(n.headers),
        "kind": n.kind,
        "created_at": n.created_at,
        "status": n.status,
        "policy": n.policy,
        "failures": n.failures,
        "owner": n.owner,
        "attempts": [{k: getattr(a, k) for k in _ATTEMPT_FIELDS} for a in n.attempts],
    }


def _load_notification(raw: dict[str, Any]) -> Notification:
    n = Notification(
        id=int(raw["id"]),
        instance_id=raw["instance_id"],
        event_id=int(raw["event_id"]),
        url=str(raw["url"]),
        body=base64.b64decode(raw["body"]),
        headers={str(k): str(v) for k, v in raw["headers"].items()},
        kind=raw["kind"],
        created_at=float(raw["created_at"]),
        status=raw["status"],
        policy=raw["policy"],
        failures=int(raw["failures"]),
        owner=str(raw.get("owner", "")),  # absent from files saved before queues had owners
    )
    n.attempts = [_load_attempt(n, a) for a in raw["attempts"]]
    return n


def _load_attempt(n: Notification, raw: dict[str, Any]) -> Attempt:
    fields = {k: raw[k] for k in _ATTEMPT_FIELDS}
    return Attempt(notification_id=n.id, url=n.url, request_headers=n.headers, request_body=n.body, **fields)


def _dump_destination(dest: _Destination) -> dict[str, Any]:
    return {
        "url": dest.url,
        "owner": dest.owner,
        "halted": dest.halted,
        "pending": [n.id for n in dest.pending],
        "queued": [n.id for n in dest.queued],
        "retry_at": None if dest.timer is None else dest.timer.due,
    }


def _load_destination(raw: dict[str, Any], notifications: dict[int, Notification]) -> _Restored:
    halted = raw["halted"]
    if halted not in (None, "deactivated", "queueing"):
        raise ValueError(f"unknown destination state {halted!r}")
    dest = _Destination(str(raw["url"]), str(raw.get("owner", "")), halted=halted)
    dest.pending.extend(notifications[int(i)] for i in raw["pending"])
    dest.queued.extend(notifications[int(i)] for i in raw["queued"])
    retry_at = raw["retry_at"]
    return dest, None if retry_at is None else float(retry_at)


def _dump_fault(rule: FaultRule) -> dict[str, Any]:
    return {
        "url": rule.url,
        "action": rule.action,
        "count": rule.count,
        "status": rule.status,
        "delay_ms": rule.delay_ms,
        "used": rule.used,
    }


def _load_fault(raw: dict[str, Any]) -> FaultRule:
    return FaultRule(
        url=raw["url"],
        action=cast(FaultAction, raw["action"]),
        count=int(raw["count"]),
        status=int(raw["status"]),
        delay_ms=int(raw["delay_ms"]),
        used=int(raw["used"]),
    )
