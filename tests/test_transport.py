"""The transport over real HTTP on loopback: order, isolation between destinations, retries, faults."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from emulator.domain.clock import Clock
from emulator.domain.delivery import DeliveryEngine, FaultRule, Notification
from emulator.transport import SendResult, Transport

START = 1767225600.0
WAIT = 10.0  # bound of every wait; a passing test never comes near it


@dataclass(frozen=True)
class Received:
    path: str
    notification_id: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A client app's callback endpoint: records every POST, answers 200 unless told to fail."""

    port: int = 0
    requests: list[Received] = field(default_factory=list)
    fail: dict[str, list[int]] = field(default_factory=dict)  # path -> statuses for its next requests

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def ids(self, path: str) -> list[int]:
        return [r.notification_id for r in self.requests if r.path == path]

    async def endpoint(self, request: Request) -> PlainTextResponse:
        body = await request.body()
        self.requests.append(
            Received(
                request.url.path, int(request.headers["elements-webhook-id"]), dict(request.headers), body
            )
        )
        statuses = self.fail.get(request.url.path)
        status = statuses.pop(0) if statuses else 200
        return PlainTextResponse("thanks" if status < 300 else "not now", status_code=status)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    app = Starlette(routes=[Route("/{path:path}", found.endpoint, methods=["POST"])])
    # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY on accepted connections only when the
    # listening socket says so, and without it (plain asyncio + h11, no uvloop) Nagle's algorithm and
    # delayed ACKs cost every answer 40 ms.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    found.port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT
    while not server.started:  # the server's own readiness flag, not emulated time
        assert time.monotonic() < deadline, "the receiver did not start"
        time.sleep(0.005)
    yield found
    server.should_exit = True
    thread.join(WAIT)
    sock.close()


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A loopback URL that refuses connections: its port is held, bound but not listening,
    so no other test (or xdist worker) can start listening there meanwhile."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/hook"


def note(nid: int, url: str) -> Notification:
    return Notification(
        id=nid,
        instance_id=1,
        event_id=1000 + nid,
        url=url,
        body=f'{{"notificationId": {nid}, "eventId": {1000 + nid}, "instanceId": 1}}'.encode(),
        headers={"Content-Type": "application/json", "Elements-Webhook-Id": str(nid)},
        kind="webhook",
        created_at=START,
    )


async def until(condition: Callable[[], bool], timeout: float = WAIT) -> None:
    """Wait until `condition` holds, checking between the event loop's other work."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


def run(test: Callable[[Clock, DeliveryEngine], Coroutine[Any, Any, None]]) -> None:
    clock = Clock(start=START)
    asyncio.run(test(clock, DeliveryEngine(clock)))


def test_a_thousand_notifications_to_one_receiver_arrive_once_and_in_order(receiver: Receiver) -> None:
    url = receiver.url("/hook")

    async def scenario(clock: Clock, engine: DeliveryEngine) -> None:
        async with Transport(engine, timeout=5.0) as transport:
            started = time.perf_counter()
            for nid in range(1, 1001):
                engine.submit(note(nid, url))
            assert await transport.drain(WAIT)
            elapsed = time.perf_counter() - started
        print(f"\n1,000 deliveries in {elapsed:.2f} s: {1000 / elapsed:.0f} deliveries/s")

    run(scenario)
    assert receiver.ids("/hook") == list(range(1, 1001))
    assert all(r.body == note(r.notification_id, "").body for r in receiver.requests)


def test_sixteen_destinations_each_get_their_own_notifications_in_order(receiver: Receiver) -> None:
    paths = [f"/app{i}/hook" for i in range(16)]

    async def scenario(clock: Clock, engine: DeliveryEngine) -> None:
        async with Transport(engine) as transport:
            for nid in range(1, 801):
                engine.submit(note(nid, receiver.url(paths[nid % 16])))
            assert await transport.drain(WAIT)

    run(scenario)
    for i, path in enumerate(paths):
        assert receiver.ids(path) == list(range(16 if i == 0 else i, 801, 16))


def test_refused_and_hanging_destinations_do_not_hold_back_a_healthy_one(
    receiver: Receiver, refused_url: str
) -> None:
    refused = refused_url
    listener = socket.socket()  # accepts connections into its backlog and never answers
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    hanging = f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
    healthy = receiver.url("/healthy")

    async def scenario(clock: Clock, engine: DeliveryEngine) -> None:
        # Longer than any wait below, so the hanging attempt is surely still in flight at the check.
        transport = Transport(engine, timeout=3 * WAIT)
        await transport.start()
        engine.submit(note(1, hanging))
        engine.submit(note(2, refused))
        for nid in range(3, 103):
            engine.submit(note(nid, healthy))
        # Delivered by the engine's account, not only received: the last answer must have been read.
        await until(
            lambda: (
                engine.notification(102).status == "delivered" and bool(engine.attempts(notification_id=2))
            )
        )
        assert len(receiver.ids("/healthy")) == 100
        by_url = {s["url"]: s for s in engine.subscriptions()}
        assert by_url[hanging]["in_flight"]  # still waiting for its answer
        assert by_url[refused]["state"] == "retrying"
        (failed,) = engine.attempts(notification_id=2)
        assert failed.status_code is None and failed.error and "connection failed" in failed.error
        await transport.stop()
        # Stopping hands the unanswered attempt back: it is due again, with no retry used.
        assert engine.notification(1).status == "pending"
        assert engine.ready_destinations() == [hanging]

    try:
        run(scenario)
    finally:
        listener.close()
    assert receiver.ids("/healthy") == list(range(3, 103))


def test_a_retry_after_the_clock_advances_arrives_with_the_same_body(receiver: Receiver) -> None:
    receiver.fail["/flaky"] = [503]
    url = receiver.url("/flaky")

    async def scenario(clock: Clock, engine: DeliveryEngine) -> None:
        async with Transport(engine) as transport:
            engine.submit(note(1, url))
            assert await transport.drain(WAIT)
            assert len(receiver.requests) == 1 and engine.notification(1).status == "pending"
            clock.advance(4)  # the retry timer wakes the worker
            assert await transport.drain(WAIT)

    run(scenario)
    first, retry = receiver.requests
    assert first.body == retry.body
    assert first.headers["elements-webhook-id"] == retry.headers["elements-webhook-id"] == "1"


def test_the_journal_records_status_latency_and_the_answer(receiver: Receiver) -> None:
    receiver.fail["/hook"] = [500]
    url = receiver.url("/hook")

    async def scenario(clock: Clock, engine: DeliveryEngine) -> None:
        async with Transport(engine) as transport:
            engine.submit(note(1, url))
            assert await transport.drain(WAIT)
            (attempt,) = engine.attempts()
            assert (attempt.status_code, attempt.outcome, attempt.response_snippet) == (
                500,
                "failed",
                "not now",
            )
            assert attempt.latency_ms is not None and attempt.latency_ms > 0

    run(scenario)


def test_delay_and_duplicate_faults_reach_the_wire(receiver: Receiver) -> None:
    url = receiver.url("/hook")

    async def scenario(clock: Clock, engine: DeliveryEngine) -> None:
        engine.add_fault(FaultRule(url=url, action="delay", delay_ms=150))
        engine.add_fault(FaultRule(url=url, action="duplicate"))
        async with Transport(engine) as transport:
            engine.submit(note(1, url))
            engine.submit(note(2, url))
            assert await transport.drain(WAIT)
        delayed = engine.attempts(notification_id=1)[0]
        assert delayed.latency_ms is not None and delayed.latency_ms >= 150

    run(scenario)
    assert receiver.ids("/hook") == [1, 2, 2]
    assert receiver.requests[1].body == receiver.requests[2].body


def test_an_unanswered_attempt_times_out_and_is_retried_later() -> None:
    listener = socket.socket()  # accepts connections into its backlog and never answers
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/hook"

    async def scenario(clock: Clock, engine: DeliveryEngine) -> None:
        async with Transport(engine, timeout=0.3) as transport:
            engine.submit(note(1, url))
            assert await transport.drain(WAIT)
        (attempt,) = engine.attempts()
        assert (attempt.status_code, attempt.error) == (None, "timed out after 0.3 s")
        assert engine.subscriptions()[0]["next_retry_at"] == START + 4

    try:
        run(scenario)
    finally:
        listener.close()


class FakeSender:
    """Answers 200 without a network; its first answer can be an exception, like a sender bug."""

    def __init__(self, *, broken_first: bool = False) -> None:
        self.broken_first = broken_first
        self.urls: list[str] = []

    async def send(self, url: str, headers: Mapping[str, str], body: bytes, timeout: float) -> SendResult:
        self.urls.append(url)
        if self.broken_first and len(self.urls) == 1:
            raise RuntimeError("sender bug")
        return SendResult(200, None, 1.0, "ok")


def test_a_sender_error_is_journaled_as_a_failure_and_the_worker_goes_on() -> None:
    async def scenario(clock: Clock, engine: DeliveryEngine) -> None:
        async with Transport(engine, sender=FakeSender(broken_first=True)) as transport:
            engine.submit(note(1, "http://app.test/hook"))
            assert await transport.drain(WAIT)
            clock.advance(4)
            assert await transport.drain(WAIT)
        assert [a.error for a in engine.attempts()] == ["RuntimeError: sender bug", None]
        assert engine.notification(1).status == "delivered"

    run(scenario)


def test_work_submitted_before_start_is_sent_once_started() -> None:
    async def scenario(clock: Clock, engine: DeliveryEngine) -> None:
        engine.submit(note(1, "http://app.test/hook"))
        async with Transport(engine, sender=FakeSender()) as transport:
            assert await transport.drain(WAIT)
        assert engine.notification(1).status == "delivered"

    run(scenario)


def test_a_wake_up_from_another_thread_reaches_the_worker() -> None:
    async def scenario(clock: Clock, engine: DeliveryEngine) -> None:
        async with Transport(engine, sender=FakeSender()) as transport:
            engine.on_ready = None  # the engine's own wake-up is not heard...
            engine.submit(note(1, "http://app.test/hook"))
            await asyncio.to_thread(transport.wake, "http://app.test/hook")  # ...this one is
            assert await transport.drain(WAIT)
        assert engine.notification(1).status == "delivered"

    run(scenario)


def test_one_off_callback_urls_leave_no_worker_behind() -> None:
    sender = FakeSender()

    async def scenario(clock: Clock, engine: DeliveryEngine) -> None:
        async with Transport(engine, sender=sender) as transport:
            for nid in range(1, 201):
                engine.submit(note(nid, f"http://app.test/jobs/{nid}/done"))
            assert await transport.drain(WAIT)
            assert asyncio.all_tasks() == {asyncio.current_task()}

    run(scenario)
    assert len(sender.urls) == 200


@pytest.mark.parametrize(
    "malformed",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 30\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x2\r\nok\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-Note: a\r\n Content-Length: 2\r\n\r\nok",
    ],
    ids=["two Content-Lengths", "a 0x chunk size", "a folded header"],
)
def test_a_malformed_answer_is_journaled_as_a_failed_attempt_and_retried(malformed: bytes) -> None:
    """A receiver's broken answer is a failure with the reason, never a success, a hang or a crash."""
    answers = [malformed, b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nthanks"]
    handlers: list[asyncio.Task[Any]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.append(task)
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while answers:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                writer.write(answers.pop(0))
                await writer.drain()
            await reader.read()  # the connection stays open: only the emulator may end it
        writer.close()

    async def scenario(clock: Clock, engine: DeliveryEngine) -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hook"
        # The attempt's timeout is far above the wait: a reader waiting for more bytes fails the drain.
        async with Transport(engine, timeout=3 * WAIT) as transport:
            engine.submit(note(1, url))
            assert await transport.drain(WAIT)
            (failed,) = engine.attempts()
            assert (failed.status_code, failed.outcome, failed.response_snippet) == (None, "failed", None)
            assert failed.error is not None and failed.error.startswith("ProtocolError: malformed answer")
            assert engine.notification(1).status == "pending"
            clock.advance(4)  # the retry, on a new connection, reads a well-formed answer
            assert await transport.drain(WAIT)
            assert engine.attempts()[-1].status_code == 200
            assert engine.notification(1).status == "delivered"
        # Both connections were ended by the emulator (the bad one at once, the good one at stop).
        await asyncio.wait_for(asyncio.gather(*handlers), WAIT)
        assert len(handlers) == 2
        server.close()
        await server.wait_closed()

    run(scenario)
