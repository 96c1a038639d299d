"""Maps domain errors and HTTP errors to the platform's error body; nothing else leaks to the wire."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from emulator.domain.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    ProviderFailure,
    TooLarge,
    Unauthenticated,
)
from emulator.web.bodies import UnsupportedMediaType

log = logging.getLogger("emulator.web")

STATUS_OF: dict[type[DomainError], int] = {
    UnsupportedMediaType: 415,
    InvalidInput: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    TooLarge: 413,
    ProviderFailure: 502,
}

CONTROL_PREFIX = "/_emulator"


def status_of(error: DomainError) -> int:
    for kind in type(error).__mro__:
        if kind in STATUS_OF:
            return STATUS_OF[kind]
    return 400


def request_id(request: Request) -> str:
    runtime = getattr(request.app.state, "runtime", None)
    if runtime is None:
        return "0" * 24
    return str(runtime.state.ids.hex("request-id", 24))


def error_response(
    request: Request, status: int, message: str, provider_message: str | None = None
) -> JSONResponse:
    """The platform's shape on the emulated API; the control plane's own shape under /_emulator."""
    if request.url.path.startswith(CONTROL_PREFIX):
        return JSONResponse({"error": _control_code(status), "message": message}, status_code=status)
    body: dict[str, str] = {"requestId": request_id(request), "message": message}
    if provider_message is not None:
        body["providerMessage"] = provider_message
    return JSONResponse(body, status_code=status)


def _control_code(status: int) -> str:
    return {
        400: "bad_request",
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        409: "conflict",
        413: "too_large",
        414: "uri_too_long",
        415: "unsupported_media_type",
    }.get(status, "error")


async def domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return error_response(request, status_of(exc), exc.message, exc.provider_message)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    messages = {404: "No such resource", 405: "Method not allowed for this resource"}
    message = exc.detail if exc.detail and exc.detail not in ("Not Found", "Method Not Allowed") else None
    response = error_response(request, exc.status_code, message or messages.get(exc.status_code, "Error"))
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def unexpected_error(request: Request, exc: Exception) -> Response:
    # A 500 is a bug: log it whole here, send no trace on the wire.
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(request, 500, "Internal error in the emulator; see its log")


HANDLERS = {DomainError: domain_error, HTTPException: http_error, Exception: unexpected_error}
