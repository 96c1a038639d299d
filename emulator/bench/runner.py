"""Runs every measure of `hub-emulator bench` in one go and answers one flat dict of figures.

Order: start-up, idle memory and reset on the default fixture; then, with the receiver up, the API
against the bare app, callbacks against a plain client, scale; last the pytest fixture's overhead.
Each server is a child process, stopped at the end whatever happens.
"""

from __future__ import annotations

import compileall
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from emulator.bench import api_bench, callbacks, fixtures, overhead, scale, servers
from emulator.bench.load import generator_name
from emulator.bench.stats import median, ratio
from emulator.server import fast_loop_settings

Progress = Callable[[str], None]
IDLE_SETTLE_SECONDS = 0.2  # after the first 200: what start-up left running settles before RSS is read


@dataclass(frozen=True)
class BenchOptions:
    rounds: int = 3
    api_seconds: float = 2.0
    api_pairs: int = 2  # bare-and-emulator pairs per route and round
    warmup_seconds: float = 1.0
    changes: int = 2000
    fanout_changes: int = 2000  # each to 16 destinations: 32,000 deliveries
    fanout_latency_changes: int = 500
    launches: int = 9  # start-up pairs: single pairs' ratios swing from 0.9x to 1.7x here
    resets: int = 300
    scale_folders: int = 1000
    scale_files: int = 100_000
    latency_requests: int = 300
    overhead_tests: int = 100
    generator: str = "auto"  # auto | wrk | python

    @classmethod
    def of(cls, *, quick: bool = False, rounds: int | None = None, generator: str = "auto") -> BenchOptions:
        options = replace(cls.quick() if quick else cls(), generator=generator)
        return options if rounds is None else replace(options, rounds=max(1, rounds))

    @classmethod
    def quick(cls) -> BenchOptions:
        """A smoke run: every measure, small and short (the figures are rough)."""
        return cls(
            rounds=1, api_seconds=1.0, api_pairs=1, warmup_seconds=0.5, changes=200, fanout_changes=20,
            fanout_latency_changes=20, launches=1, resets=30, scale_folders=50, scale_files=2000,
            latency_requests=30, overhead_tests=0,
        )  # fmt: skip


def run_bench(options: BenchOptions, progress: Progress = lambda _: None) -> dict[str, Any]:
    started = time.perf_counter()
    loop = fast_loop_settings()
    figures: dict[str, Any] = {
        "load_generator": generator_name(options.generator),
        "loop": loop["loop"],
        "http": loop["http"],
        "rounds": options.rounds,
        "bytecode": ensure_bytecode(),
    }
    with tempfile.TemporaryDirectory(prefix="hub-bench-") as folder, ExitStack() as stack:
        receiver = servers.launch_receiver(servers.free_port())
        stack.callback(receiver.stop)
        made = fixtures.make_fixtures(Path(folder), receiver.origin)
        figures |= startup_and_memory(made, options, loop, progress)
        with emulator_on(made.bench) as emulator:
            figures |= api(made, emulator, receiver, options, loop, progress)
            figures |= callback_figures(emulator, receiver, options, progress)
            figures |= scale.measure(made, emulator, options.scale_folders, options.scale_files,
                                     options.latency_requests, progress, options.rounds)  # fmt: skip
            figures |= overhead.measure(options.overhead_tests, emulator.port, progress)
    figures["bench_seconds"] = time.perf_counter() - started
    return figures


def ensure_bytecode() -> str:
    """Compiles the emulator's modules where their bytecode is missing or stale, as `pip install` does.

    Without it, an environment that writes no bytecode (PYTHONDONTWRITEBYTECODE, an editable
    install) compiles the emulator's ~100 modules at every start (about 150 ms here), while the
    bare app's dependencies come compiled: that would measure the environment, not the emulator.
    """
    package = Path(__file__).resolve().parents[1]
    try:
        done = compileall.compile_dir(package, quiet=1)
    except OSError:
        done = False
    return "compiled" if done else "unavailable (start-up includes compiling)"


@contextmanager
def emulator_on(fixture: Path) -> Iterator[servers.ServerProcess]:
    port = servers.free_port()
    server = servers.launch("emulator", servers.emulator_command(port, fixture), port)
    try:
        yield server
    finally:
        server.stop()


# -- 3, 4 (reset), 6: start-up, reset, idle memory on the default fixture -----------------------------
def startup_and_memory(
    made: fixtures.BenchFixtures, options: BenchOptions, loop: dict[str, str], progress: Progress
) -> dict[str, float]:
    """Launch to first 200 and idle RSS of each server, in pairs (which goes first alternates)."""
    samples: dict[str, list[float]] = {}
    reset_figures: dict[str, float] = {}
    for number in range(options.launches):
        for kind in ("bare", "emulator") if number % 2 == 0 else ("emulator", "bare"):
            server = _launch_default(kind, made, loop)
            try:
                time.sleep(IDLE_SETTLE_SECONDS)
                prefix = "" if kind == "emulator" else "bare_"
                samples.setdefault(f"{prefix}startup_s", []).append(server.start_seconds)
                samples.setdefault(f"{prefix}startup_cpu_s", []).append(server.start_cpu_seconds)
                samples.setdefault(f"{prefix}idle_rss_mb", []).append(server.rss_mb())
                if kind == "emulator" and not reset_figures:
                    reset_figures = resets(server, options.resets)
            finally:
                server.stop()
        last = {key: values[-1] for key, values in samples.items()}
        progress(
            f"start-up {number + 1}: emulator {last['startup_s']:.3f} s, bare {last['bare_startup_s']:.3f} s"
        )
    figures = {key: median(values) for key, values in samples.items()}
    pairs = zip(samples["startup_s"], samples["bare_startup_s"], strict=True)
    figures["startup_ratio"] = median([ratio(ours, bare) for ours, bare in pairs])
    return figures | reset_figures


def _launch_default(kind: str, made: fixtures.BenchFixtures, loop: dict[str, str]) -> servers.ServerProcess:
    port = servers.free_port()
    if kind == "bare":
        return servers.launch(kind, servers.bare_command(port, None, loop["loop"], loop["http"]), port)
    return servers.launch(kind, servers.emulator_command(port, made.default), port)


def resets(server: servers.ServerProcess, count: int) -> dict[str, float]:
    server_ms: list[float] = []
    round_trip_ms: list[float] = []
    for _ in range(count):
        started = time.perf_counter()
        answer = servers.call_json(server.port, "POST", "/_emulator/reset")
        round_trip_ms.append((time.perf_counter() - started) * 1000)
        server_ms.append(float(answer["serverMs"]))
    return {"reset_ms": median(server_ms), "reset_roundtrip_ms": median(round_trip_ms)}


# -- 1: the API ------------------------------------------------------------------------------
def api(
    made: fixtures.BenchFixtures,
    emulator: servers.ServerProcess,
    receiver: servers.ServerProcess,
    options: BenchOptions,
    loop: dict[str, str],
    progress: Progress,
) -> dict[str, float]:
    table = api_bench.routes(made.first_instance_id)
    routes_file = api_bench.record(emulator.port, table, made.folder / "routes.json")
    servers.call_json(emulator.port, "POST", "/_emulator/reset")
    port = servers.free_port()
    bare = servers.launch("bare", servers.bare_command(port, routes_file, loop["loop"], loop["http"]), port)
    try:
        plan = api_bench.ApiPlan(
            options.rounds, options.api_pairs, options.api_seconds, options.warmup_seconds,
            generator=options.generator,
        )  # fmt: skip
        rounds = api_bench.run_rounds(emulator, bare, table, plan, progress)
    finally:
        bare.stop()
    callbacks.clear(receiver.port)
    return rounds.figures()


# -- 2: callbacks --------------------------------------------------------------------------------
def callback_plans(options: BenchOptions) -> dict[str, callbacks.ChangePlan]:
    solo, fan, fanout = options.changes, options.fanout_changes, fixtures.FANOUT
    return {
        "callback_burst": callbacks.ChangePlan("solo", "cb", solo, 1, wait=False),
        "callback": callbacks.ChangePlan("solo", "cb", solo, 1, wait=True),
        "fanout16_burst": callbacks.ChangePlan("fan", "fan", fan, fanout, wait=False),
        "fanout16": callbacks.ChangePlan("fan", "fan", options.fanout_latency_changes, fanout, wait=True),
    }


def callback_figures(
    emulator: servers.ServerProcess,
    receiver: servers.ServerProcess,
    options: BenchOptions,
    progress: Progress,
) -> dict[str, float]:
    runs: dict[str, list[callbacks.Delivery]] = {}
    for number in range(options.rounds):
        measured = {
            name: callbacks.emulator_run(emulator.port, receiver.port, plan)
            for name, plan in callback_plans(options).items()
        }
        measured["plain"] = callbacks.plain_run(receiver.port, options.changes, 1)
        measured["plain16"] = callbacks.plain_run(receiver.port, options.changes, callbacks.PLAIN_CONCURRENCY)
        for name, result in measured.items():
            runs.setdefault(name, []).append(result)
            progress(
                f"callbacks round {number + 1}/{options.rounds} {name:<15} {result.per_s:>8,.0f}/s "
                f"p50 {result.p50_ms:.2f} ms p99 {result.p99_ms:.2f} ms"
            )
    servers.call_json(emulator.port, "POST", "/_emulator/reset")
    return callback_summary(runs)


def callback_summary(runs: dict[str, list[callbacks.Delivery]]) -> dict[str, float]:
    """Throughput from the bursts, latency from the one-at-a-time runs; medians over the rounds."""
    figures: dict[str, float] = {}
    for name, results in runs.items():
        figures[f"{name}_per_s"] = median([r.per_s for r in results])
        figures[f"{name}_p50_ms"] = median([r.p50_ms for r in results])
        figures[f"{name}_p99_ms"] = median([r.p99_ms for r in results])
    for name in ("callback", "fanout16"):
        # A one-at-a-time run's rate is the driver's pace; the destinations' rate is the burst's.
        figures[f"{name}_paced_per_s"] = figures[f"{name}_per_s"]
        figures[f"{name}_per_s"] = figures.pop(f"{name}_burst_per_s")
    figures["callback_throughput_ratio"] = ratio(figures["callback_per_s"], figures["plain_per_s"])
    figures["callback_p99_ratio"] = ratio(figures["callback_p99_ms"], figures["plain_p99_ms"])
    return figures
