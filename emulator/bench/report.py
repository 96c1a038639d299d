"""The benchmark's output: a table a person can read, the targets met or missed, and one JSON line."""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class BenchTarget:
    key: str
    label: str
    bound: float
    at_least: bool  # True: the figure must be >= bound; False: <= bound
    unit: str = ""

    def met(self, figures: Mapping[str, Any]) -> bool | None:
        value = figures.get(self.key)
        if not isinstance(value, int | float):
            return None
        compare: Callable[[float, float], bool] = operator.ge if self.at_least else operator.le
        return compare(float(value), self.bound)

    def shortfall(self, figures: Mapping[str, Any]) -> float:
        """How far the figure is from its bound, as a fraction of the bound (0 when met)."""
        value = float(figures.get(self.key) or 0.0)
        gap = self.bound - value if self.at_least else value - self.bound
        return max(0.0, gap / self.bound)

    def text(self) -> str:
        return f"{'>=' if self.at_least else '<='} {self.bound:g}{self.unit}"


TARGETS = (
    BenchTarget("api_read_ratio", "API reads vs bare (lower of the two)", 0.6, True, "x"),
    BenchTarget("api_write_ratio", "API writes with a webhook vs bare", 0.4, True, "x"),
    BenchTarget("callback_throughput_ratio", "callbacks/s, 1 destination, vs plain httpx", 0.7, True, "x"),
    BenchTarget("callback_p99_ratio", "callback p99, 1 destination, vs plain httpx", 2.0, False, "x"),
    BenchTarget("fanout16_per_s", "callbacks/s, 16 destinations", 2000, True, "/s"),
    BenchTarget("fanout16_p99_ms", "callback p99, 16 destinations", 20, False, " ms"),
    BenchTarget("startup_ratio", "start-up vs bare", 1.5, False, "x"),
    BenchTarget("reset_ms", "reset, server time", 1.0, False, " ms"),
    BenchTarget("fixture_overhead_ms", "pytest fixture overhead per test", 5.0, False, " ms"),
    BenchTarget("scale_load_s", "100k-file fixture load", 3.0, False, " s"),
    BenchTarget("scale_rss_mb", "100k-file fixture RSS", 300, False, " MB"),
    BenchTarget("scale_latency_ratio", "100k-file latency vs default (worse of two)", 1.2, False, "x"),
    BenchTarget("idle_rss_mb", "idle RSS, default fixture", 60, False, " MB"),
)


def verdicts(figures: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {t.key: {"value": figures.get(t.key), "target": t.text(), "met": t.met(figures)} for t in TARGETS}


def misses(figures: Mapping[str, Any]) -> list[str]:
    """The targets not met: missed, or without a figure to judge (a measure that failed)."""
    return [target.key for target in TARGETS if target.met(figures) is not True]


def verdict(figures: Mapping[str, Any]) -> tuple[str, int]:
    """The last line of the table and the command's exit status: 1 when any target is not met."""
    missed = misses(figures)
    if not missed:
        return f"targets: all {len(TARGETS)} met", 0
    return f"targets: {len(missed)} of {len(TARGETS)} not met ({', '.join(missed)}): exit status 1", 1


def json_line(figures: Mapping[str, Any]) -> str:
    found = verdicts(figures)
    body = {**figures, "targets": found, "misses": misses(figures)}
    return json.dumps(body, separators=(",", ":"), sort_keys=True)


def _n(value: Any, digits: int = 2) -> str:
    if not isinstance(value, int | float):
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.{digits}f}"


def _triple(f: Mapping[str, Any], prefix: str, first: str) -> str:
    """`first`, p50 and p99 of a measure, in fixed columns."""
    p50, p99 = _n(f.get(prefix + "_p50_ms")), _n(f.get(prefix + "_p99_ms"))
    return f"{_n(f.get(prefix + first)):>9} {p50:>6} {p99:>6}"


def _api_rows(f: Mapping[str, Any]) -> list[str]:
    names = {
        "contents": "GET folders/contents (50 children)",
        "instance": "GET /instances/{id}",
        "write": "POST folders (1 webhook subscriber)",
    }
    head = f"  {'route':<38} {'emulator req/s  p50  p99 ms':>30} {'bare req/s  p50  p99 ms':>28} {'ratio':>7}"
    rows = [head]
    for key, label in names.items():
        ours, bare = _triple(f, f"api_{key}", "_rps"), _triple(f, f"bare_{key}", "_rps")
        rows.append(f"  {label:<38} {ours:>30} {bare:>28} {_n(f.get(f'api_{key}_ratio')):>6}x")
    return rows


def _callback_rows(f: Mapping[str, Any]) -> list[str]:
    names = {
        "callback": "emulator, 1 destination",
        "plain": "plain httpx client, sequential",
        "fanout16": "emulator, 16 destinations",
        "plain16": "plain httpx client shared by 16",
    }
    rows = [f"  {'sender':<38} {'deliveries/s':>13} {'p50 ms':>8} {'p99 ms':>8}   {'burst p50 / p99 ms':>18}"]
    for key, label in names.items():
        burst = f"{_n(f.get(f'{key}_burst_p50_ms'))} / {_n(f.get(f'{key}_burst_p99_ms'))}"
        rows.append(
            f"  {label:<38} {_n(f.get(f'{key}_per_s')):>13} {_n(f.get(f'{key}_p50_ms')):>8} "
            f"{_n(f.get(f'{key}_p99_ms')):>8}   {burst if key + '_burst_p50_ms' in f else '':>18}"
        )
    rows.append(
        "  (emulator: deliveries/s from a burst of changes; p50/p99 one change at a time, each waiting for"
    )
    rows.append("   its callbacks; the burst's latency is mostly queueing behind earlier changes)")
    return rows


def _other_rows(f: Mapping[str, Any]) -> list[str]:
    startup = (
        f"emulator {_n(f.get('startup_s'), 3)} s, bare {_n(f.get('bare_startup_s'), 3)} s "
        f"(CPU {_n(f.get('startup_cpu_s'), 3)} s vs {_n(f.get('bare_startup_cpu_s'), 3)} s)"
    )
    reset = f"{_n(f.get('reset_ms'), 3)} ms server time ({_n(f.get('reset_roundtrip_ms'), 3)} ms round trip)"
    overhead = f"{_n(f.get('fixture_overhead_ms'))} ms ({f.get('fixture_overhead_method', '-')})"
    scale = (
        f"load {_n(f.get('scale_load_s'))} s ({_n(f.get('scale_load_cpu_s'))} s CPU), "
        f"RSS {_n(f.get('scale_rss_mb'))} MB, "
        f"contents {_n(f.get('scale_contents_ms'), 3)} ms vs {_n(f.get('default_contents_ms'), 3)} ms, "
        f"upload {_n(f.get('scale_upload_ms'), 3)} ms vs {_n(f.get('default_upload_ms'), 3)} ms"
    )
    return [
        f"  start-up to first 200: {startup} (bytecode {f.get('bytecode', '-')})",
        f"  reset: {reset}",
        f"  fixture overhead per test: {overhead}",
        f"  scale ({_n(f.get('scale_files'))} files): {scale}",
        f"  idle RSS: emulator {_n(f.get('idle_rss_mb'), 1)} MB, bare {_n(f.get('bare_idle_rss_mb'), 1)} MB",
    ]


def table(figures: Mapping[str, Any]) -> str:
    f = figures
    lines = [
        f"hub-emulator bench: load generator {f.get('load_generator')}, "
        f"uvicorn {f.get('loop')} + {f.get('http')}, {f.get('rounds')} round(s), medians, "
        f"{_n(f.get('bench_seconds'), 0)} s in all",
        "",
        "1. API (32 connections)",
        *_api_rows(f),
        "",
        "2. Callbacks (change at Dropbox -> arrival at the receiver)",
        *_callback_rows(f),
        "",
        "3-6. Start-up, reset, isolation, scale, memory",
        *_other_rows(f),
        "",
        "Targets",
    ]
    for target in TARGETS:
        met = target.met(f)
        mark = "pass" if met else ("MISS" if met is False else "n/a ")
        lines.append(f"  {mark}  {target.label:<46} {_n(f.get(target.key)):>9}   target {target.text()}")
    missed = [t for t in TARGETS if t.met(f) is False]
    if missed:
        lines += ["", "Missed, by how much (README.md, Benchmarks, says why):"]
        lines += [
            f"  {t.key}: {_n(f.get(t.key))} against {t.text()}, {t.shortfall(f):.0%} off" for t in missed
        ]
    return "\n".join([*lines, "", verdict(f)[0]])
