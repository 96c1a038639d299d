"""`GET /_emulator/stream`: the journal as Server-Sent Events, for the web console's live views.

Each connection registers listeners on the delivery engine (attempts), the provider accounts
(changes), the instances and resets, and a per-connection queue wakes it: no polling. Woken, it
compares the state with what it already told its client and sends one message per thing that
changed: `event`, `notification` (with its attempts), `attempt`, `instance`, `subscription`,
`account`, `clock`, and `reset` when the journal was replaced. A connection first sends
everything (so a reconnecting page resynchronises by itself), then `synced`; so does a reset.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from emulator import __version__
from emulator.domain.delivery import Attempt, Notification
from emulator.domain.errors import NotFound
from emulator.domain.platform.events import Event
from emulator.domain.platform.instances import Instance
from emulator.domain.provider.store import Change
from emulator.runtime import Runtime
from emulator.web.console_data_routes import instance_summaries
from emulator.web.context import runtime_of
from emulator.web.control_routes import clock_json
from emulator.web.delivery_json import attempt_json, notification_json
from emulator.web.routing import LazyRoute

log = logging.getLogger("emulator.web.stream")

PATH = "/_emulator/stream"
HEARTBEAT_SECONDS = 15.0
RECONNECT_MS = 1000
MAX_QUEUED_SIGNALS = 10_000
STOP = ("stop",)

Signal = tuple[Any, ...]
Fingerprint = tuple[Any, ...]


def sse(kind: str, data: Any) -> bytes:
    """One Server-Sent Event; compact JSON holds no newline, so one `data:` line is enough."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"event: {kind}\ndata: {text}\n\n".encode()


@dataclass
class Told:
    """What one connection has told its client so far, by id, as fingerprints of the state it saw."""

    events: dict[int, Fingerprint] = field(default_factory=dict)
    notifications: dict[int, Fingerprint] = field(default_factory=dict)
    instances: dict[int, str] = field(default_factory=dict)
    subscriptions: dict[str, str] = field(default_factory=dict)
    clock: str = ""


def _event_print(runtime: Runtime, event: Event) -> Fingerprint:
    return (runtime.events.status(event), len(event.notification_ids), event.done, event.error is not None)


def _notification_print(n: Notification) -> Fingerprint:
    return (n.status, len(n.attempts), n.attempts[-1].outcome if n.attempts else None)


class Watch:
    """One stream: listeners that feed its queue, and the messages it owes its client."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[Signal] = asyncio.Queue(MAX_QUEUED_SIGNALS)
        self.told = Told()
        self._resending = False
        self._unregister: list[Callable[[], None]] = []

    # -- listening -----------------------------------------------------------------------
    def open(self) -> None:
        state, engine = self.runtime.state, self.runtime.engine
        self._listen(engine.listeners, self._attempt)
        self._listen(state.change_listeners, self._account)
        self._listen(state.instance_listeners, self._instance)
        self._listen(state.reset_listeners, self._reset)

    def _listen(self, hooks: list[Any], listener: Callable[..., None]) -> None:
        hooks.append(listener)
        self._unregister.append(lambda: hooks.remove(listener))

    def close(self) -> None:
        while self._unregister:
            with contextlib.suppress(ValueError):
                self._unregister.pop()()

    def stop(self) -> None:
        self.signal(STOP)

    def _attempt(self, attempt: Attempt) -> None:
        self.signal(("attempt", attempt))

    def _account(self, tenant: str, account: str, batch: list[Change]) -> None:
        self.signal(("account", tenant, account))

    def _instance(self, instance: Instance) -> None:
        self.signal(("changed",))

    def _reset(self) -> None:
        self.signal(("reset",))

    def signal(self, item: Signal) -> None:
        """Safe from any thread; the domain calls it on the event loop."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            self._put(item)
        else:
            self.loop.call_soon_threadsafe(self._put, item)

    def _put(self, item: Signal) -> None:
        # A full queue only loses attempt notes: the next comparison finds every change anyway.
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(item)

    # -- talking -------------------------------------------------------------------------
    async def messages(self) -> AsyncIterator[bytes]:
        yield f"retry: {RECONNECT_MS}\n\n".encode()
        yield sse("hello", {"version": __version__})
        for message in self.changes():
            yield message
        yield sse("synced", {})
        while True:
            try:
                first = await asyncio.wait_for(self.queue.get(), HEARTBEAT_SECONDS)
            except TimeoutError:
                # The comment keeps proxies and the browser from timing the stream out; the comparison
                # catches what no listener reports (a notification queued behind a halted destination).
                yield b": keep-alive\n\n"
                for message in self.changes():
                    yield message
                continue
            signals = [first, *self._drain()]
            if STOP in signals:
                return
            for message in self._react(signals):
                yield message

    def _drain(self) -> list[Signal]:
        found = []
        while not self.queue.empty():
            found.append(self.queue.get_nowait())
        return found

    def _react(self, signals: list[Signal]) -> list[bytes]:
        out = []
        if ("reset",) in signals:
            out.append(self._forget())
        for item in signals:
            if item[0] == "attempt":
                out.append(self._attempt_message(item[1]))
            elif item[0] == "account":
                out.append(self._account_message(item[1], item[2]))
        return out + self.changes()

    def _account_message(self, tenant_id: str, key: str) -> bytes:
        tenant = self.runtime.state.tenants.get(tenant_id)  # a reset may have dropped it since
        account = tenant.provider.accounts.get(key) if tenant is not None else None
        cursor = account.store.cursor() if account is not None else None
        return sse("account", {"tenant": tenant_id, "account": key, "cursor": cursor})

    def _attempt_message(self, attempt: Attempt) -> bytes:
        try:
            instance_id = self.runtime.engine.notification(attempt.notification_id).instance_id
        except NotFound:  # an attempt of a journal a reset has since forgotten
            instance_id = None
        return sse("attempt", {**attempt_json(attempt), "instanceId": instance_id})

    def _forget(self) -> bytes:
        self.told = Told()
        self._resending = True
        return sse("reset", {})

    def changes(self) -> list[bytes]:
        """One message per event, notification, instance or subscription that changed since last told."""
        runtime = self.runtime
        notifications = runtime.engine.notifications()
        out: list[bytes] = []
        if self._replaced({n.id for n in notifications}):
            out.append(self._forget())
        for event in list(runtime.events.events.values()):
            mark = _event_print(runtime, event)
            if self.told.events.get(event.id) != mark:
                self.told.events[event.id] = mark
                out.append(sse("event", runtime.events.event_json(event)))
        for n in notifications:
            mark = _notification_print(n)
            if self.told.notifications.get(n.id) != mark:
                self.told.notifications[n.id] = mark
                out.append(sse("notification", notification_json(n)))
        out += self._instances() + self._subscriptions() + self._clock()
        if self._resending:  # after a reset, as after hello: everything again, then synced
            self._resending = False
            out.append(sse("synced", {}))
        return out

    def _replaced(self, notification_ids: set[int]) -> bool:
        """A state import swaps the journal without a reset: ids the client knows are gone."""
        events = self.runtime.events.events
        return any(i not in events for i in self.told.events) or not self.told.notifications.keys() <= (
            notification_ids
        )

    def _instances(self) -> list[bytes]:
        out = []
        current = {s["id"]: s for s in instance_summaries(self.runtime)}
        for gone in [i for i in self.told.instances if i not in current]:
            del self.told.instances[gone]
            out.append(sse("instance", {"id": gone, "deleted": True}))
        for instance_id, summary in current.items():
            text = json.dumps(summary, sort_keys=True)
            if self.told.instances.get(instance_id) != text:
                self.told.instances[instance_id] = text
                out.append(sse("instance", summary))
        return out

    def _subscriptions(self) -> list[bytes]:
        out = []
        for info in self.runtime.engine.subscriptions():
            text = json.dumps(info, sort_keys=True)
            if self.told.subscriptions.get(info["url"]) != text:
                self.told.subscriptions[info["url"]] = text
                out.append(sse("subscription", dict(info)))
        return out

    def _clock(self) -> list[bytes]:
        clock = clock_json(self.runtime.state.clock)
        text = json.dumps(clock, sort_keys=True)
        if text == self.told.clock:
            return []
        self.told.clock = text
        return [sse("clock", clock)]


class StreamHub:
    """The open streams of one app, so that a stopping server can end them."""

    def __init__(self) -> None:
        self.watches: set[Watch] = set()

    def stop_all(self) -> None:
        for watch in list(self.watches):
            watch.stop()


def hub_of(app: Starlette) -> StreamHub:
    hub = getattr(app.state, "console_streams", None)
    if not isinstance(hub, StreamHub):
        hub = StreamHub()
        app.state.console_streams = hub
    return hub


def end_streams(app: object) -> None:
    """For the server's shutdown: an open stream never ends by itself, and uvicorn waits for it."""
    if isinstance(app, Starlette):
        hub_of(app).stop_all()


class EventStreamResponse(StreamingResponse):
    """Streams a Watch until the client leaves or the server stops, then lets go of its listeners."""

    def __init__(self, watch: Watch, hub: StreamHub) -> None:
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        super().__init__(watch.messages(), media_type="text/event-stream", headers=headers)
        self.watch = watch
        self.hub = hub

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.watch.open()
        self.hub.watches.add(self.watch)
        writer = asyncio.create_task(self.stream_response(send))
        listener = asyncio.create_task(self.listen_for_disconnect(receive))
        try:
            await asyncio.wait({writer, listener}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (writer, listener):
                task.cancel()
            outcomes = await asyncio.gather(writer, listener, return_exceptions=True)
            self.hub.watches.discard(self.watch)
            self.watch.close()
        # A client gone mid-write is an OSError: nothing to report. Anything else is a bug (the page
        # reconnects and resynchronises, but the log must say why the stream broke).
        for outcome in outcomes:
            if isinstance(outcome, Exception) and not isinstance(outcome, OSError):
                log.error("the console stream failed", exc_info=outcome)


async def stream(request: Request) -> Response:
    """The journal, live, as Server-Sent Events (with `Accept: text/event-stream`, as EventSource sends)."""
    # A client that did not ask for a stream (a fuzzer, a plain GET) would wait forever: refuse it.
    if "text/event-stream" not in request.headers.get("accept", ""):
        raise HTTPException(406, "this is a Server-Sent Events stream: send Accept: text/event-stream")
    return EventStreamResponse(Watch(runtime_of(request)), hub_of(request.app))


def routes() -> list[Route]:
    return [LazyRoute(PATH, stream, methods=["GET"])]
