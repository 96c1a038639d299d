"""One clock and one scheduler for everything timed in the emulator (DESIGN.md section 4)."""

from __future__ import annotations

import heapq
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

ClockMode = Literal["manual", "real"]
CLOCK_MODES: tuple[ClockMode, ...] = ("manual", "real")
# 9999-12-31T23:59:59Z, the last time a date can be written: the clock never goes past it.
LATEST = 253402300799.0
MAX_SCALE = 1_000_000.0  # a real clock at most this many times faster than the wall clock

log = logging.getLogger("emulator.clock")


@dataclass(order=True)
class Timer:
    """A callback due at an emulator time; ordered by (due, seq) so equal times keep scheduling order."""

    due: float
    seq: int
    callback: Callable[[], None] = field(compare=False)
    label: str = field(compare=False, default="")
    cancelled: bool = field(compare=False, default=False)

    def cancel(self) -> None:
        self.cancelled = True


class Clock:
    """Emulator time in epoch seconds.

    `manual` time moves only through `advance`/`set`; `real` time follows the wall clock
    (times `scale`) from the moment the mode was chosen. Either way timers run only from
    `run_due`/`advance`, so the domain never sleeps: whoever drives the clock (the server's
    ticker in real mode, a test in manual mode) decides when due work runs.
    """

    def __init__(
        self,
        start: float,
        mode: ClockMode = "manual",
        scale: float = 1.0,
        wall: Callable[[], float] = time.monotonic,
    ) -> None:
        self._wall = wall
        self._timers: list[Timer] = []
        self._seq = itertools.count()
        self._running = False
        # While timers run: the time this run moves to (periodic work may skip idle ticks up to it).
        self.horizon: float | None = None
        # Set by whoever drives a real clock, to be told that an earlier timer appeared.
        self.on_schedule: Callable[[], None] | None = None
        self._anchor = start
        self._wall_anchor = wall()
        self.mode: ClockMode = mode
        self.scale = scale

    def reset(self, start: float) -> None:
        """Forget every timer and go back to `start` (used by the emulator's reset)."""
        self._timers.clear()
        self._anchor = start
        self._wall_anchor = self._wall()
        self._notify()

    # -- reading -----------------------------------------------------------------------
    def now(self) -> float:
        if self.mode == "manual":
            return self._anchor
        return min(self._anchor + (self._wall() - self._wall_anchor) * self.scale, LATEST)

    def set_mode(self, mode: ClockMode, scale: float | None = None) -> None:
        """Switch mode without a jump in emulator time."""
        current = self.now()
        self.mode = mode
        if scale is not None:
            self.scale = scale
        self._anchor = current
        self._wall_anchor = self._wall()
        self._notify()

    # -- scheduling --------------------------------------------------------------------
    def call_at(self, due: float, callback: Callable[[], None], label: str = "") -> Timer:
        timer = Timer(due, next(self._seq), callback, label)
        heapq.heappush(self._timers, timer)
        if self._timers[0] is timer:
            self._notify()
        return timer

    def call_later(self, delay: float, callback: Callable[[], None], label: str = "") -> Timer:
        return self.call_at(self.now() + max(0.0, delay), callback, label)

    def call_soon(self, callback: Callable[[], None], label: str = "") -> Timer:
        return self.call_at(self.now(), callback, label)

    def next_due(self) -> float | None:
        self._drop_cancelled()
        return self._timers[0].due if self._timers else None

    def pending(self) -> list[Timer]:
        return sorted(t for t in self._timers if not t.cancelled)

    # -- moving time -------------------------------------------------------------------
    def run_due(self) -> int:
        """Run every timer due now, in time order, including those the callbacks schedule."""
        return self._run_until(self.now(), move_time=False)

    def advance(self, seconds: float) -> int:
        if seconds < 0:
            raise ValueError("the clock cannot go back")
        return self.set(self.now() + seconds)

    def set(self, when: float) -> int:
        """Move time forward to `when`, running each due timer at its own due time."""
        if when < self.now():
            raise ValueError("the clock cannot go back")
        if when > LATEST:
            raise ValueError("the clock cannot go past 9999-12-31T23:59:59Z")
        return self._run_until(when, move_time=True)

    def _run_until(self, until: float, move_time: bool) -> int:
        if self._running:
            # A timer callback moving the clock would run timers re-entrantly; refuse it.
            raise RuntimeError("the clock cannot be moved from inside a timer")
        self._running = True
        self.horizon = until
        ran = 0
        try:
            while True:
                self._drop_cancelled()
                if not self._timers or self._timers[0].due > until:
                    break
                timer = heapq.heappop(self._timers)
                if move_time and timer.due > self.now():
                    self._jump_to(timer.due)
                try:
                    timer.callback()
                except Exception:  # a failing timer must not stop the others
                    log.exception("timer %r failed", timer.label)
                ran += 1
            if move_time and until > self.now():
                self._jump_to(until)
        finally:
            self._running = False
            self.horizon = None
        return ran

    def _jump_to(self, when: float) -> None:
        self._anchor = when
        self._wall_anchor = self._wall()

    def _drop_cancelled(self) -> None:
        while self._timers and self._timers[0].cancelled:
            heapq.heappop(self._timers)

    def _notify(self) -> None:
        if self.on_schedule is not None:
            self.on_schedule()
