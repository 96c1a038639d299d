"""The one place that sends HTTP callbacks: asyncio workers pull attempts from the delivery engine.

A worker task per busy destination sends that destination's attempts one at a time, so order
holds per destination while destinations proceed concurrently. The engine's `on_ready` starts a
worker; a worker ends when its destination has nothing due, so destinations that come and go
(one-off async callback URLs) leave nothing behind. Nothing here polls or waits on emulated time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, NamedTuple, Protocol

from emulator.domain.delivery import Attempt, DeliveryEngine

if TYPE_CHECKING:
    import httpx  # imported where used: start-up does not pay for it until an https callback

    from emulator import http11

log = logging.getLogger("emulator.transport")

# Read at most this much of an answer: the journal keeps 500 characters, and reading a small
# body to its end lets the connection be reused.
MAX_READ_BYTES = 64 * 1024


class SendResult(NamedTuple):
    status_code: int | None  # None: no HTTP answer (refused, timed out, ...)
    error: str | None
    latency_ms: float
    response_snippet: str | None


class Sender(Protocol):
    async def send(self, url: str, headers: Mapping[str, str], body: bytes, timeout: float) -> SendResult: ...


class HttpxSender:
    """POSTs with a free list of `httpx.AsyncClient`s per origin, each carrying one request at a time.

    One client shared by concurrent requests is slow (encode/httpx#3215: half the throughput
    at 16 destinations), so concurrent destinations of one origin each get a client of their
    own, and reuse it (and its keep-alive connection) afterwards: an origin has as many
    clients as it ever had concurrent requests. Clients share one SSL context, which is
    costly to build. Proxy variables are ignored (`trust_env=False`): callbacks go straight
    to the receiver, usually on loopback. Redirects are not followed, as webhook senders do not.
    """

    def __init__(self) -> None:
        self._idle: dict[tuple[str, str, int | None], list[httpx.AsyncClient]] = {}
        self._clients: list[httpx.AsyncClient] = []
        self._ssl: ssl.SSLContext | None = None
        self._ssl_lock = asyncio.Lock()

    async def send(self, url: str, headers: Mapping[str, str], body: bytes, timeout: float) -> SendResult:
        import httpx

        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):  # a whole-attempt deadline, not only per phase
                status, snippet = await self._post(httpx.URL(url), headers, body, timeout)
        except (TimeoutError, httpx.TimeoutException):
            return SendResult(None, f"timed out after {timeout:g} s", _since(started), None)
        except httpx.ConnectError as exc:
            return SendResult(None, f"connection failed: {str(exc) or 'refused'}", _since(started), None)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return SendResult(None, f"{type(exc).__name__}: {exc}", _since(started), None)
        return SendResult(status, None, _since(started), snippet)

    async def _post(
        self, url: httpx.URL, headers: Mapping[str, str], body: bytes, timeout: float
    ) -> tuple[int, str]:
        origin = (url.scheme, url.host, url.port)
        idle = self._idle.setdefault(origin, [])
        client = idle.pop() if idle else await self._new_client()
        try:
            request = client.build_request("POST", url, headers=dict(headers), content=body, timeout=timeout)
            response = await client.send(request, stream=True)
            try:
                return response.status_code, await _read_snippet(response)
            finally:
                await response.aclose()
        finally:
            idle.append(client)

    async def _new_client(self) -> httpx.AsyncClient:
        import httpx

        client = httpx.AsyncClient(trust_env=False, follow_redirects=False, verify=await self._ssl_context())
        self._clients.append(client)
        return client

    async def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            async with self._ssl_lock:  # built once, however many destinations start together
                if self._ssl is None:
                    # Loading the CA bundle takes tens of milliseconds: keep it off the event loop.
                    import httpx

                    self._ssl = await asyncio.to_thread(httpx.create_ssl_context)
        return self._ssl

    async def aclose(self) -> None:
        clients, self._clients, self._idle = self._clients, [], {}
        for client in clients:
            await client.aclose()


class PlainHttpSender:
    """The default sender: plain `http://` callbacks through `emulator.http11`, anything else through httpx.

    Measured on loopback (`hub-emulator bench`): httpx spends about 1 ms of CPU per POST, which
    caps one destination near 1,000 deliveries/s and 16 near 1,400/s in all; the small HTTP/1.1
    client (requests written by hand, answers read by h11) costs ~60 µs of CPU per POST and answer.
    https, URLs with credentials and other unusual URLs keep going through `HttpxSender`, created
    on first use.
    """

    def __init__(self) -> None:
        self._pool: http11.Pool | None = None  # made by the first send: start-up does not wait on it
        self._httpx: HttpxSender | None = None

    async def send(self, url: str, headers: Mapping[str, str], body: bytes, timeout: float) -> SendResult:
        from emulator import http11

        if self._pool is None:
            self._pool = http11.Pool()
        target = http11.parse_target(url)
        if target is None:
            if self._httpx is None:
                self._httpx = HttpxSender()
            return await self._httpx.send(url, headers, body, timeout)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):  # a whole-attempt deadline, connecting included
                answer = await self._pool.post(target, http11.request_bytes(target, headers, body))
        except TimeoutError:
            return SendResult(None, f"timed out after {timeout:g} s", _since(started), None)
        except http11.ConnectFailed as exc:
            return SendResult(None, f"connection failed: {exc.reason}", _since(started), None)
        except (OSError, http11.ProtocolError) as exc:
            return SendResult(None, f"{type(exc).__name__}: {exc}", _since(started), None)
        snippet = answer.body.decode("utf-8", errors="replace")
        return SendResult(answer.status, None, _since(started), snippet)

    async def aclose(self) -> None:
        if self._pool is not None:
            self._pool.close()
        if self._httpx is not None:
            await self._httpx.aclose()


async def _read_snippet(response: httpx.Response) -> str:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        chunks.append(chunk)
        size += len(chunk)
        if size >= MAX_READ_BYTES:
            break
    return b"".join(chunks).decode("utf-8", errors="replace")


class Transport:
    """Sends the engine's attempts over HTTP until stopped.

    `timeout` bounds one attempt (connect to last byte read); `sender` replaces HTTP, e.g. in
    tests. The engine must only be used from the loop `start()` ran on.
    """

    def __init__(
        self, engine: DeliveryEngine, *, timeout: float = 10.0, sender: Sender | None = None
    ) -> None:
        self.engine = engine
        self.timeout = timeout
        self._own_sender = sender is None
        self._sender: Sender = PlainHttpSender() if sender is None else sender
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: int | None = None
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._settled: asyncio.Event | None = None  # set after each completed attempt
        # Headers made at send time for each attempt, e.g. Standard Webhooks' timestamped signature.
        self.header_signer: Callable[[Attempt], Mapping[str, str]] | None = None

    async def start(self) -> None:
        if self._loop is not None:
            raise RuntimeError("the transport is already started")
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._settled = asyncio.Event()
        self.engine.on_ready = self.wake
        self.engine.listeners.append(self._on_attempt)
        for url in self.engine.ready_destinations():
            self._wake_here(url)

    async def stop(self) -> None:
        """Cancel the workers (an attempt in flight goes back to the engine) and close the clients."""
        if self._loop is None:
            return
        if self.engine.on_ready == self.wake:
            self.engine.on_ready = None
        with contextlib.suppress(ValueError):
            self.engine.listeners.remove(self._on_attempt)
        tasks = list(self._workers.values())
        self._workers.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._own_sender and isinstance(self._sender, HttpxSender | PlainHttpSender):
            await self._sender.aclose()
        self._loop = None

    async def __aenter__(self) -> Transport:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def wake(self, url: str) -> None:
        """Tell the destination's worker that an attempt is due; callable from any thread."""
        loop = self._loop
        if loop is None:
            return
        if threading.get_ident() == self._thread:
            self._wake_here(url)
        else:
            loop.call_soon_threadsafe(self._wake_here, url)

    async def drain(self, timeout: float) -> bool:
        """Wait until no destination has an attempt due or in flight; False if `timeout` passed first.

        Retries waiting on the clock do not count: advance the clock, then drain again.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.engine.idle():
            remaining = deadline - loop.time()
            if remaining <= 0 or self._settled is None:
                return False
            self._settled.clear()
            # Re-check now and then too: a reset empties the engine without any attempt ending.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._settled.wait(), min(remaining, 0.05))
        return True

    # -- workers -----------------------------------------------------------------------
    def _wake_here(self, url: str) -> None:
        # A running worker asks the engine again after each attempt: it needs no signal.
        if self._loop is not None and url not in self._workers:
            task = self._loop.create_task(self._work(url), name=f"deliver {url}")
            task.add_done_callback(_log_crash)
            self._workers[url] = task

    async def _work(self, url: str) -> None:
        try:
            while (attempt := self.engine.next_attempt(url)) is not None:
                await self._deliver(attempt)
        finally:
            # No await between the engine's "nothing due" and this: no wake-up can be missed.
            if self._workers.get(url) is asyncio.current_task():
                del self._workers[url]

    async def _deliver(self, attempt: Attempt) -> None:
        try:
            if attempt.delay_ms:
                await asyncio.sleep(attempt.delay_ms / 1000)  # injected network delay: wall time
            if self.header_signer is not None:
                # Per-attempt headers (a send-time signature): journaled as sent, body untouched.
                extra = self.header_signer(attempt)
                if extra:
                    attempt.request_headers = {**attempt.request_headers, **extra}
            result = await self._send(attempt)
        except asyncio.CancelledError:
            self.engine.abandon(attempt)
            raise
        self.engine.complete(
            attempt,
            status_code=result.status_code,
            error=result.error,
            latency_ms=result.latency_ms + attempt.delay_ms,
            response_snippet=result.response_snippet,
        )

    async def _send(self, attempt: Attempt) -> SendResult:
        started = time.perf_counter()
        try:
            return await self._sender.send(
                attempt.url, attempt.request_headers, attempt.request_body, self.timeout
            )
        except Exception as exc:  # a sender bug is journaled as a failed attempt, then retried
            log.exception("sending to %s failed", attempt.url)
            return SendResult(None, f"{type(exc).__name__}: {exc}", _since(started), None)

    def _on_attempt(self, attempt: Attempt) -> None:
        if self._settled is not None:
            self._settled.set()


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("delivery worker %s died", task.get_name(), exc_info=task.exception())


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
