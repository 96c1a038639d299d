"""Measure 2, callbacks: Dropbox-side changes to arrival at a receiver, next to a plain httpx client.

The driver makes each change through the control plane (`POST .../accounts/{account}/operations`,
an upload of `/{folder}/bench-{i}.txt`) on one keep-alive connection, and notes when it sent each.
The receiver notes when each callback arrived and the `bench-{i}` in its body. Latency is arrival
minus sending (one monotonic clock for every process); throughput is the deliveries over the time
from the first change sent to the last callback arrived.

Two runs of the same changes: back to back (a burst: throughput, the rate callbacks drain at),
and one at a time, each change waiting for its callbacks (latency: what a test that makes a
change and waits for its callback sees, with no queue of earlier changes in front of it). The
burst's latency is reported too: it is mostly time spent queued behind earlier changes.

The plain client is what a test would write by hand: one `httpx.AsyncClient` POSTing the same
bodies to the same receiver, one at a time, timed the same way; and, for context, the same
client shared by 16 concurrent senders (encode/httpx#3215).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from emulator.bench import servers
from emulator.bench.stats import median, percentile
from emulator.domain.platform.events import callback_body
from emulator.http11 import Answer, Connection

ARRIVAL_TIMEOUT = 120.0
PLAIN_CONCURRENCY = 16


@dataclass(frozen=True)
class Delivery:
    """What one run of changes or plain POSTs achieved."""

    count: int
    per_s: float
    p50_ms: float
    p99_ms: float


def analyse(sent_ns: dict[int, int], arrivals: list[list[int | str]], expected: int) -> Delivery:
    latencies: list[float] = []
    last = 0
    for stamp, _path, marker in arrivals:
        assert isinstance(stamp, int) and isinstance(marker, int)
        if marker in sent_ns:
            latencies.append((stamp - sent_ns[marker]) / 1e6)
            last = max(last, stamp)
    if len(latencies) < expected:
        raise RuntimeError(f"only {len(latencies)} of {expected} callbacks arrived")
    first = min(sent_ns.values())
    seconds = (last - first) / 1e9
    per_s = len(latencies) / seconds if seconds > 0 else 0.0
    return Delivery(len(latencies), per_s, median(latencies), percentile(latencies, 99))


def collect(receiver_port: int, expected: int) -> list[list[int | str]]:
    """Waits (bounded) until `expected` callbacks arrived, then takes them from the receiver."""
    servers.call_json(receiver_port, "GET", f"/_bench/wait?count={expected}&timeout={ARRIVAL_TIMEOUT:g}")
    arrivals: list[list[int | str]] = servers.call_json(receiver_port, "GET", "/_bench/arrivals?clear=1")
    return arrivals


def clear(receiver_port: int) -> None:
    servers.call_json(receiver_port, "GET", "/_bench/arrivals?clear=1")


# -- the emulator --------------------------------------------------------------------------
def operation_request(port: int, account: str, folder: str, index: int) -> bytes:
    body = json.dumps({"op": "upload", "path": f"/{folder}/bench-{index}.txt", "content": "x"}).encode()
    head = (
        f"POST /_emulator/providers/dropbox/accounts/{account}/operations HTTP/1.1\r\n"
        f"Host: {servers.HOST}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def make_changes(port: int, receiver_port: int, plan: ChangePlan) -> dict[int, int]:
    """The plan's changes, each sent once the previous one was answered; when each was sent (monotonic ns).

    With `plan.wait`, each change also waits until its callbacks arrived at the receiver before the
    next is made: no change queues behind another's callbacks.
    """
    loop = asyncio.get_running_loop()
    _, connection = await loop.create_connection(Connection, servers.HOST, port)
    _, receiver = await loop.create_connection(Connection, servers.HOST, receiver_port)
    requests = [operation_request(port, plan.account, plan.folder, i) for i in range(plan.changes)]
    sent: dict[int, int] = {}
    try:
        for index, request in enumerate(requests):
            sent[index] = time.monotonic_ns()
            await _expect_ok(connection.post(request), f"the change {index}")
            if plan.wait:
                wait = f"/_bench/wait?count={(index + 1) * plan.fanout}&timeout=30"
                await _expect_ok(receiver.post(_get(receiver_port, wait)), "waiting for the callbacks")
    finally:
        connection.close()
        receiver.close()
    return sent


async def _expect_ok(answering: Coroutine[Any, Any, Answer], what: str) -> None:
    answer = await asyncio.wait_for(answering, 60.0)
    if not 200 <= answer.status <= 299:
        raise RuntimeError(f"{what} answered {answer.status}: {answer.body[:200]!r}")


def _get(port: int, target: str) -> bytes:
    return f"GET {target} HTTP/1.1\r\nHost: {servers.HOST}:{port}\r\n\r\n".encode()


@dataclass(frozen=True)
class ChangePlan:
    account: str  # whose webhook instances (`fanout` of them) are told of each change
    folder: str
    changes: int
    fanout: int
    wait: bool  # one change at a time (latency) or back to back (throughput)


def emulator_run(emulator_port: int, receiver_port: int, plan: ChangePlan) -> Delivery:
    servers.call_json(emulator_port, "POST", "/_emulator/reset")
    clear(receiver_port)
    sent = _run(make_changes(emulator_port, receiver_port, plan))
    expected = plan.changes * plan.fanout
    return analyse(sent, collect(receiver_port, expected), expected)


# -- the plain client ------------------------------------------------------------------------
def plain_body(index: int) -> bytes:
    """The shape and size of the emulator's callback for change `index`."""
    path = f"/cb/bench-{index}.txt"
    event = {"path": path, "metadata": {"path": path, "name": f"bench-{index}.txt", "type": "file"}}
    return callback_body(1000 + index, 101, {"events": [event]}, 1000 + index)


async def plain_posts(url: str, count: int, concurrency: int) -> dict[int, int]:
    import httpx

    headers = {"Content-Type": "application/json", "Elements-Webhook-Id": "1", "Elements-Instance-Id": "101"}
    bodies = [plain_body(i) for i in range(count)]
    sent: dict[int, int] = {}
    async with httpx.AsyncClient(trust_env=False, timeout=30.0) as client:

        async def sender(indexes: range) -> None:
            for index in indexes:
                sent[index] = time.monotonic_ns()
                answer = await client.post(url, content=bodies[index], headers=headers)
                answer.raise_for_status()

        await asyncio.gather(*(sender(range(k, count, concurrency)) for k in range(concurrency)))
    return sent


def plain_run(receiver_port: int, count: int, concurrency: int) -> Delivery:
    clear(receiver_port)
    url = f"http://{servers.HOST}:{receiver_port}/hook/plain"
    sent = _run(plain_posts(url, count, concurrency))
    return analyse(sent, collect(receiver_port, count), count)


def _run(main: object) -> dict[int, int]:
    """Runs a driver coroutine on the loop the servers use (uvloop where installed)."""
    from emulator.bench.receiver import run_loop

    out: list[dict[int, int]] = []

    async def wrapper() -> None:
        out.append(await main)  # type: ignore[misc]

    run_loop(wrapper())
    return out[0]
