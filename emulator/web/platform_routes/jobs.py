"""Runs a hub operation now, or as an async job when the request asks for one (the guide's async requests)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from starlette.requests import Request
from starlette.responses import Response

from emulator.dialects import header_variants
from emulator.domain.platform.instances import Instance
from emulator.web.context import header_of, json_response, runtime_of

T = TypeVar("T")
ASYNC_REQUEST_HEADERS = header_variants("Async-Request")
ASYNC_CALLBACK_HEADERS = header_variants("Async-Callback-Url")
_ASYNC_REQUEST_RAW = frozenset(h.lower().encode("latin-1") for h in ASYNC_REQUEST_HEADERS)


def wants_async(request: Request) -> bool:
    for name in _ASYNC_REQUEST_RAW:  # every write asks, and most say nothing
        value = header_of(request, name)
        if value is not None and value.strip().lower() == "true":
            return True
    return False


def requested_callback(request: Request) -> str | None:
    return next((request.headers[h] for h in ASYNC_CALLBACK_HEADERS if h in request.headers), None)


async def dispatch(
    request: Request, instance: Instance, operation: Callable[[], T], respond: Callable[[T], Response]
) -> Response:
    """Every hub handler that changes the account goes through here, so async requests work for all.

    `operation` holds the whole domain call (all parsing and reading of the body done before);
    `respond` turns its result into the synchronous answer. An async request is answered at once
    with `{"eventId", "eventStatus": "dispatched"}`; its callback URL is checked before any work.
    """
    if not wants_async(request):
        return respond(operation())
    runtime = runtime_of(request)
    url = runtime.events.async_callback_url(instance, requested_callback(request))
    event = runtime.events.submit_job(instance, operation, url, runtime.options.job_duration)
    return json_response({"eventId": event.id, "eventStatus": "dispatched"})
