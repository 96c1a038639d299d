"""Platform events: account changes and async jobs turned into the guide's callbacks, handed to delivery."""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from emulator.dialects import DIALECTS
from emulator.domain.clock import Timer
from emulator.domain.delivery import DeliveryEngine, Notification, NotificationKind
from emulator.domain.errors import DomainError, InvalidInput, NotFound
from emulator.domain.json_codec import compact_json
from emulator.domain.platform.instances import Instance, is_http_url
from emulator.domain.platform.tenants import Caller
from emulator.domain.provider.accounts import DropboxAccount
from emulator.domain.provider.content import format_time
from emulator.domain.provider.store import Change, Store
from emulator.domain.state import EmulatorState

EventKind = Literal["webhook", "polling", "async", "trigger"]
WEBHOOK_BATCH = 20  # events per webhook notification (REFERENCE.md)
POLLING_BATCH = 10  # events per polling notification


@dataclass(slots=True)
class Event:
    """One platform reaction for one instance: a change batch, a polling catch-up or an async job."""

    id: int
    instance_id: int
    kind: EventKind
    created_at: float
    entries: list[dict[str, Any]]
    provider_data: dict[str, Any]
    notification_ids: list[int] = field(default_factory=list)
    error: dict[str, Any] | None = None
    done: bool = True  # async jobs: False until the job ran


def callback_entry(change: Change) -> dict[str, Any]:
    """One item of the callback's `response.events`: the guide's shape."""
    return {
        "path": change.path_lower,
        "metadata": {"path": change.path_display, "name": change.name, "type": change.tag},
    }


def _provider_data(account: DropboxAccount, instance: Instance, changes: list[Change]) -> dict[str, Any]:
    return {
        "accountId": account.account_id,
        "fromCursor": changes[0].seq - 1 if changes else instance.cursor,
        "toCursor": changes[-1].seq if changes else instance.cursor,
    }


def callback_body(event_id: int, instance_id: int, response: dict[str, Any], notification_id: int) -> bytes:
    """The guide's key order: eventId, instanceId, response, notificationId."""
    body = {
        "eventId": event_id,
        "instanceId": instance_id,
        "response": response,
        "notificationId": notification_id,
    }
    return compact_json(body)


def signature(key: str, body: bytes) -> str:
    digest = hmac.new(key.encode(), body, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def standard_webhooks_headers(
    secret: str, notification_id: int, timestamp: int, body: bytes
) -> dict[str, str]:
    """`webhook-id`, `webhook-timestamp` and `webhook-signature: v1,<base64 HMAC-SHA256(id.timestamp.body)>`
    as the Standard Webhooks spec signs; a `whsec_` secret is base64, any other is used as its bytes.

    The timestamp is the sender's wall time at each attempt (receivers reject stale ones), so these
    headers are made by the transport at send time, not stored with the notification.
    """
    key = base64.b64decode(secret.removeprefix("whsec_")) if secret.startswith("whsec_") else secret.encode()
    message_id = f"msg_{notification_id}"
    signed = f"{message_id}.{timestamp}.".encode() + body
    signature = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": f"v1,{signature}",
    }


class EventService:
    """Reads each subscribed instance's changes when its account changes (webhook) or on its
    poller tick (polling), and runs async jobs; every result becomes notifications for delivery."""

    def __init__(self, state: EmulatorState, engine: DeliveryEngine) -> None:
        self.state = state
        self.engine = engine
        self.events: dict[int, Event] = {}
        self._poll_timers: dict[int, Timer] = {}
        self._subscribed: dict[int, bool] = {}
        self._linked_cache: dict[tuple[str, str], tuple[Instance, ...]] = {}
        self._linked_of: dict[int, Instance] | None = None
        self._linked_count = 0
        state.change_listeners.append(self.account_changed)
        state.instance_listeners.append(self.instance_changed)
        state.reset_listeners.append(self.reset)
        for instance in list(state.instances.values()):
            self.instance_changed(instance)

    def reset(self) -> None:
        self._linked_cache.clear()
        self.events.clear()
        self._poll_timers.clear()  # the clock's reset already dropped the timers themselves
        self._subscribed.clear()
        self.engine.reset()

    # -- subscriptions -----------------------------------------------------------------
    def _subscribed_now(self, instance: Instance) -> bool:
        return (
            instance.id in self.state.instances
            and instance.events_enabled
            and not instance.disabled
            and instance.callback_url is not None
        )

    def instance_changed(self, instance: Instance) -> None:
        """Events switched on start from now; polling instances get (or lose) their poller."""
        self._linked_cache.clear()
        subscribed = self._subscribed_now(instance)
        if subscribed and not self._subscribed.get(instance.id, False):
            instance.cursor = self._store(instance).cursor()
        self._subscribed[instance.id] = subscribed
        timer = self._poll_timers.pop(instance.id, None)
        if timer is not None:
            timer.cancel()
            instance.next_poll_at = None
        if subscribed and instance.vendor_type == "polling":
            self._schedule_poll(instance)

    def _schedule_poll(self, instance: Instance, due: float | None = None) -> None:
        now = self.state.clock.now()
        due = now + instance.poll_interval_seconds if due is None else max(due, now)
        instance.next_poll_at = due
        self._poll_timers[instance.id] = self.state.clock.call_at(
            due, lambda: self._poll(instance.id), label=f"poll instance {instance.id}"
        )

    def restore_subscriptions(self) -> None:
        """After an import: who listens, and each poller at the tick it was waiting for."""
        self._subscribed.clear()
        self._poll_timers.clear()
        for instance in self.state.instances.values():
            subscribed = self._subscribed_now(instance)
            self._subscribed[instance.id] = subscribed
            if subscribed and instance.vendor_type == "polling":
                self._schedule_poll(instance, instance.next_poll_at)

    def _poll(self, instance_id: int) -> None:
        instance = self.state.instances.get(instance_id)
        self._poll_timers.pop(instance_id, None)
        if instance is None or not self._subscribed_now(instance) or instance.vendor_type != "polling":
            return
        account = self._account(instance)
        changes = self._take_changes(instance, account)
        self._schedule_poll(instance, None if changes else self._idle_due(instance))
        if changes:
            self._emit(
                instance,
                "polling",
                [callback_entry(c) for c in changes],
                _provider_data(account, instance, changes),
            )

    def _idle_due(self, instance: Instance) -> float:
        """The next tick of a poller that found nothing. While the clock moves far in one go, it
        skips the ticks that would find nothing too (a jump of years would run millions of them);
        a change meanwhile calls its tick back to where it falls (`_recall_poll`), so none is lost."""
        clock = self.state.clock
        now, interval = clock.now(), instance.poll_interval_seconds
        if clock.horizon is None or clock.horizon < now + interval:
            return now + interval
        return now + interval * (math.floor((clock.horizon - now) / interval) + 1)

    def _recall_poll(self, instance: Instance) -> None:
        """After a change: the poller's tick moves back to the first one due from now, if it skipped past."""
        due = instance.next_poll_at
        if due is None:
            return
        interval = instance.poll_interval_seconds
        # The earliest tick of its grid strictly after now: one at now itself has run, or never was.
        wanted = due - interval * (math.ceil((due - self.state.clock.now()) / interval) - 1)
        if wanted < due:
            timer = self._poll_timers.pop(instance.id, None)
            if timer is not None:
                timer.cancel()
            self._schedule_poll(instance, wanted)

    # -- account changes ---------------------------------------------------------------
    def account_changed(self, tenant_id: str, account_key: str, batch: list[Change]) -> None:
        for instance in self._linked(tenant_id, account_key):
            if not self._subscribed_now(instance):
                # Not listening: what happens meanwhile is never sent later.
                instance.cursor = self._store(instance).cursor()
            elif instance.vendor_type == "webhook":
                self._notify_webhook(instance)
            else:
                self._recall_poll(instance)

    def provider_notification(self, account_ids: Iterable[str]) -> int:
        """The provider's own webhook (`POST /events/dropbox`): read changes for those accounts."""
        wanted = set(account_ids)
        read = 0
        for tenant in self.state.tenants.values():
            for account in tenant.provider.accounts.values():
                if account.account_id in wanted:
                    for instance in self._linked(tenant.id, account.key):
                        if self._subscribed_now(instance) and instance.vendor_type == "webhook":
                            read += self._notify_webhook(instance)
        return read

    def _notify_webhook(self, instance: Instance) -> int:
        account = self._account(instance)
        changes = self._take_changes(instance, account)
        # One operation, one event: changes come grouped by the batch that wrote them.
        batches: dict[int, list[Change]] = {}
        for change in changes:
            batches.setdefault(change.batch, []).append(change)
        for batch in batches.values():
            entries = [callback_entry(c) for c in batch]
            self._emit(instance, "webhook", entries, _provider_data(account, instance, batch))
        return len(batches)

    def _take_changes(self, instance: Instance, account: DropboxAccount) -> list[Change]:
        store = account.store
        changes = store.changes_since(instance.cursor)
        instance.cursor = store.cursor()
        return changes

    def _linked(self, tenant_id: str, account_key: str) -> tuple[Instance, ...]:
        # Kept per account, since every change asks: made again once any instance changed (all
        # instance changes are announced), or the instances were replaced (a state import).
        instances = self.state.instances
        if self._linked_of is not instances or self._linked_count != len(instances):
            self._linked_cache.clear()
            self._linked_of, self._linked_count = instances, len(instances)
        key = (tenant_id, account_key)
        found = self._linked_cache.get(key)
        if found is None:
            found = tuple(i for i in instances.values() if i.tenant == tenant_id and i.account == account_key)
            self._linked_cache[key] = found
        return found

    def _account(self, instance: Instance) -> DropboxAccount:
        return self.state.provider_of(instance).account(instance.account)

    def _store(self, instance: Instance) -> Store:
        return self._account(instance).store

    # -- async jobs --------------------------------------------------------------------
    def async_callback_url(self, instance: Instance, requested: str | None) -> str:
        """The job's callback URL: the request's header, else the instance's; neither is an error."""
        url = (
            requested.strip() if requested else instance.configuration.get("event.notification.callback.url")
        )
        if not url:
            raise InvalidInput(
                "no callback URL for this async request: send an Async-Callback-Url header or configure "
                "event.notification.callback.url on the instance"
            )
        if not is_http_url(url):
            raise InvalidInput(f"the async callback URL is not an absolute http or https URL: {url[:200]}")
        return url

    def submit_job(
        self, instance: Instance, operation: Callable[[], object], callback_url: str, duration: float = 0.0
    ) -> Event:
        """Answer at once with the event; run `operation` on the clock after `duration` seconds."""
        event = self._new_event(instance, "async", [], {"callbackUrl": callback_url}, done=False)
        self.state.clock.call_later(
            duration, lambda: self._run_job(event, instance, operation, callback_url), label=f"job {event.id}"
        )
        return event

    def _run_job(self, event: Event, instance: Instance, operation: Callable[[], object], url: str) -> None:
        store = self._store(instance)
        before = store.cursor()
        response: dict[str, Any]
        try:
            operation()
        except DomainError as error:
            event.error = {"message": error.message, "errorType": type(error).__name__}
            if error.provider_message is not None:
                event.error["providerMessage"] = error.provider_message
            response = {"events": [], "error": event.error}
            event.done = True
            self._notify(instance, event, "async", [response], url)
            return
        event.entries = [callback_entry(c) for c in store.changes_since(before)]
        event.done = True
        chunks = _chunks(event.entries, WEBHOOK_BATCH) or [[]]
        self._notify(instance, event, "async", [{"events": chunk} for chunk in chunks], url)

    # -- triggers and replays ----------------------------------------------------------
    def flush(self, instance: Instance) -> None:
        """Tell a polling instance now what its next tick would tell it (webhooks are told at once)."""
        if self._subscribed_now(instance) and instance.vendor_type == "polling":
            account = self._account(instance)
            changes = self._take_changes(instance, account)
            if changes:
                entries = [callback_entry(c) for c in changes]
                self._emit(instance, "polling", entries, _provider_data(account, instance, changes))

    def trigger(self, instance: Instance, entries: list[dict[str, Any]]) -> Event:
        """A notification now, with the events given (the control plane's on-demand trigger)."""
        url = self.require_callback(instance)
        event = self._new_event(instance, "trigger", entries, {"trigger": True})
        chunks = _chunks(entries, WEBHOOK_BATCH) or [[]]
        self._notify(instance, event, "trigger", [{"events": chunk} for chunk in chunks], url)
        return event

    def replay(self, notification_id: int) -> Notification:
        """Send a past notification again, byte for byte (its body keeps its notificationId).

        The copy gets a journal id of its own, so both stay visible; a client that de-duplicates
        on the body's notificationId sees a duplicate, which is what a replay is for.
        """
        original = self.engine.notification(notification_id)
        copy = Notification(
            id=self.state.ids.next("notification"),
            instance_id=original.instance_id,
            event_id=original.event_id,
            url=original.url,
            body=original.body,
            headers=dict(original.headers),
            kind="replay",
            created_at=self.state.clock.now(),
            policy=original.policy,
            owner=original.owner,
        )
        self.engine.submit(copy)
        event = self.events.get(original.event_id)
        if event is not None:
            event.notification_ids.append(copy.id)
        return copy

    def require_callback(self, instance: Instance) -> str:
        url = instance.callback_url
        if url is None:
            raise InvalidInput(f"instance {instance.id} has no event.notification.callback.url")
        return url

    # -- building notifications ----------------------------------------------------------
    def _new_event(
        self,
        instance: Instance,
        kind: EventKind,
        entries: list[dict[str, Any]],
        provider_data: dict[str, Any],
        *,
        done: bool = True,
    ) -> Event:
        event = Event(
            id=self.state.ids.next("event"),
            instance_id=instance.id,
            kind=kind,
            created_at=self.state.clock.now(),
            entries=entries,
            provider_data=provider_data,
            done=done,
        )
        self.events[event.id] = event
        return event

    def _emit(
        self, instance: Instance, kind: EventKind, entries: list[dict[str, Any]], data: dict[str, Any]
    ) -> None:
        url = instance.callback_url
        if url is None:
            return
        event = self._new_event(instance, kind, entries, data)
        size = WEBHOOK_BATCH if kind == "webhook" else POLLING_BATCH
        self._notify(instance, event, kind, [{"events": chunk} for chunk in _chunks(entries, size)], url)

    def _notify(
        self,
        instance: Instance,
        event: Event,
        kind: NotificationKind,
        responses: list[dict[str, Any]],
        url: str,
    ) -> None:
        policy = self.state.organizations[instance.organization_id].failure_policy
        for response in responses:
            notification_id = self.state.ids.next("notification")
            body = callback_body(event.id, instance.id, response, notification_id)
            notification = Notification(
                id=notification_id,
                instance_id=instance.id,
                event_id=event.id,
                url=url,
                body=body,
                headers=self._headers(instance, notification_id, body),
                kind=kind,
                created_at=self.state.clock.now(),
                policy=policy,
                owner=str(instance.organization_id),  # its organization's own queue at this URL
            )
            event.notification_ids.append(notification_id)
            self.engine.submit(notification)

    def _headers(self, instance: Instance, notification_id: int, body: bytes) -> dict[str, str]:
        webhook_id, instance_id, signed = _HEADER_NAMES.get(instance.dialect, _HEADER_NAMES["elements"])
        headers = {
            "Content-Type": "application/json",
            webhook_id: str(notification_id),
            instance_id: str(instance.id),
        }
        key = instance.signature_key
        if key:
            headers[signed] = signature(key, body)
        return headers

    # -- reading events ----------------------------------------------------------------
    def status(self, event: Event) -> str:
        """NEW until notified, DISPATCHED while deliveries are pending, NOTIFIED, or FAILED if any queued."""
        if not event.done:
            return "DISPATCHED"
        if not event.notification_ids:
            return "NEW"
        statuses = {self.engine.notification(n).status for n in event.notification_ids}
        if "queued" in statuses:
            return "FAILED"
        if statuses <= {"delivered", "dropped"}:
            return "NOTIFIED"
        return "DISPATCHED"

    def event_json(self, event: Event) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": event.id,
            "instanceId": event.instance_id,
            "eventType": event.kind,
            "eventDate": format_time(event.created_at),
            "status": self.status(event),
            "providerData": event.provider_data,
            "notifiedData": {"events": event.entries, "notificationIds": list(event.notification_ids)},
        }
        if event.error is not None:
            body["notifiedData"]["error"] = event.error
        return body

    def visible_events(self, caller: Caller, instance_id: int | None = None) -> list[Event]:
        owned = {i.id for i in self.state.visible_instances(caller)}
        if instance_id is not None:
            self.state.instance_for(caller, instance_id)
            owned &= {instance_id}
        return [e for e in self.events.values() if e.instance_id in owned]

    def event_for(self, caller: Caller, event_id: int | str, instance_id: int | None = None) -> Event:
        try:
            number = int(event_id)
        except ValueError:
            raise NotFound(f"No event found with id {event_id}") from None
        found = {e.id: e for e in self.visible_events(caller, instance_id)}.get(number)
        if found is None:
            raise NotFound(f"No event found with id {event_id}")
        return found


# Each dialect's spelling of the callback headers, spelled once.
_HEADER_NAMES = {
    name: (d.header("Webhook-Id"), d.header("Instance-Id"), d.header("Webhook-Signature"))
    for name, d in DIALECTS.items()
}


def _chunks(items: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    if 0 < len(items) <= size:
        return [items]  # most often one change, one chunk
    return [items[i : i + size] for i in range(0, len(items), size)]
