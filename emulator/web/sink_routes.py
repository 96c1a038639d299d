"""Control plane for the receiving end of callbacks: built-in sinks, and an organization's failure policy.

A sink (`/_emulator/sinks/{name}`) is a callback receiver inside the emulator, so that scenarios and
people need no server of their own: it records every request it gets and answers 200, or the next
status of its script. Callbacks reach it through the normal delivery engine, over real HTTP.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulator.domain.errors import InvalidInput, NotFound
from emulator.domain.provider.content import format_time
from emulator.runtime import Runtime, Sink
from emulator.web.bodies import read_body, read_json
from emulator.web.context import json_response, runtime_of, state_of
from emulator.web.routing import LazyRoute

PREFIX = "/_emulator"
SINK_BODY_BYTES = 16 * 1024 * 1024
MAX_RECORDS = 10_000  # per sink; the oldest go first, so a forgotten sink cannot fill the memory
MAX_SCRIPT = 1_000
MAX_WAIT_SECONDS = 120.0
POLICIES = ("retry", "queue")


def _sink(request: Request, *, create: bool = False) -> Sink:
    runtime = runtime_of(request)
    name = request.path_params["name"]
    found = runtime.sinks.get(name)
    if found is None:
        found = Sink()
        if create:
            runtime.sinks[name] = found
    return found


async def receive(request: Request) -> Response:
    runtime = runtime_of(request)
    sink = _sink(request, create=True)
    raw = await read_body(request, SINK_BODY_BYTES)
    status = sink.script.pop(0) if sink.script else 200
    sink.received.append(_record(runtime, sink, request, raw, status))
    del sink.received[:-MAX_RECORDS]
    runtime.waiters.poke()  # wakes `GET /_emulator/sinks/{name}?count=N` long-polls
    return json_response({"received": sink.next_id - 1}, status=status)


def _record(runtime: Runtime, sink: Sink, request: Request, raw: bytes, status: int) -> dict[str, Any]:
    now = runtime.state.clock.now()
    text = raw.decode("utf-8", errors="replace")
    record = {
        "id": sink.next_id,
        "method": request.method,
        "query": request.url.query,
        "headers": dict(request.headers),
        "body": _parsed(text),
        "raw": text,
        "receivedAt": now,
        "receivedDate": format_time(now),
        "wallTime": time.time(),
        "answered": status,
    }
    sink.next_id += 1
    return record


def _parsed(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


async def listing(request: Request) -> Response:
    """What the sink received; with `count=N`, waits (up to `timeout` seconds) until it has N records."""
    runtime = runtime_of(request)
    count = _number(request, "count", 0)
    timeout = min(_number(request, "timeout", 10), MAX_WAIT_SECONDS)
    reached = await runtime.waiters.wait_for(lambda: len(_sink(request).received) >= count, timeout)
    sink = _sink(request)
    body = {
        "name": request.path_params["name"],
        "count": len(sink.received),
        "received": sink.received,
        "script": sink.script,
        "reached": reached,
    }
    return json_response(body, status=200 if reached else 408)


def _number(request: Request, name: str, default: float) -> float:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be a number") from None
    if not value >= 0 or value == float("inf"):
        raise InvalidInput(f"{name} must be a finite number, not negative")
    return value


async def sinks(request: Request) -> Response:
    found = runtime_of(request).sinks
    return json_response([{"name": name, "count": len(s.received)} for name, s in found.items()])


async def script(request: Request) -> Response:
    body = await read_json(request, 64 * 1024)
    statuses = body.get("statuses") if isinstance(body, Mapping) else None
    valid = isinstance(statuses, list) and all(
        isinstance(s, int) and not isinstance(s, bool) and 200 <= s <= 599 for s in statuses
    )
    if not valid or not isinstance(statuses, list):
        raise InvalidInput('the body must be {"statuses": [500, 503, ...]}, HTTP statuses from 200 to 599')
    if len(statuses) > MAX_SCRIPT:
        raise InvalidInput(f"a script holds at most {MAX_SCRIPT} statuses")
    sink = _sink(request, create=True)
    sink.script = list(statuses)
    return json_response({"name": request.path_params["name"], "script": sink.script})


async def clear(request: Request) -> Response:
    removed = runtime_of(request).sinks.pop(request.path_params["name"], None)
    return json_response({"cleared": 0 if removed is None else len(removed.received)})


async def set_policy(request: Request) -> Response:
    """`notification.webhook.failure.policy` of an organization, for the notifications created next."""
    body = await read_json(request, 64 * 1024)
    policy = body.get("policy") if isinstance(body, Mapping) else None
    if policy not in POLICIES:
        raise InvalidInput('the body must be {"policy": "retry"} or {"policy": "queue"}')
    org_id = request.path_params["id"]
    org = state_of(request).organizations.get(org_id)
    if org is None:
        raise NotFound(f"no organization {org_id}")
    org.failure_policy = policy
    return json_response({"id": org.id, "policy": org.failure_policy})


def routes() -> list[Route]:
    return [
        LazyRoute(PREFIX + "/sinks", sinks, methods=["GET"]),
        LazyRoute(PREFIX + "/sinks/{name}", receive, methods=["POST"]),
        LazyRoute(PREFIX + "/sinks/{name}", listing, methods=["GET"]),
        LazyRoute(PREFIX + "/sinks/{name}", clear, methods=["DELETE"]),
        LazyRoute(PREFIX + "/sinks/{name}/script", script, methods=["PUT"]),
        LazyRoute(PREFIX + "/organizations/{id:int}/policy", set_policy, methods=["PUT"]),
    ]
