"""Measure 1, the API: three routes under load on the emulator and on the bare app, round after round.

The routes: `GET .../folders/contents` of a 50-file folder, `GET /instances/{id}`, and
`POST .../folders` (a new folder each time) through an instance whose account has one webhook
subscriber, so each write also sends a callback to the receiver. Each route is first called once
on the emulator; its answer (status, headers, body) is what the bare app serves on that route.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulator.bench import fixtures, servers
from emulator.bench.load import LoadResult, LoadSpec, run_load
from emulator.bench.stats import median, ratio

API = "/elements/api-v2"
# uvicorn's own headers, and the length the bare app's Response sets itself.
NOT_RECORDED = {"date", "server", "content-length"}


@dataclass(frozen=True)
class ApiRoute:
    name: str  # contents | instance | write
    method: str
    path: str
    headers: dict[str, str]
    body: str = ""  # `{n}` is unique per request

    def spec(self, port: int, seconds: float, connections: int) -> LoadSpec:
        return LoadSpec(
            servers.HOST, port, self.method, self.path, self.headers, self.body, connections, seconds
        )


def routes(read_instance_id: int) -> list[ApiRoute]:
    platform = f"User {fixtures.USER_SECRET}, Organization {fixtures.ORG_SECRET}"
    reads = {"Authorization": f"{platform}, Element {fixtures.READ_TOKEN}"}
    writes = {
        "Authorization": f"{platform}, Element {fixtures.WRITE_TOKEN}",
        "Content-Type": "application/json",
    }
    return [
        ApiRoute(
            "contents", "GET", f"{API}/hubs/documents/folders/contents?path={fixtures.BENCH_FOLDER}", reads
        ),
        ApiRoute("instance", "GET", f"{API}/instances/{read_instance_id}", {"Authorization": platform}),
        ApiRoute("write", "POST", f"{API}/hubs/documents/folders", writes, '{"path": "/w/c{n}", "tags": []}'),
    ]


def record(emulator_port: int, table: list[ApiRoute], out: Path) -> Path:
    """Calls each route once on the emulator and writes what it answered, for the bare app."""
    recorded: list[dict[str, Any]] = []
    for route in table:
        body = route.body.replace("{n}", "recorded").encode() if route.body else None
        status, headers, raw = servers.call(emulator_port, route.method, route.path, route.headers, body)
        if not 200 <= status <= 299:
            raise RuntimeError(f"{route.method} {route.path} answered {status}: {raw[:300]!r}")
        kept = [[k.lower(), v] for k, v in headers if k.lower() not in NOT_RECORDED]
        path = route.path.split("?")[0]
        recorded.append(
            {"method": route.method, "path": path, "status": status, "headers": kept,
             "body": base64.b64encode(raw).decode()}
        )  # fmt: skip
    out.write_text(json.dumps(recorded))
    return out


ROUTE_NAMES = ("contents", "instance", "write")


@dataclass
class ApiRounds:
    """Every load result, per route, per server ("emulator" or "bare"), in pairs run back to back."""

    results: dict[tuple[str, str], list[LoadResult]]

    def figures(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for (route, server), runs in self.results.items():
            prefix = f"api_{route}" if server == "emulator" else f"bare_{route}"
            out[f"{prefix}_rps"] = median([r.rps for r in runs])
            out[f"{prefix}_p50_ms"] = median([r.p50_ms for r in runs])
            out[f"{prefix}_p99_ms"] = median([r.p99_ms for r in runs])
            out[f"{prefix}_errors"] = float(sum(r.errors for r in runs))
        for route in ROUTE_NAMES:
            # The median of each pair's ratio: a pair ran back to back, so what else the machine was
            # doing weighed on both alike; a ratio of medians would mix pairs from calm and busy times.
            pairs = zip(self.results[(route, "emulator")], self.results[(route, "bare")], strict=True)
            out[f"api_{route}_ratio"] = median([ratio(ours.rps, bare.rps) for ours, bare in pairs])
        out["api_read_ratio"] = min(out["api_contents_ratio"], out["api_instance_ratio"])
        return out


@dataclass(frozen=True)
class ApiPlan:
    rounds: int
    pairs: int  # bare-and-emulator pairs per route and round
    seconds: float
    warmup: float
    connections: int = 32
    generator: str = "auto"


def run_rounds(
    emulator: servers.ServerProcess,
    bare: servers.ServerProcess,
    table: list[ApiRoute],
    plan: ApiPlan,
    progress: Callable[[str], None] = lambda _: None,
) -> ApiRounds:
    """Per round and route, `plan.pairs` pairs of runs, bare and emulator back to back, in turns first."""
    results: dict[tuple[str, str], list[LoadResult]] = {}
    both = [("bare", bare), ("emulator", emulator)]
    for route in table:  # warm both up: first-request costs are not what is measured
        for _, server in both:
            run_load(route.spec(server.port, plan.warmup, plan.connections), plan.generator)
            _after_write(route, server)
    turn = 0
    for number in range(plan.rounds):
        for route in table:
            for _ in range(plan.pairs):
                for name, server in both if turn % 2 == 0 else both[::-1]:
                    result = run_load(route.spec(server.port, plan.seconds, plan.connections), plan.generator)
                    results.setdefault((route.name, name), []).append(result)
                    _after_write(route, server)
                turn += 1
                ours, bare_run = results[(route.name, "emulator")][-1], results[(route.name, "bare")][-1]
                progress(
                    f"api round {number + 1}/{plan.rounds} {route.name:<8} emulator {ours.rps:>8,.0f} req/s, "
                    f"bare {bare_run.rps:>8,.0f} req/s"
                )
    return ApiRounds(results)


def _after_write(route: ApiRoute, server: servers.ServerProcess) -> None:
    """After writes, the emulator goes back to its fixture: no backlog of callbacks, no growing tree."""
    if route.method != "GET" and server.name == "emulator":
        servers.call_json(server.port, "POST", "/_emulator/reset")
