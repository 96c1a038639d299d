"""The running emulator: domain state plus the asyncio drivers that move its clock and send its callbacks."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from emulator.domain.clock import ClockMode
from emulator.domain.delivery import Attempt, DeliveryEngine, Notification
from emulator.domain.errors import InvalidInput
from emulator.domain.platform.events import EventService, standard_webhooks_headers
from emulator.domain.provider.tokens import DropboxTokens
from emulator.domain.snapshot import export_state, import_state
from emulator.domain.state import EmulatorState, StateSeed
from emulator.transport import Sender, Transport

log = logging.getLogger("emulator.runtime")
# Its own name, so that `serve` shows failed callbacks at its default log level (warning).
delivery_log = logging.getLogger("emulator.deliveries")


class ClockDriver:
    """Runs due timers: at once for work due now, and on wall time for a real clock's future timers."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.runtime.state.clock.on_schedule = self.poke
        self._task = asyncio.create_task(self._run(), name="clock-driver")

    async def stop(self) -> None:
        self.runtime.state.clock.on_schedule = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def poke(self) -> None:
        loop = self._loop
        if loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)

    async def _run(self) -> None:
        clock = self.runtime.state.clock
        while True:
            due = clock.next_due()
            now = clock.now()
            if due is not None and due <= now:
                clock.run_due()
                await asyncio.sleep(0)
                continue
            timeout = None
            if due is not None and clock.mode == "real":
                timeout = max(0.0, (due - now) / max(clock.scale, 1e-9))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)


def log_failed_attempt(attempt: Attempt) -> None:
    """A callback that did not get a 2xx, said at info level: a newcomer whose callback URL has no
    listener sees why nothing arrived (URL and reason; the body and headers may hold secrets)."""
    if attempt.outcome in ("failed", "dropped"):
        reason = attempt.error or (f"HTTP {attempt.status_code}" if attempt.status_code else attempt.outcome)
        delivery_log.info(
            "callback to %s failed: %s (notification %d, try %d)",
            attempt.url,
            reason,
            attempt.notification_id,
            attempt.try_number,
        )


class DeliveryWaiters:
    """Wakes long-polls (`/_emulator/deliveries/wait`) after every delivery attempt; no polling."""

    def __init__(self) -> None:
        self._changed: asyncio.Event | None = None

    def bind(self) -> None:
        self._changed = asyncio.Event()

    def poke(self, _attempt: Attempt | None = None) -> None:
        if self._changed is not None:
            self._changed.set()

    async def wait_for(self, satisfied: Callable[[], bool], timeout: float) -> bool:
        if self._changed is None:
            return satisfied()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not satisfied():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return True


@dataclass
class Sink:
    """A built-in callback receiver (`/_emulator/sinks/{name}`): what it received, and its next answers."""

    received: list[dict[str, Any]] = field(default_factory=list)
    script: list[int] = field(default_factory=list)  # statuses to answer next, first one first
    next_id: int = 1


class DropboxApiInfo(NamedTuple):
    """Where the HTTPS Dropbox API surface listens (hosts as `host:port`) and the CA file that signs it."""

    api_host: str
    content_host: str
    notify_host: str
    ca_file: str


@dataclass
class RuntimeOptions:
    clock_mode: ClockMode = "manual"
    delivery_timeout: float = 10.0  # wall seconds one delivery attempt may take
    standard_webhooks: bool = False  # also send webhook-id/-timestamp/-signature headers
    job_duration: float = 0.0  # emulator seconds an async job takes
    control_token: str | None = None  # when set, /_emulator/... requires it (emulator/web/control_guard.py)


class Runtime:
    """One emulator: what `serve`, the Python API and the tests all run."""

    def __init__(
        self,
        seed: StateSeed,
        *,
        clock_mode: ClockMode = "manual",
        source: str | None = None,
        options: RuntimeOptions | None = None,
        sender: Sender | None = None,
    ) -> None:
        self.source = source
        self.options = options or RuntimeOptions(clock_mode=clock_mode)
        self.state = EmulatorState(seed, self.options.clock_mode)
        self.engine = DeliveryEngine(self.state.clock)
        self.events = EventService(self.state, self.engine)
        self.waiters = DeliveryWaiters()
        self.engine.listeners.append(self.waiters.poke)
        self.engine.listeners.append(log_failed_attempt)
        self.transport = Transport(self.engine, timeout=self.options.delivery_timeout, sender=sender)
        if self.options.standard_webhooks:
            self.transport.header_signer = self._standard_webhooks_headers
        self.clock_driver = ClockDriver(self)
        # The Dropbox API surface (`serve --dropbox-api-port`): its bearer tokens, where it listens once up.
        self.dropbox_tokens = DropboxTokens(lambda: {t.id: t.provider for t in self.state.tenants.values()})
        self.dropbox_api: DropboxApiInfo | None = None
        self.sinks: dict[str, Sink] = {}
        # Every reset (the whole emulator, or the default tenant's) forgets what the sinks got.
        self.state.reset_listeners.append(self.sinks.clear)
        self.started = False
        # With `serve --state FILE`: saved on shutdown and on POST /_emulator/state/save.
        self.state_file: Path | None = None
        # Coroutines run for the server's lifetime (e.g. the fixture watcher), given a stop event.
        self.background: list[Callable[[asyncio.Event], Coroutine[Any, Any, None]]] = []
        self._stop_background: asyncio.Event | None = None
        self._background_tasks: list[asyncio.Task[None]] = []
        self.fixture_generation = 1

    async def start(self) -> None:
        if self.started:
            return
        self.waiters.bind()
        await self.transport.start()
        self.clock_driver.start()
        self._stop_background = asyncio.Event()
        self._background_tasks = [asyncio.create_task(run(self._stop_background)) for run in self.background]
        self.started = True

    async def stop(self) -> None:
        if not self.started:
            return
        if self._stop_background is not None:
            self._stop_background.set()
        for task in self._background_tasks:
            task.cancel()
        await asyncio.gather(*self._background_tasks, return_exceptions=True)
        await self.clock_driver.stop()
        await self.transport.stop()
        self.started = False
        if self.state_file is not None:
            self.save_state()

    def reset(self) -> None:
        self.state.reset()

    async def advance_to_next_retry(
        self, *, url: str | None, instance_id: int | None, timeout: float
    ) -> tuple[Notification, float] | None:
        """Wait until no attempt is due or in flight, move the clock to the earliest scheduled retry
        (of `url` / `instance_id`), and wait until that retry has been answered.

        One call for what a test on the manual clock otherwise races: a failed attempt is only known
        (and its retry scheduled) once the transport has had its answer. Answers the retried
        notification and how far the clock moved; None when no retry is scheduled. TimeoutError when
        the attempts do not settle within `timeout` seconds.
        """
        engine, clock = self.engine, self.state.clock
        if not await self.waiters.wait_for(engine.idle, timeout):
            raise TimeoutError("attempts were still due or in flight")
        found = engine.next_retry(url=url, instance_id=instance_id)
        if found is None:
            return None
        due, notification_id = found
        notification = engine.notification(notification_id)
        tries_before = notification.last_try
        moved = max(0.0, due - clock.now())
        clock.set(max(due, clock.now()))  # a real clock may have passed it meanwhile

        def retried() -> bool:
            tried = notification.last_try > tries_before
            return tried and all(a.outcome != "in_flight" for a in notification.attempts)

        if not await self.waiters.wait_for(retried, timeout):
            raise TimeoutError(f"the retry of notification {notification_id} was not answered in time")
        return notification, moved

    def _standard_webhooks_headers(self, attempt: Attempt) -> dict[str, str]:
        """Signed with the instance's signature key, stamped with the wall time of the attempt."""
        notification = self.engine.notification(attempt.notification_id)
        instance = self.state.instances.get(notification.instance_id or -1)
        key = instance.signature_key if instance is not None else None
        if key is None:
            return {}
        return standard_webhooks_headers(key, notification.id, int(time.time()), notification.body)

    # -- saved state -------------------------------------------------------------------------
    def export_state(self) -> dict[str, Any]:
        return export_state(self.state, self.events, self.engine)

    def import_state(self, data: object) -> None:
        import_state(self.state, self.events, self.engine, data)
        # Restored work that is due now (pending deliveries) must not wait for the next request.
        for url in self.engine.ready_destinations():
            self.transport.wake(url)

    def save_state(self, path: Path | None = None) -> Path:
        """Write the state atomically: a temporary file beside the target, then a rename."""
        target = path or self.state_file
        if target is None:
            raise InvalidInput("no state file: serve with --state FILE or give a path")
        data = json.dumps(self.export_state(), separators=(",", ":")).encode()
        handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        log.info("state saved to %s (%d bytes)", target, len(data))
        return target

    def load_state_file(self, path: Path) -> None:
        """Load `path` into the state; a file that cannot be read or imported raises StateFileError."""
        try:
            data = json.loads(path.read_bytes())
        except (OSError, ValueError) as problem:
            raise StateFileError(f"{path}: cannot read the state file: {problem}") from None
        try:
            self.import_state(data)
        except InvalidInput as problem:
            raise StateFileError(f"{path}: {problem.message}") from None


class StateFileError(Exception):
    """A --state file that cannot be loaded; the file is left as it is."""
