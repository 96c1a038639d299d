"""Reading request bodies and query parameters with limits, and clear 4xx for every way they go wrong."""

from __future__ import annotations

from typing import Any

from starlette.requests import ClientDisconnect, Request

from emulator.domain import json_codec
from emulator.domain.errors import InvalidInput, TooLarge
from emulator.web.context import header_of


class UnsupportedMediaType(InvalidInput):
    """Body sent with a content type the route does not take (415)."""


JSON_TYPES = ("application/json", "text/json", "application/x-json", "text/plain")


async def read_json(request: Request, max_bytes: int, *, required: bool = True) -> Any:
    """The JSON body, or None when absent and not required; 413 before reading past the limit."""
    return parse_json(request, await read_body(request, max_bytes), required=required)


def parse_json(request: Request, raw: bytes, *, required: bool = True) -> Any:
    if not raw.strip():
        if required:
            raise InvalidInput("a JSON request body is required")
        return None
    content_type = (header_of(request, b"content-type") or "").split(";")[0].strip().lower()
    if content_type and not (content_type in JSON_TYPES or content_type.endswith("+json")):
        raise UnsupportedMediaType(f"expected a JSON body, got Content-Type {content_type}")
    try:
        value = json_codec.loads(raw)
    except RecursionError:
        raise InvalidInput("the JSON body is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as problem:
        raise InvalidInput(f"the body is not valid JSON: {problem}") from None
    if value is None and not required:
        # Where a body may be left out, None means "none sent": a `null` sent is no object either.
        raise InvalidInput("the JSON body is null: send an object, or no body at all")
    return value


async def read_body(request: Request, max_bytes: int) -> bytes:
    declared = header_of(request, b"content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            raise InvalidInput("Content-Length is not a number")
        if int(declared) > max_bytes:
            raise _over(max_bytes)
    kept: bytes | None = getattr(request, "_body", None)
    if kept is not None:  # read before: what Request.stream() would give again
        if len(kept) > max_bytes:
            raise _over(max_bytes)
        return kept
    # The messages Request.stream() reads, read here without its async generator (a fortieth of a
    # small write's CPU). The body is then kept where Request.body() keeps what it read, so that a
    # later read of the request sees it, as after Starlette's own.
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        if message["type"] != "http.request":
            continue
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            raise _over(max_bytes)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    request._body = body
    return body


def _over(max_bytes: int) -> TooLarge:
    return TooLarge(f"request body over the limit of {max_bytes} bytes")


def query_list(request: Request, name: str) -> list[str]:
    """`tags[]=a&tags[]=b`, `tags=a&tags=b` and `tags=a,b` alike."""
    values = request.query_params.getlist(f"{name}[]") + request.query_params.getlist(name)
    return [v.strip() for value in values for v in value.split(",") if v.strip()]

