"""Reading request bodies: every message of the body, the limit, a client gone, and a second read."""

from __future__ import annotations

import asyncio

import pytest
from starlette.requests import ClientDisconnect, Request
from starlette.types import Message

from emulator.domain.errors import TooLarge
from emulator.web.bodies import read_body


def request_of(*messages: Message) -> Request:
    queue = list(messages)

    async def receive() -> Message:
        return queue.pop(0)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": [], "query_string": b""}
    return Request(scope, receive)


def part(body: bytes, more: bool) -> Message:
    return {"type": "http.request", "body": body, "more_body": more}


def test_a_body_sent_in_several_messages_is_read_whole_and_kept_for_a_second_read() -> None:
    async def scenario() -> tuple[bytes, bytes, bytes]:
        request = request_of(part(b'{"a"', True), part(b"", True), part(b": 1}", False))
        first = await read_body(request, 100)
        return first, await read_body(request, 100), await request.body()

    assert asyncio.run(scenario()) == (b'{"a": 1}', b'{"a": 1}', b'{"a": 1}')


def test_a_body_over_the_limit_is_refused_at_the_message_that_crosses_it() -> None:
    request = request_of(part(b"x" * 6, True), part(b"x" * 5, True))  # no third message is read
    with pytest.raises(TooLarge):
        asyncio.run(read_body(request, 10))


def test_a_client_gone_before_the_end_of_its_body_is_a_disconnect() -> None:
    request = request_of(part(b"x", True), {"type": "http.disconnect"})
    with pytest.raises(ClientDisconnect):
        asyncio.run(read_body(request, 10))
