"""The running emulator: domain state plus the asyncio drivers that move its clock and send its callbacks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from emulator.domain.clock import ClockMode
from emulator.domain.delivery import Attempt, DeliveryEngine
from emulator.domain.platform.events import EventService
from emulator.domain.state import EmulatorState, StateSeed
from emulator.transport import Sender, Transport

log = logging.getLogger("emulator.runtime")


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
class RuntimeOptions:
    clock_mode: ClockMode = "manual"
    delivery_timeout: float = 10.0  # wall seconds one delivery attempt may take
    standard_webhooks: bool = False  # also send webhook-id/-timestamp/-signature headers
    job_duration: float = 0.0  # emulator seconds an async job takes


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
        self.events = EventService(self.state, self.engine, standard_webhooks=self.options.standard_webhooks)
        self.waiters = DeliveryWaiters()
        self.engine.listeners.append(self.waiters.poke)
        self.transport = Transport(self.engine, timeout=self.options.delivery_timeout, sender=sender)
        self.clock_driver = ClockDriver(self)
        self.started = False

    async def start(self) -> None:
        if self.started:
            return
        self.waiters.bind()
        await self.transport.start()
        self.clock_driver.start()
        self.started = True

    async def stop(self) -> None:
        if not self.started:
            return
        await self.clock_driver.stop()
        await self.transport.stop()
        self.started = False

    def reset(self) -> None:
        self.state.reset()
