"""The one clock: manual time moves only when told, timers run in time order at their own due time."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.domain.clock import Clock

START = 1767225600.0


def test_manual_clock_stands_still_until_advanced() -> None:
    clock = Clock(START)
    assert clock.now() == START
    clock.advance(90)
    assert clock.now() == START + 90


def test_timers_run_at_their_due_time_in_order() -> None:
    clock = Clock(START)
    seen: list[tuple[str, float]] = []
    clock.call_later(30, lambda: seen.append(("b", clock.now())))
    clock.call_later(10, lambda: seen.append(("a", clock.now())))
    clock.call_later(100, lambda: seen.append(("late", clock.now())))
    assert clock.advance(60) == 2
    assert seen == [("a", START + 10), ("b", START + 30)]
    assert clock.now() == START + 60


def test_work_due_now_runs_without_moving_time() -> None:
    clock = Clock(START)
    seen: list[str] = []
    clock.call_soon(lambda: seen.append("now"))
    clock.call_later(1, lambda: seen.append("later"))
    assert clock.run_due() == 1
    assert seen == ["now"]


def test_timer_scheduled_by_a_timer_runs_in_the_same_advance_when_due() -> None:
    clock = Clock(START)
    seen: list[float] = []

    def first() -> None:
        seen.append(clock.now())
        clock.call_later(5, lambda: seen.append(clock.now()))

    clock.call_later(5, first)
    clock.advance(20)
    assert seen == [START + 5, START + 10]


def test_cancelled_timer_never_runs() -> None:
    clock = Clock(START)
    seen: list[str] = []
    timer = clock.call_later(1, lambda: seen.append("x"))
    timer.cancel()
    clock.advance(5)
    assert seen == []


def test_clock_cannot_go_back() -> None:
    clock = Clock(START)
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(ValueError):
        clock.set(START - 1)


def test_real_clock_follows_the_wall_scaled() -> None:
    wall = [100.0]
    clock = Clock(START, mode="real", scale=60.0, wall=lambda: wall[0])
    wall[0] += 2.0
    assert clock.now() == START + 120.0
    clock.set_mode("manual")
    wall[0] += 50.0
    assert clock.now() == START + 120.0


def test_reset_forgets_timers_and_goes_back_to_start() -> None:
    clock = Clock(START)
    clock.call_later(10, lambda: None)
    clock.advance(5)
    clock.reset(START)
    assert clock.now() == START
    assert clock.pending() == []


@given(st.lists(st.floats(min_value=0, max_value=10_000, allow_nan=False), max_size=40))
def test_any_set_of_timers_runs_sorted_by_due_time(delays: list[float]) -> None:
    clock = Clock(START)
    seen: list[float] = []
    for delay in delays:
        clock.call_later(delay, lambda: seen.append(clock.now()))
    clock.advance(10_000)
    assert seen == sorted(START + d for d in delays)
